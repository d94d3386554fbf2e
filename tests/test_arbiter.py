"""The master with real processes, signals and sockets: workers, replacement, reload, re-exec, graceful stop, hooks,
preload, privileges, process titles."""
import json
import os
import signal
import socket
import threading
import time

import pytest

from tests.support.master import Load, Master, alive, get, wait_for


def test_two_workers_serve_distinct_pids(master_factory):
    master = master_factory("-w", "2", "pidapp:application")
    workers = master.wait_workers(2)
    # pairs of slow requests at once: while one worker sleeps in the app, the other must take the second request
    def ask(results):
        results.append(int(get(master.port, "/sleep/0.3")[1]))

    seen = set()
    deadline = time.monotonic() + 10
    while seen != set(workers) and time.monotonic() < deadline:
        results = []
        threads = [threading.Thread(target=ask, args=(results,)) for _ in range(2)]
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


def test_a_hup_storm_is_coalesced_and_loses_nothing(master_factory):
    # issue 25.4: 20 HUPs in 2 s under load once piled up 42 workers with -w 2. HUPs during a reload count as one
    # more reload after it: at most one old generation drains at a time, so never more than 2 x 2 + 1 workers
    master = master_factory("-w", "2", "--graceful-timeout", "5", "pidapp:application")
    first = set(master.wait_workers(2))
    load = Load(master.port, total=600, threads=4, pause=0.002).start()
    most = 0
    for _ in range(20):
        master.signal(signal.SIGHUP)
        for _ in range(10):
            most = max(most, len(master.workers()))
            time.sleep(0.01)
    load.wait()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and ("Reloading for the HUP" not in master.log() or len(master.workers()) != 2):
        most = max(most, len(master.workers()))
        time.sleep(0.02)
    assert most <= 5, most
    assert load.failures == [] and load.done == 600
    assert master.log().count("A reload is in progress") >= 1
    final = set(master.wait_workers(2))
    assert not final & first
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
    from tests.support.master import children

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


HOOKS_CONF = '''\
import json, os
LOG = os.path.join(os.path.dirname(__file__), "hooks.jsonl")

def _note(name, **extra):
    with open(LOG, "a") as handle:
        handle.write(json.dumps(dict(hook=name, pid=os.getpid(), **extra)) + "\\n")

def on_starting(server): _note("on_starting")
def when_ready(server): _note("when_ready")
def pre_fork(server, worker): _note("pre_fork", age=worker.age)
def post_fork(server, worker): _note("post_fork", age=worker.age)
def post_worker_init(worker): _note("post_worker_init")
def pre_request(worker, environ): environ["hooked"] = "yes"; _note("pre_request", path=environ["PATH_INFO"])
def post_request(worker, environ, status, headers): _note("post_request", status=status, hooked=environ.get("hooked"))
def worker_exit(server, worker): _note("worker_exit")
def child_exit(server, worker): _note("child_exit", worker_pid=worker.pid)
def nworkers_changed(server, new, old): _note("nworkers_changed", new=new, old=old)
def on_reload(server): _note("on_reload")
def on_exit(server): _note("on_exit")
'''


def _hooks(app_dir):
    path = app_dir / "hooks.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_config_file_hooks_run_at_their_moments(app_dir):
    (app_dir / "fastwsgi.conf.py").write_text(HOOKS_CONF)
    master = Master(["-w", "1", "pidapp:app"], app_dir)
    try:
        wait_for(lambda: any(h["hook"] == "when_ready" for h in _hooks(app_dir)), 5, what="when_ready")
        get(master.port, "/hello")
        master.signal(signal.SIGTTIN)
        master.wait_workers(2)
        master.signal(signal.SIGHUP)
        wait_for(lambda: any(h["hook"] == "on_reload" for h in _hooks(app_dir)), 5, what="on_reload")
    finally:
        assert master.stop() == 0
    hooks = _hooks(app_dir)
    names = [h["hook"] for h in hooks]
    for name in ("on_starting", "when_ready", "pre_fork", "post_fork", "post_worker_init", "pre_request",
                 "post_request", "worker_exit", "child_exit", "nworkers_changed", "on_reload", "on_exit"):
        assert name in names, name
    assert names[:2] == ["nworkers_changed", "on_starting"] and names[-1] == "on_exit"  # gunicorn's order
    by_name = {h["hook"]: h for h in hooks}
    assert by_name["on_starting"]["pid"] == master.pid and by_name["pre_fork"]["pid"] == master.pid
    assert by_name["post_fork"]["pid"] != master.pid
    hello = [h for h in hooks if h["hook"] == "post_request" and h["status"] == "200 OK"]
    assert hello and hello[0]["hooked"] == "yes"
    changes = [(h["old"], h["new"]) for h in hooks if h["hook"] == "nworkers_changed"]
    assert changes == [(None, 1), (1, 2), (2, 1)]  # start, TTIN, then HUP back to the configured count


def test_hup_rereads_the_config_file(app_dir):
    conf = app_dir / "fastwsgi.conf.py"
    conf.write_text("workers = 1\nraw_env = ['COLOR=red']\n")
    master = Master(["pidapp:app"], app_dir)
    try:
        master.wait_workers(1)
        assert get(master.port, "/env?COLOR")[1] == "red"
        conf.write_text("workers = 2\nraw_env = ['COLOR=blue']\n")
        master.signal(signal.SIGHUP)
        master.wait_workers(2, timeout=10)
        wait_for(lambda: get(master.port, "/env?COLOR")[1] == "blue", 5, what="new env")
        conf.write_text("workers = 'broken'\n")
        master.signal(signal.SIGHUP)
        master.wait_log("Reload failed, keeping the current settings", 5)
        assert get(master.port)[0] == 200
    finally:
        assert master.stop() == 0


def test_forwarded_proto_trusted_only_from_allowed_peers(app_dir):
    master = Master(["pidapp:app"], app_dir)
    try:
        assert get(master.port, "/scheme", headers={"X-Forwarded-Proto": "https"})[1] == "https"
        assert get(master.port, "/scheme")[1] == "http"
    finally:
        master.stop()
    master = Master(["--forwarded-allow-ips", "10.9.9.9", "pidapp:app"], app_dir)
    try:
        assert get(master.port, "/scheme", headers={"X-Forwarded-Proto": "https"})[1] == "http"
    finally:
        master.stop()


def test_usr2_with_a_broken_new_master_keeps_the_old_one_serving(app_dir):
    pidfile = str(app_dir / "m.pid")
    master = Master(["-w", "1", "--pid", pidfile, "pidapp:app"], app_dir)
    try:
        master.wait_imported(master.wait_workers(1))
        (app_dir / "pidapp.py").write_text("raise ImportError('half-deployed')\n")
        master.signal(signal.SIGUSR2)
        master.wait_log(r"New master \(pid:\d+\) exited with status code 4", 10)
        assert "fastwsgi: error: error while importing 'pidapp': ImportError: half-deployed" in master.log()
        assert get(master.port)[0] == 200
        assert open(pidfile).read().strip() == str(master.pid)
        assert not os.path.exists(pidfile + ".2")
    finally:
        assert master.stop() == 0


def test_term_closes_idle_keepalive_connections_at_once(app_dir):
    master = Master(["-w", "1", "--graceful-timeout", "20", "--keep-alive", "30", "pidapp:app"], app_dir)
    client = socket.create_connection(("127.0.0.1", master.port), timeout=5)
    try:
        client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert client.recv(4096).startswith(b"HTTP/1.1 200")
        started = time.monotonic()
        master.signal(signal.SIGTERM)
        assert master.wait_exit(10) == 0
        assert time.monotonic() - started < 3, "an idle keep-alive connection must not hold the stop"
        assert client.recv(4096) == b""
    finally:
        client.close()
        master.stop()


def test_workers_exit_when_the_master_is_killed(app_dir):
    master = Master(["-w", "2", "pidapp:app"], app_dir)
    workers = master.wait_workers(2)
    os.kill(master.pid, signal.SIGKILL)
    master.wait_exit(5)
    wait_for(lambda: not any(alive(pid) for pid in workers), 5, what="orphaned workers to exit")
    master.stop()


def test_preload_imports_in_the_master(app_dir):
    (app_dir / "loud.py").write_text("import os\nLOADED_IN = os.getpid()\n"
                                     "def app(environ, start_response):\n"
                                     "    body = str(LOADED_IN).encode()\n"
                                     "    start_response('200 OK', [('Content-Length', str(len(body)))])\n"
                                     "    return [body]\n")
    master = Master(["-w", "2", "--preload", "loud:app"], app_dir)
    try:
        assert get(master.port)[1] == str(master.pid)
    finally:
        master.stop()
    started = time.monotonic()
    broken = Master(["--preload", "-w", "2", "pidapp:missing"], app_dir, wait=False)
    assert broken.wait_exit(10) == 4
    assert time.monotonic() - started < 5
    assert "Booting worker" not in broken.log()
    assert broken.log().strip().splitlines()[-1] == "fastwsgi: error: module 'pidapp' has no attribute 'missing'"


@pytest.mark.skipif(os.geteuid() != 0, reason="switching user needs root")
def test_user_group_and_umask(app_dir):
    import pwd

    nobody = pwd.getpwnam("nobody")
    path = str(app_dir / "u.sock")
    master = Master(["--preload", "--user", "nobody", "--group", str(nobody.pw_gid), "--umask", "077",
                     "-b", f"unix:{path}", "pidapp:app"], app_dir)
    try:
        (worker,) = master.wait_workers(1)
        with open(f"/proc/{worker}/status") as handle:
            ids = {line.split(":")[0]: line.split()[1:3] for line in handle if line.startswith(("Uid", "Gid"))}
        assert ids == {"Uid": [str(nobody.pw_uid)] * 2, "Gid": [str(nobody.pw_gid)] * 2}
        assert os.stat(path).st_mode & 0o777 == 0o700
        assert get(master.port)[0] == 200
    finally:
        master.stop()


def test_request_limits_are_applied(app_dir):
    master = Master(["--limit-request-line", "100", "--limit-request-fields", "5", "--header-timeout", "1",
                     "pidapp:app"], app_dir)
    try:
        assert get(master.port, "/" + "a" * 80)[0] == 200
        assert get(master.port, "/" + "a" * 200)[0] == 414
        assert get(master.port, "/", headers={f"X-{i}": "v" for i in range(10)})[0] == 431
        with socket.create_connection(("127.0.0.1", master.port), timeout=6) as slow:
            slow.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # the head never ends
            started = time.monotonic()
            answer = slow.recv(4096)
            assert answer == b"" or answer.startswith(b"HTTP/1.1 408")
            assert time.monotonic() - started < 4
    finally:
        master.stop()


def test_process_titles_use_the_name(app_dir):
    # a stand-in setproctitle module (the real one is optional) records the titles it is given
    (app_dir / "setproctitle.py").write_text(
        "import os\ndef setproctitle(title):\n"
        "    with open(os.path.join(os.path.dirname(__file__), f'title.{os.getpid()}'), 'w') as f:\n"
        "        f.write(title)\n")
    master = Master(["-w", "1", "-n", "shop", "pidapp:app"], app_dir)
    try:
        (worker,) = master.wait_workers(1)
        wait_for(lambda: (app_dir / f"title.{worker}").exists(), 5, what="worker title")
        assert (app_dir / f"title.{master.pid}").read_text() == "fastwsgi: master [shop]"
        assert (app_dir / f"title.{worker}").read_text() == "fastwsgi: worker [shop]"
    finally:
        master.stop()


def test_process_titles_with_the_real_setproctitle(app_dir):
    # what `ps` shows: the titles land in /proc/PID/cmdline (setproctitle is in the test extras)
    pytest.importorskip("setproctitle", reason="setproctitle is not installed: pip install fastwsgi[setproctitle]")

    def cmdline(pid):
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().split(b"\0")[0].decode()

    master = Master(["-w", "2", "-n", "shop", "pidapp:app"], app_dir)
    try:
        workers = master.wait_workers(2)
        wait_for(lambda: all(cmdline(pid) == "fastwsgi: worker [shop]" for pid in workers), 5, what="worker titles")
        assert cmdline(master.pid) == "fastwsgi: master [shop]"
        assert get(master.port, "/")[0] == 200      # a retitled worker still serves
    finally:
        assert master.stop() == 0


def test_hup_with_broken_new_code_keeps_the_old_workers(app_dir):
    master = Master(["-w", "2", "pidapp:app"], app_dir)
    try:
        old = set(master.wait_workers(2))
        master.wait_imported(old)
        (app_dir / "pidapp.py").write_text("raise ImportError('half-deployed')\n")
        master.signal(signal.SIGHUP)
        master.wait_log("Reload failed, the old workers keep serving: error while importing 'pidapp': "
                        "ImportError: half-deployed", 10)
        wait_for(lambda: set(master.workers()) == old, 5, what="only the old workers left")
        load = Load(master.port, total=50, threads=2).start().wait()
        assert load.failures == [] and load.pids <= old
        assert master.proc.poll() is None
    finally:
        assert master.stop() == 0
