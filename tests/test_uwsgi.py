"""--protocol uwsgi (nginx's uwsgi_pass; gunicorn 27's --protocol and --uwsgi-allow-from): the packet parser through
its probe (whole, byte by byte, in seeded random pieces; malformed packets), then raw packets on the wire to real
servers, inline and with app threads. nginx itself in front: tests/test_uwsgi_nginx.py."""
import random
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastwsgi._core import parse_uwsgi_bytes
from tests.support import client
from tests.support.client import uwsgi_packet, uwsgi_request
from tests.support.server import ROUTER, checked_server


def parse(data, chunks=None, **options):
    return parse_uwsgi_bytes(data, chunks, **options)


def pieces(n, seed):
    rnd = random.Random(seed)
    return [rnd.randint(1, 13) for _ in range(n)]


def cut_everywhere(data, **options):
    """The outcome of data fed whole, which feeding it byte by byte and in seeded random pieces must equal."""
    whole = parse(data, **options)
    assert parse(data, [1], **options) == whole
    for seed in range(5):
        assert parse(data, pieces(40, seed), **options) == whole, seed
    return whole


# -- the parser: the environ from the vars ----------------------------------------------------------------------------

def test_nginx_vars_are_the_environ():
    body = b"name=value&x=%C3%A9"
    data = uwsgi_request("POST", "/a%20b/c?x=1&y=%2F", [("Content-Type", "application/x-www-form-urlencoded"),
                                                       ("User-Agent", "curl/8"), ("Accept", "*/*")], body)
    [env] = cut_everywhere(data)
    assert env["REQUEST_METHOD"] == "POST"
    assert env["REQUEST_URI"] == env["RAW_URI"] == "/a%20b/c?x=1&y=%2F"
    assert env["PATH_INFO"] == "/a b/c"          # nginx's decoded $document_uri, as sent
    assert env["QUERY_STRING"] == "x=1&y=%2F"
    assert env["CONTENT_TYPE"] == "application/x-www-form-urlencoded"
    assert env["CONTENT_LENGTH"] == str(len(body))
    assert env["wsgi.input"] == body
    assert env["SERVER_PROTOCOL"] == "HTTP/1.1"
    # the client's address, the server block's name and port: nginx's, as uWSGI takes them
    assert (env["REMOTE_ADDR"], env["REMOTE_PORT"]) == ("203.0.113.9", "5555")
    assert (env["SERVER_NAME"], env["SERVER_PORT"]) == ("example.test", "80")
    assert env["HTTP_HOST"] == "127.0.0.1" and env["HTTP_USER_AGENT"] == "curl/8" and env["HTTP_ACCEPT"] == "*/*"
    assert env["DOCUMENT_ROOT"] == "/usr/share/nginx/html" and env["REQUEST_SCHEME"] == "http"
    assert env["wsgi.url_scheme"] == "http" and env["SCRIPT_NAME"] == ""
    assert "HTTP_CONTENT_TYPE" not in env and "HTTP_CONTENT_LENGTH" not in env


def test_a_bodyless_request_has_no_content_keys_and_an_empty_input():
    [env] = cut_everywhere(uwsgi_request("GET", "/x"))
    assert "CONTENT_LENGTH" not in env and "CONTENT_TYPE" not in env     # nginx sends them empty
    assert env["wsgi.input"] == b""


def test_the_defaults_of_a_minimal_packet_are_gunicorns():
    [env] = cut_everywhere(uwsgi_packet([]))
    assert (env["REQUEST_METHOD"], env["PATH_INFO"], env["QUERY_STRING"]) == ("GET", "/", "")
    assert env["RAW_URI"] == env["REQUEST_URI"] == "/" and env["SERVER_PROTOCOL"] == "HTTP/1.1"
    # the socket's peer when the packet does not say
    assert (env["REMOTE_ADDR"], env["REMOTE_PORT"]) == ("127.0.0.1", "4242")


def test_the_target_parts_not_sent_come_from_request_uri():
    [env] = parse(uwsgi_packet({"REQUEST_URI": "/p%41th/x?q=1"}))
    assert (env["PATH_INFO"], env["QUERY_STRING"], env["RAW_URI"]) == ("/pAth/x", "q=1", "/p%41th/x?q=1")
    [env] = parse(uwsgi_packet({"PATH_INFO": "/only", "QUERY_STRING": "a=b"}))
    assert env["RAW_URI"] == env["REQUEST_URI"] == "/only?a=b"


def test_repeated_header_vars_are_joined_and_other_vars_replaced():
    [env] = cut_everywhere(uwsgi_packet([("HTTP_COOKIE", "a=1"), ("HTTP_ACCEPT", "text/html"), ("HTTP_COOKIE", "b=2"),
                                         ("HTTP_ACCEPT", "*/*"), ("SERVER_NAME", "one"), ("SERVER_NAME", "two")]))
    assert env["HTTP_COOKIE"] == "a=1; b=2" and env["HTTP_ACCEPT"] == "text/html, */*"
    assert env["SERVER_NAME"] == "two"


def test_the_servers_own_keys_cannot_be_set_by_the_peer():
    [env] = parse(uwsgi_packet([("wsgi.input", "x"), ("wsgi.multithread", "yes"), ("wsgi.url_scheme", "gopher")]))
    assert env["wsgi.input"] == b"" and env["wsgi.multithread"] is False and env["wsgi.url_scheme"] == "http"


@pytest.mark.parametrize("pairs, scheme", [
    ([("HTTPS", "on")], "https"),
    ([("HTTPS", "1")], "https"),
    ([("HTTPS", "off")], "http"),
    ([("UWSGI_SCHEME", "https")], "https"),
    ([("wsgi.url_scheme", "https")], "https"),       # gunicorn reads it
    ([("HTTPS", "on"), ("UWSGI_SCHEME", "http")], "http"),
])
def test_the_scheme_comes_from_the_https_var(pairs, scheme):
    [env] = parse(uwsgi_packet(pairs))
    assert env["wsgi.url_scheme"] == scheme


def test_forwarded_proto_counts_only_from_a_trusted_peer():
    data = uwsgi_packet([("HTTP_X_FORWARDED_PROTO", "https")])
    assert parse(data, forwarded_allow_ips=["127.0.0.1"])[0]["wsgi.url_scheme"] == "https"
    assert parse(data, forwarded_allow_ips=[])[0]["wsgi.url_scheme"] == "http"


def test_pipelined_packets_with_bodies_in_any_pieces():
    # (past 64 queued requests the rest waits as bytes, framed as the queue drains)
    data = b"".join(uwsgi_request("POST", f"/r{i}", body=bytes([65 + i % 26]) * (i * 7)) for i in range(100))
    envs = cut_everywhere(data)
    assert [e["PATH_INFO"] for e in envs] == [f"/r{i}" for i in range(100)]
    assert [e["wsgi.input"] for e in envs] == [bytes([65 + i % 26]) * (i * 7) for i in range(100)]


def test_a_body_larger_than_the_buffer_is_spooled_whole():
    body = client.pattern(300_000)
    [env] = parse(uwsgi_request("PUT", "/up", body=body), [65536], body_buffer_size=1024)
    assert env["wsgi.input"] == body


def test_a_body_still_arriving_leaves_its_request_incomplete():
    data = uwsgi_request("POST", "/", body=b"x" * 100)
    [env] = parse(data[:-10])
    assert env["wsgi.input"] is None


def test_a_packet_split_inside_its_header():
    data = uwsgi_request("GET", "/split")
    for cut in range(1, 8):
        assert parse(data, [cut, 1000]) == parse(data)


def ci(n):
    return settings(max_examples=n, derandomize=True, deadline=None, database=None,
                    suppress_health_check=list(HealthCheck))


NAMES = st.sampled_from(["REQUEST_METHOD", "PATH_INFO", "QUERY_STRING", "REQUEST_URI", "CONTENT_TYPE", "HTTP_HOST",
                         "HTTP_COOKIE", "HTTP_X_A", "SERVER_NAME", "HTTPS", "REMOTE_ADDR", "X"]) | st.text(
    st.characters(min_codepoint=33, max_codepoint=255), min_size=1, max_size=12)
VALUES = st.text(st.characters(min_codepoint=0, max_codepoint=255), max_size=40)


@ci(400)
@given(st.lists(st.tuples(NAMES, VALUES), max_size=12), st.binary(max_size=200),
       st.lists(st.integers(1, 64), min_size=1, max_size=6))
def test_any_vars_give_the_same_environ_in_any_pieces(pairs, body, sizes):
    pairs = [(k, v) for k, v in pairs if k != "CONTENT_LENGTH"] + [("CONTENT_LENGTH", str(len(body)))]
    data = uwsgi_packet(pairs, body) + GOOD
    whole = parse(data)
    assert parse(data, sizes) == whole
    if "error" in whole[-1]:
        assert whole[-1]["error"] == 0, whole
        return
    env, good = whole
    assert good["PATH_INFO"] == "/good" and env["wsgi.input"] == body
    for key in ("REQUEST_METHOD", "PATH_INFO", "QUERY_STRING", "RAW_URI", "SERVER_PROTOCOL"):
        assert isinstance(env[key], str)
    last = dict(pairs)
    for key in ("SERVER_NAME", "X", "REMOTE_ADDR"):
        if key in last:
            assert env[key] == last[key]


@ci(300)
@given(st.binary(max_size=300), st.lists(st.integers(1, 64), min_size=1, max_size=6))
def test_random_bytes_never_break_the_parser(data, sizes):
    out = parse(data)
    assert parse(data, sizes) == out
    assert all("error" not in env for env in out[:-1])


# -- the parser: what it refuses ----------------------------------------------------------------------------------

def vars_block(*pairs):
    return b"".join(struct.pack("<H", len(k)) + k + struct.pack("<H", len(v)) + v for k, v in pairs)


def raw_packet(block, modifier1=0):
    return bytes([modifier1]) + struct.pack("<H", len(block)) + b"\0" + block


GOOD = uwsgi_request("GET", "/good")


@pytest.mark.parametrize("data, reason", [
    (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "modifier1 71 is not 0"),        # HTTP sent to a uwsgi port
    (raw_packet(b"", modifier1=5), "modifier1 5 is not 0"),
    (raw_packet(b"\x05"), "truncated var name size"),
    (raw_packet(b"\x09\x00REQUEST"), "truncated var"),
    (raw_packet(vars_block((b"A", b"b"))[:-1] + b"\x05\x00"), "truncated var"),
    (raw_packet(b"\x01\x00A\x09\x00abc"), "truncated var value"),
    (raw_packet(vars_block((b"", b"x"))), "a var without a name"),
    (raw_packet(vars_block((b"REQUEST_METHOD", b""))), "empty REQUEST_METHOD"),
    (raw_packet(vars_block((b"CONTENT_LENGTH", b"12a"))), "CONTENT_LENGTH is not a number"),
    (raw_packet(vars_block((b"CONTENT_LENGTH", b"-1"))), "CONTENT_LENGTH is not a number"),
    (raw_packet(vars_block((b"CONTENT_LENGTH", b"1"), (b"CONTENT_LENGTH", b"1"))) + b"xx",
     "CONTENT_LENGTH sent twice"),
    (raw_packet(vars_block(*[(b"V%d" % i, b"") for i in range(1001)])), "more than 1000 vars"),
])
def test_a_malformed_packet_is_refused_without_a_status(data, reason):
    for chunks in (None, [1], pieces(30, 7)):
        out = parse(GOOD + data + GOOD, chunks)
        assert out[0]["PATH_INFO"] == "/good" and len(out) == 2, out     # what came before is served
        assert out[1]["error"] == 0 and out[1]["reason"].startswith(reason), out


def test_the_request_limits_bound_a_packet():
    tight = dict(limit_request_line=100, limit_request_fields=5, limit_request_field_size=100)
    assert len(parse(uwsgi_request("GET", "/" + "a" * 99), **tight)) == 1
    cases = [
        (uwsgi_request("GET", "/" + "a" * 100), "REQUEST_URI longer than limit_request_line"),
        (uwsgi_packet({"PATH_INFO": "/" + "a" * 100}), "PATH_INFO and QUERY_STRING longer"),
        (uwsgi_request("GET", "/", [(f"X-{i}", "v") for i in range(5)]), "more header fields than"),
        (uwsgi_request("GET", "/", [("X-Big", "v" * 100)]), "header field larger than"),
    ]
    for data, reason in cases:
        out = parse(data, **tight)
        assert out[-1]["error"] == 0 and out[-1]["reason"].startswith(reason), out
    # the whole packet: at most what the limits let an HTTP head be (checked from its header, before its vars)
    huge = uwsgi_packet([(f"HTTP_X_{i}", "v" * 90) for i in range(8)])
    out = parse(huge[:4], **tight)
    assert out == [{"error": 0, "reason": f"packet of {len(huge) - 4} bytes, larger than the request limits"}]


def test_a_body_beyond_limit_request_body_is_413():
    out = parse(uwsgi_request("POST", "/", body=b"x" * 11), limit_request_body=10)
    assert out[-1] == {"error": 413, "reason": "body larger than limit_request_body"}
    assert parse(uwsgi_request("POST", "/", body=b"x" * 10), limit_request_body=10)[0]["wsgi.input"] == b"x" * 10


@pytest.mark.parametrize("peer, allowed, ok", [
    ("127.0.0.1", ["127.0.0.1", "::1"], True),
    ("10.1.2.3", ["127.0.0.1", "::1"], False),
    ("10.1.2.3", ["*"], True),
    ("10.1.2.3", ["10.1.2.3"], True),
    (None, ["127.0.0.1"], True),                     # a UNIX socket peer, as gunicorn
])
def test_uwsgi_allow_ips(peer, allowed, ok):
    out = parse(GOOD, peer=peer, uwsgi_allow_ips=allowed)
    if ok:
        assert out[0]["PATH_INFO"] == "/good"
    else:
        assert out == [{"error": 403, "reason": "uwsgi request from a peer not in uwsgi_allow_ips"}]


# -- on the wire ----------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module", params=[1, 4], ids=["inline", "threads4"])
def usrv(request, serve):
    yield from checked_server(serve, ROUTER, protocol="uwsgi", threads=request.param, body_buffer_size=4096)


def ask(c, method="GET", target="/", headers=(), body=b""):
    return c.request(uwsgi_request(method, target, headers, body), method)


def test_answers_are_http_and_the_connection_is_kept(usrv):
    with client.Client(usrv.port) as c:
        for i in range(3):
            resp = ask(c, "GET", f"/environ?i={i}", [("X-Trace", f"t{i}")])
            assert resp.version == "1.1" and resp.status == 200 and resp.framing == "length"
            env = resp.json()
            assert env["QUERY_STRING"] == f"i={i}" and env["HTTP_X_TRACE"] == f"t{i}"
            assert env["REMOTE_ADDR"] == "203.0.113.9" and env["SERVER_PROTOCOL"] == "HTTP/1.1"
            assert env["wsgi.multithread"] is (usrv.options["threads"] > 1)
        assert not c.is_closed(0.2)


def test_pipelined_packets_are_answered_in_order(usrv):
    with client.Client(usrv.port) as c:
        c.send(b"".join(uwsgi_request("POST", "/echo", body=b"%d" % i * (i + 1)) for i in range(100)))
        for i in range(100):
            assert c.read_response().body == b"%d" % i * (i + 1)


def test_bodies_in_pieces_and_spooled(usrv):
    body = client.pattern(200_000)
    data = uwsgi_request("PUT", "/upload", [("Content-Type", "application/octet-stream")], body)
    with client.Client(usrv.port) as c:
        for start in range(0, len(data), 50_000):
            c.send(data[start:start + 50_000])
        resp = c.read_response()
        assert resp.status == 200, resp
        resp = ask(c, "POST", "/echo", body=b"small")
        assert resp.body == b"small"


def test_an_answer_of_unknown_length_ends_with_the_connection(usrv):
    with client.Client(usrv.port) as c:
        resp = ask(c, "GET", "/gen?n=3")
        assert resp.status == 200 and resp.framing == "close" and not resp.has("transfer-encoding")
        assert c.is_closed()


def test_head_and_connection_close(usrv):
    with client.Client(usrv.port) as c:
        resp = ask(c, "HEAD", "/hello")
        assert resp.status == 200 and resp.body == b"" and resp.get("content-length") == "13"
        resp = ask(c, "GET", "/hello", [("Connection", "close")])
        assert resp.body == b"Hello, World!" and "close" in resp.connection_tokens
        assert c.is_closed()


def test_a_bad_packet_closes_after_the_answers_before_it(usrv):
    mark = usrv.mark()
    with client.Client(usrv.port) as c:
        c.send(uwsgi_request("GET", "/hello") + raw_packet(b"", modifier1=7))
        assert c.read_response().body == b"Hello, World!"
        assert c.is_closed()
    usrv.wait_log("uwsgi: modifier1 7 is not 0 (a WSGI request) from 127.0.0.1; closing the connection", mark)


def test_http_to_a_uwsgi_port_is_closed_without_an_answer(usrv):
    with client.Client(usrv.port) as c:
        c.send(client.request("GET", "/hello"))
        assert c.is_closed() and c.received == b""


def test_a_peer_not_allowed_gets_403(serve):
    srv = serve(ROUTER, protocol="uwsgi", uwsgi_allow_ips=("192.0.2.1",), fresh=True)
    try:
        mark = srv.mark()
        with client.Client(srv.port) as c:
            resp = ask(c, "GET", "/hello")
            assert resp.status == 403 and "close" in resp.connection_tokens
            assert c.is_closed()
        srv.wait_log("uwsgi: a request from 127.0.0.1, which is not in uwsgi_allow_ips; answering 403", mark)
    finally:
        assert srv.stop() is None


def test_uwsgi_over_tls(serve):
    """nginx's `uwsgi_pass suwsgi://`: the packets inside TLS."""
    srv = serve(ROUTER, protocol="uwsgi", tls="on")
    with client.Client(srv.port, tls=srv.tls) as c:
        env = ask(c, "POST", "/environ", body=b"over tls").json()
        assert env["wsgi.url_scheme"] == "https" and env["_body"] == "over tls"
        assert ask(c, "GET", "/hello").body == b"Hello, World!"


def test_the_cli_flags_serve_uwsgi(master_factory):
    m = master_factory("--protocol", "uwsgi", "--uwsgi-allow-from", "127.0.0.1,::1", "pidapp:app", wait=False)
    m.port = int(m.wait_log(r"Listening at: http://127\.0\.0\.1:(\d+)")[0])
    with client.Client(m.port) as c:
        resp = ask(c, "GET", "/")
        assert resp.status == 200 and resp.body
        c.send(client.request("GET", "/"))             # HTTP on that port: not answered
        assert c.is_closed() and c.buf == b""
