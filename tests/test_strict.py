"""HTTP strictness (docs/http-strictness.md). Requests: the corpus (tests/requests/) replayed whole, line by line,
byte by byte and in seeded random pieces, through fastwsgi._core.parse_request_bytes (the parser as the loop drives
it) and through a live server. Responses: what an app must not produce is refused (500, nothing of it on the wire),
a Content-Length the body does not match closes the connection after the declared bytes and is logged, and a 500
leaks no traceback."""
import pytest

from fastwsgi._core import parse_request_bytes
from tests.support import apps, client, corpus

VALID = corpus.corpus("valid")


INVALID = corpus.corpus("invalid")


MODES = ["whole", "lines", "bytes", "random"]


def test_corpus_is_there():
    assert len(VALID) >= 25 and len(INVALID) >= 100


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name,raw,meta", VALID, ids=[v[0] for v in VALID])
def test_valid_parse(name, raw, meta, mode):
    envs = parse_request_bytes(raw, corpus.chunkings(raw, seed=len(raw))[mode])
    errors = [e for e in envs if "error" in e]
    assert not errors, errors
    assert len(envs) == len(meta["environs"])
    for expected, env in zip(meta["environs"], envs):
        assert not corpus.subset_mismatch(expected, env), corpus.subset_mismatch(expected, env)
        assert "HTTP_X_CHECKSUM" not in env          # trailers never reach the environ


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name,raw,meta", INVALID, ids=[v[0] for v in INVALID])
def test_invalid_parse(name, raw, meta, mode):
    out = parse_request_bytes(raw, corpus.chunkings(raw, seed=len(raw))[mode])
    assert out and "error" in out[-1], f"accepted: {out!r}"
    assert out[-1]["error"] == meta["status"], out[-1]
    assert len(out) - 1 == meta["environs"], out


@pytest.fixture(scope="module")
def echo_server(serve):
    return serve("tests.support.apps:echo")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name,raw,meta", VALID, ids=[v[0] for v in VALID])
def test_valid_live(echo_server, name, raw, meta, mode):
    with client.Client(echo_server.port) as c:
        assert corpus.send_pieces(c.sock, raw, mode, seed=len(raw))
        bodies = meta.get("bodies")
        for i, expected in enumerate(meta["environs"]):
            method = expected.get("REQUEST_METHOD", "GET")
            resp = c.read_final(method)
            assert resp.status == 200, resp
            if method == "HEAD":
                continue
            env = resp.json()
            assert not corpus.subset_mismatch(expected, env), corpus.subset_mismatch(expected, env)
            assert "HTTP_X_CHECKSUM" not in env
            if bodies is not None:
                assert env["_body"] == bodies[i]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name,raw,meta", INVALID, ids=[v[0] for v in INVALID])
def test_invalid_live(echo_server, name, raw, meta, mode):
    with client.Client(echo_server.port) as c:
        corpus.send_pieces(c.sock, raw, mode, seed=len(raw))
        responses = corpus.read_all_responses(c, corpus.methods(raw))
        assert [r.status for r in responses] == meta["live_statuses"], responses
        last = responses[-1]
        assert "close" in last.connection_tokens, last
        if last.status >= 400:
            assert b"Traceback" not in last.body
        assert c.is_closed(), "bytes after the last response (a body on an answer to HEAD?)"


# -- issue 13, items 4 and 5: request shapes llhttp's strict mode lets through and we refuse (the corpus has them too:
# invalid/method_two_spaces, target_two_spaces, pipelined_then_two_spaces, content_type_twice) --------------------

@pytest.mark.parametrize("line", [b"GET  / HTTP/1.1", b"GET /  HTTP/1.1", b"GET   /a?b HTTP/1.1", b"GET  /  HTTP/1.1"])
def test_request_line_with_a_run_of_spaces_is_refused(echo_server, line):
    raw = line + b"\r\nHost: x\r\n\r\n"
    out = parse_request_bytes(raw)
    assert out == [{"error": 400, "reason": "malformed request line"}], out
    with client.Client(echo_server.port) as c:
        c.send(raw)
        resp = c.read_final()
        assert resp.status == 400 and "close" in resp.connection_tokens, resp
        assert c.is_closed()


def test_one_space_each_is_still_served(echo_server):
    with client.Client(echo_server.port) as c:
        assert c.request(b"GET /a?b HTTP/1.1\r\nHost: x\r\n\r\n").json()["PATH_INFO"] == "/a"


@pytest.mark.parametrize("second", [b"text/plain", b"application/json"])
def test_duplicate_content_type_is_refused(echo_server, second):
    raw = (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n"
           b"content-type: " + second + b"\r\n\r\nab")
    assert parse_request_bytes(raw)[-1] == {"error": 400, "reason": "duplicate CONTENT_TYPE"}
    with client.Client(echo_server.port) as c:
        c.send(raw)
        assert c.read_final().status == 400
        assert c.is_closed()


BAD = sorted(apps.BAD_RESPONSE)


@pytest.fixture(scope="module")
def bad(serve):
    return serve("tests.support.apps:bad_response")


@pytest.mark.parametrize("case", BAD)
def test_invalid_status_or_header_is_a_500(bad, case):
    with client.Client(bad.port) as c:
        resp = c.request(f"GET /{case} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        assert resp.status == 500, resp
        assert b"X-Injected" not in c.received and b"hello" not in c.received
        assert b"Traceback" not in c.received
        assert "close" in resp.connection_tokens
        assert c.is_closed()


@pytest.fixture(scope="module")
def mismatch(serve):
    return serve("tests.support.apps:length_mismatch")


def test_body_shorter_than_content_length_closes(mismatch):
    mark = mismatch.mark()
    with client.Client(mismatch.port) as c:
        c.send(b"GET /short HTTP/1.1\r\nHost: x\r\n\r\n")
        with pytest.raises(client.Closed) as err:
            c.read_final()
        assert err.value.partial == b"hello"                # what the app produced, then the close
    mismatch.wait_log("Content-Length", mark)


def test_body_longer_than_content_length_is_cut_and_closes(mismatch):
    mark = mismatch.mark()
    with client.Client(mismatch.port) as c:
        c.send(b"GET /long HTTP/1.1\r\nHost: x\r\n\r\nGET /ok HTTP/1.1\r\nHost: x\r\n\r\n")
        resp = c.read_final()
        assert resp.status == 200 and resp.body == b"hello"
        assert c.is_closed(), "bytes past Content-Length, or the pipelined request served on a broken connection"
    mismatch.wait_log("Content-Length", mark)


def test_matching_content_length_keeps_the_connection(mismatch):
    with client.Client(mismatch.port) as c:
        for _ in range(2):
            resp = c.request(b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n")
            assert resp.status == 200 and resp.body == b"ok"
        assert not c.is_closed(0.2)


def test_500_page_leaks_nothing_but_the_log_has_it(serve):
    srv = serve("tests.support.apps:crash")
    mark = srv.mark()
    with client.Client(srv.port) as c:
        resp = c.request(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert resp.status == 500
    assert b"SECRET" not in c.received and b"Traceback" not in c.received and b"boom" not in c.received
    log = srv.wait_log("SECRET-1f2e3d", mark)
    assert "Traceback" in log


def test_500_to_head_has_no_body(serve):
    srv = serve("tests.support.apps:crash")
    with client.Client(srv.port) as c:
        resp = c.request(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n", "HEAD")
        assert resp.status == 500
        assert c.is_closed(), "the 500 answering HEAD carried a body"
