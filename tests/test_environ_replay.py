"""Replay request vectors whole, line by line, byte by byte and in seeded random pieces: same environ every way.

Two implementations of the same check: through the wire (one keep-alive connection, pieces sent with TCP_NODELAY
and small sleeps) and without sockets (fastwsgi._core.parse_request_bytes, fed in pieces of the same sizes).
Both must agree with each other on every request-derived key.
"""
import random
import time

import pytest

from tests import wire

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
    with wire.Client(port, timeout=10) as c:
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
    core = pytest.importorskip("fastwsgi._core")
    if not hasattr(core, "parse_request_bytes"):
        pytest.skip("fastwsgi._core has no parse_request_bytes")
    return core.parse_request_bytes(STREAM, sizes)


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
    envs = pytest.importorskip("fastwsgi._core").parse_request_bytes(b"GET / HTTP/1.1\r\nBad Line\r\n\r\n")
    assert envs and envs[-1].get("error") == 400
