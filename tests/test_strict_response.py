"""The response side: what an app must not produce is refused (500, nothing of it on the wire), a Content-Length the
body does not match closes the connection after the declared bytes and is logged, and a 500 leaks no traceback."""
import pytest

from tests import strict_support as ss
from tests import wire

BAD = sorted(ss._BAD)


@pytest.fixture(scope="module")
def bad(serve):
    return serve("tests.strict_support:bad_response")


@pytest.mark.parametrize("case", BAD)
def test_invalid_status_or_header_is_a_500(bad, case):
    with wire.Client(bad.port) as c:
        resp = c.request(f"GET /{case} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        assert resp.status == 500, resp
        assert b"X-Injected" not in c.received and b"hello" not in c.received
        assert b"Traceback" not in c.received
        assert "close" in resp.connection_tokens
        assert c.is_closed()


@pytest.fixture(scope="module")
def mismatch(serve):
    return serve("tests.strict_support:length_mismatch")


def test_body_shorter_than_content_length_closes(mismatch):
    mark = mismatch.mark()
    with wire.Client(mismatch.port) as c:
        c.send(b"GET /short HTTP/1.1\r\nHost: x\r\n\r\n")
        with pytest.raises(wire.Closed) as err:
            c.read_final()
        assert err.value.partial == b"hello"                # what the app produced, then the close
    mismatch.wait_log("Content-Length", mark)


def test_body_longer_than_content_length_is_cut_and_closes(mismatch):
    mark = mismatch.mark()
    with wire.Client(mismatch.port) as c:
        c.send(b"GET /long HTTP/1.1\r\nHost: x\r\n\r\nGET /ok HTTP/1.1\r\nHost: x\r\n\r\n")
        resp = c.read_final()
        assert resp.status == 200 and resp.body == b"hello"
        assert c.is_closed(), "bytes past Content-Length, or the pipelined request served on a broken connection"
    mismatch.wait_log("Content-Length", mark)


def test_matching_content_length_keeps_the_connection(mismatch):
    with wire.Client(mismatch.port) as c:
        for _ in range(2):
            resp = c.request(b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n")
            assert resp.status == 200 and resp.body == b"ok"
        assert not c.is_closed(0.2)


def test_500_page_leaks_nothing_but_the_log_has_it(serve):
    srv = serve("tests.strict_support:crash")
    mark = srv.mark()
    with wire.Client(srv.port) as c:
        resp = c.request(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert resp.status == 500
    assert b"SECRET" not in c.received and b"Traceback" not in c.received and b"boom" not in c.received
    log = srv.wait_log("SECRET-1f2e3d", mark)
    assert "Traceback" in log


def test_500_to_head_has_no_body(serve):
    srv = serve("tests.strict_support:crash")
    with wire.Client(srv.port) as c:
        resp = c.request(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n", "HEAD")
        assert resp.status == 500
        assert c.is_closed(), "the 500 answering HEAD carried a body"
