"""Issue 25: what one abusive client may cost a worker. A client pipelining without reading its answers (memory),
and clients holding every descriptor (a normal client is still served). Each inline and on app threads."""
import resource
import socket
import threading
import time

import pytest

from tests.support import client
from tests.support.client import request

FLOOD = 50_000


def _flood(c, count, stop, result):
    """Send `count` pipelined GETs on c without reading an answer, as far as the server reads them (once it stops
    reading, a send blocks until `stop`)."""
    batch = request("GET", "/hello", headers=[("X-Pad", "p" * 1000)]) * 500     # 50 MB: beyond the kernel's buffers
    sent = 0
    try:
        while sent < count and not stop.is_set():
            try:
                c.sock.sendall(batch)
                sent += 500
            except socket.timeout:
                continue
    except OSError:
        pass
    result["sent"] = sent


@pytest.mark.parametrize("threads", [1, 4])
def test_a_pipelining_flood_that_never_reads_costs_bounded_memory(serve, threads):
    # issue 25.1: with --threads, 100,000 pipelined GETs never read grew a worker from 18 to 143 MB, and most of it
    # stayed after the close. Now a connection is not read past QUEUE_READ_MAX queued requests, and no queued request
    # starts past HIGH_WATER unsent answer bytes, on both paths.
    srv = serve(fresh=True, threads=threads)
    assert client.fetch(srv.port, target="/hello").status == 200
    base = srv.rss_kb()
    stop = threading.Event()
    result = {}
    c = client.Client(srv.port, timeout=0.5, rcvbuf=4096)
    flooder = threading.Thread(target=_flood, args=(c, FLOOD, stop, result), daemon=True)
    flooder.start()
    peak = base
    deadline = time.monotonic() + 6
    while time.monotonic() < deadline:
        peak = max(peak, srv.rss_kb())
        time.sleep(0.1)
    stop.set()
    flooder.join(10)
    sent = result["sent"]
    # the server stopped reading long before the flood was all sent: the kernel's buffers hold the rest
    assert sent < FLOOD, f"the server read all {sent} requests without their answers being read"
    assert peak - base < 20_000, f"RSS grew from {base} to {peak} kB"
    # a normal client is served meanwhile, and the flooder's connection still answers in order once it reads
    assert client.fetch(srv.port, target="/hello").status == 200
    c.sock.settimeout(5)
    for _ in range(200):
        assert c.read_response().status == 200
    c.close()
    time.sleep(0.5)
    assert srv.rss_kb() - base < 20_000
    assert client.fetch(srv.port, target="/hello").status == 200


def _tiny_flood(port, stop, socks):
    """Pipeline small GETs (64 KiB holds about 2,000) on a connection that never reads, until `stop`."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", port))
    s.settimeout(0.5)
    socks.append(s)
    batch = request("GET", "/hello") * 2000
    while not stop.is_set():
        try:
            s.sendall(batch)
        except socket.timeout:
            continue
        except OSError:
            return


def _flood_peak(srv, conns, seconds=4.0):
    """RSS (kB) at its highest while `conns` clients pipeline small GETs without reading; they close after."""
    stop = threading.Event()
    socks = []
    flooders = [threading.Thread(target=_tiny_flood, args=(srv.port, stop, socks), daemon=True) for _ in range(conns)]
    for t in flooders:
        t.start()
    peak = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        peak = max(peak, srv.rss_kb())
        time.sleep(0.1)
    stop.set()
    for t in flooders:
        t.join(5)
    for s in socks:
        s.close()
    return peak


@pytest.mark.parametrize("threads", [1, 4])
def test_a_read_of_small_pipelined_requests_is_not_parsed_past_the_queue_limit(serve, threads):
    # 64 KiB read at once hold about 2,000 small GETs: all parsed, a connection kept that many environs while app
    # threads answered them one by one (40 connections: +120 MB). Now at most QUEUE_MAX are parsed; the rest of the
    # read waits as bytes, and the connection is not read until it is framed.
    srv = serve(fresh=True, threads=threads)
    assert client.fetch(srv.port, target="/hello").status == 200
    base = srv.rss_kb()
    peak = _flood_peak(srv, 40)
    assert peak - base < 60_000, f"RSS grew from {base} to {peak} kB with 40 flooding connections"
    time.sleep(1.0)
    after = srv.rss_kb()
    # what the floods took is given back to be reused: a second one costs no more
    peak2 = _flood_peak(srv, 40)
    time.sleep(1.0)
    after2 = srv.rss_kb()
    assert peak2 - base < 60_000 and after2 - after < 10_000, (base, peak, after, peak2, after2)
    assert client.fetch(srv.port, target="/hello").status == 200


@pytest.mark.parametrize("threads", [1, 4])
def test_deep_pipelining_is_answered_whole_and_in_order(serve, threads):
    # the bytes past the queue limit are framed as the queue drains: every request is answered, in order, bodies
    # and a Connection: close at the end included
    srv = serve(fresh=True, threads=threads)
    data = b"".join(request("GET", f"/qs?{i}") for i in range(3000))
    data += request("POST", "/echo", body=b"b" * 70_000)
    data += b"".join(request("GET", f"/qs?{i}") for i in range(3000, 3500))
    data += request("GET", "/qs?last", headers=[("Connection", "close")]) + request("GET", "/qs?never")
    with client.Client(srv.port, timeout=10) as c:
        sender = threading.Thread(target=c.sock.sendall, args=(data,), daemon=True)
        sender.start()
        for i in range(3000):
            assert c.read_response().body == str(i).encode()
        assert c.read_response("POST").body == b"b" * 70_000
        for i in range(3000, 3500):
            assert c.read_response().body == str(i).encode()
        assert c.read_response().body == b"last"
        assert c.is_closed()
        sender.join(5)


@pytest.mark.parametrize("threads", [1, 4])
def test_out_of_descriptors_idle_connections_make_room_for_a_new_client(serve, threads):
    # issue 25.3: under a descriptor limit, idle connections locked a normal client out until they timed out in
    # waves (15.7 s with --header-timeout 5). Now EMFILE sheds as worker_connections does: the oldest connection
    # without a request (else the oldest idle one) is closed and the new client served at once.
    srv = serve(fresh=True, threads=threads, header_timeout=30.0, keepalive=30.0)
    pid = srv.proc.pid
    resource.prlimit(pid, resource.RLIMIT_NOFILE, (128, 128))
    idle = []
    try:
        for i in range(300):
            s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
            if i % 2:
                s.sendall(request("GET", "/hello"))       # half of them kept-alive after an answer
            idle.append(s)
        time.sleep(0.5)
        start = time.monotonic()
        resp = client.fetch(srv.port, target="/hello", timeout=10)
        elapsed = time.monotonic() - start
        assert resp.status == 200
        assert elapsed < 2.0, f"the new client waited {elapsed:.1f}s"
        assert "out of file descriptors; closed the oldest connection" in srv.stderr
    finally:
        for s in idle:
            s.close()
    assert client.fetch(srv.port, target="/hello").status == 200


def test_the_parser_keeps_what_follows_a_full_queue_and_frames_it_in_order():
    # without sockets: one piece of 500 requests queues QUEUE_MAX of them; the rest is framed as the queue drains
    from fastwsgi._core import parse_request_bytes
    data = b"".join(request("GET", f"/n{i}") for i in range(500)) + request("POST", "/b", body=b"z" * 10)
    for chunks in (None, [7], [65536]):
        envs = parse_request_bytes(data, chunks)
        assert [e["PATH_INFO"] for e in envs] == [f"/n{i}" for i in range(500)] + ["/b"]
