"""Where the master listens: fd://, unix and IPv6 binds, reuse-port (a socket per worker), systemd socket activation,
rebinding on HUP."""
import os
import signal
import socket
import sys
import time

import pytest

from tests.support.client import has_ipv6_loopback
from tests.support.master import Load, Master, free_port, get, wait_for


def test_fd_unix_and_ipv6_binds(app_dir):
    pre = socket.socket()
    pre.bind(("127.0.0.1", 0))
    pre.listen(16)
    fd_port = pre.getsockname()[1]
    path = str(app_dir / "s.sock")
    args = ["-b", f"fd://{pre.fileno()}", "-b", f"unix:{path}"]
    has_v6 = socket.has_ipv6 and has_ipv6_loopback()
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


def test_hup_rebinds_when_the_address_changes(app_dir):
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
