"""What the tests share: one package, one module per concern.

server.py  fastwsgi.run() servers in child processes (Server, Pool, checked_server, ROUTER, TIGHT)
master.py  `python -m fastwsgi` masters in child processes (Master, Load, run_cli, write_app, /proc helpers)
client.py  raw-socket HTTP/1.x client with a strict response parser; plain sockets for slowloris-style tests
apps.py    every WSGI app a Server runs (tests.support.apps:NAME): the router `app`, `hello`, `echo`, ...
pidapp.py  the app master tests copy into their tmp_path and serve as pidapp:application
corpus.py  the request corpus (tests/requests/), replay chunkings, fuzz mutations and parser properties
"""
