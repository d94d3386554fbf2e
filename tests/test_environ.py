"""The WSGI environ as the app sees it (PEP 3333 plus the usual server extras).

Request-derived keys are checked twice, by the same tests (fixture env_of): through the wire, and without sockets
through fastwsgi._core.parse_request_bytes. Socket-derived keys and the body are checked through the wire only.

Replays: request vectors sent whole, line by line, byte by byte and in seeded random pieces must give the same
environ every way, through the wire (one keep-alive connection, pieces sent with TCP_NODELAY and small sleeps) and
without sockets (parse_request_bytes fed pieces of the same sizes); both must agree on every request-derived key.
"""
import random
import time

import pytest

from fastwsgi._core import parse_request_bytes
from tests.support import client
from tests.support.server import ROUTER


def environ_of(conn, method="GET", target="/environ", headers=(), body=b"", version="HTTP/1.1", host="127.0.0.1"):
    resp = conn.request(client.request(method, target, headers, body, version, host), method)
    assert resp.status == 200, resp
    return resp.json()


def _parse_only(raw):
    envs = parse_request_bytes(raw)
    assert envs and "error" not in envs[0], envs
    return {k: v for k, v in envs[0].items() if isinstance(v, (str, bool, int))}


@pytest.fixture(params=["wire", "parse"])
def env_of(request, connect):
    """env_of(method, target, headers, body, version, host, raw=None) -> environ (JSON form) for one request."""

    def get(method="GET", target="/environ", headers=(), body=b"", version="HTTP/1.1", host="127.0.0.1", raw=None):
        raw = raw or client.request(method, target, headers, body, version, host)
        if request.param == "parse":
            return _parse_only(raw)
        resp = connect().request(raw, method)
        assert resp.status == 200, resp
        return resp.json()

    return get


def test_pep3333_keys_and_extras(server, connect):
    c = connect()
    host = f"127.0.0.1:{server.port}"
    env = environ_of(c, target="/environ/x?a=1", host=host)
    assert env["REQUEST_METHOD"] == "GET"
    assert env["SCRIPT_NAME"] == ""
    assert env["PATH_INFO"] == "/environ/x"
    assert env["QUERY_STRING"] == "a=1"
    assert isinstance(env["SERVER_NAME"], str) and env["SERVER_NAME"]
    assert env["SERVER_PORT"] == str(server.port)
    assert env["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert env["HTTP_HOST"] == host
    assert env["wsgi.version"] == [1, 0]
    assert env["wsgi.url_scheme"] == "http"
    assert env["wsgi.input"] == "<object>" and env["_input_ok"]
    assert env["wsgi.errors"] == "<object>" and env["_errors_ok"]
    assert isinstance(env["wsgi.multithread"], bool)
    assert isinstance(env["wsgi.multiprocess"], bool)
    assert env["wsgi.run_once"] is False
    assert env["wsgi.input_terminated"] is True
    assert env["_file_wrapper_callable"] is True
    assert env["REMOTE_ADDR"] == "127.0.0.1"
    assert env["REMOTE_PORT"] == str(c.local_port)
    assert env["RAW_URI"] == "/environ/x?a=1"
    assert env["REQUEST_URI"] == "/environ/x?a=1"
    cgi = {k: v for k, v in env.items() if "." not in k and not k.startswith("_")}
    assert all(isinstance(v, str) for v in cgi.values()), cgi


def test_path_info_percent_decoded_as_latin1(env_of):
    env = env_of(target="/environ/caf%C3%A9")
    assert env["PATH_INFO"] == "/environ/caf\u00c3\u00a9"  # the UTF-8 bytes as latin-1: 'cafÃ©'
    assert env["RAW_URI"] == "/environ/caf%C3%A9"


def test_path_info_decodes_slash_once(env_of):
    assert env_of(target="/environ/a%2Fb")["PATH_INFO"] == "/environ/a/b"
    assert env_of(target="/environ/100%2541")["PATH_INFO"] == "/environ/100%41"  # decoded once, not twice


def test_query_string_raw(env_of):
    env = env_of(target="/environ/q?x=%20y&z=%2F+w&e=caf%C3%A9")
    assert env["QUERY_STRING"] == "x=%20y&z=%2F+w&e=caf%C3%A9"
    assert env["PATH_INFO"] == "/environ/q"
    env = env_of(target="/environ/noquery")
    assert env["QUERY_STRING"] == ""


def test_repeated_headers_joined(env_of):
    env = env_of(
        headers=[("X-Multi", "a"), ("Cookie", "a=1"), ("X-Multi", "b"), ("Cookie", "b=2"), ("X-Multi", "c")],
    )
    assert env["HTTP_X_MULTI"] == "a, b, c"
    assert env["HTTP_COOKIE"] == "a=1; b=2"


def test_header_names_mapped(env_of):
    env = env_of(headers=[("x-lower-case", "v1"), ("User-Agent", "ua/1"), ("ACCEPT", "*/*")])
    assert env["HTTP_X_LOWER_CASE"] == "v1"
    assert env["HTTP_USER_AGENT"] == "ua/1"
    assert env["HTTP_ACCEPT"] == "*/*"


def test_content_type_and_length_without_http_prefix(env_of):
    env = env_of(
        "POST", "/environ", headers=[("Content-Type", "text/plain; charset=utf-8")], body=b"hello"
    )
    assert env["CONTENT_TYPE"] == "text/plain; charset=utf-8"
    assert env["CONTENT_LENGTH"] == "5"
    assert "HTTP_CONTENT_TYPE" not in env
    assert "HTTP_CONTENT_LENGTH" not in env
    assert env.get("_body", "hello") == "hello"


def test_underscore_header_names_dropped(env_of):
    env = env_of(
        headers=[("X_Forwarded_For", "evil"), ("X-Forwarded-For", "good"), ("X_Only_Underscore", "evil")]
    )
    assert env["HTTP_X_FORWARDED_FOR"] == "good"
    assert "HTTP_X_ONLY_UNDERSCORE" not in env
    assert "evil" not in [v for v in env.values() if isinstance(v, str)]


def test_underscore_header_alone_never_poses_as_dash(env_of):
    env = env_of(headers=[("X_Forwarded_For", "evil")])
    assert "HTTP_X_FORWARDED_FOR" not in env


def test_server_protocol_http10(env_of):
    env = env_of(version="HTTP/1.0")
    assert env["SERVER_PROTOCOL"] == "HTTP/1.0"


def test_server_name_without_host_header(server, connect):
    env = environ_of(connect(), version="HTTP/1.0", host=None)
    assert isinstance(env["SERVER_NAME"], str) and env["SERVER_NAME"]
    assert env["SERVER_PORT"] == str(server.port)
    assert "HTTP_HOST" not in env


@pytest.mark.parametrize("method", ["PURGE", "OPTIONS", "DELETE", "PATCH"])
def test_methods_passed_through(env_of, method):
    env = env_of(method, "/environ")
    assert env["REQUEST_METHOD"] == method


def test_input_for_bodyless_request(connect):
    env = environ_of(connect())
    assert env["_input_ok"] and env["_body_is_bytes"]
    assert env["_body"] == ""


def test_environ_fresh_per_request(connect):
    """Keys of one request must not leak into the next one on the same connection."""
    c = connect()
    first = environ_of(c, "POST", "/environ/1?x=1", headers=[("X-Only-First", "1"), ("Content-Type", "a/b")], body=b"x")
    assert first["HTTP_X_ONLY_FIRST"] == "1"
    second = environ_of(c, target="/environ/2")
    assert "HTTP_X_ONLY_FIRST" not in second
    assert "CONTENT_TYPE" not in second or second["CONTENT_TYPE"] == ""
    assert second["QUERY_STRING"] == "" and second["PATH_INFO"] == "/environ/2"
    assert second["_body"] == ""


def test_chunked_trailers_not_merged_into_environ(env_of):
    """RFC 9110 6.5.1: trailer fields are not header fields; the environ must not depend on when they arrive."""
    body = client.chunked([b"abc"], trailers=[("X-Trailer", "t"), ("Cookie", "trailer=1")])
    env = env_of("POST", "/environ", headers=[("Transfer-Encoding", "chunked")], body=body)
    assert env.get("_body", "abc") == "abc"
    assert "HTTP_X_TRAILER" not in env
    assert "HTTP_COOKIE" not in env


@pytest.mark.skipif(not client.has_ipv6_loopback(), reason="no IPv6 loopback")
def test_environ_over_ipv6(serve):
    srv = serve(ROUTER, host="::1")
    with client.Client(srv.port, host="::1") as c:
        env = environ_of(c, host=f"[::1]:{srv.port}")
        assert env["REMOTE_ADDR"] == "::1"
        assert env["REMOTE_PORT"] == str(c.local_port)
        assert env["SERVER_PORT"] == str(srv.port)
        assert env["HTTP_HOST"] == f"[::1]:{srv.port}"


def test_absolute_form_target(env_of):
    env = env_of(target="http://example.com/environ/abs?x=1", host="example.com")
    assert env["PATH_INFO"] == "/environ/abs"
    assert env["QUERY_STRING"] == "x=1"
    assert env["HTTP_HOST"] == "example.com"


def test_header_values_latin1(env_of):
    env = env_of(raw=b"GET /environ HTTP/1.1\r\nHost: x\r\nX-Name: caf\xc3\xa9\r\n\r\n")
    assert env["HTTP_X_NAME"] == "caf\u00c3\u00a9"


@pytest.mark.parametrize("headers, scheme", [
    ([("X-Forwarded-Proto", "https")], "https"),
    ([("X-Forwarded-Proto", "HTTPS")], "https"),
    ([("X-Forwarded-Protocol", "ssl")], "https"),
    ([("X-Forwarded-Ssl", "on")], "https"),
    ([("X-Forwarded-Proto", "http")], "http"),
    ([("X-Forwarded-Proto", "https"), ("X-Forwarded-Ssl", "on")], "https"),  # two that agree
    ([("X-Forwarded-Proto", "http"), ("X-Forwarded-Proto", "http")], "http"),
    ([], "http"),
])
def test_forwarded_scheme_from_trusted_peer(serve, headers, scheme):
    trusted = serve(ROUTER, forwarded_allow_ips=("127.0.0.1",))
    untrusted = serve(ROUTER, forwarded_allow_ips=("10.9.9.9",))
    with client.Client(trusted.port) as c:
        assert environ_of(c, headers=headers)["wsgi.url_scheme"] == scheme
    with client.Client(untrusted.port) as c:
        assert environ_of(c, headers=headers)["wsgi.url_scheme"] == "http"


@pytest.mark.parametrize("headers", [
    [("X-Forwarded-Proto", "http"), ("X-Forwarded-Ssl", "on")],
    [("X-Forwarded-Ssl", "on"), ("X-Forwarded-Protocol", "tls")],
    [("X-Forwarded-Proto", "https"), ("X-Forwarded-Proto", "http")],
])
def test_contradictory_scheme_headers_from_a_trusted_proxy_are_refused(serve, headers):
    """Issue 13 item 6: gunicorn answers 400 "Contradictory scheme headers" (fastwsgi used to take the first); from
    an untrusted peer the headers mean nothing and the request is served."""
    raw = client.request("GET", "/environ", headers)
    assert parse_request_bytes(raw, forwarded_allow_ips=("127.0.0.1",))[-1] == {
        "error": 400, "reason": "Contradictory scheme headers"}
    trusted = serve(ROUTER, forwarded_allow_ips=("127.0.0.1",))
    untrusted = serve(ROUTER, forwarded_allow_ips=("10.9.9.9",))
    with client.Client(trusted.port) as c:
        c.send(raw)
        assert c.read_final().status == 400
        assert c.is_closed()
    with client.Client(untrusted.port) as c:
        assert environ_of(c, headers=headers)["wsgi.url_scheme"] == "http"


REQUESTS = [
    b"GET /environ/r1?x=1&y=%20 HTTP/1.1\r\nHost: example\r\nUser-Agent: replay/1\r\nAccept: */*\r\n\r\n",
    (b"POST /environ/r2 HTTP/1.1\r\nHost: example\r\nContent-Type: application/x-www-form-urlencoded\r\n"
     b"Content-Length: 11\r\n\r\na=1&b=2&c=3"),
    (b"POST /environ/r3 HTTP/1.1\r\nHost: example\r\nTransfer-Encoding: chunked\r\n\r\n"
     b"4;name=v\r\nWiki\r\n5\r\npedia\r\n0\r\nX-Trailer: yes\r\n\r\n"),
    (b"GET /environ/caf%C3%A9/a%2Fb?q=%2F HTTP/1.1\r\nHost: example\r\nCookie: a=1\r\nCookie: b=2\r\n"
     b"X-Dup: 1\r\nX-Dup: 2\r\nX_Spoof: evil\r\n\r\n"),
    b"PURGE /environ/r5 HTTP/1.1\r\nHost: example\r\nX-Long: " + b"v" * 3000 + b"\r\n\r\n",
    b"GET /environ/r6 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
]


STREAM = b"".join(REQUESTS)


SOCKET_KEYS = {"REMOTE_ADDR", "REMOTE_PORT", "SERVER_NAME", "SERVER_PORT"}


EXPECTED = [
    {"PATH_INFO": "/environ/r1", "QUERY_STRING": "x=1&y=%20", "HTTP_USER_AGENT": "replay/1"},
    {"REQUEST_METHOD": "POST", "CONTENT_LENGTH": "11", "CONTENT_TYPE": "application/x-www-form-urlencoded"},
    {"REQUEST_METHOD": "POST", "PATH_INFO": "/environ/r3"},
    {"PATH_INFO": "/environ/caf\u00c3\u00a9/a/b", "HTTP_COOKIE": "a=1; b=2", "HTTP_X_DUP": "1, 2"},
    {"REQUEST_METHOD": "PURGE", "HTTP_X_LONG": "v" * 3000},
    {"SERVER_PROTOCOL": "HTTP/1.0", "PATH_INFO": "/environ/r6"},
]


BODIES = ["", "a=1&b=2&c=3", "Wikipedia", "", "", ""]


def _lines(data):
    return [len(line) for line in data.splitlines(keepends=True)]


def _random(seed):
    rnd = random.Random(seed)
    sizes, left = [], len(STREAM)
    while left > 0:
        sizes.append(min(left, rnd.randint(1, 40)))
        left -= sizes[-1]
    return sizes


CHUNKINGS = {
    "whole": [len(STREAM)],
    "lines": _lines(STREAM),
    "bytes": [1] * len(STREAM),
    **{f"random{seed}": _random(seed) for seed in range(4)},
}


def cgi_keys(env):
    """The request-derived CGI keys (no dots, not socket-derived, not the test app's own)."""
    return {k: v for k, v in env.items() if "." not in k and not k.startswith("_") and k not in SOCKET_KEYS}


def check_expected(envs):
    assert len(envs) == len(REQUESTS), envs
    for env, expected in zip(envs, EXPECTED):
        for key, value in expected.items():
            assert env.get(key) == value, (key, env)
        assert not any(v == "evil" for v in env.values())


def replay_wire(port, sizes):
    with client.Client(port, timeout=10) as c:
        pos = 0
        for size in sizes:
            c.send(STREAM[pos : pos + size])
            pos += size
            if len(sizes) > 1:
                time.sleep(0.0005 if size == 1 else 0.002)
        responses = [c.read_final() for _ in REQUESTS]
    assert [r.status for r in responses] == [200] * len(REQUESTS)
    return [r.json() for r in responses]


@pytest.fixture(scope="module")
def wire_whole(server):
    return replay_wire(server.port, CHUNKINGS["whole"])


def test_wire_whole_matches_expectations(wire_whole):
    check_expected(wire_whole)
    assert [e["_body"] for e in wire_whole] == BODIES


@pytest.mark.parametrize("chunking", [k for k in CHUNKINGS if k != "whole"])
def test_wire_replay_same_environ_every_chunking(server, wire_whole, chunking):
    envs = replay_wire(server.port, CHUNKINGS[chunking])
    strip = lambda env: {k: v for k, v in env.items() if k != "REMOTE_PORT"}  # noqa: E731
    assert [strip(e) for e in envs] == [strip(e) for e in wire_whole]


def parse(sizes):
    return parse_request_bytes(STREAM, sizes)


@pytest.mark.parametrize("chunking", list(CHUNKINGS))
def test_parse_without_sockets_same_environ_every_chunking(chunking):
    whole = parse(None)
    envs = parse(CHUNKINGS[chunking])
    assert not any("error" in e for e in envs), envs
    check_expected(envs)
    assert [cgi_keys(e) for e in envs] == [cgi_keys(e) for e in whole]


def test_parse_without_sockets_agrees_with_the_wire(wire_whole):
    envs = parse(None)
    assert [cgi_keys(e) for e in envs] == [cgi_keys(e) for e in wire_whole]
    for parsed, served in zip(envs, wire_whole):
        for key in ("wsgi.url_scheme", "wsgi.input_terminated", "wsgi.run_once", "SCRIPT_NAME"):
            assert parsed[key] == served[key], key


def test_parse_without_sockets_reports_errors():
    envs = parse_request_bytes(b"GET / HTTP/1.1\r\nBad Line\r\n\r\n")
    assert envs and envs[-1].get("error") == 400
