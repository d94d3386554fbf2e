"""The master with real processes, signals and sockets: workers, replacement, reload, re-exec, graceful stop."""
import os
import signal
import threading
import time

import pytest

from tests.support_master import (
    Load,
    Master,
    alive,
    get,
    stop_leftover_masters,  # noqa: F401 (autouse: no server outlives a test)
    wait_for,
    write_app,
)


@pytest.fixture
def app_dir(tmp_path):
    write_app(tmp_path)
    return tmp_path


@pytest.fixture
def master_factory(app_dir):
    started = []

    def make(*args, **kwargs):
        master = Master(list(args), app_dir, **kwargs)
        started.append(master)
        return master

    yield make
    for master in started:
        master.stop()


def test_two_workers_serve_distinct_pids(master_factory):
    master = master_factory("-w", "2", "pidapp:application")
    workers = master.wait_workers(2)
    # pairs of slow requests at once: while one worker sleeps in the app, the other must take the second request
    seen = set()
    deadline = time.monotonic() + 10
    while seen != set(workers) and time.monotonic() < deadline:
        results = []
        def ask(results=results):
            results.append(int(get(master.port, "/sleep/0.3")[1]))

        threads = [threading.Thread(target=ask) for _ in range(2)]
        for thread in threads:
            thread.start()
            time.sleep(0.05)
        for thread in threads:
            thread.join(10)
        seen.update(results)
    assert seen == set(workers)


def test_killed_worker_is_replaced_within_a_second(master_factory):
    master = master_factory("-w", "2", "pidapp:application")
    victim, survivor = master.wait_workers(2)
    load = Load(master.port, total=400, threads=2, pause=0.002).start()
    time.sleep(0.2)
    killed_at = time.monotonic()
    os.kill(victim, signal.SIGKILL)
    replacement = master.wait_workers(2, timeout=2.0, exclude=(victim,))
    elapsed = time.monotonic() - killed_at
    assert elapsed < 1.0, f"replacement took {elapsed:.2f}s"
    assert survivor in replacement and victim not in replacement
    load.wait()
    # only a request the victim itself had accepted can fail (at most one per client thread)
    assert len(load.failures) <= 2, load.failures
    assert load.done >= 398
    assert f"Worker (pid:{victim}) was sent SIGKILL" in master.log()
    new = [pid for pid in replacement if pid != survivor][0]
    wait_for(lambda: new in Load(master.port, total=40, threads=2).start().wait().pids, 10, what="new worker serves")


def test_hup_reload_under_load_loses_nothing(master_factory):
    master = master_factory("-w", "2", "--graceful-timeout", "5", "pidapp:application")
    old = set(master.wait_workers(2))
    load = Load(master.port, total=400, threads=4, pause=0.002).start()
    time.sleep(0.3)
    master.signal(signal.SIGHUP)
    new = set(wait_for(lambda: (set(master.workers()) - old) if len(set(master.workers()) - old) == 2 else None, 10,
                       what="two new workers"))
    wait_for(lambda: not any(alive(pid) for pid in old), 10, what="old workers gone")
    load.wait()
    assert load.failures == []
    assert load.done == 400
    wait_for(lambda: set(master.workers()) == new, 5, what="old workers reaped")
    assert "Hang up: Master" in master.log()
    assert master.stop() == 0


def test_usr2_reexec_then_term_old_master_loses_nothing(master_factory, app_dir):
    pidfile = str(app_dir / "master.pid")
    master = master_factory("-w", "2", "--graceful-timeout", "5", "--pid", pidfile, "pidapp:application")
    old_workers = set(master.wait_workers(2))
    load = Load(master.port, total=500, threads=4, pause=0.004).start()
    time.sleep(0.2)
    master.signal(signal.SIGUSR2)
    new_pid = int(wait_for(lambda: _read(pidfile + ".2"), 10, what="new master pidfile"))
    assert new_pid in master.workers()  # forked by the old master
    wait_for(lambda: len([p for p in _children(new_pid) if alive(p)]) == 2, 10, what="new master's workers")
    master.wait_log(rf"\[{new_pid}\] \[INFO\] Ready", 10)
    master.signal(signal.SIGWINCH)  # the old master retires its workers and stays up
    wait_for(lambda: not any(alive(pid) for pid in old_workers), 10, what="old workers retired")
    assert master.proc.poll() is None
    master.signal(signal.SIGTERM)
    assert master.wait_exit(15) == 0
    assert not any(alive(pid) for pid in old_workers)
    wait_for(lambda: _read(pidfile) == str(new_pid), 5, what="pidfile promoted to the new master")
    load.wait()
    assert load.failures == []
    assert load.done == 500
    assert get(master.port)[0] == 200
    os.kill(new_pid, signal.SIGTERM)
    wait_for(lambda: not alive(new_pid), 10, what="new master exit")


def test_term_finishes_in_flight_request_then_exits_zero(master_factory):
    master = master_factory("-w", "1", "--graceful-timeout", "5", "pidapp:application")
    result = {}
    thread = threading.Thread(target=lambda: result.update(response=get(master.port, "/sleep/1.5", timeout=10)))
    thread.start()
    time.sleep(0.4)
    started = time.monotonic()
    master.signal(signal.SIGTERM)
    assert master.wait_exit(10) == 0
    thread.join(5)
    assert result["response"][0] == 200
    assert 0.8 < time.monotonic() - started < 5


def test_int_stops_quickly(master_factory):
    master = master_factory("-w", "2", "pidapp:application")
    workers = master.wait_workers(2)
    master.signal(signal.SIGINT)
    assert master.wait_exit(5) == 0
    assert not any(alive(pid) for pid in workers)


def test_ttin_ttou_change_worker_count(master_factory):
    master = master_factory("-w", "1", "pidapp:application")
    master.wait_workers(1)
    master.signal(signal.SIGTTIN)
    master.wait_workers(2)
    master.signal(signal.SIGTTIN)
    master.wait_workers(3)
    master.signal(signal.SIGTTOU)
    master.wait_workers(2)


def test_silent_worker_is_aborted_and_replaced(master_factory):
    master = master_factory("-w", "1", "--timeout", "1", "pidapp:application")
    (victim,) = master.wait_workers(1)
    time.sleep(2.5)  # an idle worker beats on every tick: it must not be taken for a silent one
    assert "WORKER TIMEOUT" not in master.log() and master.workers() == [victim]
    try:
        get(master.port, "/sleep/6", timeout=8)
        failed = False
    except OSError:
        failed = True
    assert failed, "the blocked request should have been cut by the timeout"
    master.wait_log(rf"WORKER TIMEOUT \(pid:{victim}\)", 5)
    master.wait_workers(1, exclude=(victim,))
    assert get(master.port)[0] == 200


def test_max_requests_recycles_without_failures(master_factory):
    master = master_factory("-w", "2", "--max-requests", "40", "--max-requests-jitter", "5", "pidapp:application")
    load = Load(master.port, total=300, threads=4).start().wait()
    assert load.failures == []
    assert len(load.pids) >= 7  # 300 requests over workers that each serve 40..45


def test_usr1_reopens_access_log(master_factory, app_dir):
    access = app_dir / "access.log"
    master = master_factory("-w", "1", "--access-logfile", str(access), "pidapp:application")
    wait_for(lambda: access.exists() and access.read_text().count("GET / ") >= 1, 5, what="access line")
    os.rename(access, app_dir / "access.log.1")
    master.signal(signal.SIGUSR1)
    # the worker reopens on its next tick (about a second); lines logged before that still go to the old file

    def logged_in_new_file():
        get(master.port, "/after")
        return access.exists() and "GET /after HTTP/1.1" in access.read_text()

    wait_for(logged_in_new_file, 5, interval=0.2, what="line in the new file")
    assert "GET / HTTP/1.1" in (app_dir / "access.log.1").read_text()


def test_app_import_error_exits_fast_with_one_line(app_dir):
    started = time.monotonic()
    master = Master(["-w", "2", "no_such_module:app"], app_dir, wait=False)
    code = master.wait_exit(10)
    assert time.monotonic() - started < 5
    assert code == 4
    errors = [line for line in master.log().splitlines() if "error" in line.lower()]
    assert errors == ["fastwsgi: error: cannot import module 'no_such_module': No module named 'no_such_module'"]
    assert "Booting worker" in master.log()  # the workers tried, once, and the master halted


def test_app_raising_on_import_is_one_line(app_dir):
    (app_dir / "broken.py").write_text("x = 1\nraise RuntimeError('database unreachable')\n")
    master = Master(["broken"], app_dir, wait=False)
    assert master.wait_exit(10) == 4
    lines = [line for line in master.log().splitlines() if "error" in line.lower()]
    assert len(lines) == 1
    assert "'broken'" in lines[0] and "RuntimeError: database unreachable" in lines[0] and "line 2" in lines[0]


def _read(path):
    try:
        with open(path) as handle:
            return handle.read().strip()
    except OSError:
        return None


def _children(pid):
    from tests.support_master import children

    return children(pid)


def test_term_while_workers_boot_stops_promptly(app_dir):
    (app_dir / "slowboot.py").write_text("import time\ntime.sleep(5)\nfrom pidapp import app\n")
    master = Master(["-w", "2", "slowboot:app"], app_dir, wait=False)
    try:
        workers = master.wait_workers(2)
        time.sleep(0.3)
        started = time.monotonic()
        master.signal(signal.SIGTERM)
        assert master.wait_exit(10) == 0
        assert time.monotonic() - started < 2.5, "booting workers must not hold a stop"
        assert not any(alive(pid) for pid in workers)
    finally:
        master.stop()
