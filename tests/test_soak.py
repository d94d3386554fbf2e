"""Thousands of requests on a server of this module's own: memory stays flat, live objects return to zero."""
import pytest

from tests.support import client
from tests.support.client import request
from tests.support.server import ROUTER

pytestmark = pytest.mark.slow       # soak length: `-m "not slow"` leaves it out of a quick run

ROUNDS = 2000  # each round: 5 requests of different shapes


RSS_GROWTH_LIMIT_KB = 1024  # about 100 bytes per request


MIX = [
    request("GET", "/hello"),
    request("POST", "/echo", [("Content-Type", "text/plain")], b"x" * 3000),
    request("GET", "/gen?n=4"),
    request("POST", "/input?mode=readline", [("Transfer-Encoding", "chunked")], client.chunked([b"a\nb", b"c\n"])),
    request("GET", "/environ/soak?q=1", [("Cookie", "a=1"), ("Cookie", "b=2")]),
]


@pytest.fixture(scope="module")
def srv(serve):
    s = serve(ROUTER, fresh=True)
    yield s
    try:
        leaks = s.leaks(collect=False) if s.alive else None
    finally:
        crash = s.stop()
    assert crash is None, crash
    assert leaks is None, f"live objects in the server after all clients closed: {leaks}"


def run_rounds(port, rounds):
    """Rounds of MIX on one connection, pipelined and one by one in turn."""
    with client.Client(port, timeout=10) as c:
        for i in range(rounds):
            if i % 2:
                c.send(b"".join(MIX))
                responses = [c.read_final() for _ in MIX]
            else:
                responses = [c.request(r) for r in MIX]
            assert [r.status for r in responses] == [200] * 5
            assert responses[1].body == b"x" * 3000
            assert responses[3].json() == ["a\n", "bc\n"]


def test_memory_flat_over_many_requests(srv):
    run_rounds(srv.port, 200)  # warm-up: caches, free lists, allocator arenas
    before = srv.rss_kb()
    run_rounds(srv.port, ROUNDS)
    growth = srv.rss_kb() - before
    assert growth < RSS_GROWTH_LIMIT_KB, f"RSS grew {growth} KiB over {ROUNDS * 5} requests"


def test_many_short_connections(srv):
    before = srv.rss_kb()
    for i in range(1000):
        with client.Client(srv.port) as c:
            assert c.request(request("GET", f"/qs?{i}", [("Connection", "close")])).body == str(i).encode()
    growth = srv.rss_kb() - before
    assert growth < RSS_GROWTH_LIMIT_KB, f"RSS grew {growth} KiB over 1000 connections"
