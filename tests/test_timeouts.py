"""Timeouts, enforced by the loop's once-a-second sweep (no per-request timer syscalls): header read (slowloris),
keep-alive idle, body read, and send (a client that stops reading). Small timeouts keep the runtime short."""
import socket
import time

import pytest

from tests import strict_support as ss
from tests import wire

GET = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"


def closed_within(sock, low, high):
    """Assert the server closes sock after at least low and at most high seconds from now."""
    start = time.monotonic()
    assert ss.closed_by_peer(sock, high), f"still open after {high}s"
    took = time.monotonic() - start
    assert took >= low, f"closed after {took:.2f}s, before {low}s"
    return took


@pytest.fixture(scope="module")
def quick(serve):
    return serve("tests.strict_support:reader", header_timeout=1, keepalive=1, body_timeout=1, send_timeout=1)


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
            if ss.closed_by_peer(s, 0.2):
                closed = True
                break
            assert time.monotonic() - start < 4, "head trickled for 4s without being closed"
        assert closed
        assert 0.5 <= time.monotonic() - start < 3.5


def test_keepalive_idle_closed_after_keepalive(quick):
    with wire.Client(quick.port) as c:
        assert c.request(GET).status == 200
        closed_within(c.sock, 0.5, 3.5)


def test_keepalive_connection_reused_before_the_timeout(quick):
    with wire.Client(quick.port) as c:
        for _ in range(3):
            assert c.request(GET).status == 200
            time.sleep(0.3)


def test_stalled_body_gets_408_and_close(quick):
    with wire.Client(quick.port, timeout=5) as c:
        c.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n01234")
        start = time.monotonic()
        resp = c.read_final()
        assert 0.5 <= time.monotonic() - start < 3.5
        assert resp.status == 408, resp
        assert c.is_closed()


def test_body_arriving_in_time_is_read(quick):
    with wire.Client(quick.port, timeout=5) as c:
        c.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n01234")
        time.sleep(0.5)
        c.send(b"56789")
        resp = c.read_final()
        assert resp.status == 200 and resp.body == b"10"


def test_unread_body_that_stalls_is_closed_after_body_timeout(serve):
    """The app answered without reading the body; the server drains it to keep the connection, but not forever."""
    srv = serve("tests.strict_support:hello", body_timeout=1, header_timeout=5, keepalive=5)
    with wire.Client(srv.port, timeout=5) as c:
        c.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
        assert c.read_final().status == 200
        closed_within(c.sock, 0.5, 3.5)


def test_client_that_stops_reading_is_closed_after_send_timeout(serve):
    srv = serve("tests.strict_support:big", fresh=True, send_timeout=1, header_timeout=5)
    with wire.Client(srv.port, rcvbuf=4096) as stuck:
        stuck.send(b"GET /?n=67108864 HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.5)
        # the stalled response blocks nobody else
        with wire.Client(srv.port) as other:
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
    srv = serve("tests.strict_support:hello", fresh=True, header_timeout=1, worker_connections=1100)
    socks = ss.open_raw(srv.port, 1000)
    try:
        for s in socks:
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        t = time.monotonic()
        with wire.Client(srv.port) as c:
            assert c.request(GET).status == 200
        assert time.monotonic() - t < 0.8, "a normal client waited behind the slow ones"
        # every slow connection is closed by the header timeout
        deadline = time.monotonic() + 5
        open_ = list(socks)
        while open_ and time.monotonic() < deadline:
            open_ = [s for s in open_ if not ss.closed_by_peer(s, 0)]
            time.sleep(0.1)
        assert not open_, f"{len(open_)} slow connections still open"
        with wire.Client(srv.port) as c:
            assert c.request(GET).status == 200
    finally:
        for s in socks:
            s.close()
    assert srv.stop() is None


def test_slowloris_at_worker_connections_only_delays_a_normal_client(serve):
    """With every slot taken by slow clients, a new client is accepted once the header timeout frees them."""
    srv = serve("tests.strict_support:hello", fresh=True, header_timeout=1, worker_connections=200)
    socks = ss.open_raw(srv.port, 200)
    try:
        for s in socks:
            s.sendall(b"GET / HTTP/1.1\r\n")
        time.sleep(0.2)
        t = time.monotonic()
        with wire.Client(srv.port, timeout=6) as c:
            assert c.request(GET).status == 200
        assert time.monotonic() - t < 3.5
    finally:
        for s in socks:
            s.close()
