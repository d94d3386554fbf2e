"""Start a server that has only a Python API:
`python launch.py SERVER MODULE:ATTR HOST PORT [WORKERS] [many] [threads=N]`.

Run with the server's own venv interpreter and the repository root as working directory (so `bench.apps.*`
imports). SERVER is one of: bjoern, cfastwsgi (the unrelated PyPI `fastwsgi` C server), meinheld, waitress,
ours (our `fastwsgi.run`, used until the CLI exists). With WORKERS > 1, servers that can share a listening socket
(bjoern, meinheld) bind first and then fork; the others refuse. `many` raises connection limits and idle
timeouts for the idle-connection scenarios. `threads=N` runs app calls on N threads (waitress; ours once its
run() takes `threads`, issue 12); the other servers refuse it.
"""
import importlib
import os
import signal
import sys


def load(target):
    module, _, attr = target.partition(":")
    obj = importlib.import_module(module)
    for name in attr.split("."):
        obj = getattr(obj, name)
    return obj


def fork_workers(workers):
    """Fork workers-1 children that die with the parent; returns in every process."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    for _ in range(workers - 1):
        if os.fork() == 0:
            libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
            return


def main():
    server, target, host, port = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    rest = sys.argv[5:]
    workers = int(rest.pop(0)) if rest and rest[0].isdigit() else 1
    many = "many" in rest
    threads = next((int(arg.split("=", 1)[1]) for arg in rest if arg.startswith("threads=")), 1)
    sys.path.insert(0, os.getcwd())
    app = load(target)
    if workers > 1 and server not in ("bjoern", "meinheld"):
        sys.exit(f"launch.py: {server} has no multi-worker mode here")
    if threads > 1 and server not in ("waitress", "ours"):
        sys.exit(f"launch.py: {server} has no app threads here")
    if server == "bjoern":
        import bjoern
        bjoern.listen(app, host, port)
        fork_workers(workers)
        bjoern.run()
    elif server == "meinheld":
        from meinheld import server as mserver
        mserver.set_keepalive(300 if many else 10)  # meinheld's default is 0: no keep-alive at all
        mserver.set_access_logger(None)  # its default access log writes every request to stderr
        mserver.set_backlog(1024)
        if many:
            mserver.set_picoev_max_fd(30000)
        mserver.listen((host, port))
        fork_workers(workers)
        mserver.run(app)
    elif server == "cfastwsgi":
        import fastwsgi
        if not hasattr(fastwsgi, "server") or not hasattr(fastwsgi, "LL_ERROR"):
            sys.exit("launch.py: `fastwsgi` here is not the PyPI C server")
        fastwsgi.run(wsgi_app=app, host=host, port=port)
    elif server == "waitress":
        import waitress
        waitress.serve(app, host=host, port=port, threads=threads, _quiet=True,
                       **({"connection_limit": 20000, "backlog": 4096} if many else {}))
    elif server == "ours":
        import fastwsgi
        options = {"worker_connections": 20000, "keepalive": 300.0} if many else {}
        if threads > 1:
            options["threads"] = threads
        fastwsgi.run(app, host, port, **options)
    else:
        sys.exit(f"launch.py: unknown server {server!r}")


if __name__ == "__main__":
    main()
