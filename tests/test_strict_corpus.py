"""The request corpus (tests/requests/) replayed whole, line by line, byte by byte and in seeded random pieces:
through fastwsgi._core.parse_request_bytes (the parser as the loop drives it) and through a live server."""
import pytest

from fastwsgi._core import parse_request_bytes
from tests import strict_support as ss
from tests import wire

VALID = ss.corpus("valid")
INVALID = ss.corpus("invalid")
MODES = ["whole", "lines", "bytes", "random"]


def test_corpus_is_there():
    assert len(VALID) >= 25 and len(INVALID) >= 100


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name,raw,meta", VALID, ids=[v[0] for v in VALID])
def test_valid_parse(name, raw, meta, mode):
    envs = parse_request_bytes(raw, ss.chunkings(raw, seed=len(raw))[mode])
    errors = [e for e in envs if "error" in e]
    assert not errors, errors
    assert len(envs) == len(meta["environs"])
    for expected, env in zip(meta["environs"], envs):
        assert not ss.subset_mismatch(expected, env), ss.subset_mismatch(expected, env)
        assert "HTTP_X_CHECKSUM" not in env          # trailers never reach the environ


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name,raw,meta", INVALID, ids=[v[0] for v in INVALID])
def test_invalid_parse(name, raw, meta, mode):
    out = parse_request_bytes(raw, ss.chunkings(raw, seed=len(raw))[mode])
    assert out and "error" in out[-1], f"accepted: {out!r}"
    assert out[-1]["error"] == meta["status"], out[-1]
    assert len(out) - 1 == meta["environs"], out


@pytest.fixture(scope="module")
def echo_server(serve):
    return serve("tests.strict_support:echo")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name,raw,meta", VALID, ids=[v[0] for v in VALID])
def test_valid_live(echo_server, name, raw, meta, mode):
    with wire.Client(echo_server.port) as c:
        assert ss.send_pieces(c.sock, raw, mode, seed=len(raw))
        bodies = meta.get("bodies")
        for i, expected in enumerate(meta["environs"]):
            method = expected.get("REQUEST_METHOD", "GET")
            resp = c.read_final(method)
            assert resp.status == 200, resp
            if method == "HEAD":
                continue
            env = resp.json()
            assert not ss.subset_mismatch(expected, env), ss.subset_mismatch(expected, env)
            assert "HTTP_X_CHECKSUM" not in env
            if bodies is not None:
                assert env["_body"] == bodies[i]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name,raw,meta", INVALID, ids=[v[0] for v in INVALID])
def test_invalid_live(echo_server, name, raw, meta, mode):
    with wire.Client(echo_server.port) as c:
        ss.send_pieces(c.sock, raw, mode, seed=len(raw))
        responses = ss.read_all_responses(c, ss.methods(raw))
        assert [r.status for r in responses] == meta["live_statuses"], responses
        last = responses[-1]
        assert "close" in last.connection_tokens, last
        if last.status >= 400:
            assert b"Traceback" not in last.body
        assert c.is_closed(), "bytes after the last response (a body on an answer to HEAD?)"
