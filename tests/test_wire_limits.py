"""Loop options on the wire: keep-alive and head/body timeouts, request line/header/body limits."""
import time

import pytest

from tests import wire
from tests.conftest import checked_server
from tests.wire import request

OPTIONS = dict(
    keepalive=0.5,
    header_timeout=0.5,
    body_timeout=0.5,
    limit_request_line=100,
    limit_request_fields=5,
    limit_request_field_size=100,
    limit_request_body=1000,
)


@pytest.fixture(scope="module")
def srv(serve):
    yield from checked_server(serve, **OPTIONS)


def closed_after(c, timeout=3.0):
    """Seconds until the server closed the connection (any bytes before that must be one error response)."""
    start = time.monotonic()
    c.sock.settimeout(timeout)
    while c.recv_some():
        pass
    elapsed = time.monotonic() - start
    return elapsed, bytes(c.received)


def test_idle_keepalive_connection_closed(srv):
    with wire.Client(srv.port) as c:
        assert c.request(request("GET", "/qs?a")).body == b"a"
        start = time.monotonic()
        assert c.is_closed(3.0)
        assert 0.3 < time.monotonic() - start < 2.0


def test_keepalive_timer_restarts_per_request(srv):
    with wire.Client(srv.port) as c:
        for i in range(4):
            assert c.request(request("GET", f"/qs?{i}")).body == str(i).encode()
            time.sleep(0.3)  # under keepalive each time, 1.2 s in total


def test_slow_request_head_times_out(srv):
    with wire.Client(srv.port) as c:
        c.send(b"GET /qs?slow HTTP/1.1\r\nHost: x\r\n")
        elapsed, data = closed_after(c)
        assert elapsed < 2.0
        assert data == b"" or data.startswith(b"HTTP/1.1 408 "), data
    assert wire.fetch(srv.port, "GET", "/qs?alive").body == b"alive"


def test_slow_request_head_trickle_does_not_extend_timeout(srv):
    with wire.Client(srv.port) as c:
        start = time.monotonic()
        try:
            c.send(b"GET /qs?")
            for _ in range(30):  # a valid request line, one byte every 0.1 s
                c.send(b"a")
                time.sleep(0.1)
        except (BrokenPipeError, ConnectionResetError):
            pass
        assert time.monotonic() - start < 2.0, "a trickled head kept the connection open past header_timeout"


def test_stalled_body_times_out_and_server_recovers(srv):
    with wire.Client(srv.port) as c:
        c.send(request("POST", "/echo", [("Content-Length", "100")]) + b"0123456789")
        elapsed, data = closed_after(c)
        assert elapsed < 2.5
        assert b"0123456789" not in data  # the app never got a whole body to echo
    assert wire.fetch(srv.port, "GET", "/qs?alive").body == b"alive"


def error_then_closed(port, data, status):
    with wire.Client(port) as c:
        c.send(data)
        resp = c.read_final()
        assert resp.status == status, resp
        assert c.is_closed(2.0)


def test_request_line_limit(srv):
    assert wire.fetch(srv.port, "GET", "/qs?" + "a" * 60).status == 200
    error_then_closed(srv.port, request("GET", "/qs?" + "a" * 200), 414)


def test_header_count_limit(srv):
    ok = [(f"X-H{i}", "v") for i in range(4)]  # plus Host: 5 fields
    assert wire.fetch(srv.port, "GET", "/qs?ok", ok).status == 200
    error_then_closed(srv.port, request("GET", "/qs", [(f"X-H{i}", "v") for i in range(8)]), 431)


def test_header_field_size_limit(srv):
    assert wire.fetch(srv.port, "GET", "/qs?ok", [("X-Long", "v" * 50)]).status == 200
    error_then_closed(srv.port, request("GET", "/qs", [("X-Long", "v" * 300)]), 431)


def test_body_limit_content_length(srv):
    assert wire.fetch(srv.port, "POST", "/echo", body=b"x" * 1000).body == b"x" * 1000
    error_then_closed(srv.port, request("POST", "/echo", [], b"x" * 2000), 413)


def test_body_limit_chunked(srv):
    body = wire.chunked([b"x" * 600, b"y" * 600])
    with wire.Client(srv.port) as c:
        c.send(request("POST", "/echo", [("Transfer-Encoding", "chunked")], body))
        try:
            resp = c.read_final()
        except wire.Closed:
            return  # aborting is acceptable once a response could not be formed
        assert resp.status == 413, resp
        assert c.is_closed(2.0)


def test_body_errors_leave_no_reference_cycles(serve):
    """A failed body read (timeout, over limit) must not leave the connection in a cycle awaiting the GC."""
    s = serve("tests.apps:app", fresh=True, **OPTIONS)
    try:
        with wire.Client(s.port) as c:
            c.send(request("POST", "/echo", [("Content-Length", "100")]) + b"0123456789")
            closed_after(c)
        with wire.Client(s.port) as c:
            c.send(request("POST", "/echo", [("Transfer-Encoding", "chunked")], wire.chunked([b"x" * 1200])))
            closed_after(c)
        assert s.leaks(timeout=2.0, collect=False) is None
    finally:
        assert s.stop() is None


def test_unlimited_request_line_beyond_64k(serve):
    s = serve("tests.apps:app", limit_request_line=0)
    query = "a" * 70000
    resp = wire.fetch(s.port, "GET", f"/qs?{query}", timeout=10)
    assert (resp.status, resp.body) == (200, query.encode())
    env = wire.fetch(s.port, "GET", f"/environ/long?{query}").json()
    assert env["QUERY_STRING"] == query and env["PATH_INFO"] == "/environ/long"


def test_worker_connections_pauses_accepting(serve):
    s = serve("tests.apps:app", fresh=True, worker_connections=3, keepalive=10.0)
    held = [wire.Client(s.port) for _ in range(3)]
    try:
        for i, c in enumerate(held):
            assert c.request(request("GET", f"/qs?held{i}")).body == f"held{i}".encode()
        with wire.Client(s.port) as extra:  # the kernel completes the handshake; the server must not accept yet
            extra.send(request("GET", "/qs?extra"))
            extra.sock.settimeout(0.7)
            with pytest.raises(TimeoutError):
                extra.read_final()
            extra.sock.settimeout(5)
            held.pop().close()
            assert extra.read_final().body == b"extra"
    finally:
        for c in held:
            c.close()
        assert s.stop() is None


def test_max_requests_stops_the_loop_after_answering(serve):
    s = serve("tests.apps:app", fresh=True, max_requests=4)  # the fixture's readiness probe is request 1
    answered = 0
    with wire.Client(s.port) as c:
        for i in range(2):
            assert c.request(request("GET", f"/qs?{i}")).body == str(i).encode()
            answered += 1
        assert c.request(request("GET", "/qs?last")).body == b"last"
        answered += 1
        assert c.is_closed(5.0)
    s.proc.wait(10)
    assert s.proc.returncode == 0, s.stderr[-3000:]
    s.stopped = True
    assert answered == 3
