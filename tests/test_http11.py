"""HTTP/1.x connection handling and response framing: keep-alive, pipelining, chunked bodies, 100-continue, HEAD."""
import email.utils
import hashlib
import random
import re
import socket
import time

import pytest

from tests.support import client
from tests.support.client import request

IMF_FIXDATE = re.compile(
    r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-3][0-9] (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [0-9]{4} "
    r"[0-2][0-9]:[0-5][0-9]:[0-6][0-9] GMT"
)


def test_keepalive_default_http11(connect):
    c = connect()
    for i in range(3):
        resp = c.request(request("GET", f"/qs?n={i}"))
        assert (resp.status, resp.body) == (200, f"n={i}".encode())
        assert "close" not in resp.connection_tokens
        assert resp.version == "1.1"
    assert not c.is_closed(0.3)


def test_http10_closes_by_default(connect):
    c = connect()
    resp = c.request(request("GET", "/hello", version="HTTP/1.0"))
    assert (resp.status, resp.body) == (200, b"Hello, World!")
    assert "keep-alive" not in resp.connection_tokens
    assert c.is_closed(2.0)


def test_http10_keepalive_when_asked(connect):
    c = connect()
    ka = [("Connection", "keep-alive")]
    resp = c.request(request("GET", "/qs?one", ka, version="HTTP/1.0"))
    assert (resp.status, resp.body) == (200, b"one")
    assert "keep-alive" in resp.connection_tokens
    assert resp.framing == "length"
    resp = c.request(request("GET", "/qs?two", ka, version="HTTP/1.0"))
    assert (resp.status, resp.body) == (200, b"two")
    assert not c.is_closed(0.3)


def test_connection_close_honored(connect):
    c = connect()
    resp = c.request(request("GET", "/hello", [("Connection", "close")]))
    assert resp.status == 200
    assert "close" in resp.connection_tokens
    assert c.is_closed(2.0)


def test_nothing_answered_after_connection_close(connect):
    c = connect()
    c.send(request("GET", "/qs?first", [("Connection", "close")]) + request("GET", "/qs?second"))
    resp = c.read_final()
    assert resp.body == b"first"
    assert c.is_closed(2.0)  # raises WireError if /qs?second was answered
    assert b"second" not in c.received


def test_pipelined_16_in_order(connect):
    c = connect()
    c.send(b"".join(request("GET", f"/qs?i={i}") for i in range(16)))
    bodies = [c.read_final().body for _ in range(16)]
    assert bodies == [f"i={i}".encode() for i in range(16)]
    assert not c.is_closed(0.3)


def test_pipelined_gets_then_post_with_body(connect):
    c = connect()
    c.send(
        request("GET", "/qs?a")
        + request("GET", "/qs?b")
        + request("POST", "/echo", [("Content-Type", "text/plain")], b"payload-xyz")
        + request("GET", "/qs?c")
    )
    assert [c.read_final().body for _ in range(4)] == [b"a", b"b", b"payload-xyz", b"c"]


def test_chunked_request_body_with_extensions_and_trailers(connect):
    c = connect()
    body = client.chunked([b"hello", b" ", b"world"], [";ext=1", ';name="quoted"', ""], [("X-Trailer", "t")])
    c.send(request("POST", "/echo", [("Transfer-Encoding", "chunked")], body) + request("GET", "/qs?after"))
    assert c.read_final().body == b"hello world"
    assert c.read_final().body == b"after"


def test_chunked_request_body_large(connect):
    rnd = random.Random(5)
    pieces = [rnd.randbytes(rnd.randint(1, 300000)) for _ in range(7)]
    c = connect()
    c.send(request("POST", "/upload", [("Transfer-Encoding", "chunked")], client.chunked(pieces)))
    result = c.read_final().json()
    data = b"".join(pieces)
    assert result["size"] == len(data)
    assert result["sha256"] == hashlib.sha256(data).hexdigest()


def test_expect_100_sent_and_body_read_before_the_app_answers(connect):
    """The loop reads the body before the app runs (the app never waits on the client): the 100 goes out as it
    starts reading, and an app that ignores the body still leaves the connection usable (RFC 9110 10.1.1)."""
    c = connect()
    c.send(request("POST", "/noread", [("Expect", "100-continue"), ("Content-Length", "10")]))
    interim = b"HTTP/1.1 100 Continue\r\n\r\n"
    assert c.read_exact(len(interim), "100 Continue") == interim
    c.send(b"0123456789")
    resp = c.read_final("POST")
    assert resp.status == 200 and resp.body == b"ignored"
    assert resp.get("Connection") != "close"
    assert c.request(request("GET", "/qs?next")).body == b"next"


def test_expect_100_sent_when_app_reads_then_body_awaited(connect):
    c = connect()
    c.send(request("POST", "/echo", [("Expect", "100-continue"), ("Content-Length", "10")]))
    interim = b"HTTP/1.1 100 Continue\r\n\r\n"
    assert c.read_exact(len(interim), "100 Continue") == interim
    c.send(b"0123456789")
    resp = c.read_final("POST")
    assert (resp.status, resp.body) == (200, b"0123456789")
    assert c.request(request("GET", "/qs?next")).body == b"next"


def test_expect_100_with_body_already_sent(connect):
    c = connect()
    resp = c.request(request("POST", "/echo", [("Expect", "100-continue")], b"eager-body"))
    assert (resp.status, resp.body) == (200, b"eager-body")
    assert all(r.status == 100 for r in resp.interim)
    assert c.request(request("GET", "/qs?next")).body == b"next"


def test_generator_is_chunked_on_http11(connect):
    c = connect()
    resp = c.request(request("GET", "/gen?n=3"))
    assert resp.framing == "chunked"
    assert resp.body == b"chunk0;chunk1;chunk2;"
    resp = c.request(request("GET", "/gen?n=0"))
    assert resp.status == 200 and resp.body == b""
    assert c.request(request("GET", "/qs?next")).body == b"next"


def test_generator_is_close_delimited_on_http10(connect):
    c = connect()
    resp = c.request(request("GET", "/gen?n=3", version="HTTP/1.0"))
    assert not resp.has("transfer-encoding")
    assert resp.framing == "close"
    assert resp.body == b"chunk0;chunk1;chunk2;"
    assert c.is_closed(2.0)


@pytest.mark.parametrize("parts", ["1", "2"])
def test_list_result_gets_content_length(connect, parts):
    resp = connect().request(request("GET", f"/list?parts={parts}"))
    assert resp.get("content-length") == "4"
    assert not resp.has("transfer-encoding")
    assert resp.body == b"abcd"


def test_head_keeps_headers_drops_body(connect):
    c = connect()
    c.send(request("HEAD", "/hello") + request("GET", "/qs?after-head"))
    head = c.read_final("HEAD")
    assert head.status == 200
    assert head.get("content-length") == "13"
    assert head.body == b""
    assert c.read_final().body == b"after-head"  # a body sent for HEAD would break this parse


@pytest.mark.parametrize("target", ["/gen?n=3", "/big?size=300000", "/list?parts=2", "/bytesio"])
def test_head_of_streams_sends_no_body(connect, target):
    c = connect()
    c.send(request("HEAD", target) + request("GET", "/qs?after-head"))
    assert c.read_final("HEAD").status == 200
    assert c.read_final().body == b"after-head"


@pytest.mark.parametrize("code", [204, 304])
@pytest.mark.parametrize("shape", ["list", "gen", "body"])
def test_no_body_for_204_304(connect, code, shape):
    c = connect()
    query = {"list": "", "gen": "&gen=1", "body": "&body=1"}[shape]
    c.send(request("GET", f"/status?code={code}{query}") + request("GET", "/qs?after"))
    resp = c.read_final()
    assert resp.status == code and resp.get("x-status") == "yes"
    assert c.read_final().body == b"after"
    assert b"must-not-appear" not in c.received


def test_date_header(connect):
    resp = connect().request(request("GET", "/hello"))
    date = resp.get("date")
    assert date and IMF_FIXDATE.fullmatch(date), date
    assert abs(email.utils.parsedate_to_datetime(date).timestamp() - time.time()) < 5


def test_server_header(connect):
    resp = connect().request(request("GET", "/hello"))
    assert resp.get("server", "").startswith("fastwsgi")
    assert resp.get("content-type") == "text/plain"


def test_date_advances(connect):
    c = connect()
    first = email.utils.parsedate_to_datetime(c.request(request("GET", "/hello")).get("date"))
    time.sleep(1.2)
    second = email.utils.parsedate_to_datetime(c.request(request("GET", "/hello")).get("date"))
    assert (second - first).total_seconds() >= 1


def test_response_headers_kept_as_given(connect):
    resp = connect().request(request("GET", "/headers"))
    assert resp.get_all("set-cookie") == ["a=1", "b=2"]
    assert resp.get("x-empty") == ""
    assert ("x-lower", "kept") in resp.headers


@pytest.mark.parametrize("shape", ["list", "gen"])
def test_body_shorter_than_content_length_does_not_hang(connect, shape):
    c = connect()
    c.send(request("GET", f"/cl_mismatch?declared=100&actual=10&shape={shape}"))
    start = time.monotonic()
    with pytest.raises(client.Closed):
        c.read_final()
    assert time.monotonic() - start < 2.0


@pytest.mark.parametrize("shape", ["list", "gen"])
def test_body_longer_than_content_length_is_cut(connect, shape):
    c = connect()
    c.send(request("GET", f"/cl_mismatch?declared=10&actual=100&shape={shape}") + request("GET", "/qs?next"))
    resp = c.read_final()
    assert resp.body == b"x" * 10
    try:
        following = c.read_final()
    except client.Closed as closed:
        assert closed.partial == b""  # closing is fine; extra body bytes are not
        return
    assert following.body == b"next"


def test_large_response_head(connect):
    c = connect()
    resp = c.request(request("GET", "/many_headers?n=200&size=100"))
    assert resp.body == b"many"
    got = [(n, v) for n, v in resp.headers if n.startswith("X-H")]
    assert got == [(f"X-H{i}", str(i) * 100) for i in range(200)]
    assert c.request(request("GET", "/qs?next")).body == b"next"


def test_custom_reason_phrase_kept(connect):
    resp = connect().request(request("GET", "/status?code=299"))
    assert (resp.status, resp.reason) == (299, "Whatever")


def test_many_concurrent_connections(server):
    clients = [client.Client(server.port) for _ in range(200)]
    try:
        for i, c in enumerate(clients):
            c.send(request("GET", f"/qs?c{i}"))
        for i, c in enumerate(clients):
            assert c.read_final().body == f"c{i}".encode()
    finally:
        for c in clients:
            c.close()


def test_body_arriving_slowly(connect):
    c = connect()
    body = bytes(range(256)) * 40
    c.send(request("POST", "/echo", [("Content-Length", str(len(body)))]))
    for i in range(0, len(body), 1024):
        time.sleep(0.02)
        c.send(body[i : i + 1024])
    assert c.read_final().body == body


def test_expect_100_pipelined_with_body(connect):
    c = connect()
    c.send(request("POST", "/echo", [("Expect", "100-continue")], b"early") + request("GET", "/qs?after"))
    assert c.read_final("POST").body == b"early"
    assert c.read_final().body == b"after"


def test_expect_100_ignored_for_http10(connect):
    c = connect()
    c.send(request("POST", "/echo", [("Expect", "100-continue")], b"ten", version="HTTP/1.0"))
    resp = c.read_final("POST")
    assert resp.body == b"ten"
    assert b"100 Continue" not in c.received


def test_half_closed_client_still_answered(connect):
    c = connect()
    c.send(request("GET", "/qs?one") + request("GET", "/qs?two"))
    c.sock.shutdown(socket.SHUT_WR)
    assert c.read_final().body == b"one"
    assert c.read_final().body == b"two"
    assert c.is_closed(2.0)


@pytest.mark.parametrize("form", ["list", "iterator"])
def test_head_of_a_streamed_answer_has_no_content_length(connect, form):
    """Issue 13.1: an app that drops the body for HEAD (werkzeug) must not make the server claim Content-Length: 0
    while GET sends 10,090 bytes chunked (RFC 9110 9.3.2: GET's length, or none)."""
    target = "/head_strips" + ("?list=1" if form == "list" else "")
    c = connect()
    get = c.request(request("GET", target))
    assert get.status == 200 and len(get.body) == 10090 and get.get("Transfer-Encoding") == "chunked"
    c.send(request("HEAD", target))
    head = c.read_final("HEAD")
    assert head.status == 200 and head.body == b""
    assert head.get("Content-Length") is None, head.headers
    assert c.request(request("GET", "/qs?next")).body == b"next"
