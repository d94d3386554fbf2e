"""The master's control socket and `fastwsgi ctl` (issue 22), over the wire: real masters, the CLI as a user runs it."""
import json
import os
import stat
import struct
import threading
import time

import pytest

from fastwsgi import heartbeat
from fastwsgi._core import stats_layout
from tests.support.control import KeepAliveLoad, ctl, request
from tests.support.master import Master, alive, get, run_cli, wait_for, write_app


def serving_pids(path, cwd):
    return sorted(w["pid"] for w in ctl(path, "show workers", cwd)["workers"] if w["state"] == "serving")


@pytest.fixture
def app_dir(tmp_path):
    return write_app(tmp_path)


def test_stats_layout_matches_the_extension():
    words, bounds = stats_layout()
    assert words == len(heartbeat.STATS_FIELDS)
    assert [b / 1e6 for b in bounds] == list(heartbeat.LATENCY_BOUNDS)
    assert heartbeat.STATS_AT + words * 8 <= 4096


def test_show_workers_add_kill_and_graceful_shutdown(app_dir):
    path = os.path.join(app_dir, "ctl.sock")
    master = Master(["-w", "2", "--control-socket", path, "pidapp:app"], app_dir)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    data = wait_for(lambda: (d := ctl(path, "show workers", app_dir))["count"] == 2 and d, 10, what="2 workers")
    assert sorted(w["pid"] for w in data["workers"]) == master.wait_workers(2)
    assert {w["state"] for w in data["workers"]} <= {"serving", "booting"}

    before = set(serving_pids(path, app_dir))
    answer = ctl(path, "worker add 1", app_dir)
    assert answer == {"added": 1, "previous": 2, "total": 3}
    started = time.monotonic()
    pids = wait_for(lambda: len(p := serving_pids(path, app_dir)) == 3 and p, 5, interval=0.05, what="3 serving")
    took = time.monotonic() - started
    assert before < set(pids)
    assert took < 2.0, f"the third worker served after {took:.2f}s"

    answer = ctl(path, "worker remove 1", app_dir)
    assert answer["total"] == 2
    wait_for(lambda: len(master.workers()) == 2, 15, what="2 workers after remove")

    assert ctl(path, "shutdown graceful", app_dir) == {"status": "shutting_down", "mode": "graceful"}
    assert master.wait_exit(20) == 0
    assert not os.path.exists(path)


def test_worker_kill_under_keepalive_load(app_dir):
    path = os.path.join(app_dir, "ctl.sock")
    master = Master(["-w", "2", "--control-socket", path, "pidapp:app"], app_dir)
    first = master.wait_workers(2)
    load = KeepAliveLoad(master.port, clients=6).start()
    try:
        load.wait_done(200)
        victim = first[0]
        assert ctl(path, f"worker kill {victim}", app_dir) == {"success": True, "killed": victim}
        wait_for(lambda: not alive(victim), 15, what="the killed worker to exit")
        now = master.wait_workers(2)
        assert victim not in now
        load.wait_done(300)
    finally:
        load.stop()
    assert not load.failures, load.failures[:5]
    assert ctl(path, "worker kill 999999", app_dir) == {"success": False, "error": "Worker 999999 not found"}


def test_reload_gives_new_pids_without_failed_requests(app_dir):
    path = os.path.join(app_dir, "ctl.sock")
    master = Master(["-w", "2", "--control-socket", path, "pidapp:app"], app_dir)
    old = set(master.wait_workers(2))
    load = KeepAliveLoad(master.port, clients=6).start()
    try:
        load.wait_done(200)
        assert ctl(path, "reload", app_dir) == {"status": "reloading"}
        new = wait_for(lambda: (p := set(serving_pids(path, app_dir))) and not p & old and len(p) == 2 and p, 20,
                       interval=0.1, what="two new workers")
        wait_for(lambda: not any(alive(pid) for pid in old), 20, what="the old workers to exit")
        load.wait_done(300)
    finally:
        load.stop()
    assert not load.failures, load.failures[:5]
    rows = ctl(path, "show workers", app_dir)["workers"]
    assert {row["generation"] for row in rows} == {1}
    assert set(load.pids) & new
    stats = ctl(path, "show stats", app_dir)
    assert stats["reloads"] == 1 and stats["workers_spawned"] == 4
    assert stats["requests"] >= load.done    # the old workers' answers are kept after they exited


def test_requests_counted_exactly(app_dir):
    path = os.path.join(app_dir, "ctl.sock")
    master = Master(["-w", "2", "--control-socket", path, "pidapp:app"], app_dir)
    base = ctl(path, "show stats", app_dir)["requests"]     # wait_serving's own requests
    for _ in range(37):
        assert get(master.port, "/")[0] == 200
    stats = ctl(path, "show stats", app_dir)
    assert stats["requests"] - base == 37
    assert stats["status"]["2xx"] == stats["requests"]
    assert sum(stats["latency_buckets"]) == stats["requests"]
    workers = ctl(path, "show workers", app_dir)["workers"]
    assert sum(w["requests"] for w in workers) == stats["requests"]
    assert all(w["rss"] > 0 for w in workers)


def test_in_flight_and_queued_while_a_route_blocks(app_dir):
    path = os.path.join(app_dir, "ctl.sock")
    master = Master(["-w", "1", "--threads", "2", "--control-socket", path, "pidapp:app"], app_dir)
    results = []
    clients = [threading.Thread(target=lambda: results.append(get(master.port, "/sleep/3", timeout=30)[0]))
               for _ in range(5)]
    for thread in clients:
        thread.start()
    try:
        stats = wait_for(lambda: (s := ctl(path, "show stats", app_dir))["in_flight"] == 2 and s["queued"] == 3
                         and s, 2.5, interval=0.1, what="2 in flight, 3 queued")
        assert stats["connections"]["app"] == 5
        (row,) = ctl(path, "show workers", app_dir)["workers"]
        assert (row["in_flight"], row["queued"], row["busy_threads"]) == (2, 3, 2)
    finally:
        for thread in clients:
            thread.join(30)
    assert results == [200] * 5
    stats = wait_for(lambda: (s := ctl(path, "show stats", app_dir))["queued"] == 0 and s, 3, interval=0.1,
                     what="the queue to drain")
    assert stats["in_flight"] == 0


def test_show_config_listeners_all_and_help(app_dir):
    path = os.path.join(app_dir, "ctl.sock")
    master = Master(["-w", "1", "--control-socket", path, "--timeout", "17", "pidapp:app"], app_dir)
    config = ctl(path, "show config", app_dir)
    assert config["timeout"] == 17.0 and config["workers"] == 1 and config["control_socket"] == path
    (listener,) = ctl(path, "show listeners", app_dir)["listeners"]
    assert listener["address"] == f"http://127.0.0.1:{master.port}" and listener["type"] == "tcp"
    assert listener["queued"] == 0 and listener["backlog"] == 2048
    everything = ctl(path, "show all", app_dir)
    assert everything["arbiter"]["pid"] == master.pid and everything["web_worker_count"] == 1
    assert "worker kill PID" in ctl(path, "help", app_dir)["commands"]
    human = run_cli(["ctl", "-s", path, "-c", "show workers"], app_dir)
    assert human.returncode == 0 and "Total: 1 workers" in human.stdout


def test_wire_protocols_lines_and_gunicorn_framing(app_dir):
    path = os.path.join(app_dir, "ctl.sock")
    Master(["-w", "1", "--control-socket", path, "pidapp:app"], app_dir)
    answer = json.loads(request(path, b'{"id": 7, "command": "show", "args": ["stats"]}\n'))
    assert answer["id"] == 7 and answer["status"] == "ok" and answer["data"]["workers_current"] == 1
    answer = json.loads(request(path, b"show workers\n"))              # a bare line, as from socat
    assert answer["status"] == "ok" and answer["data"]["count"] == 1
    answer = json.loads(request(path, b'{"id": 3, "command": "frobnicate"}\n'))
    assert answer == {"id": 3, "status": "error", "error": "Unknown command: frobnicate"}
    payload = json.dumps({"id": 9, "command": "show workers", "args": []}).encode()
    raw = request(path, struct.pack(">I", len(payload)) + payload)        # gunicornc's framing
    size = struct.unpack(">I", raw[:4])[0]
    answer = json.loads(raw[4:4 + size])
    assert answer["id"] == 9 and answer["data"]["count"] == 1


def test_gunicornc_client_drives_it(app_dir):
    client_module = pytest.importorskip("gunicorn.ctl.client")
    path = os.path.join(app_dir, "ctl.sock")
    Master(["-w", "1", "--control-socket", path, "pidapp:app"], app_dir)
    with client_module.ControlClient(path) as client:
        assert client.send_command("show workers")["count"] == 1
        assert client.send_command("worker add", ["1"])["total"] == 2


def test_ctl_errors_are_one_line(app_dir):
    missing = os.path.join(app_dir, "nothing.sock")
    done = run_cli(["ctl", "-s", missing, "-c", "show workers"], app_dir)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"fastwsgi ctl: error: no control socket at {missing} (is the server running? its --control-socket?)"]
    stale = os.path.join(app_dir, "stale.sock")
    import socket
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(stale)
    sock.close()                # the file stays, nobody listens: refused
    done = run_cli(["ctl", "-s", stale, "-c", "show workers"], app_dir)
    assert done.returncode == 1 and "connection refused" in done.stderr and len(done.stderr.splitlines()) == 1

    path = os.path.join(app_dir, "ctl.sock")
    Master(["-w", "1", "--control-socket", path, "pidapp:app"], app_dir)
    done = run_cli(["ctl", "-s", path, "-c", "worker add lots"], app_dir)
    assert done.returncode == 1
    assert done.stderr.strip() == "fastwsgi ctl: error: Invalid argument: count must be an integer, not 'lots'"


def test_no_control_socket_and_a_socket_in_use(app_dir):
    path = os.path.join(app_dir, "ctl.sock")
    Master(["-w", "1", "--no-control-socket", "--control-socket", path, "pidapp:app"], app_dir)
    assert not os.path.exists(path)
    first = Master(["-w", "1", "--control-socket", path, "--control-socket-mode", "660", "pidapp:app"], app_dir)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o660
    second = Master(["-w", "1", "--control-socket", path, "pidapp:app"], app_dir)
    second.wait_log(r"Control socket .* not opened: another server answers on it")
    assert ctl(path, "show stats", app_dir)["pid"] == first.pid      # the first server keeps its socket
    second.stop()
    assert ctl(path, "show stats", app_dir)["pid"] == first.pid      # and the second left it in place


def test_interactive_mode_reads_commands_until_quit(app_dir, tmp_path):
    import subprocess
    import sys

    path = os.path.join(app_dir, "ctl.sock")
    master = Master(["-w", "1", "--control-socket", path, "pidapp:app"], app_dir)
    env = dict(os.environ, HOME=str(tmp_path))      # the readline history goes to $HOME/.fastwsgi_ctl_history
    done = subprocess.run([sys.executable, "-m", "fastwsgi", "ctl", "-s", path],
                          input="show stats\nworker frob\nshow workers\nquit\nshow stats\n", capture_output=True,
                          text=True, timeout=30, env=env, cwd=app_dir)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count(f"PID:              {master.pid}") == 1        # nothing after quit
    assert "Total: 1 workers" in done.stdout
    assert done.stderr.strip() == "fastwsgi ctl: error: Unknown worker action: frob"
