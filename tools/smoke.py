"""Check an installed fastwsgi: run its `fastwsgi` command (master + 1 worker) and serve one request.

Run it with the Python of the environment under test, from anywhere: `VENV/bin/python tools/smoke.py`. It fails
(exit 1, with the server's output) unless fastwsgi is imported from that environment rather than a source tree,
`fastwsgi --version` agrees with the installed metadata, GET / answers 200 with the app's body, and the master stops
cleanly on SIGTERM.
"""
import importlib.metadata
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

APP = '''\
def app(environ, start_response):
    body = b"smoke " + environ["SERVER_PROTOCOL"].encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
'''


def fail(message, output=""):
    sys.exit(f"smoke: FAIL ({sys.version.split()[0]}): {message}\n{output}")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port, deadline):
    """The raw response to GET / (HTTP/1.0, so the server closes), retrying until the server listens."""
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.sendall(b"GET / HTTP/1.0\r\nHost: smoke\r\n\r\n")
                chunks = []
                while True:
                    data = s.recv(65536)
                    if not data:
                        return b"".join(chunks)
                    chunks.append(data)
        except (ConnectionRefusedError, ConnectionResetError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def main():
    bindir = os.path.dirname(sys.executable)
    command = shutil.which("fastwsgi", path=bindir)
    if command is None:
        fail(f"no fastwsgi command in {bindir}")
    workdir = tempfile.mkdtemp(prefix="fastwsgi-smoke-")
    with open(os.path.join(workdir, "smoke_app.py"), "w") as f:
        f.write(APP)
    env = dict(os.environ, PYTHONPATH="")  # the installed package, never a source tree
    code = "import fastwsgi, fastwsgi._core; print(fastwsgi.__file__); print(fastwsgi._core.__file__)"
    where = subprocess.run([sys.executable, "-c", code], cwd=workdir, env=env, capture_output=True, text=True)
    if where.returncode != 0:
        fail("cannot import fastwsgi", where.stderr)
    prefix = os.path.realpath(sys.prefix)
    if not all(os.path.realpath(p).startswith(prefix + os.sep) for p in where.stdout.split()):
        fail(f"fastwsgi is not imported from {prefix}", where.stdout)
    metadata_version = importlib.metadata.version("fastwsgi")
    shown = subprocess.run([command, "--version"], cwd=workdir, env=env, capture_output=True, text=True)
    if shown.stdout.strip() != f"fastwsgi {metadata_version}":
        fail(f"`fastwsgi --version` says {shown.stdout.strip()!r}, the metadata {metadata_version!r}", shown.stderr)

    port = free_port()
    log = open(os.path.join(workdir, "server.log"), "w+")
    server = subprocess.Popen([command, "-w", "1", "-b", f"127.0.0.1:{port}", "smoke_app:app"], cwd=workdir,
                              env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        try:
            response = get(port, time.monotonic() + 30)
        except OSError as exc:
            fail(f"no response on port {port}: {exc}", read(log))
        if not response.startswith(b"HTTP/1.") or b" 200 " not in response.split(b"\r\n", 1)[0] \
                or not response.endswith(b"\r\n\r\nsmoke HTTP/1.0"):
            fail(f"unexpected response {response!r}", read(log))
        server.send_signal(signal.SIGTERM)
        try:
            code = server.wait(30)
        except subprocess.TimeoutExpired:
            fail("the master did not stop within 30 s of SIGTERM", read(log))
        if code != 0:
            fail(f"the master exited with {code} after SIGTERM", read(log))
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    shutil.rmtree(workdir, ignore_errors=True)
    print(f"smoke: ok: CPython {sys.version.split()[0]}, fastwsgi {metadata_version} from {where.stdout.split()[1]}")


def read(log):
    log.flush()
    log.seek(0)
    return log.read()


if __name__ == "__main__":
    main()
