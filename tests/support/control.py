"""Helpers for the control socket and metrics tests: `fastwsgi ctl` as a user runs it, raw control requests, and a
keep-alive load that counts every failed request."""
from __future__ import annotations

import http.client
import json
import socket
import time

from tests.support.master import Load, run_cli


def ctl(path: str, command: str, cwd, timeout: float = 20.0) -> dict:
    """`fastwsgi ctl -s PATH -j -c COMMAND`: the answer's data (the command must succeed)."""
    done = run_cli(["ctl", "-s", path, "-j", "-c", command], cwd, timeout=timeout)
    assert done.returncode == 0, f"ctl {command!r} exited {done.returncode}: {done.stderr}"
    return json.loads(done.stdout)


def request(path: str, raw: bytes, timeout: float = 10.0) -> bytes:
    """Send raw bytes to the control socket; everything it answers until it closes or a line/frame is whole."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(path)
        sock.sendall(raw)
        data = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return data
            data += chunk
            if data.endswith(b"\n") or (data[:1] == b"\0" and len(data) >= 4
                                        and len(data) >= 4 + int.from_bytes(data[:4], "big")):
                return data


class KeepAliveLoad(Load):
    """`clients` threads, each sending GETs over one kept-alive connection (a new one when the server closes it),
    until stop(). Every request that does not end in a 200 is a failure."""

    def __init__(self, port: int, clients: int = 4, path: str = "/") -> None:
        super().__init__(port, total=0, threads=clients, path=path)

    def _client(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10.0)
        while not self._stop.is_set():
            try:
                conn.request("GET", self.path)
                response = conn.getresponse()
                body = response.read().decode()
                ok = response.status == 200
                if response.will_close:
                    conn.close()        # the next request opens a new connection
            except (OSError, http.client.HTTPException) as exc:
                ok, body = False, repr(exc)
                conn.close()
            with self._lock:
                if ok:
                    self.done += 1
                    self.pids.add(int(body))
                else:
                    self.failures.append(body)
            time.sleep(0.002)
        conn.close()

    def wait_done(self, count: int, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        start = self.done
        while self.done < start + count:
            assert time.monotonic() < deadline, f"load made {self.done - start} of {count} requests"
            time.sleep(0.02)

    def stop(self) -> KeepAliveLoad:
        self._stop.set()
        for thread in self._threads:
            thread.join(15)
        assert not any(t.is_alive() for t in self._threads), "load did not stop"
        return self
