"""Issue 25.2: request bodies spooled to disk cannot take the disk. spool_limit bounds what a worker's spooled bodies
hold at once (503 with Retry-After beyond, 413 for a body that could never fit, before its bytes are written); a write
the disk refuses is a 507 and a warning naming the directory, never a silent 400. Inline and on app threads."""
import hashlib
import os
import subprocess
import time
import uuid

import pytest

from tests.support import client
from tests.support.client import request

THREADS = [1, 4]


def _upload_head(size, target="/upload"):
    return request("POST", target, headers=[("Content-Length", str(size))])


def _held_upload(port, size):
    """A client that sends all of a `size`-byte body but its last byte, and keeps it."""
    c = client.Client(port, timeout=10)
    c.send(_upload_head(size) + b"x" * (size - 1))
    return c


def _finish(c, size):
    c.send(b"x")
    resp = c.read_final()
    assert resp.status == 200, resp
    got = resp.json()
    assert got["size"] == size and got["sha256"] == hashlib.sha256(b"x" * size).hexdigest()


@pytest.mark.parametrize("threads", THREADS)
def test_the_spool_limit_refuses_with_503_and_says_why(serve, threads):
    srv = serve(fresh=True, threads=threads, body_buffer_size=1024, spool_limit=100_000)
    held = _held_upload(srv.port, 80_000)
    time.sleep(0.3)
    mark = srv.mark()
    # a second upload that would take the budget past the limit: 503, Retry-After, before it is all sent
    with client.Client(srv.port, timeout=10) as c:
        c.send(_upload_head(50_000) + b"x" * 4096)
        resp = c.read_final("POST")
        assert resp.status == 503 and resp.get("retry-after") == "5" and "close" in resp.connection_tokens
    # a body the limit could never take: 413
    with client.Client(srv.port, timeout=10) as c:
        c.send(_upload_head(200_000) + b"x" * 4096)
        assert c.read_final("POST").status == 413
    srv.wait_log("Request body refused with 503: spool_limit (100000 bytes) is taken", mark)
    # the held body completes, and then the budget is free again
    _finish(held, 80_000)
    held.close()
    with client.Client(srv.port, timeout=10) as c:
        c.send(_upload_head(50_000) + b"x" * 50_000)
        assert c.read_final("POST").json()["size"] == 50_000
    # small bodies stay in memory: never refused
    assert client.fetch(srv.port, "POST", "/upload", body=b"y" * 500).status == 200


@pytest.mark.parametrize("threads", THREADS)
def test_a_client_that_vanishes_mid_upload_gives_its_budget_back(serve, threads):
    srv = serve(fresh=True, threads=threads, body_buffer_size=1024, spool_limit=100_000)
    for _ in range(3):
        gone = _held_upload(srv.port, 90_000)
        time.sleep(0.2)
        gone.reset()
        time.sleep(0.2)
    with client.Client(srv.port, timeout=10) as c:
        c.send(_upload_head(90_000) + b"x" * 90_000)
        assert c.read_final("POST").json()["size"] == 90_000


@pytest.fixture
def small_disk(tmp_path):
    """A 4 MiB tmpfs (root only: skipped loudly otherwise)."""
    path = tmp_path / f"spool-{uuid.uuid4().hex[:8]}"
    path.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(path)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"SKIPPED LOUDLY: cannot mount a small tmpfs for the disk-full tests: {r.stderr.strip()}")
    yield str(path)
    subprocess.run(["umount", "-l", str(path)], capture_output=True)


@pytest.mark.parametrize("threads", THREADS)
def test_a_full_disk_is_a_507_and_a_warning_naming_the_directory(serve, small_disk, threads):
    srv = serve(fresh=True, threads=threads, body_buffer_size=1024, spool_limit=0, tmp_upload_dir=small_disk)
    mark = srv.mark()
    with client.Client(srv.port, timeout=10) as c:
        size = 6 * 1024 * 1024
        c.send(_upload_head(size))
        try:
            c.send(b"x" * size)
        except OSError:
            pass                    # the answer came first and the server stopped reading: read it below
        resp = c.read_final("POST")
        assert resp.status == 507, resp
    srv.wait_log(f"Request body refused with 507: spooling to {small_disk} failed: No space left on device", mark)
    # the space is given back and the next upload that fits is served
    with client.Client(srv.port, timeout=10) as c:
        c.send(_upload_head(1_000_000) + b"x" * 1_000_000)
        assert c.read_final("POST").json()["size"] == 1_000_000


@pytest.mark.parametrize("threads", THREADS)
def test_auto_keeps_a_tenth_of_the_spool_disk_free(serve, small_disk, threads):
    srv = serve(fresh=True, threads=threads, body_buffer_size=1024, tmp_upload_dir=small_disk)
    held = _held_upload(srv.port, 3_000_000)            # 3 of 4 MiB: admitted (0.4 MiB stays free)
    time.sleep(0.3)
    with client.Client(srv.port, timeout=10) as c:     # would leave less than a tenth: 503, nothing written
        c.send(_upload_head(900_000) + b"x" * 4096)
        assert c.read_final("POST").status == 503
    with client.Client(srv.port, timeout=10) as c:     # could never fit: 413
        c.send(_upload_head(5_000_000) + b"x" * 4096)
        assert c.read_final("POST").status == 413
    _finish(held, 3_000_000)
    held.close()
    assert os.statvfs(small_disk).f_bavail * os.statvfs(small_disk).f_frsize > 3_500_000   # the file went away


@pytest.mark.parametrize("threads", THREADS)
def test_a_file_size_limit_met_at_the_last_bytes_is_a_507_not_a_crash(serve, threads):
    # RLIMIT_FSIZE (no root needed) makes the disk refuse with EFBIG as a full one does with ENOSPC. The last bytes of
    # a body sit in the spool file's buffer until it is complete: the refusal comes from that flush, and is a 507 too.
    import resource
    srv = serve(fresh=True, threads=threads, body_buffer_size=1024, spool_limit=0)
    limit = 1_000_000
    resource.prlimit(srv.proc.pid, resource.RLIMIT_FSIZE, (limit, limit))
    mark = srv.mark()
    with client.Client(srv.port, timeout=10) as c:
        c.send(_upload_head(limit + 5) + b"x" * limit)
        time.sleep(0.5)
        c.send(b"x" * 5)
        resp = c.read_final("POST")
        assert resp.status == 507, resp
    srv.wait_log("Request body refused with 507: spooling to ", mark)
    assert "File too large" in srv.since(mark)
    # bodies under the limit are still served, and a body refused in the middle is a 507 as well
    with client.Client(srv.port, timeout=10) as c:
        c.send(_upload_head(500_000) + b"x" * 500_000)
        assert c.read_final("POST").json()["size"] == 500_000
    with client.Client(srv.port, timeout=10) as c:
        c.send(_upload_head(3_000_000))
        try:
            c.send(b"x" * 3_000_000)
        except OSError:
            pass
        assert c.read_final("POST").status == 507
    assert srv.alive
