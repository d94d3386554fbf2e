"""A large upload is streamed through wsgi.input, not buffered: the server's memory stays flat.

The requirement is 1 GB; UPLOAD_SIZE keeps CI time down and is enough to see buffering.
"""
import hashlib
import random
import threading
import time

import pytest

from tests import wire
from tests.conftest import checked_server
from tests.wire import request

UPLOAD_SIZE = 100 * 1024 * 1024
RSS_GROWTH_LIMIT_KB = 60 * 1024
BLOCK = random.Random(7).randbytes(1024 * 1024)


@pytest.fixture(scope="module")
def srv(serve):
    yield from checked_server(serve)


def _upload(srv, chunked):
    """Send UPLOAD_SIZE bytes while sampling the server's RSS; returns (response json, peak growth KiB, digest)."""
    with wire.Client(srv.port, timeout=30) as warm:  # warm up buffers before the baseline
        assert warm.request(request("POST", "/upload", [], BLOCK)).json()["size"] == len(BLOCK)
    baseline = srv.rss_kb()
    peak = [baseline]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], srv.rss_kb())
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    digest = hashlib.sha256()
    try:
        with wire.Client(srv.port, timeout=30) as c:
            if chunked:
                c.send(request("POST", "/upload", [("Transfer-Encoding", "chunked")]))
                frame = b"%x\r\n" % len(BLOCK) + BLOCK + b"\r\n"
            else:
                c.send(request("POST", "/upload", [("Content-Length", str(UPLOAD_SIZE))]))
                frame = BLOCK
            for _ in range(UPLOAD_SIZE // len(BLOCK)):
                c.send(frame)
                digest.update(BLOCK)
            if chunked:
                c.send(b"0\r\n\r\n")
            result = c.read_final("POST").json()
    finally:
        done.set()
        sampler.join(5)
    peak[0] = max(peak[0], srv.rss_kb())
    return result, peak[0] - baseline, digest.hexdigest()


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_large_upload_streams_with_flat_memory(srv, chunked):
    result, growth_kb, digest = _upload(srv, chunked)
    assert result["size"] == UPLOAD_SIZE
    assert result["sha256"] == digest
    assert 0 < result["biggest_read"] <= 65536
    assert growth_kb < RSS_GROWTH_LIMIT_KB, f"server RSS grew {growth_kb} KiB during a {UPLOAD_SIZE} byte upload"


def test_upload_then_keepalive(srv):
    with wire.Client(srv.port, timeout=10) as c:
        body = BLOCK * 3
        result = c.request(request("POST", "/upload", [], body)).json()
        assert result["sha256"] == hashlib.sha256(body).hexdigest()
        assert c.request(request("GET", "/qs?next")).body == b"next"
