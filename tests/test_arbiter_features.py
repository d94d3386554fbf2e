"""Master features with real processes: hooks, access log atoms, sockets (fd://, unix, IPv6, reuse-port, systemd)."""

import json
import os
import signal
import socket
import sys
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


@pytest.fixture
def app_dir(tmp_path):
    write_app(tmp_path)
    return tmp_path


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
    assert names[0] == "on_starting" and names[-1] == "on_exit"
    by_name = {h["hook"]: h for h in hooks}
    assert by_name["on_starting"]["pid"] == master.pid and by_name["pre_fork"]["pid"] == master.pid
    assert by_name["post_fork"]["pid"] != master.pid
    hello = [h for h in hooks if h["hook"] == "post_request" and h["status"] == "200 OK"]
    assert hello and hello[0]["hooked"] == "yes"
    changes = [(h["old"], h["new"]) for h in hooks if h["hook"] == "nworkers_changed"]
    assert changes == [(1, 2), (2, 1)]  # TTIN, then HUP back to the configured count


def test_access_log_atoms(app_dir):
    fmt = ('%(h)s|%(l)s|%(u)s|%(r)s|%(m)s|%(U)s|%(q)s|%(H)s|%(s)s|%(B)s|%(b)s|%(f)s|%(a)s|%(p)s|'
           '%({x-custom}i)s|%({x-pid}o)s|%(REQUEST_METHOD)s|%({PATH_INFO}e)s|%(T)s|%(M)s|%(D)s|%(L)s|%(t)s')
    fmt = fmt.replace("%(REQUEST_METHOD)s|", "")
    log = app_dir / "access.log"
    master = Master(["--access-logfile", str(log), "--access-logformat", fmt, "pidapp:app"], app_dir)
    try:
        status, body, headers = get(master.port, "/a/b?x=1", headers={"X-Custom": "c1", "Referer": "http://r/",
                                                                       "User-Agent": "ua/1"})
        wait_for(lambda: "/a/b?x=1" in log.read_text(), 5, what="access line")
    finally:
        master.stop()
    line = [entry for entry in log.read_text().splitlines() if "/a/b?x=1" in entry][0]
    parts = line.split("|")
    assert parts[:14] == ["127.0.0.1", "-", "-", "GET /a/b?x=1 HTTP/1.1", "GET", "/a/b", "x=1", "HTTP/1.1", "200",
                          str(len(body)), str(len(body)), "http://r/", "ua/1", f"<{headers['X-Pid']}>"]
    assert parts[14:17] == ["c1", headers["X-Pid"], "/a/b"]
    assert parts[17] == "0" and int(parts[18]) < 1000 and int(parts[19]) < 1000000 and float(parts[20]) < 1
    assert parts[21].startswith("[") and parts[21].endswith("]")


def test_access_log_off_by_default_and_to_stdout(app_dir):
    master = Master(["pidapp:app"], app_dir)
    get(master.port, "/quiet")
    master.stop()
    assert "/quiet" not in master.log()
    master = Master(["--access-logfile", "-", "pidapp:app"], app_dir)
    get(master.port, "/loud")
    master.wait_log(r'"GET /loud HTTP/1.1" 200', 5)
    master.stop()


def test_fd_unix_and_ipv6_binds(app_dir):
    pre = socket.socket()
    pre.bind(("127.0.0.1", 0))
    pre.listen(16)
    fd_port = pre.getsockname()[1]
    path = str(app_dir / "s.sock")
    args = ["-b", f"fd://{pre.fileno()}", "-b", f"unix:{path}"]
    has_v6 = socket.has_ipv6 and _can_bind_v6()
    if has_v6:
        args += ["-b", "[::1]:0"]
    master = Master(args + ["pidapp:app"], app_dir, bind=None, pass_fds=[pre.fileno()])
    pre.close()
    try:
        assert master.port == fd_port
        with socket.socket(socket.AF_UNIX) as client:
            client.settimeout(5)
            client.connect(path)
            client.sendall(b"GET / HTTP/1.0\r\n\r\n")
            response = b""
            while chunk := client.recv(4096):
                response += chunk
            assert response.startswith(b"HTTP/1.1 200 OK\r\n")
            assert response.endswith(f"{master.workers()[0]}".encode())
        if has_v6:
            v6_port = int(master.wait_log(r"Listening at: http://\[::1\]:(\d+)")[0])
            assert get(v6_port, host="::1")[0] == 200
    finally:
        assert master.stop() == 0
    assert not os.path.exists(path), "the unix socket file is removed at exit"


def test_reuse_port_each_worker_has_its_own_socket(app_dir):
    master = Master(["-w", "2", "--reuse-port", "pidapp:app"], app_dir)
    try:
        workers = master.wait_workers(2)
        load = Load(master.port, total=300, threads=4).start().wait()
        assert load.failures == []
        assert load.pids == set(workers), "the kernel spreads connections over both workers' sockets"
    finally:
        master.stop()


@pytest.mark.parametrize("retire", ["max-requests", "SIGTERM"])
def test_reuse_port_worker_retiring_serves_the_connections_queued_on_its_socket(app_dir, retire):
    # a worker's own SO_REUSEPORT socket has its own accept queue: connections the kernel put there must be served
    # when the worker retires (after its one request, or told to stop in the middle of it), not reset with the socket
    limit = ["--max-requests", "1"] if retire == "max-requests" else []
    master = Master(["-w", "1", "--reuse-port", *limit, "pidapp:app"], app_dir)
    conns = []
    try:
        (first,) = master.wait_workers(1)
        busy = socket.create_connection(("127.0.0.1", master.port), timeout=10)
        busy.sendall(b"GET /sleep/0.6 HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.2)                         # the worker is in the app: what connects now waits in a queue
        for _ in range(24):
            conn = socket.create_connection(("127.0.0.1", master.port), timeout=10)
            conn.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            conns.append(conn)
        if retire == "SIGTERM":
            os.kill(first, signal.SIGTERM)      # handled inside the app call: the worker leaves the group there
        assert recv_all(busy).startswith(b"HTTP/1.1 200 ")
        answers = [recv_all(conn) for conn in conns]
        assert [a[:13] for a in answers] == [b"HTTP/1.1 200 "] * len(conns)
        wait_for(lambda: first not in master.workers(), 5, what="the first worker to retire")
    finally:
        for conn in conns:
            conn.close()
        master.stop()


def recv_all(conn):
    out = b""
    try:
        while True:
            data = conn.recv(65536)
            if not data:
                return out
            out += data
    except ConnectionResetError:
        return out + b"<reset>"


def test_systemd_socket_activation_and_ready_notification(app_dir):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    port = listener.getsockname()[1]
    notify_path = str(app_dir / "notify.sock")
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(notify_path)
    notify.settimeout(10)
    # a tiny launcher puts the socket on fd 3 and sets LISTEN_PID to the pid that execs fastwsgi, as systemd does
    launcher = (f"import os, sys; os.dup2({listener.fileno()}, 3); os.environ['LISTEN_PID'] = str(os.getpid()); "
                "os.execv(sys.executable, [sys.executable, '-m', 'fastwsgi'] + sys.argv[1:])")
    master = Master(["-w", "1", "pidapp:app"], app_dir, bind=None, pass_fds=[listener.fileno()],
                    env={"LISTEN_FDS": "1", "NOTIFY_SOCKET": notify_path}, wait=False,
                    executable=[sys.executable, "-c", launcher])
    listener.close()
    try:
        assert notify.recv(100) == b"READY=1"
        assert get(port)[0] == 200
        assert f"Listening at: http://127.0.0.1:{port}" in master.log()
        master.signal(signal.SIGTERM)
        assert master.wait_exit(10) == 0
        assert notify.recv(100) == b"STOPPING=1"
    finally:
        master.stop()
        notify.close()


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


def _can_bind_v6():
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
        return True
    except OSError:
        return False





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


def test_hup_rebinds_when_the_address_changes(app_dir):
    from tests.support_master import free_port

    first, second = free_port(), free_port()
    conf = app_dir / "fastwsgi.conf.py"
    conf.write_text(f"bind = ['127.0.0.1:{first}']\n")
    master = Master(["pidapp:app"], app_dir, bind=None)
    try:
        assert master.port == first
        conf.write_text(f"bind = ['127.0.0.1:{second}']\n")
        master.signal(signal.SIGHUP)
        wait_for(lambda: _serves(second), 10, what="the new address")
        wait_for(lambda: not _serves(first), 10, what="the old address closed")
        with socket.socket() as busy:  # a new address already in use: logged, the current socket kept
            busy.bind(("127.0.0.1", 0))
            busy.listen(1)
            conf.write_text(f"bind = ['127.0.0.1:{busy.getsockname()[1]}']\n")
            master.signal(signal.SIGHUP)
            master.wait_log("cannot bind the new addresses, keeping the current sockets", 5)
        assert _serves(second)
    finally:
        assert master.stop() == 0


def _serves(port):
    try:
        return get(port, timeout=2)[0] == 200
    except OSError:
        return False
