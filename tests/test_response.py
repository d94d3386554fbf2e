"""The response side of PEP 3333 through the wire: start_response, write(), exc_info and result.close() semantics;
large responses, slow readers and wsgi.file_wrapper (on a server of the module's own)."""
import hashlib
import json
import os
import random
import shutil
import subprocess
import time
import uuid
from urllib.parse import quote

import pytest

from tests.support import apps, client
from tests.support.client import request
from tests.support.server import checked_server


@pytest.mark.parametrize("case", sorted(apps.BAD_START))
def test_bad_start_response_gives_500_without_the_bad_header(server, connect, case):
    c = connect()
    resp = c.request(request("GET", f"/bad_start?case={case}"))
    assert resp.status == 500, resp
    assert b"X-Injected" not in c.received and b"X-Bad" not in c.received, bytes(c.received)
    assert b"body-of-bad-start" not in c.received
    with client.Client(server.port) as fresh:
        assert fresh.request(request("GET", "/hello")).status == 200


def test_exc_info_before_headers_replaces_them(connect):
    resp = connect().request(request("GET", "/exc_before"))
    assert resp.status == 500 and resp.reason == "Oops"
    assert resp.get("x-second") == "1"
    assert not resp.has("x-first")
    assert resp.body == b"replaced"


def test_exc_info_after_headers_aborts_the_response(server, connect):
    mark = server.mark()
    c = connect()
    c.send(request("GET", "/exc_after"))
    with pytest.raises(client.Closed):
        c.read_final()
    assert b"should-not-appear" not in c.received
    assert b"500 Oops" not in c.received
    server.wait_log("exc-after-marker", mark)


def test_yielded_block_sent_before_next_block_is_produced(connect):
    """PEP 3333: a server must not delay a yielded block while the app produces the next one."""
    c = connect()
    c.send(request("GET", "/slowgen?sleep=1.5"))
    start = time.monotonic()
    c.sock.settimeout(1.0)
    try:
        while b"first" not in c.received:
            assert c.recv_some(), "closed early"
    except TimeoutError:
        pytest.fail(f"the first block was held back while the app slept; got {bytes(c.received)!r}")
    assert time.monotonic() - start < 1.0
    c.sock.settimeout(c.timeout)
    resp = c.read_final()
    assert resp.body == b"firstsecond"


def test_answers_held_for_the_end_of_a_wakeup_go_out_before_any_app_runs_again(connect):
    """Requests that arrive while the worker is busy are served in one wakeup and their answers sent together at
    its end. A streamed first block still goes out before the app is asked for the next one (PEP 3333), and a
    finished answer does not wait for another connection's slow generator."""
    busy, streamer, quick = connect(), connect(), connect()
    busy.send(request("GET", "/sleep?s=0.5"))
    time.sleep(0.2)                                   # the worker is inside the app now
    streamer.send(request("GET", "/slowgen?sleep=2"))
    quick.send(request("GET", "/qs?quick"))
    assert busy.read_final().body == b"slept"
    start = time.monotonic()
    quick.sock.settimeout(1.5)
    streamer.sock.settimeout(1.5)
    try:
        assert quick.read_final().body == b"quick"
        while b"first" not in streamer.received:
            assert streamer.recv_some(), "closed early"
    except TimeoutError:
        pytest.fail("an answer was held back while another connection's generator slept: "
                    f"quick got {bytes(quick.received)!r}, streamer got {bytes(streamer.received)!r}")
    assert time.monotonic() - start < 1.5
    streamer.sock.settimeout(streamer.timeout)
    assert streamer.read_final().body == b"firstsecond"


def test_a_held_answer_does_not_wait_for_a_whole_wakeup_of_slow_apps(connect):
    """An answer held for the end of its wakeup waits a millisecond at most, not for every slow app after it."""
    busy, quick = connect(), connect()
    slow = [connect() for _ in range(4)]
    busy.send(request("GET", "/sleep?s=0.4"))
    time.sleep(0.2)                                   # the worker is inside the app now
    quick.send(request("GET", "/qs?quick"))
    for c in slow:
        time.sleep(0.01)                              # arrival order: the quick one is first in the next wakeup
        c.send(request("GET", "/sleep?s=0.25"))
    assert busy.read_final().body == b"slept"
    start = time.monotonic()
    assert quick.read_final().body == b"quick"
    waited = time.monotonic() - start
    assert waited < 0.6, f"the quick answer waited {waited:.2f} s: held behind the slow apps of its wakeup"
    for c in slow:
        assert c.read_final().body == b"slept"


def test_start_response_twice_without_exc_info_is_an_error(connect):
    resp = connect().request(request("GET", "/twice"))
    assert resp.status == 500
    assert b"twice" not in resp.body


def test_write_callable_then_iterable(connect):
    c = connect()
    resp = c.request(request("GET", "/write"))
    assert (resp.status, resp.body) == (200, b"abc")
    assert c.request(request("GET", "/qs?next")).body == b"next"


def test_write_callable_http10(connect):
    c = connect()
    resp = c.request(request("GET", "/write", version="HTTP/1.0"))
    assert (resp.status, resp.body) == (200, b"abc")
    assert not resp.has("transfer-encoding")


def test_lazy_start_response_inside_generator(connect):
    c = connect()
    resp = c.request(request("GET", "/lazy"))
    assert (resp.status, resp.get("x-lazy"), resp.body) == (200, "yes", b"lazy")
    assert c.request(request("GET", "/qs?next")).body == b"next"


def closed_count(port, tag):
    return json.loads(client.fetch(port, "GET", "/closed").body).get(tag, 0)


def wait_closed_count(port, tag, expected, timeout=5.0):
    deadline = time.monotonic() + timeout
    while True:
        n = closed_count(port, tag)
        if n == expected or time.monotonic() > deadline:
            return n
        time.sleep(0.05)


def test_close_called_on_success(server, connect):
    tag = uuid.uuid4().hex
    resp = connect().request(request("GET", f"/close?tag={tag}&mode=ok"))
    assert resp.body == b"ab"
    assert wait_closed_count(server.port, tag, 1) == 1


def test_close_called_for_head(server, connect):
    tag = uuid.uuid4().hex
    resp = connect().request(request("HEAD", f"/close?tag={tag}&mode=ok"))
    assert resp.status == 200
    assert wait_closed_count(server.port, tag, 1) == 1


def test_close_called_when_iteration_raises(server, connect):
    tag = uuid.uuid4().hex
    mark = server.mark()
    c = connect()
    c.send(request("GET", f"/close?tag={tag}&mode=exc"))
    with pytest.raises(client.Closed):
        c.read_final()
    assert wait_closed_count(server.port, tag, 1) == 1
    server.wait_log("close-exc-marker", mark)


def test_close_called_when_first_next_raises(server, connect):
    tag = uuid.uuid4().hex
    resp = connect().request(request("GET", f"/close?tag={tag}&mode=exc_first"))
    assert resp.status == 500
    assert wait_closed_count(server.port, tag, 1) == 1


def test_close_called_on_client_disconnect_mid_stream(server):
    tag = uuid.uuid4().hex
    c = client.Client(server.port, rcvbuf=16384)
    c.send(request("GET", f"/close?tag={tag}&mode=stream"))
    while len(c.received) < 100000:
        assert c.recv_some(), "server closed early"
    c.close()
    assert wait_closed_count(server.port, tag, 1, timeout=10) == 1


def test_close_called_once_per_request_on_keepalive(server, connect):
    tag = uuid.uuid4().hex
    c = connect()
    for _ in range(3):
        assert c.request(request("GET", f"/close?tag={tag}&mode=ok")).body == b"ab"
    assert wait_closed_count(server.port, tag, 3) == 3


@pytest.mark.parametrize("kind", ["str", "none", "int", "str_gen"])
def test_bad_result_gives_500(server, connect, kind):
    c = connect()
    resp = c.request(request("GET", f"/bad_result?kind={kind}"))
    assert resp.status == 500, resp
    assert b"text" not in resp.body


def test_wsgi_errors_reach_the_server_log(server, connect):
    mark = server.mark()
    assert connect().request(request("GET", "/errors")).body == b"logged"
    server.wait_log("wsgi-errors-marker", mark)


def test_non_bytes_after_headers_aborts(server, connect):
    c = connect()
    c.send(request("GET", "/bad_result?kind=str_later"))
    with pytest.raises(client.Closed):
        c.read_final()
    assert b"4\r\ntext" not in c.received and c.received.endswith(b"2\r\nok\r\n")


@pytest.mark.parametrize("target", ["/write", "/lazy", "/exc_before", "/close?tag=head-x&mode=ok"])
def test_head_never_sends_a_body(connect, target):
    c = connect()
    c.send(request("HEAD", target) + request("GET", "/qs?after"))
    assert c.read_final("HEAD").status in (200, 500)
    assert c.read_final().body == b"after"


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
    c = client.Client(srv.port, rcvbuf=65536, timeout=10)
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
        other = client.fetch(srv.port, "GET", "/qs?other", timeout=2)
        assert other.body == b"other"
        resp = c.read_final()
        assert resp.get("content-length") == str(BIG)
        assert len(resp.body) == BIG
        assert hashlib.sha256(resp.body).digest() == hashlib.sha256(client.pattern(BIG)).digest()
    finally:
        c.close()


def test_big_streamed_without_content_length(srv):
    size = 5 * 1024 * 1024 + 7
    c = client.Client(srv.port, timeout=10)
    with c:
        resp = c.request(request("GET", f"/big?size={size}&nocl=1"))
        assert resp.framing == "chunked"
        assert resp.body == client.pattern(size)


def file_target(path, **q):
    extra = "".join(f"&{k}={v}" for k, v in q.items())
    return f"/file?path={quote(str(path))}{extra}"


def test_file_wrapper_sends_the_file(srv, datafile):
    path, data = datafile
    with client.Client(srv.port, timeout=10) as c:
        resp = c.request(request("GET", file_target(path)))
        assert resp.get("content-length") == str(len(data))
        assert resp.body == data
        assert c.request(request("GET", "/qs?next")).body == b"next"


def test_file_wrapper_starts_at_current_position(srv, datafile):
    path, data = datafile
    with client.Client(srv.port, timeout=10) as c:
        resp = c.request(request("GET", file_target(path, offset=1000)))
        assert resp.body == data[1000:]


@pytest.mark.parametrize("sendfile", [True, False], ids=["sendfile", "no-sendfile"])
def test_file_wrapper_stops_at_content_length(serve, datafile, sendfile):
    # a range of a file (Flask's send_file for a Range request): the app seeks, sets Content-Length and hands the
    # open file over; the server sends that much, reads no further, and keeps the connection (also when it reads
    # the file itself: --no-sendfile, TLS)
    path, data = datafile
    srv = serve(sendfile=sendfile)
    with client.Client(srv.port, timeout=10) as c:
        before = int(c.request(request("GET", "/file_reads")).body)
        resp = c.request(request("GET", file_target(path, offset=10, length=5000, counted=1)))
        assert resp.body == data[10:5010]
        assert resp.get("connection") is None
        assert c.request(request("GET", "/qs?next")).body == b"next"
        reads = int(c.request(request("GET", "/file_reads")).body) - before
    assert reads == (0 if sendfile else 1)
    assert "more than its Content-Length" not in srv.stderr


def test_file_wrapper_to_slow_reader(srv, datafile):
    path, data = datafile
    with client.Client(srv.port, rcvbuf=32768, timeout=10) as c:
        c.send(request("GET", file_target(path)))
        c.recv_some(1000)
        time.sleep(0.5)
        assert c.read_final().body == data


def test_file_wrapper_head(srv, datafile):
    path, data = datafile
    with client.Client(srv.port) as c:
        c.send(request("HEAD", file_target(path)) + request("GET", "/qs?after"))
        assert c.read_final("HEAD").get("content-length") == str(len(data))
        assert c.read_final().body == b"after"


@pytest.mark.parametrize("nocl", ["", "1"])
def test_file_wrapper_over_bytesio(srv, nocl):
    with client.Client(srv.port) as c:
        resp = c.request(request("GET", f"/bytesio?nocl={nocl}"))
        assert resp.body == client.pattern(300000)
        assert c.request(request("GET", "/qs?next")).body == b"next"


@pytest.mark.parametrize("sendfile", [True, False], ids=["sendfile", "no-sendfile"])
def test_file_wrapper_is_read_by_the_worker_only_without_sendfile(serve, datafile, sendfile):
    # --no-sendfile (Loop option sendfile=False): the same bytes, read() in 64 KB blocks and sent; by default the
    # kernel copies the file (sendfile) and the worker never reads it
    path, data = datafile
    srv = serve(sendfile=sendfile)
    with client.Client(srv.port, timeout=10) as c:
        before = int(c.request(request("GET", "/file_reads")).body)
        resp = c.request(request("GET", file_target(path, counted=1, offset=7)))
        assert resp.body == data[7:]
        reads = int(c.request(request("GET", "/file_reads")).body) - before
    assert reads == (0 if sendfile else -(-(len(data) - 7) // 65536)), reads     # none past Content-Length


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
        with client.Client(srv.port, timeout=10) as c:
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
    with client.Client(srv.port, rcvbuf=65536, timeout=10) as c:
        c.send(b"".join(request("GET", f"/big?size={n}" + ("&nocl=1" if i % 2 else "")) for i, n in enumerate(sizes)))
        c.recv_some()
        time.sleep(0.5)
        for n in sizes:
            resp = c.read_final()
            assert len(resp.body) == n and resp.body == client.pattern(n)
        assert not c.is_closed(0.2)


def test_served_files_are_closed(srv, datafile):
    path, data = datafile
    with client.Client(srv.port, timeout=10) as c:
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
    with client.Client(srv.port, rcvbuf=32768, timeout=10) as c:
        c.send(request("GET", f"/bigone?size={size}") + request("GET", "/qs?after"))
        c.recv_some()
        time.sleep(0.5)
        resp = c.read_final()
        assert len(resp.body) == size and resp.body == client.pattern(size)
        assert c.read_final().body == b"after"
