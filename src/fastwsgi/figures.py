"""Live figures of a running server, gathered by the master (issue 22) for `fastwsgi ctl` and /metrics.

Each worker's request loop keeps its counters in its heartbeat page (fastwsgi/heartbeat.py, STATS_FIELDS); the master
reads them without asking the worker anything, and adds what only it knows: each worker's age, generation and
state, its RSS and CPU time from /proc, and the listen queues (TCP_INFO). Once a second it keeps a snapshot of the
totals, from which answers per second over the last 1/10/60 s and latency percentiles over the last 60 s come.
Counters of exited workers are folded into `exited`, so that totals never go back.
"""
from __future__ import annotations

import os
import socket
import struct
import time
from collections import deque
from typing import Any

from fastwsgi import heartbeat as hb

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
HISTORY = 61            # seconds of snapshots kept (the 60 s window and its start)
STATUS_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")
COUNTERS = ("served", "started", "latency_sum_us") + tuple(f"status_{c}" for c in ("none",) + STATUS_CLASSES) + \
    tuple(f"latency_{i}" for i in range(hb.LATENCY_BUCKETS))
_TCP_INFO = struct.Struct("8B24I")      # struct tcp_info up to tcpi_rcv_ssthresh: [8 + 4] unacked, [8 + 5] sacked


def proc_usage(pid: int) -> tuple:
    """(RSS bytes, CPU seconds: user + system) of a process from /proc; (0, 0.0) once it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return 0, 0.0
    return int(fields[21]) * PAGE, (int(fields[11]) + int(fields[12])) / CLK_TCK


def listen_queue(sock: socket.socket) -> tuple:
    """(connections waiting to be accepted, the queue's length) of a listening TCP socket (Linux TCP_INFO: a
    listener's tcpi_unacked and tcpi_sacked), or (None, None) when the kernel does not tell (a UNIX socket)."""
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return None, None
    try:
        info = _TCP_INFO.unpack(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, _TCP_INFO.size))
    except (OSError, struct.error):
        return None, None
    return info[12], info[13]


def percentile(buckets: list, fraction: float) -> float | None:
    """The latency (seconds) below which `fraction` of the answers counted in `buckets` fell, interpolated within
    its bucket (Prometheus' histogram_quantile); None without answers. The +Inf bucket reports its lower bound."""
    total = sum(buckets)
    if not total:
        return None
    rank = fraction * total
    seen = 0
    lower = 0.0
    for i, count in enumerate(buckets):
        upper = hb.LATENCY_BOUNDS[i] if i < len(hb.LATENCY_BOUNDS) else None
        if count and seen + count >= rank:
            if upper is None:
                return lower
            return lower + (upper - lower) * (rank - seen) / count
        seen += count
        lower = upper if upper is not None else lower
    return lower


def latency_max(buckets: list) -> float | None:
    """The upper bound of the slowest bucket with an answer (the lower bound for +Inf); None without answers."""
    for i in range(len(buckets) - 1, -1, -1):
        if buckets[i]:
            return hb.LATENCY_BOUNDS[min(i, len(hb.LATENCY_BOUNDS) - 1)]
    return None


class Figures:
    """The master's view: `sample()` from its loop (at most once a second does work), `workers()`/`totals()` for
    the control socket and /metrics, `worker_exited()` when a worker is reaped."""

    def __init__(self) -> None:
        self.started_at = time.time()
        self.exited = dict.fromkeys(COUNTERS, 0)     # counters of workers that exited
        self.history: deque = deque(maxlen=HISTORY)  # (monotonic time, totals of COUNTERS)
        self.cpu_seen: dict = {}                     # pid -> (monotonic, cpu seconds) of the last sample
        self.cpu_rate: dict = {}                     # pid -> CPU share over the last sample interval
        self.next_sample = 0.0

    def worker_exited(self, worker: Any) -> None:
        stats = worker.heartbeat.stats()
        for key in COUNTERS:
            self.exited[key] += stats[key]
        self.cpu_seen.pop(worker.pid, None)
        self.cpu_rate.pop(worker.pid, None)

    def sample(self, server: Any, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        if now < self.next_sample:
            return
        self.next_sample = now + 1.0
        totals = self._sum(server)
        self.history.append((now, [totals[key] for key in COUNTERS]))
        for pid in list(server.workers):
            _, cpu = proc_usage(pid)
            last = self.cpu_seen.get(pid)
            if last is not None and now > last[0]:
                self.cpu_rate[pid] = max(0.0, (cpu - last[1]) / (now - last[0]))
            self.cpu_seen[pid] = (now, cpu)

    def _sum(self, server: Any) -> dict:
        totals = dict(self.exited)
        for worker in list(server.workers.values()):
            stats = worker.heartbeat.stats()
            for key in COUNTERS:
                totals[key] += stats[key]
        return totals

    # ------------------------------------------------------------------------------------------------- reporting
    def worker(self, server: Any, worker: Any, now: float) -> dict:
        """One worker's figures (a row of `show workers`)."""
        stats = worker.heartbeat.stats()
        rss, cpu = proc_usage(worker.pid) if isinstance(worker.pid, int) else (0, 0.0)
        state = hb.STATE_NAMES.get(worker.heartbeat.state, "?")
        if worker.retiring or worker in getattr(server, "to_retire", ()):
            state = "retiring"
        try:
            last_beat = round(worker.heartbeat.silence(), 2)
        except ValueError:
            last_beat = None
        return {
            "pid": worker.pid,
            "age": worker.age,
            "generation": getattr(worker, "generation", 0),
            "state": state,
            "booted": worker.heartbeat.state != hb.BOOTING,
            "aborted": worker.aborted,
            "last_heartbeat": last_beat,
            "uptime": round(now - getattr(worker, "born", now), 2),
            "requests": stats["served"],
            "in_flight": max(0, stats["started"] - stats["served"]),
            "queued": stats["queued"],
            "connections": {"head": stats["conns_head"], "body": stats["conns_body"], "app": stats["conns_app"],
                            "idle": stats["conns_idle"], "closing": stats["conns_closing"]},
            "threads": server.cfg.threads,
            "busy_threads": min(server.cfg.threads, max(0, stats["started"] - stats["served"])),
            "spooled_bytes": stats["spooled"],
            "rss": rss,
            "cpu_seconds": round(cpu, 2),
            "cpu_percent": round(100.0 * self.cpu_rate.get(worker.pid, 0.0), 1),
            "status": {c: stats[f"status_{c}"] for c in STATUS_CLASSES},
            "latency_buckets": [stats[f"latency_{i}"] for i in range(hb.LATENCY_BUCKETS)],
            "latency_sum": stats["latency_sum_us"] / 1e6,
        }

    def workers(self, server: Any) -> list:
        now = time.monotonic()
        rows = [self.worker(server, worker, now) for worker in list(server.workers.values())]
        rows.sort(key=lambda row: row["age"])
        return rows

    def rates(self, totals: dict, now: float) -> dict:
        """Answers per second over the last 1, 10 and 60 s, and the latency percentiles over the last 60 s."""
        current = [totals[key] for key in COUNTERS]
        served = COUNTERS.index("served")
        first_bucket = COUNTERS.index("latency_0")
        out: dict = {}
        for span in (1, 10, 60):
            base = self._at(now - span)
            if base is None or now - base[0] <= 0:
                out[f"rate_{span}s"] = None
            else:
                out[f"rate_{span}s"] = round((current[served] - base[1][served]) / (now - base[0]), 2)
        base = self._at(now - 60) or (self.history[0] if self.history else None)
        window = [c - (base[1][first_bucket + i] if base else 0)
                  for i, c in enumerate(current[first_bucket:first_bucket + hb.LATENCY_BUCKETS])]
        for name, fraction in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99)):
            value = percentile(window, fraction)
            out[f"latency_{name}"] = None if value is None else round(value, 6)
        out["latency_max"] = latency_max(window)
        out["latency_window"] = window
        return out

    def _at(self, when: float) -> tuple | None:
        """The newest snapshot taken at or before `when`, else the oldest one (a server younger than the span)."""
        found = None
        for snap in self.history:
            if snap[0] <= when + 0.05:
                found = snap
            else:
                break
        if found is None and self.history and self.history[0][0] < when + 1.5:
            found = self.history[0]
        return found

    def totals(self, server: Any) -> dict:
        """The whole server: counters (exited workers included), gauges now, rates and percentiles."""
        now = time.monotonic()
        totals = self._sum(server)
        gauges = dict.fromkeys(("queued", "spooled", "conns_head", "conns_body", "conns_app", "conns_idle",
                                "conns_closing"), 0)
        in_flight = 0
        for worker in list(server.workers.values()):
            stats = worker.heartbeat.stats()
            in_flight += max(0, stats["started"] - stats["served"])
            for key in gauges:
                gauges[key] += stats[key]
        backlog = [listen_queue(sock) for sock in server.listeners]
        out = {
            "requests": totals["served"],
            "in_flight": in_flight,
            "queued": gauges["queued"],
            "connections": {"head": gauges["conns_head"], "body": gauges["conns_body"], "app": gauges["conns_app"],
                            "idle": gauges["conns_idle"], "closing": gauges["conns_closing"]},
            "spooled_bytes": gauges["spooled"],
            "status": {c: totals[f"status_{c}"] for c in STATUS_CLASSES},
            "backlog": sum(q for q, _ in backlog if q is not None) if any(q is not None for q, _ in backlog)
            else None,
            "latency_buckets": [totals[f"latency_{i}"] for i in range(hb.LATENCY_BUCKETS)],
            "latency_sum": totals["latency_sum_us"] / 1e6,
        }
        out.update(self.rates(totals, now))
        return out
