"""HTTP/2 (libnghttp2): h2c with prior knowledge and h2 over TLS by ALPN, inline and with app threads, checked with
curl, h2load and hand-made frames (tests/support/h2wire.py): answers of every shape, flow control past the 64 KiB
window, the environ of a stream, and malformed or hostile input that must leave the worker serving others."""
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import time

import pytest

from fastwsgi._core import http2_available, http2_hardening
from tests.support import h2wire as w
from tests.support.master import Master, get, write_app
from tests.support.tls import cert

APP = "tests.support.apps:h2"
H2, WHY = http2_available()
pytestmark = pytest.mark.skipif(not H2, reason=f"NOT RUN: {WHY}")
CURL = shutil.which("curl")
H2LOAD = shutil.which("h2load")


def h2_options(transport, threads):
    options = dict(http_protocols="h2,h1", threads=threads)
    if transport == "tls":
        options["tls"] = "h2"
    else:
        options["http2_cleartext"] = "prior-knowledge"
        options["forwarded_allow_ips"] = ("127.0.0.1",)     # (the CLI's default): h2c is a trusted proxy's
    return options


@pytest.fixture(params=[("h2c", 1), ("h2c", 4), ("tls", 1), ("tls", 4)], ids=lambda p: f"{p[0]}-threads{p[1]}")
def h2server(request, serve):
    transport, threads = request.param
    srv = serve(APP, **h2_options(transport, threads))
    srv.base = f"https://localhost:{srv.port}" if transport == "tls" else f"http://127.0.0.1:{srv.port}"
    return srv


def curl(base, path, *args, tmp):
    """(HTTP version, status, lower-case headers, body) of one request with curl over HTTP/2."""
    if CURL is None:
        pytest.skip("NOT RUN: curl is not installed")
    mode = ["--http2", "--cacert", cert("ca.pem")] if base.startswith("https") else ["--http2-prior-knowledge"]
    head, body = tmp / "head", tmp / "body"
    out = subprocess.run([CURL, "-sS", "--max-time", "20", *mode, "-D", str(head), "-o", str(body),
                          "-w", "%{http_version}", *args, base + path], capture_output=True, timeout=30)
    assert out.returncode == 0, out.stderr.decode()
    lines = head.read_text().splitlines()
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    return out.stdout.decode(), int(lines[0].split()[1]), headers, body.read_bytes() if body.exists() else b""


def test_get_environ(h2server, tmp_path):
    version, status, headers, body = curl(h2server.base, "/environ?a=1&b=%20", "-H", "Cookie: x=1",
                                          "-H", "Cookie: y=2", "-H", "X-Thing: v", tmp=tmp_path)
    assert (version, status) == ("2", 200)
    env = json.loads(body)
    assert env["SERVER_PROTOCOL"] == "HTTP/2"
    assert env["REQUEST_METHOD"] == "GET"
    assert env["PATH_INFO"] == "/environ"
    assert env["QUERY_STRING"] == "a=1&b=%20"
    assert env["RAW_URI"] == "/environ?a=1&b=%20"
    assert env["HTTP_HOST"] == h2server.base.split("//")[1]
    assert env["HTTP_COOKIE"] == "x=1; y=2"             # RFC 9113 8.2.3
    assert env["HTTP_X_THING"] == "v"
    assert env["wsgi.url_scheme"] == ("https" if h2server.base.startswith("https") else "http")
    assert env["REMOTE_ADDR"] == "127.0.0.1"
    assert "date" in headers and headers["server"] == "fastwsgi"
    assert headers["content-length"] == str(len(body))


def test_post_body(h2server, tmp_path):
    data = os.urandom(200_000).hex()          # 400 KB: several windows' worth, spooled past body_buffer_size
    (tmp_path / "up").write_text(data)
    _, status, _, body = curl(h2server.base, "/echo", "--data-binary", f"@{tmp_path / 'up'}", tmp=tmp_path)
    assert status == 200 and body == data.encode()


def test_large_stream_beyond_the_window(h2server, tmp_path):
    _, status, headers, body = curl(h2server.base, "/big?n=1000000", tmp=tmp_path)
    assert status == 200 and "content-length" not in headers
    assert len(body) == 1_000_000
    assert body == b"".join(bytes([65 + i % 26]) * min(16384, 1_000_000 - i * 16384) for i in range(62))


def test_head_204_write_file(h2server, tmp_path):
    _, status, headers, body = curl(h2server.base, "/", "-I", tmp=tmp_path)    # (-I writes the head as the body)
    assert status == 200 and body.endswith(b"\r\n\r\n") and headers["content-type"] == "text/plain"
    _, status, headers, body = curl(h2server.base, "/empty", tmp=tmp_path)
    assert status == 204 and body == b"" and "content-length" not in headers
    _, status, _, body = curl(h2server.base, "/write", tmp=tmp_path)
    assert status == 200 and body == b"written then returned"
    _, status, _, body = curl(h2server.base, "/file", tmp=tmp_path)
    with open(os.path.join(os.path.dirname(__file__), "support", "apps.py"), "rb") as f:
        assert status == 200 and body == f.read()


def test_app_exception_is_500(h2server, tmp_path):
    mark = h2server.mark()
    _, status, _, body = curl(h2server.base, "/boom", tmp=tmp_path)
    assert status == 500 and body == b"Internal Server Error"
    h2server.wait_log("boom in the app", mark)
    _, status, _, body = curl(h2server.base, "/", tmp=tmp_path)      # and the worker goes on
    assert status == 200 and body == b"Hello, World!"


def test_http11_unchanged_on_an_h2_port(serve):
    srv = serve(APP, **h2_options("h2c", 1))
    status, body, headers = get(srv.port, "/environ")
    assert status == 200 and json.loads(body)["SERVER_PROTOCOL"] == "HTTP/1.1"


@pytest.mark.parametrize("transport", ["h2c", "tls"])
@pytest.mark.parametrize("threads", [1, 4])
def test_h2load(serve, transport, threads):
    if H2LOAD is None:
        pytest.skip("NOT RUN: h2load is not installed (apt-get install nghttp2-client)")
    srv = serve(APP, **h2_options(transport, threads))
    url = f"https://localhost:{srv.port}/" if transport == "tls" else f"http://127.0.0.1:{srv.port}/"
    out = subprocess.run([H2LOAD, "-n", "2000", "-c", "4", "-m", "10", url], capture_output=True, timeout=120,
                         text=True)
    assert "2000 succeeded, 0 failed, 0 errored, 0 timeout" in out.stdout, out.stdout + out.stderr
    assert "status codes: 2000 2xx" in out.stdout


def test_streams_of_one_connection_run_concurrently_on_threads(serve):
    srv = serve(APP, **h2_options("h2c", 4))
    c = w.Conn(srv.port, timeout=10)
    started = time.monotonic()
    c.send(w.start() + b"".join(w.get(s, path=b"/slow?s=1") for s in (1, 3, 5, 7)))
    frames = c.frames(until=lambda f: all(w.ended(f, s) for s in (1, 3, 5, 7)), timeout=10)
    assert all(w.body(frames, s) == b"Hello, World!" for s in (1, 3, 5, 7)), frames
    assert time.monotonic() - started < 3.0, "four 1 s calls on four threads: not one after another"
    c.close()


def test_body_with_trailers(serve):
    srv = serve(APP, **h2_options("h2c", 1))
    c = w.Conn(srv.port)
    c.send(w.start() + w.frame(w.HEADERS, w.END_HEADERS, 1, w.request_block(b"/echo", method=b"POST"))
           + w.frame(w.DATA, 0, 1, b"part one, ") + w.frame(w.DATA, 0, 1, b"part two")
           + w.frame(w.HEADERS, w.END_HEADERS | w.END_STREAM, 1, w.literal(b"x-checksum", b"abc")))
    frames = c.frames(until=lambda f: w.ended(f, 1))
    assert w.body(frames, 1) == b"part one, part two"      # the trailers are read and ignored
    c.close()


@pytest.mark.parametrize("transport", ["h2c", "tls"])
def test_nghttp(serve, transport):
    nghttp = shutil.which("nghttp")
    if nghttp is None:
        pytest.skip("NOT RUN: nghttp is not installed (apt-get install nghttp2-client)")
    srv = serve(APP, **h2_options(transport, 1))
    base = f"https://localhost:{srv.port}" if transport == "tls" else f"http://127.0.0.1:{srv.port}"
    out = subprocess.run([nghttp, "-v", base + "/big?n=200000", base + "/", base + "/empty"], capture_output=True,
                         timeout=60)
    text = out.stdout.decode("latin-1")
    assert out.returncode == 0, text[-2000:] + out.stderr.decode()
    assert text.count(":status: 200") == 2 and text.count(":status: 204") == 1, text[-2000:]
    assert "Hello, World!" in text


@pytest.mark.parametrize("threads", [1, 4])
def test_upgrade_h2c(serve, tmp_path, threads):
    srv = serve(APP, **dict(h2_options("h2c", threads), http2_cleartext="upgrade"))
    base = f"http://127.0.0.1:{srv.port}"
    version, status, _, body = curl_upgrade(base, "/environ?u=1", tmp_path)     # curl --http2 on http:// asks
    env = json.loads(body)
    assert (version, status) == ("2", 200)
    assert env["SERVER_PROTOCOL"] == "HTTP/2" and env["QUERY_STRING"] == "u=1"
    assert "HTTP_UPGRADE" not in env and "HTTP_HTTP2_SETTINGS" not in env and "HTTP_CONNECTION" not in env
    version, status, _, body = curl_upgrade(base, "/big?n=300000", tmp_path)   # more than follows a 101 in one read
    assert (version, status, len(body)) == ("2", 200, 300000)
    (tmp_path / "up").write_bytes(b"u" * 100_000)
    version, status, _, body = curl_upgrade(base, "/echo", tmp_path, "--data-binary", f"@{tmp_path / 'up'}")
    assert (version, status, body) == ("2", 200, b"u" * 100_000)
    c = w.Conn(srv.port)                    # upgrade alone: a preface is not HTTP/2 here
    c.send(w.start() + w.get(1))
    c.frames(timeout=3)
    assert c.buf.startswith(b"HTTP/1.1 4"), c.buf[:100]
    c.close()


def curl_upgrade(base, path, tmp, *args):
    if CURL is None:
        pytest.skip("NOT RUN: curl is not installed")
    head, body = tmp / "head", tmp / "body"
    out = subprocess.run([CURL, "-sS", "--max-time", "20", "--http2", "-D", str(head), "-o", str(body),
                          "-w", "%{http_version}", *args, base + path], capture_output=True, timeout=30)
    assert out.returncode == 0, out.stderr.decode()
    status = int([line for line in head.read_text().splitlines() if line.startswith("HTTP/")][-1].split()[1])
    return out.stdout.decode(), status, head.read_text(), body.read_bytes()


def test_upgrade_only_for_trusted_peers(serve, tmp_path):
    srv = serve(APP, **dict(h2_options("h2c", 1), http2_cleartext="both", forwarded_allow_ips=("10.9.9.9",)))
    version, status, _, body = curl_upgrade(f"http://127.0.0.1:{srv.port}", "/environ", tmp_path)
    assert (version, status) == ("1.1", 200) and json.loads(body)["SERVER_PROTOCOL"] == "HTTP/1.1"


# -- what no good client sends: the connection is closed (with GOAWAY where it can be), the worker serves others --

@pytest.fixture
def h2c(serve):
    return serve(APP, **h2_options("h2c", 1))


def still_serving(srv):
    c = w.Conn(srv.port)
    try:
        c.send(w.start() + w.get(1))
        frames = c.frames(until=lambda f: w.ended(f, 1))
        assert w.body(frames, 1) == b"Hello, World!", frames
    finally:
        c.close()


def test_prior_knowledge_stream(h2c):
    still_serving(h2c)


def test_bad_preface_is_closed(h2c):
    c = w.Conn(h2c.port)
    c.send(b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n" + w.frame(w.SETTINGS, 0, 0))
    c.frames(timeout=5)
    assert c.closed
    still_serving(h2c)


def test_malformed_frame_gets_goaway(h2c):
    c = w.Conn(h2c.port)
    c.send(w.start() + w.frame(w.PING, 0, 0, b"1234567"))          # a PING is 8 bytes
    frames = c.frames(timeout=5)
    assert c.closed and w.goaway(frames) and w.goaway(frames)[-1][1] == w.FRAME_SIZE_ERROR
    still_serving(h2c)


def test_connection_specific_field_is_a_stream_error(h2c):
    c = w.Conn(h2c.port)
    c.send(w.start() + w.get(1, extra=[(b"connection", b"close")]) + w.get(3, extra=[(b"te", b"gzip")])
           + w.get(5, extra=[(b"te", b"trailers")]))
    frames = c.frames(until=lambda f: w.ended(f, 5))
    resets = {s: int.from_bytes(p, "big") for kind, _, s, p in frames if kind == w.RST_STREAM}
    assert resets == {1: w.PROTOCOL_ERROR, 3: w.PROTOCOL_ERROR}     # never the app
    assert w.body(frames, 5) == b"Hello, World!"
    c.close()


def test_continuation_flood(h2c):
    c = w.Conn(h2c.port)
    c.send(w.start() + w.frame(w.HEADERS, w.END_STREAM, 1, w.request_block()))
    try:
        for i in range(20000):
            c.send(w.frame(w.CONTINUATION, 0, 1, w.literal(b"x-flood", b"%d" % i)))
    except OSError:
        pass                                    # closed by the server: what it should do
    frames = c.frames(timeout=5)
    assert c.closed, "the connection must be closed"
    if http2_hardening()["max_continuations"]:
        assert w.goaway(frames), frames
    still_serving(h2c)


def test_hpack_bomb(h2c):
    # one 4 KiB field joins the dynamic table, then 200 one-byte references to it: 800 KiB of fields from 5 KiB
    block = w.request_block() + w.literal(b"x-bomb", b"b" * 4000, index=True) + w.indexed(62) * 200
    c = w.Conn(h2c.port)
    c.send(w.start() + w.frame(w.HEADERS, w.END_STREAM | w.END_HEADERS, 1, block) + w.get(3))
    frames = c.frames(until=lambda f: w.ended(f, 3) or w.goaway(f), timeout=5)
    assert w.body(frames, 1) == b"Request Header Fields Too Large"    # refused, never the app
    assert w.body(frames, 3) == b"Hello, World!"
    c.close()
    still_serving(h2c)


def test_rapid_reset(h2c):
    c = w.Conn(h2c.port)
    burst = b"".join(w.get(s, path=b"/slow?s=0") + w.frame(w.RST_STREAM, 0, s, b"\0\0\0\x08")
                     for s in range(1, 6001, 2))
    c.send(w.start())
    try:
        c.send(burst)
    except OSError:
        pass
    frames = c.frames(until=lambda f: bool(w.goaway(f)), timeout=10)
    if http2_hardening()["reset_rate"]:
        # nghttp2 ends the connection once the burst of resets is spent (it says INTERNAL_ERROR), well before the
        # 3000 streams are all opened
        assert w.goaway(frames) and w.goaway(frames)[-1][0] < 5999, frames[-3:]
    c.close()
    still_serving(h2c)


@pytest.mark.parametrize("threads", [1, 4])
def test_zero_window_reader_is_dropped_after_send_timeout(serve, threads):
    srv = serve(APP, send_timeout=1.0, **h2_options("h2c", threads))
    c = w.Conn(srv.port)
    started = time.monotonic()
    c.send(w.start(settings=struct.pack(">HI", 4, 0)) + w.get(1, path=b"/big?n=300000"))   # INITIAL_WINDOW_SIZE 0
    frames = c.frames(timeout=8)
    assert c.closed and time.monotonic() - started < 6, "a reader that never opens its window must be dropped"
    assert not w.body(frames, 1) and w.goaway(frames)
    still_serving(srv)


@pytest.mark.parametrize("kind", ["ping", "settings"])
def test_control_frame_flood_from_a_client_that_does_not_read(h2c, kind):
    c = w.Conn(h2c.port)
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    one = w.frame(w.PING, 0, 0, b"12345678") if kind == "ping" else w.frame(w.SETTINGS, 0, 0, struct.pack(">HI", 3, 50))
    c.send(w.start())
    try:
        for _ in range(200):
            c.send(one * 1000)                  # answers pile up unread: nghttp2 drops the connection
    except OSError:
        pass
    c.frames(timeout=5)
    assert c.closed, "the flood must end the connection"
    c.close()
    still_serving(h2c)


def test_floods_cost_bounded_memory(serve):
    srv = serve(APP, fresh=True, **h2_options("h2c", 1))
    still_serving(srv)
    before = srv.rss_kb()
    for _ in range(5):
        test_continuation_flood(srv)
        test_hpack_bomb(srv)
        test_rapid_reset(srv)
    grown = srv.rss_kb() - before
    assert grown < 20 * 1024, f"the worker grew by {grown} KiB over five rounds of floods"


def test_graceful_stop_finishes_streams_and_says_goaway(tmp_path):
    write_app(tmp_path)
    master = Master(["pidapp:application", "--http-protocols", "h2,h1", "--http2-cleartext", "prior-knowledge",
                     "--graceful-timeout", "10"], cwd=tmp_path)
    try:
        c = w.Conn(master.port, timeout=10)
        c.send(w.start() + w.get(1, path=b"/sleep/1.5"))
        c.frames(timeout=0.5)
        master.signal(signal.SIGTERM)
        frames = c.frames(until=lambda f: w.ended(f, 1) and len(w.goaway(f)) >= 2, timeout=10)
        assert w.body(frames, 1).isdigit(), frames          # the stream in flight is answered
        notices = w.goaway(frames)
        assert notices[0] == (2**31 - 1, w.NO_ERROR)        # the shutdown notice ...
        assert notices[-1] == (1, w.NO_ERROR)               # ... then GOAWAY naming the last stream processed
        c.frames(timeout=5)
        assert c.closed
    finally:
        master.stop()


@pytest.mark.parametrize("threads", [1, 4])
@pytest.mark.parametrize("transport", ["h2c", "tls"])
def test_early_hints_over_h2(serve, transport, threads):
    # issue 23: environ["wsgi.early_hints"] over HTTP/2 is a non-final HEADERS frame (:status 103) ahead of the
    # answer, inline and from an app thread (through the Job); curl's -D leaves HTTP/2 interim answers out, its -v
    # shows them
    if CURL is None:
        pytest.skip("NOT RUN: curl is not installed")
    srv = serve("tests.support.apps:app", **h2_options(transport, threads))
    base = f"https://localhost:{srv.port}" if transport == "tls" else f"http://127.0.0.1:{srv.port}"
    mode = ["--http2", "--cacert", cert("ca.pem")] if transport == "tls" else ["--http2-prior-knowledge"]
    out = subprocess.run([CURL, "-sv", "--max-time", "20", *mode, base + "/hints?n=2"], capture_output=True,
                         timeout=30)
    assert out.returncode == 0, out.stderr.decode()
    heads = [line[2:] for line in out.stderr.decode().splitlines() if line.startswith("< ")]
    statuses = [line.split()[1] for line in heads if line.startswith("HTTP/2 ")]
    assert statuses == ["103", "103", "200"]
    assert "link: </style1.css>; rel=preload; as=style" in heads
    assert out.stdout == b"ok!"


FLASK = "tests.support.flask_app:app"
DJANGO = "tests.support.django_app:app"


@pytest.mark.parametrize("threads", [1, 4])
@pytest.mark.parametrize("framework", ["flask", "django"])
def test_a_framework_sees_the_same_requests_over_h2(serve, tmp_path, threads, framework):
    # issue 23: the framework's own view of each request (method, path, args, URL, host, scheme, headers, cookies,
    # forms, JSON, uploads, redirects, a stream, an error) is the same over HTTP/2 as over HTTP/1.1
    pytest.importorskip(framework, reason=f"NOT RUN: {framework} is not installed (the test extras install it)")
    srv = serve(FLASK if framework == "flask" else DJANGO, **h2_options("h2c", threads))
    base = f"http://127.0.0.1:{srv.port}"
    upload = tmp_path / "up.bin"
    upload.write_bytes(os.urandom(300_000))
    cases = [
        ("/request?a=1&a=2&b=%20x", ["-H", "X-Custom: yes", "-H", "Cookie: c1=v1", "-H", "Cookie: c2=v2",
                                     "-A", "fw-test"]),
        ("/form?q=1", ["--data", "x=1&y=%C3%A9&x=2"]),
        ("/json", ["-H", "Content-Type: application/json", "--data", '{"k": [1, 2, 3]}']),
        ("/upload", ["-F", f"file=@{upload}", "-F", "note=n"]),
        ("/cookie", ["-H", "Cookie: visit=0"]),
        ("/redirect", []),
        ("/stream", []),
        ("/boom", []),
    ]
    for path, extra in cases:
        over_h2 = curl(base, path, *extra, tmp=tmp_path)
        h1 = subprocess.run([CURL, "-sS", "--http1.1", "-D", str(tmp_path / "h1head"), "-o", str(tmp_path / "h1body"),
                             *extra, base + path], capture_output=True, timeout=30)
        assert h1.returncode == 0, h1.stderr.decode()
        h1_status = int((tmp_path / "h1head").read_text().split()[1])
        h1_body = (tmp_path / "h1body").read_bytes()
        assert over_h2[0] == "2" and over_h2[1] == h1_status, path
        if path.startswith("/request"):
            got, want = json.loads(over_h2[3]), json.loads(h1_body)
            assert got == want and got["cookies"] == {"c1": "v1", "c2": "v2"} and got["args"] == {"a": ["1", "2"],
                                                                                                 "b": [" x"]}
        elif path != "/boom":
            assert over_h2[3] == h1_body, path


class H2Loop:
    """h2load runs one after another (2 connections of 10 streams, `each` requests a run) until stop(): a run that
    meets a retiring worker meets its GOAWAY mid-run. h2load neither reconnects after a GOAWAY nor retries the
    streams it refused (above its last stream id: never processed, safe to retry, RFC 9113 6.8), and counts both as
    failed; so a run is bad when a stream it started was not done, or when more of its started streams failed than
    the two connections had open at once (2 x 10)."""

    def __init__(self, port, each=3000):
        self.cmd = [H2LOAD, "-n", str(each), "-c", "2", "-m", "10", f"http://127.0.0.1:{port}/"]
        self.runs, self.bad, self.partial = 0, [], 0
        self._stop = False
        self._thread = __import__("threading").Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop and self.runs < 400:
            out = subprocess.run(self.cmd, capture_output=True, timeout=60).stdout.decode()
            line = next((x for x in out.splitlines() if x.startswith("requests:")), out[-300:])
            self.runs += 1
            counts = [int(x) for x in re.findall(r"(\d+) (?:total|started|done|succeeded|timeout)", line)]
            if len(counts) != 5:
                self.bad.append(line)
                continue
            total, started, done, succeeded, timeout = counts
            if done != started or started - succeeded > 20 or timeout or (succeeded < total and self.met_goaway()):
                self.bad.append(line)

    def met_goaway(self):
        self.partial += 1
        return self.partial > 2                 # (HUP: the old workers' GOAWAY; USR2: WINCH's)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._stop = True
        self._thread.join(90)
        return self


@pytest.mark.parametrize("sig", ["HUP", "USR2"])
def test_reloads_under_h2load_lose_no_stream(tmp_path, sig):
    # issue 23: HUP (new workers, the old ones retire with GOAWAY) and USR2 (a new master; then WINCH and TERM
    # retire the old one) while h2load keeps sending: every stream of every run is answered
    if H2LOAD is None:
        pytest.skip("NOT RUN: h2load is not installed (Debian's nghttp2-client)")
    write_app(tmp_path)
    pidfile = str(tmp_path / "master.pid")
    master = Master(["pidapp:application", "-w", "2", "--http-protocols", "h2,h1", "--http2-cleartext",
                     "prior-knowledge", "--graceful-timeout", "10", "--pid", pidfile], cwd=tmp_path)
    new_pid = None
    try:
        old = set(master.wait_workers(2))
        load = H2Loop(master.port).start()
        time.sleep(0.5)
        if sig == "HUP":
            master.signal(signal.SIGHUP)
            master.wait_workers(2, exclude=old, timeout=15)
            time.sleep(0.5)
        else:
            master.signal(signal.SIGUSR2)
            deadline = time.monotonic() + 15
            while new_pid is None and time.monotonic() < deadline:
                try:
                    new_pid = int(open(pidfile + ".2").read())
                except (OSError, ValueError):
                    time.sleep(0.1)
            assert new_pid, "no new master"
            master.wait_log(rf"\[{new_pid}\] \[INFO\] Ready", 15)
            master.signal(signal.SIGWINCH)
            time.sleep(0.5)
            master.signal(signal.SIGTERM)
            assert master.wait_exit(20) == 0
        time.sleep(0.5)
        load.stop()
        assert load.runs >= 3 and load.bad == [], load.bad
    finally:
        master.stop()
        if new_pid:
            os.kill(new_pid, signal.SIGTERM)
