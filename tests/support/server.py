"""fastwsgi servers in child processes for the wire tests.

The test process binds a listening socket on 127.0.0.1:0 and hands its fd to a child that calls
fastwsgi.run(app, sockets=[sock], **options), the app named by a 'module:name' string (tests.support.apps:NAME).
A Pool caches servers per session by (app, validate, host, options) unless fresh=True; every server is stopped
(SIGTERM, then SIGKILL) at the end and must not have crashed before that.
"""
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

from tests.support import client
from tests.support import tls as tls_support

# FASTWSGI_TEST_THREADS=N runs every test server with N app threads (the whole wire suite over the threaded path)
TEST_THREADS = int(os.environ.get("FASTWSGI_TEST_THREADS", "1"))
# FASTWSGI_TEST_LOG_DIR=DIR: the servers' logs go there and are kept (tools/sanitize.sh reads them for reports)
LOG_DIR = os.environ.get("FASTWSGI_TEST_LOG_DIR") or None
# tools/sanitize.sh sets FASTWSGI_SANITIZED=1: under ASan, RSS counts its shadow memory and the freed blocks it holds
# in quarantine (256 MB), so tests that bound a server's memory skip
SANITIZED = os.environ.get("FASTWSGI_SANITIZED") == "1"
# what a sanitizer prints (tools/sanitize.sh builds the extension with ASan and UBSan): a server that printed it crashed
SANITIZER_REPORTS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLK_TCK = os.sysconf("SC_CLK_TCK")

CHILD = """\
import ctypes, importlib, os, signal, socket, sys
ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG: die with the test process
if os.getppid() != {parent}:
    sys.exit("test process gone")
import fastwsgi

sock = socket.socket(fileno={fd})
mod, name = {target!r}.split(":")
app = getattr(importlib.import_module(mod), name)
if {validate!r}:
    from wsgiref.validate import validator
    app = validator(app)
options = {options!r}
if "tls" in options:
    from tests.support.tls import server_context
    options["ssl_context"] = server_context(options.pop("tls"))
    options.setdefault("url_scheme", "https")
fastwsgi.run(app, sockets=[sock], **options)
"""


def _tree(pid):
    """pid and all its descendants (Linux /proc)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
        except OSError:
            pass
    return out


class Server:
    """A fastwsgi child process serving target on 127.0.0.1:port; its stdout+stderr go to a file."""

    def __init__(self, target, validate=False, host="127.0.0.1", **options):
        if TEST_THREADS > 1:
            options.setdefault("threads", TEST_THREADS)
        self.target = target
        self.host = host
        self.validate = validate
        self.options = options
        # what a connection must begin with: a PROXY header that keeps the socket's addresses, when required
        mode = options.get("proxy_protocol", "off")
        self.preamble = {"off": b"", "v1": client.proxy_v1(proto="UNKNOWN")}.get(mode, client.proxy_v2(command="LOCAL"))
        self.uwsgi = options.get("protocol") == "uwsgi"     # requests are uwsgi packets (answers are HTTP)
        # tls="on" (or "client-cert": client certificates required): a TLS port (tests/support/tls.py); a plain
        # request is answered 400 there, which is enough to tell the server is up
        self.tls = tls_support.client_context(cert=options["tls"] == "client-cert") if options.get("tls") else None
        listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, 0))
        listener.listen(1024)
        self.port = listener.getsockname()[1]
        fd = listener.fileno()
        code = CHILD.format(fd=fd, target=target, validate=validate, options=options, parent=os.getpid())
        self._log = tempfile.NamedTemporaryFile(prefix="fastwsgi-server-", suffix=".log", delete=False, dir=LOG_DIR)
        env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONFAULTHANDLER="1")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code], pass_fds=[fd], cwd=ROOT, env=env,
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
        )
        listener.close()  # the child owns it now; if the child dies, connects are refused instead of hanging
        self.stopped = False
        self.returncode = None
        self._wait_ready()

    def _wait_ready(self, timeout=20.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server {self.target} exited with {self.proc.returncode}:\n{self.stderr}")
            try:
                # (a uwsgi port over TLS: through TLS, as a plain packet there is no HTTP request to answer 400)
                with client.Client(self.port, host=self.host, timeout=1.0, tls=self.tls if self.uwsgi else None) as c:
                    c.send(self.preamble + (client.uwsgi_request("GET", "/__ready", [("Connection", "close")])
                                            if self.uwsgi else
                                            b"GET /__ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))
                    if c.sock.recv(16).startswith(b"HTTP/1."):
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"server {self.target} not answering after {timeout}s:\n{self.stderr}")

    @property
    def stderr(self):
        with open(self._log.name, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def mark(self):
        """A position in the log; pass it to since()/wait_log() to look at later output only."""
        return os.path.getsize(self._log.name)

    def since(self, mark):
        with open(self._log.name, "rb") as f:
            f.seek(mark)
            return f.read().decode("utf-8", "replace")

    def wait_log(self, text, mark=0, timeout=5.0):
        """Wait until text appears in the log after mark; returns the log since mark (asserts on timeout)."""
        deadline = time.monotonic() + timeout
        while True:
            out = self.since(mark)
            if text in out:
                return out
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} not in server log within {timeout}s; log since mark:\n{out[-3000:]}")
            time.sleep(0.05)

    @property
    def alive(self):
        return self.proc.poll() is None

    def pids(self):
        return _tree(self.proc.pid)

    def rss_kb(self):
        """Resident memory of the server process tree, in KiB."""
        total = 0
        for pid in self.pids():
            try:
                with open(f"/proc/{pid}/status") as f:
                    for line in f:
                        if line.startswith("VmRSS:"):
                            total += int(line.split()[1])
            except OSError:
                pass
        return total

    def cpu_seconds(self):
        """utime + stime of the server process tree."""
        ticks = 0
        for pid in self.pids():
            try:
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                ticks += int(fields[11]) + int(fields[12])  # fields 14 and 15 of proc(5)
            except OSError:
                pass
        return ticks / CLK_TCK

    def leaks(self, timeout=5.0, collect=True):
        """None once debug_counters() inside the server shows only the asking connection and request, else them.

        collect=True runs the cycle collector first (true leaks only); False also catches reference cycles.
        Only for servers of ROUTER (its /debug route).
        """
        target = "/debug?gc=1" if collect else "/debug"
        deadline = time.monotonic() + timeout
        while True:
            try:
                counters = client.fetch(self.port, "GET", target, host=self.host, preamble=self.preamble,
                                        tls=self.tls, uwsgi=self.uwsgi).json()
            except (OSError, ValueError, client.WireError, client.Closed) as e:
                return f"cannot read debug_counters(): {e!r}"
            if counters == {"connections": 1, "requests": 1}:
                return None
            if time.monotonic() > deadline:
                return counters
            time.sleep(0.05)

    def stop(self):
        """Stop the server; returns None if it was running until now, else a description of its crash."""
        if self.stopped:
            return None
        self.stopped = True
        crash = None
        if self.proc.poll() is not None:
            crash = f"server died during the tests with returncode {self.proc.returncode}"
        else:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
            if self.proc.returncode not in (0, -signal.SIGTERM, -signal.SIGKILL, 128 + signal.SIGTERM):
                crash = f"server exited with returncode {self.proc.returncode} on SIGTERM"
        self.returncode = self.proc.returncode
        log = self.stderr
        if not crash and any(report in log for report in SANITIZER_REPORTS):
            crash = "the server's log holds a sanitizer report"
        if crash:
            crash += f"\n--- server log ({self._log.name}) ---\n{log[-5000:]}"
        elif LOG_DIR is None:
            os.unlink(self._log.name)
        return crash


ROUTER = "tests.support.apps:app"  # the router app: most wire tests, and the only one with a /debug route

# the router with short timeouts and small limits (tests/test_limits.py, tests/test_timeouts.py)
TIGHT = dict(
    keepalive=0.5,
    header_timeout=0.5,
    body_timeout=0.5,
    limit_request_line=100,
    limit_request_fields=5,
    limit_request_field_size=100,
    limit_request_body=1000,
)


class Pool:
    """The servers of a test session: serve() starts or reuses one; close() stops them all and reports problems."""

    def __init__(self):
        self.live = []
        self._cache = {}

    def serve(self, target=ROUTER, validate=False, fresh=False, host="127.0.0.1", **options):
        """serve(target, validate=False, fresh=False, host="127.0.0.1", **options) -> Server; cached unless fresh."""
        key = (target, validate, host, tuple(sorted(options.items())))
        cached = self._cache.get(key)
        if not fresh and cached is not None and not cached.stopped:
            return cached
        srv = Server(target, validate, host, **options)
        self.live.append(srv)
        if not fresh:
            self._cache[key] = srv
        return srv

    def dead(self):
        """Servers that died since the last call (each is stopped and returned with its crash description)."""
        return [(srv, srv.stop()) for srv in self.live if not srv.stopped and not srv.alive]

    def close(self):
        """Stop every server; returns the crashes and the leaks (live objects in router servers) as texts."""
        leaks = []
        try:
            for srv in self.live:
                if srv.target == ROUTER and srv.alive and not srv.stopped:
                    counters = srv.leaks()
                    if counters:
                        leaks.append(f"{srv.target} {srv.options}: live objects after all clients closed: {counters}")
        finally:
            crashes = [c for c in (srv.stop() for srv in self.live) if c]
            self.live.clear()
        return crashes + leaks


def checked_server(serve, target=ROUTER, **options):
    """A fresh server for one module: yields it, then asserts it neither crashed nor kept live objects.
    Use as `yield from checked_server(serve, ...)` in a module-scoped fixture."""
    s = serve(target, fresh=True, **options)
    yield s
    try:
        leaks = s.leaks() if s.alive else None
    finally:
        crash = s.stop()
    assert crash is None, crash
    assert leaks is None, f"live objects in the server after all clients closed: {leaks}"
