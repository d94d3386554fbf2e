"""A unix socket (-b unix:PATH) that a proxy running as another user can use, as under gunicorn's default umask 0.

nginx's workers (www-data) connect to the socket the master (root, or the service user) created: they need write
permission on it. The test connects from a child that switched to `nobody`.
"""
import os
import pwd
import shutil
import socket
import tempfile

import pytest

from tests.support.master import Master, get, write_app

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0,
    reason="NOT RUN: connecting as another user needs root (setuid to nobody); run this test as root to check "
           "that a unix socket is usable by a proxy running under another uid")


@pytest.fixture
def socket_dir():
    """A directory every user may traverse (as /run is); pytest's tmp_path is 0700, which nobody cannot enter."""
    path = tempfile.mkdtemp(prefix="fastwsgi-unix-")
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _get_as(user: str, path: str) -> str:
    """In a forked child running as `user`, send GET / to the unix socket at `path`; return the status line or
    the error's name (e.g. PermissionError)."""
    entry = pwd.getpwnam(user)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never returns into pytest
        result = b"?"
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(entry.pw_gid)
            os.setuid(entry.pw_uid)
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(5)
                sock.connect(path)
                sock.sendall(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
                result = sock.recv(4096).split(b"\r\n", 1)[0] or b"(no answer)"
        except BaseException as exc:
            result = type(exc).__name__.encode()
        finally:
            os.write(write_end, result)
            os._exit(0)
    os.close(write_end)
    try:
        with os.fdopen(read_end, "rb") as reader:
            return reader.read().decode("latin-1")
    finally:
        os.waitpid(pid, 0)


def _start(args: list, cwd) -> Master:
    old = os.umask(0o022)  # the usual default umask of a service manager or a shell
    try:
        return Master(args, cwd)
    finally:
        os.umask(old)


def test_unix_socket_is_usable_by_another_user_by_default(tmp_path, socket_dir):
    write_app(tmp_path)
    path = os.path.join(socket_dir, "app.sock")
    master = _start(["-b", f"unix:{path}", "pidapp:app"], tmp_path)
    try:
        assert _get_as("nobody", path) == "HTTP/1.1 200 OK"
        assert os.stat(path).st_mode & 0o777 == 0o777  # gunicorn's default umask 0
    finally:
        assert master.stop() == 0
    assert not os.path.exists(path)


def test_umask_still_restricts_the_unix_socket(tmp_path, socket_dir):
    write_app(tmp_path)
    path = os.path.join(socket_dir, "app.sock")
    master = _start(["--umask", "007", "-b", f"unix:{path}", "pidapp:app"], tmp_path)
    try:
        assert os.stat(path).st_mode & 0o777 == 0o770
        assert _get_as("nobody", path) == "PermissionError"
    finally:
        master.stop()


def test_umask_is_not_forced_on_the_application(tmp_path):
    """Like gunicorn, --umask applies to the sockets fastwsgi creates; files the application writes keep the
    process umask (a default of 0 must not make them world-writable)."""
    source = (
        "import os\n\ndef app(environ, start_response):\n    mask = os.umask(0); os.umask(mask)\n"
        "    body = oct(mask).encode()\n    start_response('200 OK', [('Content-Length', str(len(body)))])\n"
        "    return [body]\n"
    )
    write_app(tmp_path, "maskapp", source)
    master = _start(["maskapp:app"], tmp_path)
    try:
        assert get(master.port)[1] == "0o22"
    finally:
        master.stop()
