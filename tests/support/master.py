"""Helpers for the process-manager tests: a fastwsgi master in a child process, bounded HTTP load.

Each Master runs `python -m fastwsgi ...` in its own session with stdout+stderr in a file, binds 127.0.0.1:0 unless
told otherwise and learns its port from the "Listening at:" log line. Everything is bounded in time.
"""
from __future__ import annotations

import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

PIDAPP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pidapp.py")


def write_app(directory, name: str = "pidapp", source: str | None = None) -> str:
    """Copy tests/support/pidapp.py into directory (where the master is started), or write `source` there as the
    module `name`."""
    if source is None:
        shutil.copyfile(PIDAPP, os.path.join(str(directory), f"{name}.py"))
    else:
        with open(os.path.join(str(directory), f"{name}.py"), "w") as handle:
            handle.write(source)
    return str(directory)


def children(pid: int) -> list:
    """Direct children of pid (Linux /proc)."""
    out = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as handle:
                out.extend(int(c) for c in handle.read().split())
    except OSError:
        pass
    return sorted(out)


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait_for(predicate, timeout: float, interval: float = 0.02, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def get(port: int, path: str = "/", timeout: float = 5.0, host: str = "127.0.0.1", headers=None) -> tuple:
    """One request on a fresh connection: (status, body as str, response headers dict)."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        body = response.read().decode()
        return response.status, body, dict(response.getheaders())
    finally:
        conn.close()


class Load:
    """`threads` clients each sending requests (fresh connection each) until `total` are done or stop()."""

    def __init__(self, port: int, total: int = 300, threads: int = 4, path: str = "/", pause: float = 0.0) -> None:
        self.port = port
        self.total = total
        self.path = path
        self.pause = pause
        self.done = 0
        self.issued = 0
        self.failures: list = []
        self.pids: set = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._client, daemon=True) for _ in range(threads)]

    def start(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def _client(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                if self.issued >= self.total:
                    return
                self.issued += 1
            try:
                status, body, _ = get(self.port, self.path, timeout=10.0)
                ok = status == 200
            except (OSError, http.client.HTTPException) as exc:
                ok, body = False, repr(exc)
            with self._lock:
                if ok:
                    self.done += 1
                    self.pids.add(int(body))
                else:
                    self.failures.append(body)
            if self.pause:
                time.sleep(self.pause)

    def wait(self, timeout: float = 60.0) -> Load:
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._stop.set()
        assert not any(t.is_alive() for t in self._threads), "load did not finish in time"
        return self


class Master:
    """A fastwsgi master (python -m fastwsgi ARGS) in its own session; log in `<cwd>/master.log`."""

    def __init__(self, args: list, cwd, env: dict | None = None, bind: str | None = "127.0.0.1:0",
                 pass_fds=(), start: bool = True, wait: bool = True, executable: list | None = None) -> None:
        self.cwd = str(cwd)
        self.log_path = os.path.join(self.cwd, "master.log")
        self.args = (["-b", bind] if bind else []) + list(args)
        self.env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.env.pop("FASTWSGI_CMD_ARGS", None)
        self.env.pop("PORT", None)
        self.env.pop("WEB_CONCURRENCY", None)
        self.env.update(env or {})
        self.pass_fds = tuple(pass_fds)
        self.executable = executable or [sys.executable, "-m", "fastwsgi"]
        self.proc: subprocess.Popen | None = None
        self.port = 0
        if start:
            self.start()
            if wait:
                try:
                    self.wait_serving()
                except BaseException:
                    self.stop()  # never leave a server behind when the test fails early
                    raise

    def start(self) -> None:
        _LIVE.append(self)
        self._log = open(self.log_path, "ab")
        self._offset = self._log.tell()  # several masters may share a directory: read only this one's lines
        self.proc = subprocess.Popen(self.executable + self.args, cwd=self.cwd, env=self.env, stdout=self._log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                                     pass_fds=self.pass_fds)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log(self) -> str:
        with open(self.log_path, "rb") as handle:
            handle.seek(self._offset)
            return handle.read().decode("utf-8", "replace")

    def wait_log(self, pattern: str, timeout: float = 10.0, count: int = 1) -> list:
        def found():
            matches = re.findall(pattern, self.log())
            if len(matches) >= count:
                return matches
            if self.proc.poll() is not None and len(re.findall(pattern, self.log())) < count:
                raise AssertionError(f"master exited ({self.proc.returncode}) before {pattern!r}:\n{self.log()}")
            return None

        return wait_for(found, timeout, what=f"log {pattern!r}")

    def wait_serving(self, timeout: float = 15.0) -> None:
        port = self.wait_log(r"Listening at: http://127\.0\.0\.1:(\d+)", timeout)[0]
        self.port = int(port)

        def ok():
            try:
                return get(self.port, timeout=2.0)[0] == 200
            except OSError:
                return False

        wait_for(ok, timeout, what="first response")

    def workers(self) -> list:
        return children(self.pid)

    def wait_workers(self, count: int, timeout: float = 10.0, exclude=()) -> list:
        def enough():
            pids = [p for p in self.workers() if p not in exclude and alive(p)]
            return pids if len(pids) == count else None

        return wait_for(enough, timeout, what=f"{count} workers")

    def wait_imported(self, pids, timeout: float = 10.0) -> None:
        """Wait until each worker in pids has imported pidapp (it leaves imported.<pid> in the app directory)."""
        wait_for(lambda: all(os.path.exists(os.path.join(self.cwd, f"imported.{pid}")) for pid in pids), timeout,
                 what=f"workers {list(pids)} to import the app")

    def signal(self, sig: int) -> None:
        os.kill(self.pid, sig)

    def wait_exit(self, timeout: float = 15.0) -> int:
        return self.proc.wait(timeout)

    def stop(self) -> int | None:
        """TERM, wait, then SIGKILL the whole session; return the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            try:
                os.kill(self.pid, signal.SIGTERM)
                self.proc.wait(10)
            except (subprocess.TimeoutExpired, ProcessLookupError):
                pass
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        code = self.proc.wait(5)
        self._log.close()
        if self in _LIVE:
            _LIVE.remove(self)
        return code


_LIVE: list = []


def stop_all() -> None:
    """Stop every Master still running (conftest calls it after each test, even after a failure)."""
    for master in list(_LIVE):
        master.stop()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_cli(args: list, cwd, env: dict | None = None, timeout: float = 20.0) -> subprocess.CompletedProcess:
    """Run `python -m fastwsgi ARGS` to completion (for commands that exit by themselves)."""
    full_env = dict(os.environ)
    for key in ("FASTWSGI_CMD_ARGS", "PORT", "WEB_CONCURRENCY"):
        full_env.pop(key, None)
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "fastwsgi", *args], cwd=str(cwd), env=full_env,
                          capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
