"""wrk (https://github.com/wg/wrk) as a load generator for wire tests: run it bounded in time, parse its summary.

Tests that need it call `require_wrk()`, which skips LOUDLY (the reason names the missing binary and how to get it:
tests/install.sh installs it with apt-get where it can).
"""
from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass

import pytest

WRK = shutil.which("wrk")


def require_wrk() -> str:
    if WRK is None:
        pytest.skip("SKIPPED LOUDLY: wrk is not installed (apt-get install wrk, or run tests/install.sh as root); "
                    "the zero-loss retirement tests under keep-alive load need it")
    return WRK


@dataclass
class WrkResult:
    requests: int
    connect_errors: int
    read_errors: int
    write_errors: int
    timeouts: int
    non_2xx: int
    output: str

    @property
    def socket_errors(self) -> int:
        return self.connect_errors + self.read_errors + self.write_errors + self.timeouts


def parse(output: str) -> WrkResult:
    """wrk's summary: `N requests in ...`, `Socket errors: connect A, read B, write C, timeout D` (only when one is
    not zero) and `Non-2xx or 3xx responses: N` (only when not zero)."""
    done = re.search(r"(\d+) requests in ", output)
    if done is None:
        raise AssertionError(f"no summary in wrk's output:\n{output}")
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    connect, read, write, timeout = (int(n) for n in errors.groups()) if errors else (0, 0, 0, 0)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return WrkResult(int(done.group(1)), connect, read, write, timeout, int(bad.group(1)) if bad else 0, output)


class Wrk:
    """`wrk -t1 -cN -dS --timeout T URL` in the background; result() waits for it (bounded) and parses."""

    def __init__(self, url: str, connections: int = 20, seconds: float = 4.0, timeout: float = 3.0,
                 threads: int = 1, extra=()) -> None:
        self.args = [require_wrk(), f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--timeout", f"{timeout:g}s",
                     *extra, url]
        self.seconds = seconds
        self.proc: subprocess.Popen | None = None

    def start(self) -> Wrk:
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, text=True)
        return self

    def result(self) -> WrkResult:
        assert self.proc is not None
        try:
            out, _ = self.proc.communicate(timeout=self.seconds + 15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate()
            raise AssertionError(f"wrk did not finish in time:\n{out}") from None
        return parse(out)

    def command(self) -> str:
        return " ".join(self.args)
