"""A 10 MB file sent through wsgi.file_wrapper (sendfile where the server supports it).

The file is created once per process in a temporary directory at import time and removed at exit.
"""
import atexit
import os
import shutil
import tempfile

SIZE = 10 * 1024 * 1024

_dir = tempfile.mkdtemp(prefix="fastwsgi-bench-files-")
atexit.register(shutil.rmtree, _dir, True)
PATH = os.path.join(_dir, "10mb.bin")
with open(PATH, "wb") as _f:
    _f.write(os.urandom(1024 * 1024) * (SIZE // (1024 * 1024)))


def app(environ, start_response):
    f = open(PATH, "rb")
    start_response("200 OK", [("Content-Type", "application/octet-stream"),
                              ("Content-Length", str(SIZE))])
    wrapper = environ.get("wsgi.file_wrapper")
    if wrapper is not None:
        return wrapper(f, 256 * 1024)
    return _chunks(f)


def _chunks(f):
    try:
        while True:
            chunk = f.read(256 * 1024)
            if not chunk:
                return
            yield chunk
    finally:
        f.close()
