"""The core's pieces driven without a server (issue 24): a Response's framing decisions, an Exchange driven as a
connection drives it (the same object the app threads drive), and a Connection's state machine and deadlines over a
socketpair with a Loop that is not running (fastwsgi._core's probes: ext/fastwsgi/probes.pyx). The wire suite
covers the same behaviour end to end; these pin each decision to the object that makes it."""
import logging
import os

import pytest

from fastwsgi import FileWrapper
from fastwsgi._core import ConnectionProbe, ResponseProbe, run_exchange


def head_and_body(raw):
    head, _, body = raw.partition(b"\r\n\r\n")
    return head.split(b"\r\n"), body


# -- Response: framing as one value -------------------------------------------------------------------------------

def test_the_apps_content_length_frames_the_body():
    r = ResponseProbe()
    r.start_response("200 OK", [("Content-Length", "5")])
    raw = r.body(b"hello")
    head, body = head_and_body(raw)
    assert b"Content-Length: 5" in head and not any(h.startswith(b"Transfer-Encoding") for h in head)
    assert body == b"hello" and r.framing == "length"
    assert r.finish() == b"" and not r.must_close


def test_an_unknown_length_is_chunked_over_http11():
    r = ResponseProbe()
    r.start_response("200 OK", [])
    raw = r.body(b"abc") + r.body(b"") + r.body(b"de") + r.finish()
    head, body = head_and_body(raw)
    assert b"Transfer-Encoding: chunked" in head and r.framing == "chunked"
    assert body == b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
    assert not r.must_close


def test_an_unknown_length_closes_the_connection_over_http10():
    r = ResponseProbe(http10=True)
    r.start_response("200 OK", [])
    raw = r.body(b"abc") + r.finish()
    head, body = head_and_body(raw)
    assert r.framing == "close" and r.must_close and b"Connection: close" in head and body == b"abc"


def test_http10_kept_alive_says_so():
    r = ResponseProbe(http10=True)
    r.start_response("200 OK", [("Content-Length", "1")])
    head, _ = head_and_body(r.body(b"x"))
    assert b"Connection: keep-alive" in head and not r.must_close


@pytest.mark.parametrize("status", ["204 No Content", "304 Not Modified", "103 Early Hints"])
def test_bodyless_statuses_frame_no_body(status):
    r = ResponseProbe()
    r.start_response(status, [])
    raw = r.body(b"ignored") + r.finish()
    head, body = head_and_body(raw)
    assert r.framing == "none" and body == b""
    assert not any(h.startswith((b"Content-Length", b"Transfer-Encoding")) for h in head)


def test_head_counts_the_body_without_sending_it():
    r = ResponseProbe(is_head=True)
    r.start_response("200 OK", [("Content-Length", "3")])
    raw = r.body(b"abc") + r.finish()
    head, body = head_and_body(raw)
    assert r.framing == "none" and body == b"" and r.sent == 3 and b"Content-Length: 3" in head


def test_a_known_length_is_announced():
    r = ResponseProbe()
    r.start_response("200 OK", [])
    head, _ = head_and_body(r.send_head(11))
    assert b"Content-Length: 11" in head and r.framing == "length"


def test_more_than_content_length_is_cut_and_closes(caplog):
    r = ResponseProbe()
    r.start_response("200 OK", [("Content-Length", "2")])
    with caplog.at_level(logging.ERROR, "fastwsgi.error"):
        _, body = head_and_body(r.body(b"abcd"))
    assert body == b"ab" and r.must_close and "more than its Content-Length" in caplog.text


def test_less_than_content_length_closes(caplog):
    r = ResponseProbe()
    r.start_response("200 OK", [("Content-Length", "5")])
    r.body(b"ab")
    with caplog.at_level(logging.ERROR, "fastwsgi.error"):
        r.finish()
    assert r.must_close and "2 bytes of its Content-Length 5" in caplog.text


def test_a_clipped_body_stops_at_its_length_without_error():
    r = ResponseProbe()
    r.set_clip(True)
    r.start_response("206 Partial Content", [("Content-Length", "3")])
    _, body = head_and_body(r.body(b"abcdef"))
    assert body == b"abc" and not r.must_close and r.length_reached


def test_a_stopping_loop_closes_after_the_answer():
    r = ResponseProbe(stopping=True)
    r.start_response("200 OK", [("Content-Length", "0")])
    head, _ = head_and_body(r.finish())
    assert b"Connection: close" in head and r.must_close


def test_the_app_saying_close_closes():
    r = ResponseProbe()
    r.start_response("200 OK", [("Connection", "close"), ("Content-Length", "0")])
    head, _ = head_and_body(r.finish())
    assert head.count(b"Connection: close") == 1 and r.must_close


# -- Exchange: one call, whoever drives it --------------------------------------------------------------------------

def test_a_list_is_framed_whole_in_one_step():
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"hello ", b"world"]
    raw, steps, closes = run_exchange(app)
    head, body = head_and_body(raw)
    assert steps == ["done"] and body == b"hello world" and b"Content-Length: 11" in head and not closes


def test_a_generator_is_drawn_piece_by_piece_and_closed():
    closed = []

    def app(environ, start_response):
        start_response("200 OK", [])
        try:
            yield b"a"
            yield b"bc"
        finally:
            closed.append(True)
    raw, steps, closes = run_exchange(app)
    _, body = head_and_body(raw)
    assert steps == ["stream", "stream", "stream", "done"]
    assert body == b"1\r\na\r\n2\r\nbc\r\n0\r\n\r\n" and closed == [True] and not closes


def test_an_app_that_raises_gets_a_500_and_the_connection_closes(caplog):
    def app(environ, start_response):
        raise RuntimeError("boom")
    with caplog.at_level(logging.ERROR, "fastwsgi.error"):
        raw, steps, closes = run_exchange(app)
    assert raw.startswith(b"HTTP/1.1 500 ") and steps == ["done"] and closes
    assert "boom" in caplog.text and "calling the app" in caplog.text


def test_a_failure_after_the_head_aborts(caplog):
    def app(environ, start_response):
        start_response("200 OK", [])
        yield b"part"
        raise RuntimeError("late")
    with caplog.at_level(logging.ERROR, "fastwsgi.error"):
        raw, steps, closes = run_exchange(app)
    assert steps[-1] == "abort" and closes
    assert raw.startswith(b"HTTP/1.1 200 ") and raw.endswith(b"4\r\npart\r\n")      # no last chunk: truncated
    assert "iterating the app's response" in caplog.text


def test_no_start_response_is_a_500(caplog):
    def app(environ, start_response):
        return []
    with caplog.at_level(logging.ERROR, "fastwsgi.error"):
        raw, steps, closes = run_exchange(app)
    assert raw.startswith(b"HTTP/1.1 500 ") and closes and "without calling start_response" in caplog.text


@pytest.mark.parametrize("sendfile", [True, False])
def test_a_file_answer_sends_its_announced_span(tmp_path, sendfile):
    path = tmp_path / "f.bin"
    path.write_bytes(os.urandom(10000))

    def app(environ, start_response):
        start_response("200 OK", [("Content-Length", "4000")])
        return environ["wsgi.file_wrapper"](open(path, "rb"), 1024)
    raw, steps, closes = run_exchange(app, sendfile=sendfile)
    head, body = head_and_body(raw)
    assert body == path.read_bytes()[:4000] and not closes
    assert steps[0] == ("file" if sendfile else "stream")
    if not sendfile:
        assert steps[-1] == "done" and len(steps) <= 6       # stops reading once 4000 bytes are out


def test_post_request_sees_the_status_and_the_bytes():
    seen = []

    def app(environ, start_response):
        start_response("201 Created", [])
        return [b"abc", b"de"]

    def post(environ, status, headers, sent, seconds):
        seen.append((environ["PATH_INFO"], status, sent, seconds >= 0))
    run_exchange(app, b"POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n", post_request=post)
    assert seen == [("/x", "201 Created", 5, True)]


def test_file_wrapper_is_ours():
    assert FileWrapper is not None


# -- Connection: states and their deadlines -------------------------------------------------------------------------

def hello(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hi"]


@pytest.fixture
def probe():
    made = []

    def make(app=hello, **options):
        p = ConnectionProbe(app, **options)
        made.append(p)
        return p
    yield make
    for p in made:
        p.close()


def test_a_new_connection_has_the_header_timeout(probe):
    p = probe(header_timeout=7.0)
    assert p.state == "NEW" and 6.9 < p.timeout <= 7.0


def test_an_answered_request_leaves_it_idle_with_the_keepalive(probe):
    p = probe(keepalive=3.0)
    p.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    assert p.recv().endswith(b"\r\n\r\nhi")
    assert p.state == "IDLE" and 2.9 < p.timeout <= 3.0


def test_a_partial_head_counts_from_the_last_answer(probe):
    p = probe(header_timeout=5.0)
    p.send(b"GET / HTTP/1.1\r\nHo")
    assert p.state == "HEAD" and p.timeout <= 5.0 and p.recv(0.05) == b""


def test_a_stalled_body_is_a_408(probe):
    p = probe(body_timeout=4.0)
    p.send(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc")
    assert p.state == "BODY" and 3.9 < p.timeout <= 4.0
    p.expire()
    assert p.recv().startswith(b"HTTP/1.1 408 ")
    assert p.state in ("LINGER", "CLOSED")


def test_pipelined_requests_are_answered_in_order(probe):
    def echo(environ, start_response):
        start_response("200 OK", [])
        return [environ["PATH_INFO"].encode()]
    p = probe(echo)
    p.send(b"GET /one HTTP/1.1\r\nHost: t\r\n\r\nGET /two HTTP/1.1\r\nHost: t\r\n\r\n")
    raw = p.recv()
    assert raw.count(b"HTTP/1.1 200 ") == 2 and raw.index(b"/one") < raw.index(b"/two")
    assert p.state == "IDLE"


def test_a_malformed_head_is_a_400_then_lingers(probe):
    p = probe()
    p.send(b"GET / HTTP/1.1\r\nBad Header\r\n\r\n")
    assert p.recv().startswith(b"HTTP/1.1 400 ")
    assert p.state == "LINGER" and 1.9 < p.timeout <= 2.0


def test_connection_close_is_answered_then_closed(probe):
    p = probe()
    p.send(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    raw = p.recv()
    assert b"Connection: close" in raw and p.closed


def test_a_half_close_after_a_request_is_answered(probe):
    p = probe()
    p.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    p.shut()
    assert p.recv().endswith(b"hi") and p.closed
