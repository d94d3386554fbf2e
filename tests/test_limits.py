"""Request limits (gunicorn's spellings and defaults): request line 414, header field count and size 431, whole head
431, body 413 (before reading it when Content-Length says so, while streaming for chunked), and worker_connections
(beyond it the worker stops accepting; accepted connections are never dropped). Checked in the parser, on a
strict echo server, and on the router app with TIGHT limits (and timeouts)."""
import socket
import time

import pytest

from fastwsgi._core import parse_request_bytes
from tests.support import client
from tests.support.client import closed_after, request
from tests.support.server import ROUTER, TIGHT, checked_server


def head(target="/", fields=(), version="HTTP/1.1"):
    lines = [f"GET {target} {version}", "Host: example.org"] + [f"{n}: {v}" for n, v in fields]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def status_of(out):
    return out[-1].get("error") if out else None


# -- parser level (the same code the loop runs) ----------------------------------------------------------------------

def test_request_line_limit_parse():
    assert status_of(parse_request_bytes(head("/" + "a" * 99), limit_request_line=100)) is None
    out = parse_request_bytes(head("/" + "a" * 100), limit_request_line=100)
    assert status_of(out) == 414
    # split across reads: the limit holds on the pieces' sum
    assert status_of(parse_request_bytes(head("/" + "a" * 300), [7], limit_request_line=100)) == 414
    # 0 disables it
    assert status_of(parse_request_bytes(head("/" + "a" * 10000), limit_request_line=0)) is None


def test_default_request_line_limit_is_gunicorns():
    assert status_of(parse_request_bytes(head("/" + "a" * 4093))) is None
    assert status_of(parse_request_bytes(head("/" + "a" * 4094))) == 414


def test_field_count_limit_parse():
    fields = [(f"X-F{i}", "v") for i in range(4)]                 # + Host = 5 fields
    assert status_of(parse_request_bytes(head(fields=fields), limit_request_fields=5)) is None
    assert status_of(parse_request_bytes(head(fields=fields + [("X-G", "v")]), limit_request_fields=5)) == 431
    # default 100
    assert status_of(parse_request_bytes(head(fields=[(f"X-F{i}", "v") for i in range(99)]))) is None
    assert status_of(parse_request_bytes(head(fields=[(f"X-F{i}", "v") for i in range(100)]))) == 431


def test_field_size_limit_parse():
    # name + ": " + value counted as gunicorn does (name + value + 2)
    ok = [("X-A", "v" * 95)]                                       # 3 + 95 + 2 = 100
    assert status_of(parse_request_bytes(head(fields=ok), limit_request_field_size=100)) is None
    big = [("X-A", "v" * 96)]
    assert status_of(parse_request_bytes(head(fields=big), limit_request_field_size=100)) == 431
    assert status_of(parse_request_bytes(head(fields=big), [1], limit_request_field_size=100)) == 431


def test_trailer_fields_count_against_the_field_limit():
    body = b"0\r\n" + b"".join(b"X-T%d: 1\r\n" % i for i in range(10)) + b"\r\n"
    raw = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + body
    assert status_of(parse_request_bytes(raw, limit_request_fields=20)) is None
    assert status_of(parse_request_bytes(raw, limit_request_fields=5)) == 431


def test_unterminated_field_is_bounded_by_the_head_limit():
    """llhttp buffers a field until its CRLF: the whole-head limit stops a field that never ends."""
    opts = dict(limit_request_line=100, limit_request_fields=10, limit_request_field_size=1000)
    raw = b"GET / HTTP/1.1\r\nHost: x\r\nX-Endless: " + b"a" * 20000
    out = parse_request_bytes(raw, [512], **opts)
    assert status_of(out) == 431
    assert "head" in out[-1]["reason"]


def test_big_body_then_pipelined_head_is_not_counted_as_head():
    opts = dict(limit_request_line=100, limit_request_fields=10, limit_request_field_size=1000)
    body = b"b" * 200000
    raw = (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body) + body
           + b"GET /next HTTP/1.1\r\nHost: x\r\n\r\n")
    for chunks in (None, [4096], [65536], [len(raw) - 10, 10]):
        out = parse_request_bytes(raw, chunks, **opts)
        assert [e.get("PATH_INFO") for e in out] == ["/", "/next"], (chunks, out[-1])


def test_body_limit_parse():
    raw = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world"
    assert status_of(parse_request_bytes(raw, limit_request_body=11)) is None
    out = parse_request_bytes(raw[:raw.index(b"\r\n\r\n") + 4], limit_request_body=10)   # head only: 413 already
    assert status_of(out) == 413 and len(out) == 1
    chunked = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + client.chunked([b"a" * 6] * 3)[:-5]
    assert status_of(parse_request_bytes(chunked, limit_request_body=18)) is None
    out = parse_request_bytes(chunked, [3], limit_request_body=17)
    assert status_of(out) == 413 and len(out) == 2                # the head was complete: one environ


# -- live ------------------------------------------------------------------------------------------------------------

LIMITS = dict(limit_request_line=200, limit_request_fields=10, limit_request_field_size=300,
              limit_request_body=1000, header_timeout=5)


@pytest.fixture(scope="module")
def limited(serve):
    return serve("tests.support.apps:echo", **LIMITS)


@pytest.mark.parametrize("raw,status", [
    (head("/" + "a" * 250), 414),
    (head(fields=[(f"X-{i}", "v") for i in range(12)]), 431),
    (head(fields=[("X-Big", "v" * 400)]), 431),
    (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n", 413),
], ids=["line-414", "fields-431", "field-size-431", "content-length-413"])
def test_limits_live(limited, raw, status):
    with client.Client(limited.port) as c:
        c.send(raw)
        resp = c.read_final()
        assert resp.status == status, resp
        assert "close" in resp.connection_tokens
        assert c.is_closed()


def test_body_limit_live_before_reading_the_body(limited):
    """413 comes back without the client sending one byte of the declared body."""
    with client.Client(limited.port, timeout=3) as c:
        c.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n")
        assert c.read_final().status == 413
        assert c.is_closed()


def test_chunked_body_limit_live_while_streaming(limited):
    with client.Client(limited.port) as c:
        c.send(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        for _ in range(3):
            c.send(b"190\r\n" + b"z" * 400 + b"\r\n")                 # 1200 > 1000
        resp = c.read_final()
        assert resp.status == 413, resp
        assert c.is_closed()


def test_chunked_body_within_limit_live(limited):
    with client.Client(limited.port) as c:
        body = client.chunked([b"z" * 500] * 2)
        resp = c.request(client.request("POST", "/", [("Transfer-Encoding", "chunked")], body))
        assert resp.status == 200 and len(resp.json()["_body"]) == 1000


def test_within_limits_live(limited):
    with client.Client(limited.port) as c:
        resp = c.request(head("/" + "a" * 150, [(f"X-{i}", "v" * 200) for i in range(9)]))
        assert resp.status == 200
        assert resp.json()["HTTP_X_8"] == "v" * 200


def test_worker_connections_sheds_the_oldest_connection_without_a_head(serve):
    """At worker_connections a new client is not refused while some connection has not sent a head: the oldest of
    those is closed to make room (a crowd of slow clients cannot lock the worker); the others stay served."""
    srv = serve("tests.support.apps:hello", fresh=True, worker_connections=5, header_timeout=30)
    held = client.open_raw(srv.port, 5)
    try:
        time.sleep(0.3)
        with client.Client(srv.port, timeout=5) as extra:
            extra.send(head())
            assert extra.read_final().status == 200   # accepted and served at once
        assert client.closed_by_peer(held[0], 2.0), "the oldest connection without a head was not the one shed"
        for s in held[2:]:
            s.sendall(head())
            s.settimeout(5)
            assert s.recv(100).startswith(b"HTTP/1.1 200")
    finally:
        for s in held:
            s.close()


def test_worker_connections_waits_when_every_connection_is_busy(serve):
    """Connections sending a body are busy (not shed): a new client waits in the backlog, without being dropped,
    until one of them is done and idle."""
    srv = serve("tests.support.apps:hello", fresh=True, worker_connections=3, header_timeout=30, body_timeout=30)
    held = client.open_raw(srv.port, 3)
    try:
        for s in held:
            s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n01234")
        time.sleep(0.3)
        with client.Client(srv.port, timeout=5) as extra:
            extra.send(head())
            extra.sock.settimeout(1.0)
            with pytest.raises(socket.timeout):
                extra.sock.recv(100)                   # queued in the backlog, not accepted
            held[0].sendall(b"56789")                  # its body is whole: answered, then idle
            held[0].settimeout(5)
            assert held[0].recv(100).startswith(b"HTTP/1.1 200")
            extra.sock.settimeout(5)
            assert extra.read_final().status == 200   # the idle one made room
    finally:
        for s in held:
            s.close()


# -- the router app with TIGHT limits ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def srv(serve):
    """The router with TIGHT limits and timeouts, on a server of this module's own (checked for crashes and leaks)."""
    yield from checked_server(serve, **TIGHT)


def error_then_closed(port, data, status):
    with client.Client(port) as c:
        c.send(data)
        resp = c.read_final()
        assert resp.status == status, resp
        assert c.is_closed(2.0)


def test_request_line_limit(srv):
    assert client.fetch(srv.port, "GET", "/qs?" + "a" * 60).status == 200
    error_then_closed(srv.port, request("GET", "/qs?" + "a" * 200), 414)


def test_header_count_limit(srv):
    ok = [(f"X-H{i}", "v") for i in range(4)]  # plus Host: 5 fields
    assert client.fetch(srv.port, "GET", "/qs?ok", ok).status == 200
    error_then_closed(srv.port, request("GET", "/qs", [(f"X-H{i}", "v") for i in range(8)]), 431)


def test_header_field_size_limit(srv):
    assert client.fetch(srv.port, "GET", "/qs?ok", [("X-Long", "v" * 50)]).status == 200
    error_then_closed(srv.port, request("GET", "/qs", [("X-Long", "v" * 300)]), 431)


def test_body_limit_content_length(srv):
    assert client.fetch(srv.port, "POST", "/echo", body=b"x" * 1000).body == b"x" * 1000
    error_then_closed(srv.port, request("POST", "/echo", [], b"x" * 2000), 413)


def test_body_limit_chunked(srv):
    body = client.chunked([b"x" * 600, b"y" * 600])
    with client.Client(srv.port) as c:
        c.send(request("POST", "/echo", [("Transfer-Encoding", "chunked")], body))
        try:
            resp = c.read_final()
        except client.Closed:
            return  # aborting is acceptable once a response could not be formed
        assert resp.status == 413, resp
        assert c.is_closed(2.0)


def test_body_errors_leave_no_reference_cycles(serve):
    """A failed body read (timeout, over limit) must not leave the connection in a cycle awaiting the GC."""
    s = serve(ROUTER, fresh=True, **TIGHT)
    try:
        with client.Client(s.port) as c:
            c.send(request("POST", "/echo", [("Content-Length", "100")]) + b"0123456789")
            closed_after(c)
        with client.Client(s.port) as c:
            c.send(request("POST", "/echo", [("Transfer-Encoding", "chunked")], client.chunked([b"x" * 1200])))
            closed_after(c)
        assert s.leaks(timeout=2.0, collect=False) is None
    finally:
        assert s.stop() is None


def test_unlimited_request_line_beyond_64k(serve):
    s = serve(ROUTER, limit_request_line=0)
    query = "a" * 70000
    resp = client.fetch(s.port, "GET", f"/qs?{query}", timeout=10)
    assert (resp.status, resp.body) == (200, query.encode())
    env = client.fetch(s.port, "GET", f"/environ/long?{query}").json()
    assert env["QUERY_STRING"] == query and env["PATH_INFO"] == "/environ/long"


def test_worker_connections_sheds_the_oldest_idle_connection(serve):
    """With every slot held by idle keep-alive connections, a new client is served at once and the oldest idle
    connection is closed (nginx reuses idle connections at worker_connections the same way)."""
    s = serve(ROUTER, fresh=True, worker_connections=3, keepalive=10.0)
    held = [client.Client(s.port) for _ in range(3)]
    try:
        for i, c in enumerate(held):
            assert c.request(request("GET", f"/qs?held{i}")).body == f"held{i}".encode()
        with client.Client(s.port, timeout=5) as extra:
            assert extra.request(request("GET", "/qs?extra")).body == b"extra"
        assert held[0].is_closed(2.0)
        for i, c in enumerate(held[1:], 1):
            assert c.request(request("GET", f"/qs?again{i}")).body == f"again{i}".encode()
    finally:
        for c in held:
            c.close()
        assert s.stop() is None
