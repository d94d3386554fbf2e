"""Hello world that blocks like a slow query: GET /block sleeps 20 ms before answering, any other path at once.

`time.sleep` releases the GIL, as a database driver waiting on the network does, so a server with app threads
serves other requests meanwhile. wrk/block.lua sends /block on one request in N (N=1: every request).
"""
import time

DELAY = 0.02
BODY = b"Hello, World!"
HEADERS = [("Content-Type", "text/plain"), ("Content-Length", str(len(BODY)))]


def app(environ, start_response):
    if environ.get("PATH_INFO") == "/block":
        time.sleep(DELAY)
    start_response("200 OK", HEADERS)
    return [BODY]
