"""wsgi.input: the file-like API against io.BytesIO, body boundaries, unread bodies on keep-alive."""
import io
import threading

import pytest

from tests import apps, wire
from tests.wire import request

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
        body = wire.chunked([BODY[:7], BODY[7:8], BODY[8:]])
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


def _send_in_thread(client, data):
    def run():
        try:
            client.send(data)
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
    except (wire.Closed, BrokenPipeError, ConnectionResetError):
        assert b"evil" not in c.received
        return
    assert (second.status, second.body) == (200, b"good")
    assert b"evil" not in c.received


def test_unread_chunked_body_never_parsed_as_a_request(connect):
    evil = request("GET", "/qs?evil")
    c = connect()
    c.send(request("POST", "/noread", [("Transfer-Encoding", "chunked")], wire.chunked([evil] * 50)))
    assert c.read_final("POST").status == 200
    try:
        c.send(request("GET", "/qs?good"))
        second = c.read_final()
    except (wire.Closed, BrokenPipeError, ConnectionResetError):
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
