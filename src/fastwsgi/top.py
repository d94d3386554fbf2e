"""`fastwsgi ctl top`: a live view of a server, refreshed every second, in 80 columns (curses from the stdlib, so it
works over ssh and in tmux). q quits; the view asks the control socket `show stats` and `show workers` each second.

    fastwsgi pid 4242  up 1h02m  workers 4/4  reloads 0          listen queue 0
    req/s 1243.0 (1s)  1190.2 (10s)  1201.7 (60s)   total 4417283
    latency 60s  p50 1.2ms  p90 3.4ms  p99 12.0ms  max 25.0ms   ▁▂▂▃▁▂▅▂▁▁▂▃
    status  2xx 4417001  3xx 12  4xx 260  5xx 10     in flight 3  queued 0
        PID  AGE GEN STATE        REQS  REQ/S FLY QUE CONN IDLE SPOOL    RSS  CPU%
    ...
"""
from __future__ import annotations

import time
from typing import Any

from fastwsgi.ctl import ControlClient, CtlError

SPARK = "▁▂▃▄▅▆▇█"
WIDTH = 80


def sparkline(values: list, width: int) -> str:
    values = values[-width:]
    top = max(values) if values else 0
    if not top:
        return " " * len(values)
    return "".join(SPARK[min(len(SPARK) - 1, int(v / top * (len(SPARK) - 1) + 0.5))] if v else " " for v in values)


def _dur(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 1:
        return f"{seconds * 1000:.1f}ms"
    return f"{seconds:.2f}s"


def _uptime(seconds: float) -> str:
    seconds = int(seconds or 0)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s"


def _size(value: int) -> str:
    for unit in ("B", "K", "M", "G"):
        if value < 1024 or unit == "G":
            return f"{value:.0f}{unit}" if unit in ("B", "K") else f"{value:.1f}{unit}"
        value /= 1024
    return str(value)


class View:
    """The lines of one frame, from the answers of `show stats` and `show workers`; keeps the last rates to draw
    per-worker answers per second and the p99 sparkline."""

    def __init__(self) -> None:
        self.last: dict = {}           # pid -> (monotonic, requests)
        self.p99: list = []

    def lines(self, stats: dict, workers: list, now: float, height: int) -> list:
        self.p99.append(stats.get("latency_p99") or 0.0)
        self.p99 = self.p99[-60:]
        status = stats.get("status", {})
        head = [
            (f"fastwsgi pid {stats['pid']}  up {_uptime(stats.get('uptime', 0))}  workers "
            f"{stats['workers_current']}/{stats['workers_target']}  reloads {stats.get('reloads', 0)}"
            f"   listen queue {stats.get('backlog') if stats.get('backlog') is not None else '-'}"),
            (f"req/s {stats.get('rate_1s') or 0:.1f} (1s)  {stats.get('rate_10s') or 0:.1f} (10s)  "
            f"{stats.get('rate_60s') or 0:.1f} (60s)   total {stats.get('requests', 0)}"),
            (f"latency 60s p50 {_dur(stats.get('latency_p50'))} p90 {_dur(stats.get('latency_p90'))} "
            f"p99 {_dur(stats.get('latency_p99'))} max {_dur(stats.get('latency_max'))} "),
            "status " + " ".join(f"{k} {status.get(k, 0)}" for k in ("2xx", "3xx", "4xx", "5xx"))
            + f"   in flight {stats.get('in_flight', 0)}  queued {stats.get('queued', 0)}",
            "",
            (f"{'PID':>7} {'AGE':>4} {'GEN':>3} {'STATE':<8} {'REQS':>8} {'REQ/S':>6} {'FLY':>3} {'QUE':>3} "
            f"{'CONN':>4} {'IDLE':>4} {'SPOOL':>5} {'RSS':>6} {'CPU%':>5}"),
        ]
        spark_room = WIDTH - len(head[2]) - 1
        head[2] += sparkline(self.p99, max(0, spark_room))
        rows = []
        seen = {}
        for w in workers:
            pid = w["pid"]
            last = self.last.get(pid)
            rate = (w["requests"] - last[1]) / (now - last[0]) if last and now > last[0] else 0.0
            seen[pid] = (now, w["requests"])
            conns = w.get("connections", {})
            rows.append(
                f"{pid:>7} {w['age']:>4} {w.get('generation', 0):>3} {w.get('state', '?')[:8]:<8} "
                f"{w['requests']:>8} {rate:>6.1f} {w.get('in_flight', 0):>3} {w.get('queued', 0):>3} "
                f"{sum(conns.values()):>4} {conns.get('idle', 0):>4} {_size(w.get('spooled_bytes', 0)):>5} "
                f"{_size(w.get('rss', 0)):>6} {w.get('cpu_percent', 0.0):>5.1f}")
        self.last = seen
        room = max(0, height - len(head) - 1)
        if len(rows) > room:
            rows = rows[:max(0, room - 1)] + [f"... {len(workers) - max(0, room - 1)} more workers"]
        return [line[:WIDTH] for line in head + rows]


def frame(client: ControlClient, view: View, height: int) -> list:
    stats = client.call("show stats")
    workers = client.call("show workers")["workers"]
    return view.lines(stats, workers, time.monotonic(), height)


def run_top(client: ControlClient, refresh: float = 1.0) -> int:
    import curses

    def loop(screen: Any) -> int:
        curses.curs_set(0)
        screen.timeout(int(refresh * 1000))
        view = View()
        while True:
            height, width = screen.getmaxyx()
            try:
                lines = frame(client, view, height)
            except CtlError as exc:
                client.close()
                lines = [f"fastwsgi ctl top: {exc}", "retrying every second; q quits"]
                try:
                    client.connect()
                except CtlError:
                    pass
            screen.erase()
            for y, line in enumerate(lines[:height]):
                try:
                    screen.addstr(y, 0, line[:max(0, width - 1)], curses.A_REVERSE if y == 5 else 0)
                except curses.error:
                    pass
            screen.refresh()
            key = screen.getch()
            if key in (ord("q"), ord("Q"), 27):
                return 0

    try:
        return curses.wrapper(loop)
    except KeyboardInterrupt:
        return 0
    finally:
        client.close()
