"""The WSGI environ as the app sees it (PEP 3333 plus the usual server extras).

Request-derived keys are checked twice, by the same tests (fixture env_of): through the wire, and without sockets
through fastwsgi._core.parse_request_bytes. Socket-derived keys and the body are checked through the wire only.
"""
import socket

import pytest

from tests import wire


def environ_of(client, method="GET", target="/environ", headers=(), body=b"", version="HTTP/1.1", host="127.0.0.1"):
    resp = client.request(wire.request(method, target, headers, body, version, host), method)
    assert resp.status == 200, resp
    return resp.json()


def _parse_only(raw):
    core = pytest.importorskip("fastwsgi._core")
    if not hasattr(core, "parse_request_bytes"):
        pytest.skip("fastwsgi._core has no parse_request_bytes")
    envs = core.parse_request_bytes(raw)
    assert envs and "error" not in envs[0], envs
    return {k: v for k, v in envs[0].items() if isinstance(v, (str, bool, int))}


@pytest.fixture(params=["wire", "parse"])
def env_of(request, connect):
    """env_of(method, target, headers, body, version, host, raw=None) -> environ (JSON form) for one request."""

    def get(method="GET", target="/environ", headers=(), body=b"", version="HTTP/1.1", host="127.0.0.1", raw=None):
        raw = raw or wire.request(method, target, headers, body, version, host)
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
    body = wire.chunked([b"abc"], trailers=[("X-Trailer", "t"), ("Cookie", "trailer=1")])
    env = env_of("POST", "/environ", headers=[("Transfer-Encoding", "chunked")], body=body)
    assert env.get("_body", "abc") == "abc"
    assert "HTTP_X_TRAILER" not in env
    assert "HTTP_COOKIE" not in env


def _has_ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _has_ipv6_loopback(), reason="no IPv6 loopback")
def test_environ_over_ipv6(serve):
    srv = serve("tests.apps:app", host="::1")
    with wire.Client(srv.port, host="::1") as c:
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
    ([("X-Forwarded-Proto", "http"), ("X-Forwarded-Ssl", "on")], "http"),   # the first one decides
    ([], "http"),
])
def test_forwarded_scheme_from_trusted_peer(serve, headers, scheme):
    trusted = serve("tests.apps:app", forwarded_allow_ips=("127.0.0.1",))
    untrusted = serve("tests.apps:app", forwarded_allow_ips=("10.9.9.9",))
    with wire.Client(trusted.port) as c:
        assert environ_of(c, headers=headers)["wsgi.url_scheme"] == scheme
    with wire.Client(untrusted.port) as c:
        assert environ_of(c, headers=headers)["wsgi.url_scheme"] == "http"
