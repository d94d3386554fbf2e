"""statsd metrics with gunicorn's names, counted in memory and sent in batches (--statsd-host).

A worker counts each request in its post_request callback (a few dict operations, no syscall) and `flush()`es from
the loop's once-a-second tick: every metric of the interval goes out as newline-separated statsd lines packed into
as few datagrams of at most MAX_DATAGRAM bytes as they fit in. The master sends the worker count gauge. Both count
their error-log lines by level through a `LogCounter` handler.

Names (after the prefix): gunicorn.requests and gunicorn.request.status.<code> (counters), gunicorn.request.duration
(timer in ms), gunicorn.workers (gauge), gunicorn.log.critical/error/warning/exception (counters). Durations: up to
MAX_TIMINGS per interval are sent; past that a uniform sample (reservoir) of MAX_TIMINGS is sent with its sample
rate (`|@0.05`), so that statsd still derives the right count. DogStatsD tags are appended to every line (`|#a:b`).
"""
from __future__ import annotations

import logging
import socket
import threading
import time
from random import random
from typing import Any

MAX_DATAGRAM = 1400   # bytes: fits an Ethernet MTU with IP/UDP headers
MAX_TIMINGS = 100     # request durations sent per flush interval at most (a uniform sample beyond)


def metric_prefix(prefix: str) -> str:
    """gunicorn's prefix handling: a non-empty prefix ends with exactly one '.'."""
    prefix = prefix.rstrip(".")
    return f"{prefix}." if prefix else ""


def resolve(address: str) -> tuple:
    """(family, sockaddr) of a validated statsd address: HOST:PORT, [V6]:PORT or unix:PATH."""
    if address.startswith("unix:"):
        return socket.AF_UNIX, address[5:].removeprefix("//")
    host, _, port = address.rpartition(":")
    host = host.strip("[]")
    family, _, _, _, sockaddr = socket.getaddrinfo(host, int(port), type=socket.SOCK_DGRAM)[0]
    return family, sockaddr


def pack(lines: list, limit: int = MAX_DATAGRAM) -> list:
    """Join encoded lines with newlines into datagrams of at most `limit` bytes (a longer line goes alone)."""
    datagrams: list = []
    current: list = []
    size = 0
    for line in lines:
        extra = len(line) + (1 if current else 0)
        if current and size + extra > limit:
            datagrams.append(b"\n".join(current))
            current, size = [], 0
            extra = len(line)
        current.append(line)
        size += extra
    if current:
        datagrams.append(b"\n".join(current))
    return datagrams


class Statsd:
    """A statsd client that aggregates: `request()` per request, `incr()`/`gauge()` any time, `flush()` to send."""

    def __init__(self, address: str, prefix: str = "", tags: str = "") -> None:
        self.address = address
        self.prefix = metric_prefix(prefix)
        self.suffix = f"|#{tags}" if tags else ""
        self.sock: socket.socket | None = None
        self.requests = 0
        self.statuses: dict = {}
        self.durations: list = []
        self.counters: dict = {}
        self.gauges: dict = {}
        self.last_flush = 0.0
        self.lock = threading.Lock()    # with --threads, requests are counted on app threads
        self.connect()

    def connect(self) -> None:
        """(Re)create the connected, non-blocking datagram socket; on failure stay unconnected until next flush."""
        self.close()
        try:
            family, sockaddr = resolve(self.address)
            sock = socket.socket(family, socket.SOCK_DGRAM)
        except OSError:
            return
        try:
            sock.setblocking(False)
            sock.connect(sockaddr)
        except OSError:
            sock.close()
            return
        self.sock = sock

    # ---------------------------------------------------------------------------------------------- aggregation
    def request(self, environ: dict, status: str, headers: list, nbytes: int, seconds: float) -> None:
        """The loop's post_request callback: count the request, its status and (a sample of) its duration."""
        code = status[:3]
        with self.lock:
            count = self.requests = self.requests + 1
            statuses = self.statuses
            statuses[code] = statuses.get(code, 0) + 1
            if count <= MAX_TIMINGS:
                self.durations.append(seconds)
            else:
                slot = int(random() * count)
                if slot < MAX_TIMINGS:
                    self.durations[slot] = seconds

    def incr(self, name: str, value: int = 1) -> None:
        self.counters[name] = self.counters.get(name, 0) + value

    def gauge(self, name: str, value: Any) -> None:
        self.gauges[name] = value

    def histogram(self, name: str, value: Any) -> None:
        """One value of a statsd histogram (`|h`; gunicorn's gunicorn.backlog)."""
        self.counters.setdefault(("h", name), []).append(value)

    def lines(self) -> list:
        """The statsd lines of everything counted since the last call (which it resets)."""
        with self.lock:
            return self._lines()

    def _lines(self) -> list:
        prefix, suffix = self.prefix, self.suffix
        out = []
        if self.requests:
            out.append(f"{prefix}gunicorn.requests:{self.requests}|c{suffix}")
            for code, count in self.statuses.items():
                out.append(f"{prefix}gunicorn.request.status.{code}:{count}|c{suffix}")
            rate = "" if self.requests <= MAX_TIMINGS else f"|@{len(self.durations) / self.requests:.6g}"
            for seconds in self.durations:
                out.append(f"{prefix}gunicorn.request.duration:{seconds * 1000.0:.3f}|ms{rate}{suffix}")
        for name, count in self.counters.items():
            if isinstance(name, tuple):     # histogram values
                out.extend(f"{prefix}{name[1]}:{value}|h{suffix}" for value in count)
                continue
            out.append(f"{prefix}{name}:{count}|c{suffix}")
        for name, value in self.gauges.items():
            out.append(f"{prefix}{name}:{value}|g{suffix}")
        self.requests = 0
        self.statuses = {}
        self.durations = []
        self.counters = {}
        self.gauges = {}
        return out

    # ---------------------------------------------------------------------------------------------------- sending
    def flush(self, every: float = 0.0) -> None:
        """Send what was counted, unless the last flush was less than `every` seconds ago. Never raises: a missing
        statsd server or a full socket buffer loses this interval's metrics, nothing else."""
        now = time.monotonic()
        if every and now - self.last_flush < every:
            return
        self.last_flush = now
        lines = self.lines()
        if not lines:
            return
        if self.sock is None:
            self.connect()
            if self.sock is None:
                return
        for datagram in pack([line.encode("ascii", "replace") for line in lines]):
            try:
                self.sock.send(datagram)
            except (BlockingIOError, InterruptedError, ConnectionRefusedError):
                continue  # buffer full, or no listener yet (ICMP port unreachable): drop
            except OSError:
                self.close()  # e.g. the unix socket went away: reconnect on the next flush
                return

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


class LogCounter(logging.Handler):
    """Counts error-log lines into gunicorn.log.<level> (an error with a traceback counts as 'exception')."""

    def __init__(self, client: Statsd) -> None:
        super().__init__(logging.WARNING)
        self.client = client

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.CRITICAL:
            name = "critical"
        elif record.levelno >= logging.ERROR:
            name = "exception" if record.exc_info else "error"
        else:
            name = "warning"
        self.client.incr(f"gunicorn.log.{name}")


def install(cfg: Any, logger: logging.Logger) -> Statsd | None:
    """The process's client for `cfg` (None when --statsd-host is not set), counting `logger`'s lines.

    Replaces a client installed before (the master's, inherited by a forked worker, or the one before a HUP)."""
    for handler in list(logger.handlers):
        if isinstance(handler, LogCounter):
            logger.removeHandler(handler)
            handler.client.close()
    if not cfg.statsd_host:
        return None
    client = Statsd(cfg.statsd_host, cfg.statsd_prefix, cfg.dogstatsd_tags)
    logger.addHandler(LogCounter(client))
    return client
