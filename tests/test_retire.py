"""Zero-loss operations on the wire, the way operators run the server (issue 11): `python -m fastwsgi` masters,
signals, wrk keep-alive load, slow clients.

- a stopping worker answers what waits on its idle kept-alive connections with `Connection: close`;
- HUP, USR2 + WINCH + TERM and --max-requests under wrk -c20 keep-alive load: 0 socket errors, 0 non-2xx;
- a trickled body holds no worker (the loop reads it), 2,000 slowloris clients starve nobody;
- malformed chunked bodies are a 400 and never reach the app;
- a whole-host TERM serves the connections queued in the listen backlog instead of resetting them, and refuses new
  ones at once.
"""
import os
import signal
import socket
import threading
import time

import pytest

from tests.support import client
from tests.support.master import Master, alive, wait_for, write_app
from tests.support.wrk import Wrk

APP = '''
"""Serves /sleep/S (holds the worker), /count (app calls so far, not counting these), /echo (the body), else the
worker's pid."""
import os
import time

calls = 0


def app(environ, start_response):
    global calls
    path = environ["PATH_INFO"]
    if path == "/count":
        body = str(calls).encode()
    else:
        calls += 1
        if path.startswith("/sleep/"):
            time.sleep(float(path.split("/")[2]))
        body = environ["wsgi.input"].read() if path == "/echo" else str(os.getpid()).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
'''

GET = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"


@pytest.fixture
def retire_dir(tmp_path):
    write_app(tmp_path, "retireapp", APP)
    return tmp_path


def start(retire_dir, *args) -> Master:
    return Master([*args, "retireapp:app"], retire_dir)


def tokens(resp) -> set:
    return resp.connection_tokens


# ------------------------------------------------------------------------------------------------ a. idle keep-alive
def test_requests_on_idle_keepalive_connections_during_a_stop_get_connection_close(retire_dir):
    """One request is waiting on an idle kept-alive connection when the worker's stop begins (the worker is busy in
    /sleep), another is sent 50 ms after the TERM: both are answered, with `Connection: close`, then closed."""
    master = start(retire_dir, "-w", "1", "--keep-alive", "30", "--graceful-timeout", "10")
    [worker] = master.wait_workers(1)
    waiting, late, busy = (client.Client(master.port, timeout=10) for _ in range(3))
    try:
        for c in (waiting, late):
            assert c.request(GET).status == 200     # both kept alive, now idle
        busy.send(b"GET /sleep/1 HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.2)                             # the worker is inside the app
        waiting.send(GET)                           # queued on an idle connection
        time.sleep(0.05)
        os.kill(worker, signal.SIGTERM)
        time.sleep(0.05)
        late.send(GET)
        for c in (busy, waiting, late):
            resp = c.read_final()
            assert resp.status == 200, resp
            assert "close" in tokens(resp), resp
            assert c.is_closed()
        wait_for(lambda: not alive(worker), 10, what="the old worker's exit")
        master.wait_workers(1, exclude=(worker,))
    finally:
        for c in (waiting, late, busy):
            c.close()
    assert master.stop() == 0


# ----------------------------------------------------------------------------------------- b. signals under wrk load
def run_under_load(master: Master, operate, seconds: float = 4.0):
    """wrk -t1 -c20 keep-alive for `seconds`; operate() runs ~1 s in. Returns wrk's parsed summary."""
    load = Wrk(f"http://127.0.0.1:{master.port}/", connections=20, seconds=seconds).start()
    time.sleep(1.0)
    operate()
    result = load.result()
    assert result.requests > 100, result.output
    return result


def assert_no_loss(result, what):
    assert (result.socket_errors, result.non_2xx) == (0, 0), f"{what}: {result.output}"


def test_hup_under_keepalive_load_loses_nothing(retire_dir):
    master = start(retire_dir, "-w", "2", "--graceful-timeout", "10")
    old = set(master.wait_workers(2))
    result = run_under_load(master, lambda: master.signal(signal.SIGHUP))
    wait_for(lambda: not any(alive(pid) for pid in old), 10, what="the old workers' exit")
    assert_no_loss(result, "HUP")
    assert master.stop() == 0


def test_usr2_winch_term_under_keepalive_load_loses_nothing(retire_dir):
    master = start(retire_dir, "-w", "2", "--graceful-timeout", "10")
    old_workers = set(master.wait_workers(2))
    new_master = []

    def upgrade():
        master.signal(signal.SIGUSR2)
        pid = wait_for(lambda: [p for p in master.workers() if p not in old_workers], 5, what="the new master")[0]
        new_master.append(pid)
        master.wait_log(rf"\[{pid}\] \[INFO\] Ready", 5)
        master.signal(signal.SIGWINCH)
        wait_for(lambda: not any(alive(p) for p in old_workers), 5, what="the old workers' exit")
        master.signal(signal.SIGTERM)

    result = run_under_load(master, upgrade, seconds=5.0)
    assert master.wait_exit(10) == 0
    try:
        assert_no_loss(result, "USR2 + WINCH + TERM")
        assert client.fetch(master.port, "GET", "/").status == 200     # the new master serves
    finally:
        os.kill(new_master[0], signal.SIGTERM)
        wait_for(lambda: not alive(new_master[0]), 10, what="the new master's exit")


@pytest.mark.parametrize("max_requests", [5000, 300])
def test_max_requests_under_keepalive_load_loses_nothing(retire_dir, max_requests):
    master = start(retire_dir, "-w", "2", "--max-requests", str(max_requests), "--graceful-timeout", "10")
    first = set(master.wait_workers(2))
    result = run_under_load(master, lambda: None)
    assert_no_loss(result, f"--max-requests {max_requests}")
    recycled = len(set(master.log().split("Booting worker with pid: ")[1:])) - len(first)
    assert recycled >= min(2, result.requests // max_requests - 2), master.log()[-2000:]
    assert master.stop() == 0


# -------------------------------------------------------------------------------------------------- c. trickled body
def test_a_trickled_body_holds_no_worker(retire_dir):
    """-w 1: while one client trickles a POST body (Content-Length 1000, a byte every 0.1 s), every probe from other
    clients is answered within 0.5 s; the body, once whole, reaches the app intact."""
    master = start(retire_dir, "-w", "1")
    body = bytes(range(256)) * 3 + bytes(232)
    slow = client.Client(master.port, timeout=10)
    try:
        slow.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
        waits = []
        for i in range(30):                         # 3 s of trickle
            slow.send(body[i:i + 1])
            if i % 2:
                started = time.monotonic()
                assert client.fetch(master.port, "GET", "/", timeout=5).status == 200
                waits.append(time.monotonic() - started)
            time.sleep(0.1)
        slow.send(body[30:])
        resp = slow.read_final()
        assert resp.status == 200 and resp.body == body
    finally:
        slow.close()
    assert max(waits) < 0.5, f"probe waits: {[round(w, 3) for w in waits]}"
    assert master.stop() == 0


# ----------------------------------------------------------------------------------------------------- d. slowloris
def test_two_thousand_slowloris_do_not_starve_a_normal_client(retire_dir):
    """-w 1, default settings (worker_connections 1000, backlog 2048): 2,000 partial heads, never finished; a
    normal client is served promptly (the oldest connections without a head make room)."""
    master = start(retire_dir, "-w", "1")
    socks = []
    try:
        for _ in range(2000):
            s = socket.create_connection(("127.0.0.1", master.port), timeout=10)
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            socks.append(s)
        time.sleep(0.5)
        for _ in range(5):
            started = time.monotonic()
            assert client.fetch(master.port, "GET", "/", timeout=5).status == 200
            took = time.monotonic() - started
            assert took < 0.5, f"a normal client waited {took:.2f}s behind 2,000 slow ones"
    finally:
        for s in socks:
            s.close()
    assert master.stop() == 0


# ------------------------------------------------------------------------------------------- e. malformed chunked
BAD_CHUNKED = {
    "bad hex": b"zz\r\nabc\r\n0\r\n\r\n",
    "hex with a sign": b"+3\r\nabc\r\n0\r\n\r\n",
    "no CRLF after the data": b"3\r\nabcX\r\n0\r\n\r\n",
    "data longer than the size": b"3\r\nabcdef\r\n0\r\n\r\n",
    "size overflow": b"fffffffffffffffff\r\n" + b"a" * 10 + b"\r\n0\r\n\r\n",
    "bad extension name": b"3;\x01x\r\nabc\r\n0\r\n\r\n",
    "extension with a bare CR": b"3;a=b\rc\r\nabc\r\n0\r\n\r\n",
    "bare LF line endings": b"3\nabc\n0\n\n",
    "trailer without a colon": b"3\r\nabc\r\n0\r\nBadTrailer\r\n\r\n",
    "trailer with a space in the name": b"3\r\nabc\r\n0\r\nBad Name: v\r\n\r\n",
}


def test_malformed_chunked_bodies_get_400_and_never_reach_the_app(retire_dir):
    master = start(retire_dir, "-w", "1")
    before = int(client.fetch(master.port, "GET", "/count").body)
    for name, body in BAD_CHUNKED.items():
        with client.Client(master.port, timeout=5) as c:
            c.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + body)
            resp = c.read_final("POST")
            assert resp.status == 400, (name, resp)
            assert c.is_closed(), name
    assert int(client.fetch(master.port, "GET", "/count").body) == before, "the app saw a malformed body"
    good = client.fetch(master.port, "POST", "/echo", [("Transfer-Encoding", "chunked")], client.chunked([b"abc"]))
    assert good.body == b"abc"
    assert master.stop() == 0


# -------------------------------------------------------------------------------------------------------- f. soak
def worker_rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as handle:
        return next(int(line.split()[1]) for line in handle if line.startswith("VmRSS:"))


@pytest.mark.slow
def test_worker_memory_stays_flat_under_wrk(retire_dir):
    """wrk keep-alive load in 3 s slices (a warm-up, then three more): the worker's RSS grows less than 1 MiB."""
    master = start(retire_dir, "-w", "1")
    [worker] = master.wait_workers(1)
    url = f"http://127.0.0.1:{master.port}/"
    Wrk(url, connections=50, seconds=3).start().result()
    before = worker_rss_kb(worker)
    total = 0
    for _ in range(3):
        result = Wrk(url, connections=50, seconds=3).start().result()
        assert_no_loss(result, "soak")
        total += result.requests
    growth = worker_rss_kb(worker) - before
    assert growth < 1024, f"worker RSS grew {growth} KiB over {total} requests"
    assert master.stop() == 0


# ------------------------------------------------------------------------------------------- 2. whole-host TERM
def queued_then_term(master: Master, count: int, workers: list):
    """Hold each worker in /sleep, connect `count` clients (they wait in the listen backlog), TERM the master, send
    a request on each 100 ms later (all of them at once, as clients that connected would: one sent only after the
    previous answer could come after the stop's grace for new connections, when both holders share a worker);
    the answers (or the errors) in order."""
    holders = [client.Client(master.port, timeout=10) for _ in workers]
    for h in holders:
        h.send(b"GET /sleep/1 HTTP/1.1\r\nHost: x\r\n\r\n")
    time.sleep(0.3)
    queued = [client.Client(master.port, timeout=10) for _ in range(count)]
    master.signal(signal.SIGTERM)
    time.sleep(0.1)
    outcomes = []
    for c in queued:
        try:
            c.send(GET)
        except OSError:
            pass                        # read_final() below reports it
    for c in queued:
        try:
            resp = c.read_final()
            outcomes.append(resp.status)
        except (OSError, client.Closed) as exc:
            outcomes.append(f"{type(exc).__name__}: {exc}")
        finally:
            c.close()
    for h in holders:
        try:
            assert h.read_final().status == 200
        finally:
            h.close()
    return outcomes


@pytest.mark.parametrize("workers", [1, 2])
def test_whole_host_term_serves_the_listen_backlog(retire_dir, workers):
    """Connections the kernel accepted into the listen queue before a final TERM are answered, not reset."""
    master = start(retire_dir, "-w", str(workers), "--graceful-timeout", "10")
    pids = master.wait_workers(workers)
    outcomes = queued_then_term(master, 20, pids)
    assert outcomes == [200] * 20, outcomes
    assert master.wait_exit(15) == 0


def test_whole_host_term_refuses_new_connections_at_once(retire_dir):
    """Once a final stop begins, a new connection is refused at once (not queued for a reset at exit), while an
    in-flight request still finishes."""
    master = start(retire_dir, "-w", "1", "--graceful-timeout", "10")
    master.wait_workers(1)
    holder = client.Client(master.port, timeout=10)
    holder.send(b"GET /sleep/1.5 HTTP/1.1\r\nHost: x\r\n\r\n")
    time.sleep(0.3)
    master.signal(signal.SIGTERM)
    time.sleep(0.3)
    started = time.monotonic()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", master.port), timeout=5).close()
    assert time.monotonic() - started < 0.5
    assert holder.read_final().status == 200
    holder.close()
    assert master.wait_exit(15) == 0


def test_hup_keeps_the_listen_backlog_for_the_new_workers(retire_dir):
    """HUP is not a final stop: the listening socket lives on, new connections keep being served."""
    master = start(retire_dir, "-w", "1", "--graceful-timeout", "10")
    [old] = master.wait_workers(1)
    stop = threading.Event()
    failures, served = [], [0]

    def probe():
        while not stop.is_set():
            try:
                served[0] += client.fetch(master.port, "GET", "/", timeout=5).status == 200
            except (OSError, client.Closed) as exc:
                failures.append(repr(exc))
            time.sleep(0.01)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    time.sleep(0.3)
    master.signal(signal.SIGHUP)
    wait_for(lambda: not alive(old), 10, what="the old worker's exit")
    time.sleep(0.3)
    stop.set()
    thread.join(10)
    assert failures == [] and served[0] > 10
    assert master.stop() == 0


def test_whole_host_term_serves_the_unix_socket_backlog(retire_dir):
    """The same over a UNIX socket (nginx's upstream on the same host): queued connections are answered; once the
    stop began the socket file is gone, so a new client fails to connect instead of waiting for a reset."""
    path = str(retire_dir / "app.sock")
    master = Master(["-b", f"unix:{path}", "-w", "1", "--graceful-timeout", "10", "retireapp:app"], retire_dir)
    master.wait_workers(1)
    holder = client.Client(master.port, timeout=10)
    holder.send(b"GET /sleep/1 HTTP/1.1\r\nHost: x\r\n\r\n")
    time.sleep(0.3)
    queued = []
    for _ in range(10):
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(10)
        s.connect(path)
        queued.append(s)
    master.signal(signal.SIGTERM)
    time.sleep(0.1)
    for s in queued:
        s.sendall(GET)
    answers = []
    for s in queued:
        data = b""
        try:
            while chunk := s.recv(65536):
                data += chunk
        except OSError as exc:
            data += repr(exc).encode()
        answers.append(data.split(b"\r\n", 1)[0])
        s.close()
    assert answers == [b"HTTP/1.1 200 OK"] * 10, answers
    with pytest.raises(OSError):
        socket.socket(socket.AF_UNIX).connect(path)
    assert holder.read_final().status == 200
    holder.close()
    assert master.wait_exit(15) == 0
