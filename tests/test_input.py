"""wsgi.input: the file-like API against io.BytesIO, body boundaries, unread bodies on keep-alive, and a large upload
streamed through it, not buffered: the server's memory stays flat.

The upload requirement is 1 GB; UPLOAD_SIZE keeps CI time down and is enough to see buffering.
"""
import hashlib
import io
import random
import threading
import time

import pytest

from tests.support import apps, client
from tests.support.client import request
from tests.support.server import SANITIZED, checked_server

BODY = b"line1\nline2\n\nline4 no newline"


MODES = [
    ("read_n", 3),
    ("read_n", 1),
    ("read_n", 100),
    ("read_all", 0),
    ("read_minus1", 0),
    ("read_some", 5),
    ("readline", 0),
    ("readline_limit", 4),
    ("readline_limit", 1),
    ("readlines", 0),
    ("iter", 0),
    ("mixed", 0),
]


def expected(mode, n, body=BODY):
    return [p.decode("latin-1") for p in apps.input_ops(io.BytesIO(body), mode, n)]


@pytest.mark.parametrize("framing", ["length", "chunked"])
@pytest.mark.parametrize("mode,n", MODES)
def test_input_methods_match_bytesio(connect, mode, n, framing):
    if framing == "chunked":
        headers = [("Transfer-Encoding", "chunked")]
        body = client.chunked([BODY[:7], BODY[7:8], BODY[8:]])
    else:
        headers, body = [], BODY
    c = connect()
    resp = c.request(request("POST", f"/input?mode={mode}&n={n}", headers, body))
    assert resp.status == 200, resp
    assert resp.json() == expected(mode, n)
    assert c.request(request("GET", "/qs?next")).body == b"next"


@pytest.mark.parametrize("mode", ["read_all", "readline", "iter", "readlines"])
def test_input_never_reads_past_body(connect, mode):
    c = connect()
    body = b"abc"  # no newline: readline must stop at the end of the body, not in the next request
    c.send(request("POST", f"/input?mode={mode}", [], body) + request("GET", "/qs?pipelined"))
    assert c.read_final().json() == expected(mode, 3, body)
    assert c.read_final().body == b"pipelined"


def test_empty_body_with_content_length_zero(connect):
    c = connect()
    resp = c.request(request("POST", "/input?mode=read_all", [("Content-Length", "0")]))
    assert resp.json() == ["", ""]


def _send_in_thread(conn, data):
    def run():
        try:
            conn.send(data)
        except OSError:
            pass  # the server may close instead of draining

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


@pytest.mark.parametrize("size", [10 * 1024, 1024 * 1024])
@pytest.mark.parametrize("route", ["/noread", "/input?mode=read_some&n=5"])
def test_unread_body_never_parsed_as_a_request(connect, route, size):
    """The body looks like requests; the server must drain it or close, never answer it."""
    evil = request("GET", "/qs?evil")
    body = (evil * (size // len(evil) + 1))[:size]
    c = connect(timeout=10)
    sender = _send_in_thread(c, request("POST", route, [], body))
    first = c.read_final("POST")
    assert first.status == 200
    sender.join(10)
    try:
        c.send(request("GET", "/qs?good"))
        second = c.read_final()
    except (client.Closed, BrokenPipeError, ConnectionResetError):
        assert b"evil" not in c.received
        return
    assert (second.status, second.body) == (200, b"good")
    assert b"evil" not in c.received


def test_unread_chunked_body_never_parsed_as_a_request(connect):
    evil = request("GET", "/qs?evil")
    c = connect()
    c.send(request("POST", "/noread", [("Transfer-Encoding", "chunked")], client.chunked([evil] * 50)))
    assert c.read_final("POST").status == 200
    try:
        c.send(request("GET", "/qs?good"))
        second = c.read_final()
    except (client.Closed, BrokenPipeError, ConnectionResetError):
        assert b"evil" not in c.received
        return
    assert second.body == b"good"
    assert b"evil" not in c.received


@pytest.mark.parametrize("mode,n", [("readline", 0), ("read_n", 65537), ("readline_limit", 70000), ("mixed", 0)])
def test_input_across_buffer_boundaries(connect, mode, n):
    body = b"a" * 300000 + b"\n" + bytes(range(1, 256)) * 2000 + b"\nend"
    c = connect(timeout=10)
    resp = c.request(request("POST", f"/input?mode={mode}&n={n}", [], body))
    assert resp.json() == expected(mode, n, body)


UPLOAD_SIZE = 100 * 1024 * 1024


RSS_GROWTH_LIMIT_KB = 60 * 1024


BLOCK = random.Random(7).randbytes(1024 * 1024)


@pytest.fixture(scope="module")
def srv(serve):
    yield from checked_server(serve)


def _upload(srv, chunked):
    """Send UPLOAD_SIZE bytes while sampling the server's RSS; returns (response json, peak growth KiB, digest)."""
    with client.Client(srv.port, timeout=30) as warm:  # warm up buffers before the baseline
        assert warm.request(request("POST", "/upload", [], BLOCK)).json()["size"] == len(BLOCK)
    baseline = srv.rss_kb()
    peak = [baseline]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], srv.rss_kb())
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    digest = hashlib.sha256()
    try:
        with client.Client(srv.port, timeout=30) as c:
            if chunked:
                c.send(request("POST", "/upload", [("Transfer-Encoding", "chunked")]))
                frame = b"%x\r\n" % len(BLOCK) + BLOCK + b"\r\n"
            else:
                c.send(request("POST", "/upload", [("Content-Length", str(UPLOAD_SIZE))]))
                frame = BLOCK
            for _ in range(UPLOAD_SIZE // len(BLOCK)):
                c.send(frame)
                digest.update(BLOCK)
            if chunked:
                c.send(b"0\r\n\r\n")
            result = c.read_final("POST").json()
    finally:
        done.set()
        sampler.join(5)
    peak[0] = max(peak[0], srv.rss_kb())
    return result, peak[0] - baseline, digest.hexdigest()


@pytest.mark.skipif(SANITIZED, reason="RSS means nothing under ASan (tools/sanitize.sh)")
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_large_upload_streams_with_flat_memory(srv, chunked):
    result, growth_kb, digest = _upload(srv, chunked)
    assert result["size"] == UPLOAD_SIZE
    assert result["sha256"] == digest
    assert 0 < result["biggest_read"] <= 65536
    assert growth_kb < RSS_GROWTH_LIMIT_KB, f"server RSS grew {growth_kb} KiB during a {UPLOAD_SIZE} byte upload"


def test_upload_then_keepalive(srv):
    with client.Client(srv.port, timeout=10) as c:
        body = BLOCK * 3
        result = c.request(request("POST", "/upload", [], body)).json()
        assert result["sha256"] == hashlib.sha256(body).hexdigest()
        assert c.request(request("GET", "/qs?next")).body == b"next"
