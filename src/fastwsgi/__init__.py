"""fastwsgi: a production WSGI server with a Cython request loop and a gunicorn-style process manager."""
import socket

from fastwsgi._core import FileWrapper, Loop, set_loop_defaults
from fastwsgi.settings import LOOP_SETTINGS

# the request loop's option defaults come from the settings registry (declared once, there)
set_loop_defaults({setting.name: setting.default for setting in LOOP_SETTINGS})

__version__ = "0.1.0"
__all__ = ["run", "Loop", "FileWrapper", "__version__"]


def run(app, host="127.0.0.1", port=8000, *, sockets=None, backlog=2048, **options):
    """Serve `app` in the current process until interrupted.

    Listens on host:port unless already-listening `sockets` are handed in (the process manager does that, and
    so do tests). Other keyword options are the Loop's (see fastwsgi/_core.pyi).
    """
    if sockets is None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(backlog)
        sockets = [sock]
    loop = Loop(app, list(sockets), **options)
    try:
        loop.run()
    except KeyboardInterrupt:
        pass
