"""App exceptions, client disconnects and malformed requests, on a server of this module's own: it must survive."""
import time

import pytest

from tests.support import client
from tests.support.client import request
from tests.support.server import checked_server


@pytest.fixture(scope="module")
def srv(serve):
    yield from checked_server(serve)


def still_serving(srv):
    assert srv.alive, srv.stderr[-3000:]
    resp = client.fetch(srv.port, "GET", "/qs?alive", timeout=3)
    assert (resp.status, resp.body) == (200, b"alive")


def test_exception_before_start_response(srv):
    mark = srv.mark()
    with client.Client(srv.port) as c:
        resp = c.request(request("GET", "/raise_before"))
        assert resp.status == 500
        assert len(resp.body) < 512
        assert b"Traceback" not in resp.body and b"secret-boom" not in resp.body
        assert b"secret-boom" not in c.received
    log = srv.wait_log("secret-boom-before", mark)
    assert "Traceback" in log
    still_serving(srv)


def test_exception_before_start_response_keeps_connection_usable(srv):
    with client.Client(srv.port) as c:
        c.send(request("GET", "/raise_before") + request("GET", "/qs?next"))
        assert c.read_final().status == 500
        try:
            second = c.read_final()
        except client.Closed:
            return  # closing after a 500 is allowed
        assert second.body == b"next"


@pytest.mark.parametrize("target", ["/raise_after", "/raise_after?cl=1"])
def test_exception_after_headers_aborts(srv, target):
    mark = srv.mark()
    with client.Client(srv.port) as c:
        c.send(request("GET", target))
        with pytest.raises(client.Closed):
            c.read_final()
        assert b"secret-boom" not in c.received
    log = srv.wait_log("secret-boom-after", mark)
    assert "Traceback" in log
    still_serving(srv)


def test_disconnect_mid_request_head(srv):
    for how in ("close", "reset"):
        c = client.Client(srv.port)
        c.send(b"GET /qs?x HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Partial: ")
        time.sleep(0.05)
        c.reset() if how == "reset" else c.close()
    still_serving(srv)


def test_disconnect_mid_request_body(srv):
    for how in ("close", "reset"):
        c = client.Client(srv.port)
        c.send(request("POST", "/upload", [("Content-Length", str(1024 * 1024))]) + b"x" * 100000)
        time.sleep(0.1)
        c.reset() if how == "reset" else c.close()
    time.sleep(0.1)
    still_serving(srv)


def test_disconnect_mid_chunked_body(srv):
    c = client.Client(srv.port)
    c.send(request("POST", "/echo", [("Transfer-Encoding", "chunked")]) + b"100\r\nabc")
    time.sleep(0.1)
    c.close()
    still_serving(srv)


@pytest.mark.parametrize("how", ["close", "reset"])
def test_disconnect_mid_response(srv, how):
    c = client.Client(srv.port, rcvbuf=16384)
    c.send(request("GET", f"/big?size={20 * 1024 * 1024}"))
    while len(c.received) < 65536:
        assert c.recv_some()
    c.reset() if how == "reset" else c.close()
    time.sleep(0.1)
    still_serving(srv)


def test_disconnect_with_pipelined_requests_unanswered(srv):
    c = client.Client(srv.port)
    c.send(b"".join(request("GET", f"/big?size={1024 * 1024}") for _ in range(16)))
    c.recv_some()
    c.reset()
    time.sleep(0.1)
    still_serving(srv)


def test_disconnect_while_waiting_for_100_continue_body(srv):
    c = client.Client(srv.port)
    c.send(request("POST", "/echo", [("Expect", "100-continue"), ("Content-Length", "1000")]))
    assert c.read_exact(25, "100 Continue").startswith(b"HTTP/1.1 100")
    c.close()
    still_serving(srv)


MALFORMED = {
    "garbage_line": b"GARBAGE\r\n\r\n",
    "tls_hello": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 32,
    "extra_token": b"GET / HTTP/1.1 extra\r\nHost: x\r\n\r\n",
    "header_without_colon": b"GET / HTTP/1.1\r\nHost: x\r\nBad Header Line\r\n\r\n",
    "space_before_colon": b"GET / HTTP/1.1\r\nHost : x\r\n\r\n",
    "bare_lf_in_header_name": b"GET / HTTP/1.1\r\nX-A\nB: v\r\n\r\n",
    "nul_in_header": b"GET / HTTP/1.1\r\nX-A: a\x00b\r\n\r\n",
    "bad_content_length": b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_request_gets_400_and_close(srv, name):
    with client.Client(srv.port) as c:
        c.send(MALFORMED[name])
        resp = c.read_final()
        assert resp.status == 400, resp
        assert c.is_closed(2.0)
    still_serving(srv)


def test_malformed_after_good_request_on_same_connection(srv):
    with client.Client(srv.port) as c:
        c.send(request("GET", "/qs?good") + b"NOT A REQUEST\r\n\r\n")
        assert c.read_final().body == b"good"
        assert c.read_final().status == 400
        assert c.is_closed(2.0)


@pytest.mark.parametrize("framing", ["length", "chunked"])
@pytest.mark.parametrize("split", [False, True], ids=["whole", "split"])
def test_upgrade_request_with_a_body_is_served_with_its_body(srv, framing, split):
    """Issue 13.3: WSGI cannot switch protocols; an upgrade request is served as plain HTTP with its body (the app
    reads all of it), then the connection closes."""
    upgrade = [("Connection", "upgrade"), ("Upgrade", "x")]
    if framing == "length":
        raw = request("POST", "/echo", upgrade + [("Content-Length", "5")]) + b"hello"
    else:
        body = b"3\r\nhel\r\n2\r\nlo\r\n0\r\n\r\n"
        raw = request("POST", "/echo", upgrade + [("Transfer-Encoding", "chunked")]) + body
    with client.Client(srv.port) as c:
        if split:
            head, body = raw.split(b"\r\n\r\n", 1)
            c.send(head + b"\r\n\r\n")
            time.sleep(0.1)
            c.send(body)
        else:
            c.send(raw)
        resp = c.read_final("POST")
        assert (resp.status, resp.body) == (200, b"hello"), resp
        assert c.is_closed(2.0)
    still_serving(srv)


def test_upgrade_request_answered_or_closed(srv):
    with client.Client(srv.port) as c:
        upgrade = [("Upgrade", "websocket"), ("Connection", "Upgrade")]
        c.send(request("GET", "/qs?up", upgrade) + request("GET", "/qs?x"))
        resp = c.read_final()
        assert resp.status in (200, 400, 501), resp
        if resp.status == 200:
            assert resp.body == b"up"
        try:
            second = c.read_final()
        except client.Closed as closed:
            assert closed.partial == b""
        else:
            assert second.body == b"x"
    still_serving(srv)
