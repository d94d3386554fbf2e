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
