"""Large responses, slow readers and wsgi.file_wrapper, on a server of this module's own."""
import hashlib
import os
import random
import shutil
import subprocess
import time
from urllib.parse import quote

import pytest

from tests import wire
from tests.conftest import checked_server
from tests.wire import request

BIG = 20 * 1024 * 1024
STALL_SECONDS = 2.0
STALL_CPU_LIMIT = 0.2  # seconds of server CPU allowed while the client reads nothing


@pytest.fixture(scope="module")
def srv(serve):
    yield from checked_server(serve)


@pytest.fixture(scope="module")
def datafile(tmp_path_factory):
    path = tmp_path_factory.mktemp("files") / "data.bin"
    data = random.Random(11).randbytes(3 * 1024 * 1024 + 123)
    path.write_bytes(data)
    return path, data


def test_slow_reader_gets_all_bytes_without_busy_loop(srv):
    c = wire.Client(srv.port, rcvbuf=65536, timeout=10)
    try:
        c.send(request("GET", f"/big?size={BIG}"))
        while len(c.received) < 256 * 1024:
            assert c.recv_some(), "closed early"
        time.sleep(0.3)  # let the server fill the socket buffers and park on EPOLLOUT
        cpu0 = srv.cpu_seconds()
        time.sleep(STALL_SECONDS)
        cpu = srv.cpu_seconds() - cpu0
        assert cpu < STALL_CPU_LIMIT, f"server used {cpu:.2f}s CPU in {STALL_SECONDS}s while the client stalled"
        # the stalled client must not block others
        other = wire.fetch(srv.port, "GET", "/qs?other", timeout=2)
        assert other.body == b"other"
        resp = c.read_final()
        assert resp.get("content-length") == str(BIG)
        assert len(resp.body) == BIG
        assert hashlib.sha256(resp.body).digest() == hashlib.sha256(wire.pattern(BIG)).digest()
    finally:
        c.close()


def test_big_streamed_without_content_length(srv):
    size = 5 * 1024 * 1024 + 7
    c = wire.Client(srv.port, timeout=10)
    with c:
        resp = c.request(request("GET", f"/big?size={size}&nocl=1"))
        assert resp.framing == "chunked"
        assert resp.body == wire.pattern(size)


def file_target(path, **q):
    extra = "".join(f"&{k}={v}" for k, v in q.items())
    return f"/file?path={quote(str(path))}{extra}"


def test_file_wrapper_sends_the_file(srv, datafile):
    path, data = datafile
    with wire.Client(srv.port, timeout=10) as c:
        resp = c.request(request("GET", file_target(path)))
        assert resp.get("content-length") == str(len(data))
        assert resp.body == data
        assert c.request(request("GET", "/qs?next")).body == b"next"


def test_file_wrapper_starts_at_current_position(srv, datafile):
    path, data = datafile
    with wire.Client(srv.port, timeout=10) as c:
        resp = c.request(request("GET", file_target(path, offset=1000)))
        assert resp.body == data[1000:]


def test_file_wrapper_stops_at_content_length(srv, datafile):
    path, data = datafile
    with wire.Client(srv.port, timeout=10) as c:
        resp = c.request(request("GET", file_target(path, offset=10, length=5000)))
        assert resp.body == data[10:5010]
        assert c.request(request("GET", "/qs?next")).body == b"next"


def test_file_wrapper_to_slow_reader(srv, datafile):
    path, data = datafile
    with wire.Client(srv.port, rcvbuf=32768, timeout=10) as c:
        c.send(request("GET", file_target(path)))
        c.recv_some(1000)
        time.sleep(0.5)
        assert c.read_final().body == data


def test_file_wrapper_head(srv, datafile):
    path, data = datafile
    with wire.Client(srv.port) as c:
        c.send(request("HEAD", file_target(path)) + request("GET", "/qs?after"))
        assert c.read_final("HEAD").get("content-length") == str(len(data))
        assert c.read_final().body == b"after"


@pytest.mark.parametrize("nocl", ["", "1"])
def test_file_wrapper_over_bytesio(srv, nocl):
    with wire.Client(srv.port) as c:
        resp = c.request(request("GET", f"/bytesio?nocl={nocl}"))
        assert resp.body == wire.pattern(300000)
        assert c.request(request("GET", "/qs?next")).body == b"next"


@pytest.mark.parametrize("sendfile", [True, False], ids=["sendfile", "no-sendfile"])
def test_file_wrapper_is_read_by_the_worker_only_without_sendfile(serve, datafile, sendfile):
    # --no-sendfile (Loop option sendfile=False): the same bytes, read() in 64 KB blocks and sent; by default the
    # kernel copies the file (sendfile) and the worker never reads it
    path, data = datafile
    srv = serve(sendfile=sendfile)
    with wire.Client(srv.port, timeout=10) as c:
        before = int(c.request(request("GET", "/file_reads")).body)
        resp = c.request(request("GET", file_target(path, counted=1, offset=7)))
        assert resp.body == data[7:]
        reads = int(c.request(request("GET", "/file_reads")).body) - before
    assert reads == (0 if sendfile else -(-(len(data) - 7) // 65536) + 1), reads


@pytest.mark.skipif(not shutil.which("strace"), reason="strace not installed")
def test_file_wrapper_uses_sendfile(srv, datafile, tmp_path):
    path, data = datafile
    out = tmp_path / "strace.txt"
    args = ["strace", "-f", "-qq", "-e", "trace=sendfile", "-o", str(out)]
    for pid in srv.pids():
        args += ["-p", str(pid)]
    tracer = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        time.sleep(0.5)
        if tracer.poll() is not None:
            pytest.skip(f"strace cannot attach: {tracer.stderr.read().decode()[:200]}")
        with wire.Client(srv.port, timeout=10) as c:
            assert c.request(request("GET", file_target(path))).body == data
        time.sleep(0.2)
    finally:
        tracer.terminate()
        tracer.wait(5)
    trace = out.read_text() if out.exists() else ""
    assert "sendfile(" in trace, trace[-2000:]
    assert os.path.exists(path)


def test_pipelined_large_responses_in_order_to_slow_reader(srv):
    sizes = [1024 * 1024 + i for i in range(8)]
    with wire.Client(srv.port, rcvbuf=65536, timeout=10) as c:
        c.send(b"".join(request("GET", f"/big?size={n}" + ("&nocl=1" if i % 2 else "")) for i, n in enumerate(sizes)))
        c.recv_some()
        time.sleep(0.5)
        for n in sizes:
            resp = c.read_final()
            assert len(resp.body) == n and resp.body == wire.pattern(n)
        assert not c.is_closed(0.2)


def test_served_files_are_closed(srv, datafile):
    path, data = datafile
    with wire.Client(srv.port, timeout=10) as c:
        for _ in range(3):
            assert c.request(request("GET", file_target(path))).body == data
        c.send(request("GET", file_target(path)))
        c.recv_some()
    time.sleep(0.3)
    open_files = []
    for pid in srv.pids():
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                open_files.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
            except OSError:
                pass
    assert str(path) not in open_files


def test_single_large_bytes_body_to_slow_reader(srv):
    size = 10 * 1024 * 1024 + 3
    with wire.Client(srv.port, rcvbuf=32768, timeout=10) as c:
        c.send(request("GET", f"/bigone?size={size}") + request("GET", "/qs?after"))
        c.recv_some()
        time.sleep(0.5)
        resp = c.read_final()
        assert len(resp.body) == size and resp.body == wire.pattern(size)
        assert c.read_final().body == b"after"
