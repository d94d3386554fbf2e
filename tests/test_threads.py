"""--threads N: app calls on N threads per worker while the loop keeps the sockets (gunicorn's gthread, on the wire).

Single-process servers (`serve(..., threads=N)`) for the request flow; masters (`python -m fastwsgi`) for the CLI,
config, timeout and graceful-stop behaviour. Every test is bounded in time.
"""
import json
import os
import signal
import socket
import threading
import time

import pytest

from tests.support import client
from tests.support.client import request
from tests.support.master import Master, get, run_cli, wait_for, write_app

THREAD_APP = '''\
import threading, time

def application(environ, start_response):
    path = environ["PATH_INFO"]
    if path.startswith("/sleep/"):
        time.sleep(float(path.split("/")[2]))
    body = ("%s %s" % (threading.current_thread().name, environ["wsgi.multithread"])).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
'''


def _timed_get(port, path, results, key):
    start = time.monotonic()
    with client.Client(port, timeout=10) as c:
        resp = c.request(request("GET", path))
    results[key] = (resp.status, resp.body, time.monotonic() - start)


def test_two_slow_requests_on_two_connections_take_one_app_time(serve):
    srv = serve(fresh=True, threads=8)
    results = {}
    start = time.monotonic()
    workers = [threading.Thread(target=_timed_get, args=(srv.port, f"/sleep?s=0.6&n={i}", results, i))
               for i in range(2)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(10)
    elapsed = time.monotonic() - start
    assert [results[i][:2] for i in range(2)] == [(200, b"slept")] * 2
    assert elapsed < 1.0, f"two 0.6 s calls took {elapsed:.2f} s: one waited behind the other"


def test_calls_that_block_at_once_get_every_thread(serve):
    # the pool wakes one thread per burst; one that blocks gets the next one woken (Pool.kick), until all N run
    srv = serve(fresh=True, threads=8)
    results = {}
    barrier = threading.Barrier(8, timeout=5)

    def call(i):
        with client.Client(srv.port, timeout=10) as c:
            barrier.wait()
            start = time.monotonic()
            resp = c.request(request("GET", f"/sleep?s=0.5&n={i}"))
        results[i] = (resp.status, resp.body, time.monotonic() - start)

    callers = [threading.Thread(target=call, args=(i,)) for i in range(8)]
    for t in callers:
        t.start()
    for t in callers:
        t.join(10)
    assert [results[i][:2] for i in range(8)] == [(200, b"slept")] * 8
    slowest = max(r[2] for r in results.values())
    assert slowest < 0.9, f"eight 0.5 s calls on eight threads: the last took {slowest:.2f} s"


def test_a_fast_client_is_not_held_behind_a_slow_call(serve):
    srv = serve(fresh=True, threads=4)
    results = {}
    slow = threading.Thread(target=_timed_get, args=(srv.port, "/sleep?s=1.0", results, "slow"))
    slow.start()
    time.sleep(0.2)
    with client.Client(srv.port, timeout=5) as c:
        start = time.monotonic()
        assert c.request(request("GET", "/qs?fast")).body == b"fast"
        assert time.monotonic() - start < 0.3
    slow.join(10)
    assert results["slow"][:2] == (200, b"slept")


def _pool(port):
    return json.loads(client.fetch(port, "GET", "/pool").body)


def _burst(srv):
    """The pool's counters before and after 6 connections send a request at once, after 0.35 s of quiet (past any
    back-off that the lone /pool request starts, and a look at the cpu_pressure file that covers the quiet)."""
    conns = [client.Client(srv.port, timeout=10) for _ in range(6)]
    try:
        before = _pool(srv.port)
        time.sleep(0.35)
        for i, c in enumerate(conns):
            c.send(request("GET", f"/qs?burst{i}"))
        assert [c.read_final().body for c in conns] == [f"burst{i}".encode() for i in range(6)]
    finally:
        for c in conns:
            c.close()
    return before, _pool(srv.port)


def test_a_burst_from_many_connections_is_gathered_and_every_answer_is_right(serve):
    # an idle pool's first Job waits POOL_GATHER for the requests right behind it (Pool.gather), when the host is
    # short of CPU (cpu_pressure=True: as if tasks always waited for one)
    srv = serve(fresh=True, threads=4, cpu_pressure=True)
    before, after = _burst(srv)
    assert after["jobs"] - before["jobs"] == 7          # the six, and the second /pool
    assert after["gathers"] > before["gathers"]
    assert after["wakes"] - before["wakes"] <= 7


def test_a_lone_client_turns_the_gathering_off(serve):
    # gathers that bring nothing only delay a lone client: two in a row stop them for POOL_GATHER_BACKOFF (0.1 s)
    srv = serve(fresh=True, threads=4, cpu_pressure=True)
    before = _pool(srv.port)
    start = time.monotonic()
    with client.Client(srv.port, timeout=10) as c:
        for i in range(40):
            assert c.request(request("GET", f"/qs?{i}")).body == str(i).encode()
    elapsed = time.monotonic() - start
    after = _pool(srv.port)
    assert after["jobs"] - before["jobs"] == 41
    allowed = 2 * (2 + int(elapsed / 0.1)) + 1
    assert after["gathers"] - before["gathers"] <= allowed, (after, before, elapsed)


def test_a_fast_answer_does_not_wait_for_a_slow_call_of_the_same_burst(serve):
    # one thread may take both Jobs of a burst: the fast one's answer is owed to the settling loop, which takes it
    # once the slow call has let the GIL go (Pool.settled_end), not after the slow call
    srv = serve(fresh=True, threads=2, cpu_pressure=True)
    for _ in range(3):
        time.sleep(0.25)
        with client.Client(srv.port, timeout=10) as fast, client.Client(srv.port, timeout=10) as slow:
            fast.send(request("GET", "/qs?fast"))
            slow.send(request("GET", "/sleep?s=0.6"))
            start = time.monotonic()
            assert fast.read_final().body == b"fast"
            took = time.monotonic() - start
            assert slow.read_final().body == b"slept"
        assert took < 0.4, f"the fast answer waited {took:.2f} s, behind the slow call"


class FakePressure:
    """A file in /proc/pressure/cpu's format whose cumulative stall time grows by `share` of the wall time."""

    LINE = "some avg10=0.00 avg60=0.00 avg300=0.00 total=%020d\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"

    def __init__(self, path, share):
        self.path, self.share = str(path), share
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        os.pwrite(self.fd, (self.LINE % 0).encode(), 0)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._grow, daemon=True)
        self.thread.start()

    def _grow(self):
        start = time.monotonic()
        while not self.stop.wait(0.02):     # fixed width: one pwrite, the same length every time
            os.pwrite(self.fd, (self.LINE % int((time.monotonic() - start) * 1e6 * self.share)).encode(), 0)

    def close(self):
        self.stop.set()
        self.thread.join(2)
        os.close(self.fd)


@pytest.mark.parametrize("share,bursts", [(0.6, True), (0.0, False)])
def test_bursts_only_while_tasks_wait_for_a_cpu(serve, tmp_path, share, bursts):
    # the pool reads the CPU's pressure stall information (PSI) every 0.1 s: gather and settle only while tasks
    # waited for a CPU 30 % of the time or more; with CPU to spare a sleep of the loop would leave its core idle
    pressure = FakePressure(tmp_path / "cpu", share)
    try:
        srv = serve(fresh=True, threads=4, cpu_pressure=str(tmp_path / "cpu"))
        before, after = _burst(srv)
    finally:
        pressure.close()
    gathers = after["gathers"] - before["gathers"]
    assert (gathers > 0) == bursts, gathers


def test_no_bursts_without_pressure_information(serve, tmp_path):
    # no PSI (an old kernel, psi=0, a container without it): the hand-overs go at once, as with CPU to spare
    srv = serve(fresh=True, threads=4, cpu_pressure=str(tmp_path / "missing"))
    before, after = _burst(srv)
    assert after["gathers"] == before["gathers"]


def test_pipelined_requests_answer_in_order_with_threads(serve):
    srv = serve(fresh=True, threads=8)
    sleeps = [0.4, 0.0, 0.2, 0.0, 0.1, 0.0]
    with client.Client(srv.port, timeout=10) as c:
        c.send(b"".join(request("GET", f"/sleep?s={s}&i={i}") for i, s in enumerate(sleeps))
               + request("GET", "/qs?last"))
        bodies = [c.read_final().body for _ in sleeps]
        assert bodies == [b"slept"] * len(sleeps)
        assert c.read_final().body == b"last"


def test_streamed_and_written_answers_over_threads(serve):
    srv = serve(fresh=True, threads=4)
    with client.Client(srv.port, rcvbuf=32768, timeout=10) as c:
        size = 4 * 1024 * 1024 + 5
        c.send(request("GET", f"/big?size={size}&nocl=1") + request("GET", "/write"))
        time.sleep(0.3)                                   # a slow reader: the app thread waits, memory stays bounded
        resp = c.read_final()
        assert len(resp.body) == size and resp.body == client.pattern(size)
        assert c.read_final().status == 200


@pytest.mark.parametrize("sendfile", [True, False])
@pytest.mark.parametrize("threads", [1, 2])
def test_a_client_that_resets_during_a_file_answer_frees_its_thread(serve, tmp_path, threads, sendfile):
    # issue 25.7: the client resets while the app runs, then the app returns wsgi.file_wrapper (a cancelled
    # download). With --threads the thread once stayed parked in the Job's wait for good: two of them and the worker
    # served nothing. Each thread must come back: more cancelled downloads than threads, then normal answers.
    path = tmp_path / "download.bin"
    path.write_bytes(client.pattern(300000))
    srv = serve(fresh=True, threads=threads, sendfile=sendfile)
    for _ in range(threads + 2):
        c = client.Client(srv.port, timeout=10)
        c.send(request("GET", f"/file?path={path}&delay=0.3"))
        time.sleep(0.1)                     # the app is in its sleep
        c.reset()
        time.sleep(0.4)                     # the app returned the file after the reset
    for _ in range(threads + 1):
        resp = client.fetch(srv.port, target=f"/file?path={path}", timeout=5)
        assert resp.status == 200 and resp.body == client.pattern(300000)


def test_the_app_runs_on_pool_threads_only_and_sees_multithread(tmp_path):
    write_app(tmp_path, "threadapp", THREAD_APP)
    master = Master(["-w", "1", "--threads", "3", "threadapp:application"], tmp_path)
    try:
        names = set()
        for _ in range(12):
            status, body, _ = get(master.port, "/")
            assert status == 200
            name, multithread = body.split()
            assert multithread == "True"
            names.add(name)
        assert all(n.startswith("fastwsgi-app-") for n in names), names
    finally:
        master.stop()
    single = Master(["-w", "1", "threadapp:application"], tmp_path)
    try:
        status, body, _ = get(single.port, "/")
        assert body.split() == ["MainThread", "False"]
    finally:
        single.stop()


def _printed(text, name):
    """The value --print-config shows for a setting (`name   = value` lines)."""
    return next(value.strip() for key, value in (line.split("=", 1) for line in text.splitlines() if "=" in line)
                if key.strip() == name)


def test_gthread_config_and_flags_just_work(tmp_path):
    write_app(tmp_path)
    (tmp_path / "gthread.conf.py").write_text('worker_class = "gthread"\nthreads = 4\n')
    result = run_cli(["-c", "gthread.conf.py", "--print-config", "pidapp:app"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert _printed(result.stdout, "threads") == "4" and _printed(result.stdout, "worker_class") == "'gthread'"
    result = run_cli(["-k", "gthread", "--threads", "2", "--print-config", "pidapp:app"], tmp_path)
    assert result.returncode == 0 and _printed(result.stdout, "threads") == "2", result.stderr
    result = run_cli(["-k", "gunicorn.workers.gthread.ThreadWorker", "--check-config", "pidapp:app"], tmp_path)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("klass", ["gevent", "eventlet", "uvicorn.workers.UvicornWorker", "tornado"])
def test_other_worker_classes_are_one_clear_error(tmp_path, klass):
    write_app(tmp_path)
    result = run_cli(["-k", klass, "pidapp:app"], tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and klass in lines[0] and "sync and gthread" in lines[0], result.stderr


def test_graceful_stop_waits_for_calls_in_flight(app_dir):
    master = Master(["-w", "1", "--threads", "4", "--graceful-timeout", "10", "pidapp:app"], app_dir)
    results = {}
    callers = [threading.Thread(target=lambda i=i: results.__setitem__(i, get(master.port, "/sleep/1", 10)[0]))
               for i in range(3)]
    for t in callers:
        t.start()
    time.sleep(0.4)
    master.signal(signal.SIGTERM)
    for t in callers:
        t.join(10)
    assert results == {0: 200, 1: 200, 2: 200}
    assert master.wait_exit(10) == 0


def test_a_hung_call_gets_the_worker_replaced_after_timeout(app_dir):
    master = Master(["-w", "1", "--threads", "2", "--timeout", "2", "pidapp:app"], app_dir)
    try:
        first = master.wait_workers(1)
        hung = socket.create_connection(("127.0.0.1", master.port), timeout=15)
        hung.sendall(b"GET /sleep/60 HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.5)
        assert get(master.port, "/")[0] == 200          # the other thread still serves meanwhile
        fresh = master.wait_workers(1, timeout=10, exclude=first)
        assert fresh and not set(fresh) & set(first)
        assert "WORKER TIMEOUT" in master.log()
        wait_for(lambda: get(master.port, "/")[0] == 200, 5, what="the replacement to serve")
        hung.close()
    finally:
        master.stop()


def test_requests_queued_behind_stuck_threads_get_503_when_the_worker_is_aborted(app_dir):
    # issue 25.5: when --timeout aborts a worker whose app threads are all stuck, the requests it accepted but never
    # started (safe to retry) get 503 with Connection: close, not an empty reply; the stuck ones' connections end
    master = Master(["-w", "1", "--threads", "2", "--timeout", "2", "pidapp:app"], app_dir)
    try:
        first = master.wait_workers(1)
        stuck = [socket.create_connection(("127.0.0.1", master.port), timeout=15) for _ in range(2)]
        for s in stuck:
            s.sendall(b"GET /sleep/60 HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.3)
        queued = [client.Client(master.port, timeout=15) for _ in range(3)]
        queued[0].send(request("GET", "/"))
        queued[1].send(request("HEAD", "/"))
        queued[2].send(request("GET", "/") + request("GET", "/?second"))      # pipelined: one answer, then close
        for c, method in zip(queued, ("GET", "HEAD", "GET")):
            resp = c.read_response(method)
            assert resp.status == 503 and "close" in resp.connection_tokens, resp
            assert c.is_closed(timeout=5)
        for s in stuck:
            s.settimeout(10)
            try:
                assert s.recv(100) == b""
            except ConnectionResetError:
                pass
            s.close()
        assert "Answered 3 request(s) not yet started with 503" in master.log()
        master.wait_workers(1, timeout=10, exclude=first)
        wait_for(lambda: get(master.port, "/")[0] == 200, 5, what="the replacement to serve")
    finally:
        master.stop()


def test_max_requests_counts_requests_of_every_thread(app_dir):
    master = Master(["-w", "1", "--threads", "4", "--max-requests", "20", "pidapp:app"], app_dir)
    try:
        first = master.wait_workers(1)
        pids = set()
        for _ in range(60):
            status, body, _ = get(master.port, "/")
            assert status == 200
            pids.add(int(body))
        assert len(pids) >= 2, "the worker was never recycled"
        assert os.getpid() not in pids and first[0] in pids
    finally:
        master.stop()
