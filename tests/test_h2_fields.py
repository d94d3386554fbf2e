"""An HTTP/2 stream's header fields into the environ without a socket (http/h2head.pyx through parse_h2_fields):
the same environ as HTTP/1.1's for the same request, and the same policy (names with '_', repeats, limits)."""
import pytest

from fastwsgi._core import parse_h2_fields, parse_request_bytes

BASE = [(b":method", b"GET"), (b":scheme", b"https"), (b":path", b"/a%20b/c?x=1&y=%41"), (b":authority", b"ex.org")]


def test_the_environ_of_http11():
    h2 = parse_h2_fields(BASE + [(b"user-agent", b"t/1"), (b"accept", b"*/*"), (b"x-two-words", b"v")])
    h1 = parse_request_bytes(b"GET /a%20b/c?x=1&y=%41 HTTP/1.1\r\nHost: ex.org\r\nUser-Agent: t/1\r\nAccept: */*\r\n"
                             b"X-Two-Words: v\r\n\r\n")[0]
    assert h2.pop("SERVER_PROTOCOL") == "HTTP/2" and h1.pop("SERVER_PROTOCOL") == "HTTP/1.1"
    assert h2 == h1
    assert h2["PATH_INFO"] == "/a b/c" and h2["QUERY_STRING"] == "x=1&y=%41" and h2["HTTP_HOST"] == "ex.org"
    assert h2["wsgi.url_scheme"] == "http"          # the transport's, never :scheme


def test_cookies_joined_with_semicolons_others_with_commas():
    env = parse_h2_fields(BASE + [(b"cookie", b"a=1"), (b"cookie", b"b=2"), (b"accept", b"x"), (b"accept", b"y")])
    assert env["HTTP_COOKIE"] == "a=1; b=2" and env["HTTP_ACCEPT"] == "x, y"


def test_authority_wins_over_host_and_one_is_needed():
    assert parse_h2_fields(BASE + [(b"host", b"other")])["HTTP_HOST"] == "ex.org"
    no_authority = [f for f in BASE if f[0] != b":authority"]
    assert parse_h2_fields(no_authority + [(b"host", b"h.org")])["HTTP_HOST"] == "h.org"
    assert parse_h2_fields(no_authority) == {"error": 400}


def test_underscore_names_are_dropped():
    env = parse_h2_fields(BASE + [(b"x_forwarded_for", b"1.2.3.4")])
    assert not any("FORWARDED" in k for k in env)


@pytest.mark.parametrize("extra, status", [
    ([(b"content-length", b"1"), (b"content-length", b"1")], 400),
    ([(b"content-length", b"x")], 400),
    ([(b"host", b"a"), (b"host", b"b")], 400),
    ([(b"host", b"bad host")], 400),
    ([(b"x-a", b"1")] * 101, 431),
    ([(b"x-a", b"v" * 9000)], 431),
])
def test_refused(extra, status):
    assert parse_h2_fields(BASE + extra) == {"error": status}


def test_the_target_checks():
    assert parse_h2_fields([(b":method", b"GET"), (b":path", b"/a%00b"), (b":authority", b"x")])["error"] == 400
    assert parse_h2_fields([(b":method", b"GET"), (b":path", b"/" + b"a" * 5000), (b":authority", b"x")]) == \
        {"error": 414}


def test_body_limits():
    assert parse_h2_fields(BASE + [(b"content-length", b"5")]) == {"error": 400}     # announced, none follows
    env = parse_h2_fields(BASE + [(b"content-length", b"5")], has_body=True)
    assert env["CONTENT_LENGTH"] == "5"
    assert parse_h2_fields(BASE + [(b"content-length", b"5000")], has_body=True, limit_request_body=100) == \
        {"error": 413}
