"""/metrics in the Prometheus text exposition format 0.0.4 (--metrics-bind), served by the master (control.py).

Written here rather than with prometheus-client: the format is a few lines of text per metric, the figures already
live in the workers' shared pages (prometheus-client's multiprocess mode would have every worker write its own
files), and the server keeps no dependency it does not need.

Names are the statsd ones (fastwsgi/statsd.py) with '.' as '_' and Prometheus' suffixes, after --statsd-prefix:
gunicorn_requests_total, gunicorn_request_status_total{status="2xx"}, gunicorn_request_duration_seconds (histogram),
gunicorn_workers, gunicorn_backlog; and fastwsgi's own figures (in flight, queued, connections by state, spooled
bytes, RSS, CPU). Series carry worker="<pid>"; counters of workers that exited add up under worker="exited", so
the sum over workers never goes back.
"""
from __future__ import annotations

import socket
from typing import Any

from fastwsgi import heartbeat as hb
from fastwsgi.figures import STATUS_CLASSES, Figures, listen_queue, proc_usage
from fastwsgi.settings import statsd_address

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
REASONS = {200: "OK", 404: "Not Found"}


def listen(address: str) -> socket.socket:
    """A non-blocking listening socket on HOST:PORT (a validated --metrics-bind)."""
    host, _, port = statsd_address(address).rpartition(":")
    host = host.strip("[]")
    family, kind, proto, _, sockaddr = socket.getaddrinfo(host, int(port), 0, socket.SOCK_STREAM, 0,
                                                          socket.AI_PASSIVE)[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(sockaddr)
        sock.listen(16)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def http_answer(status: int, body: bytes, content_type: str, head: bool = False) -> bytes:
    lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'Error')}", f"Content-Type: {content_type}",
             f"Content-Length: {len(body)}", "Connection: close", "", ""]
    return "\r\n".join(lines).encode("latin-1") + (b"" if head else body)


def _labels(labels: dict) -> str:
    if not labels:
        return ""
    inner = ",".join(f'{key}="{_escape(str(value))}"' for key, value in labels.items())
    return "{" + inner + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    return repr(float(value))


class Exposition:
    """Lines of the text format: one HELP/TYPE header per family, then its samples."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.lines: list = []

    def family(self, name: str, kind: str, text: str) -> str:
        full = self.prefix + name
        self.lines.append(f"# HELP {full} {text}")
        self.lines.append(f"# TYPE {full} {kind}")
        return full

    def sample(self, name: str, labels: dict, value: float) -> None:
        self.lines.append(f"{name}{_labels(labels)} {_number(value)}")

    def histogram(self, name: str, labels: dict, buckets: list, total: float) -> None:
        seen = 0
        for i, count in enumerate(buckets):
            seen += count
            bound = "+Inf" if i >= len(hb.LATENCY_BOUNDS) else repr(hb.LATENCY_BOUNDS[i])
            self.sample(f"{name}_bucket", {**labels, "le": bound}, seen)
        self.sample(f"{name}_sum", labels, total)
        self.sample(f"{name}_count", labels, seen)

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def render(server: Any, figures: Figures) -> str:
    """Every metric of the server now."""
    cfg = server.cfg
    prefix = (cfg.statsd_prefix.rstrip(".").replace(".", "_").replace("-", "_") + "_") if cfg.statsd_prefix else ""
    out = Exposition(prefix)
    rows = []
    for worker in list(server.workers.values()):
        if isinstance(worker.pid, int):
            rows.append((str(worker.pid), worker.heartbeat.stats(), worker))
    exited = figures.exited
    counted = rows + [("exited", exited, None)]

    name = out.family("gunicorn_requests_total", "counter", "Requests answered by the application")
    for label, stats, _ in counted:
        out.sample(name, {"worker": label}, stats["served"])
    name = out.family("gunicorn_request_status_total", "counter", "Answers by status class")
    for label, stats, _ in counted:
        for cls in STATUS_CLASSES:
            out.sample(name, {"worker": label, "status": cls}, stats[f"status_{cls}"])
    name = out.family("gunicorn_request_duration_seconds", "histogram",
                      "From the start of the app call to the end of the answer")
    for label, stats, _ in counted:
        out.histogram(name, {"worker": label}, [stats[f"latency_{i}"] for i in range(hb.LATENCY_BUCKETS)],
                      stats["latency_sum_us"] / 1e6)

    name = out.family("gunicorn_workers", "gauge", "Worker processes serving (not retiring)")
    out.sample(name, {}, len(server.active_workers()))
    queues = [listen_queue(sock)[0] for sock in server.listeners]
    if any(q is not None for q in queues):
        name = out.family("gunicorn_backlog", "gauge", "Connections waiting in the listen queues")
        out.sample(name, {}, sum(q for q in queues if q is not None))

    gauges = (
        ("fastwsgi_requests_in_flight", "Application calls running", lambda s: max(0, s["started"] - s["served"])),
        ("fastwsgi_requests_queued", "Requests read, waiting for an app thread or behind a pipelined one",
         lambda s: s["queued"]),
        ("fastwsgi_spooled_bytes", "Request body bytes spooled to disk", lambda s: s["spooled"]),
    )
    for metric, text, read in gauges:
        name = out.family(metric, "gauge", text)
        for label, stats, _ in rows:
            out.sample(name, {"worker": label}, read(stats))
    name = out.family("fastwsgi_connections", "gauge", "Open connections by state")
    for label, stats, _ in rows:
        for state in ("head", "body", "app", "idle", "closing"):
            out.sample(name, {"worker": label, "state": state}, stats[f"conns_{state}"])
    usage = [(label, proc_usage(worker.pid)) for label, _, worker in rows]
    name = out.family("fastwsgi_worker_resident_memory_bytes", "gauge", "Resident memory of the worker")
    for label, (rss, _) in usage:
        out.sample(name, {"worker": label}, rss)
    name = out.family("fastwsgi_worker_cpu_seconds_total", "counter", "CPU time of the worker (user + system)")
    for label, (_, cpu) in usage:
        out.sample(name, {"worker": label}, round(cpu, 2))
    return out.text()
