"""Timeouts, enforced by the loop's once-a-second sweep (no per-request timer syscalls): header read (slowloris),
keep-alive idle, body read, and send (a client that stops reading). Small timeouts keep the runtime short; the
router app runs with TIGHT ones (half a second)."""
import socket
import time

import pytest

from tests.support import client
from tests.support.client import closed_after, request
from tests.support.server import TIGHT, checked_server

GET = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"


def closed_within(sock, low, high):
    """Assert the server closes sock after at least low and at most high seconds from now."""
    start = time.monotonic()
    assert client.closed_by_peer(sock, high), f"still open after {high}s"
    took = time.monotonic() - start
    assert took >= low, f"closed after {took:.2f}s, before {low}s"
    return took


@pytest.fixture(scope="module")
def quick(serve):
    return serve("tests.support.apps:reader", header_timeout=1, keepalive=1, body_timeout=1, send_timeout=1)


def test_silent_connection_closed_after_header_timeout(quick):
    with socket.create_connection(("127.0.0.1", quick.port), timeout=5) as s:
        closed_within(s, 0.5, 3.5)


def test_trickled_head_closed_after_header_timeout(quick):
    """Slowloris: a byte every 0.2s keeps the socket busy, but the head must be complete within header_timeout."""
    with socket.create_connection(("127.0.0.1", quick.port), timeout=5) as s:
        start = time.monotonic()
        data = b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-Slow: " + b"a" * 100
        closed = False
        for b in data:
            try:
                s.sendall(bytes([b]))
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            if client.closed_by_peer(s, 0.2):
                closed = True
                break
            assert time.monotonic() - start < 4, "head trickled for 4s without being closed"
        assert closed
        assert 0.5 <= time.monotonic() - start < 3.5


def test_keepalive_idle_closed_after_keepalive(quick):
    with client.Client(quick.port) as c:
        assert c.request(GET).status == 200
        closed_within(c.sock, 0.5, 3.5)


def test_keepalive_connection_reused_before_the_timeout(quick):
    with client.Client(quick.port) as c:
        for _ in range(3):
            assert c.request(GET).status == 200
            time.sleep(0.3)


def test_stalled_body_gets_408_and_close(quick):
    with client.Client(quick.port, timeout=5) as c:
        c.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n01234")
        start = time.monotonic()
        resp = c.read_final()
        assert 0.5 <= time.monotonic() - start < 3.5
        assert resp.status == 408, resp
        assert c.is_closed()


def test_body_arriving_in_time_is_read(quick):
    with client.Client(quick.port, timeout=5) as c:
        c.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n01234")
        time.sleep(0.5)
        c.send(b"56789")
        resp = c.read_final()
        assert resp.status == 200 and resp.body == b"10"


def test_stalled_body_is_answered_408_and_the_app_never_called(serve):
    """The loop reads the body before the app runs: a body that stops arriving is a 408 after body_timeout (counted
    between two reads, as nginx does), the app is never called, and the connection is closed."""
    srv = serve("tests.support.apps:hello", body_timeout=1, header_timeout=5, keepalive=5)
    with client.Client(srv.port, timeout=5) as c:
        c.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
        time.sleep(0.6)
        c.send(b"0123456789")                       # a read within body_timeout restarts it
        start = time.monotonic()
        resp = c.read_final()
        assert resp.status == 408, resp
        assert 0.7 <= time.monotonic() - start < 3.0
        assert c.is_closed()


def test_client_that_stops_reading_is_closed_after_send_timeout(serve):
    srv = serve("tests.support.apps:big", fresh=True, send_timeout=1, header_timeout=5)
    with client.Client(srv.port, rcvbuf=4096) as stuck:
        stuck.send(b"GET /?n=67108864 HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.5)
        # the stalled response blocks nobody else
        with client.Client(srv.port) as other:
            t = time.monotonic()
            resp = other.request(b"GET /?n=10 HTTP/1.1\r\nHost: x\r\n\r\n")
            assert resp.status == 200 and time.monotonic() - t < 1.0
        time.sleep(3.0)                                    # > send_timeout + one sweep
        got = 0
        stuck.sock.settimeout(5)
        while True:
            try:
                data = stuck.sock.recv(1 << 20)
            except ConnectionResetError:
                break
            if not data:
                break
            got += len(data)
        assert got < 64 << 20, "the whole response was sent: the client was never timed out"
    assert srv.stop() is None


def test_thousand_slowloris_do_not_starve_a_normal_client(serve):
    srv = serve("tests.support.apps:hello", fresh=True, header_timeout=1, worker_connections=1100)
    socks = client.open_raw(srv.port, 1000)
    try:
        for s in socks:
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        t = time.monotonic()
        with client.Client(srv.port) as c:
            assert c.request(GET).status == 200
        assert time.monotonic() - t < 0.8, "a normal client waited behind the slow ones"
        # every slow connection is closed by the header timeout
        deadline = time.monotonic() + 5
        open_ = list(socks)
        while open_ and time.monotonic() < deadline:
            open_ = [s for s in open_ if not client.closed_by_peer(s, 0)]
            time.sleep(0.1)
        assert not open_, f"{len(open_)} slow connections still open"
        with client.Client(srv.port) as c:
            assert c.request(GET).status == 200
    finally:
        for s in socks:
            s.close()
    assert srv.stop() is None


def test_slowloris_at_worker_connections_only_delays_a_normal_client(serve):
    """With every slot taken by slow clients, a new client is accepted once the header timeout frees them."""
    srv = serve("tests.support.apps:hello", fresh=True, header_timeout=1, worker_connections=200)
    socks = client.open_raw(srv.port, 200)
    try:
        for s in socks:
            s.sendall(b"GET / HTTP/1.1\r\n")
        time.sleep(0.2)
        t = time.monotonic()
        with client.Client(srv.port, timeout=6) as c:
            assert c.request(GET).status == 200
        assert time.monotonic() - t < 3.5
    finally:
        for s in socks:
            s.close()


# -- the router app with TIGHT timeouts --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def srv(serve):
    """The router with TIGHT limits and timeouts, on a server of this module's own (checked for crashes and leaks)."""
    yield from checked_server(serve, **TIGHT)


def test_idle_keepalive_connection_closed(srv):
    with client.Client(srv.port) as c:
        assert c.request(request("GET", "/qs?a")).body == b"a"
        start = time.monotonic()
        assert c.is_closed(3.0)
        assert 0.3 < time.monotonic() - start < 2.0


def test_keepalive_timer_restarts_per_request(srv):
    with client.Client(srv.port) as c:
        for i in range(4):
            assert c.request(request("GET", f"/qs?{i}")).body == str(i).encode()
            time.sleep(0.3)  # under keepalive each time, 1.2 s in total


def test_slow_request_head_times_out(srv):
    with client.Client(srv.port) as c:
        c.send(b"GET /qs?slow HTTP/1.1\r\nHost: x\r\n")
        elapsed, data = closed_after(c)
        assert elapsed < 2.0
        assert data == b"" or data.startswith(b"HTTP/1.1 408 "), data
    assert client.fetch(srv.port, "GET", "/qs?alive").body == b"alive"


def test_slow_request_head_trickle_does_not_extend_timeout(srv):
    with client.Client(srv.port) as c:
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
    with client.Client(srv.port) as c:
        c.send(request("POST", "/echo", [("Content-Length", "100")]) + b"0123456789")
        elapsed, data = closed_after(c)
        assert elapsed < 2.5
        assert b"0123456789" not in data  # the app never got a whole body to echo
    assert client.fetch(srv.port, "GET", "/qs?alive").body == b"alive"
