"""`fastwsgi ctl`: talk to a running server's control socket (gunicornc's flags and commands).

    fastwsgi ctl                         interactive (readline history in ~/.fastwsgi_ctl_history)
    fastwsgi ctl -c "show workers"       one command; -j prints the answer's data as JSON
    fastwsgi ctl -s /run/app.ctl top     a live view of the workers, refreshed every second (fastwsgi/top.py)

Exit codes: 0 done, 1 the socket is absent or refuses, or the command failed (one line on stderr), 2 usage.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import sys
from typing import Any

from fastwsgi.settings import default_control_socket


class CtlError(Exception):
    """The server cannot be reached, or answered with an error: one line for the user."""


class ControlClient:
    """One connection to the control socket; `call(command)` returns the answer's data or raises CtlError."""

    def __init__(self, path: str, timeout: float = 30.0) -> None:
        self.path = path
        self.timeout = timeout
        self.sock: socket.socket | None = None
        self.buf = b""
        self.next_id = 0

    def connect(self) -> None:
        if self.sock is not None:
            return
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.path)
        except FileNotFoundError:
            sock.close()
            raise CtlError(f"no control socket at {self.path} (is the server running? its --control-socket?)") \
                from None
        except ConnectionRefusedError:
            sock.close()
            raise CtlError(f"{self.path}: connection refused (no server listens there any more)") from None
        except PermissionError:
            sock.close()
            raise CtlError(f"{self.path}: permission denied (see --control-socket-mode)") from None
        except OSError as exc:
            sock.close()
            raise CtlError(f"cannot connect to {self.path}: {exc.strerror or exc}") from None
        self.sock = sock

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        self.buf = b""

    def call(self, command: str) -> Any:
        self.connect()
        assert self.sock is not None
        self.next_id += 1
        request = json.dumps({"id": self.next_id, "command": command, "args": []}).encode() + b"\n"
        try:
            self.sock.sendall(request)
            while b"\n" not in self.buf:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise CtlError("the server closed the connection")
                self.buf += chunk
        except OSError as exc:
            self.close()
            raise CtlError(f"lost the control socket: {exc.strerror or exc}") from None
        line, self.buf = self.buf.split(b"\n", 1)
        answer = json.loads(line)
        if answer.get("status") != "ok":
            raise CtlError(answer.get("error") or "unknown error")
        return answer.get("data", {})

    def __enter__(self) -> ControlClient:
        self.connect()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


# ------------------------------------------------------------------------------------------------------ formatting
def _size(value: int | None) -> str:
    if value is None:
        return "-"
    for unit in ("B", "K", "M", "G"):
        if value < 1024 or unit == "G":
            return f"{value:.0f}{unit}" if unit == "B" else f"{value:.1f}{unit}"
        value /= 1024
    return str(value)


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.1f}ms"


def format_workers(data: dict) -> str:
    rows = data.get("workers", [])
    if not rows:
        return "No workers running"
    lines = [(f"{'PID':<8} {'AGE':>4} {'GEN':>3} {'STATE':<9} {'REQS':>8} {'FLY':>4} {'QUE':>4} {'CONN':>5} "
             f"{'RSS':>7} {'CPU%':>5} {'BEAT':>6}"), "-" * 76]
    for w in rows:
        conns = sum(w.get("connections", {}).values())
        beat = w.get("last_heartbeat")
        lines.append(f"{w['pid']:<8} {w['age']:>4} {w.get('generation', 0):>3} {w.get('state', '?'):<9} "
                     f"{w.get('requests', 0):>8} {w.get('in_flight', 0):>4} {w.get('queued', 0):>4} {conns:>5} "
                     f"{_size(w.get('rss')):>7} {w.get('cpu_percent', 0):>5} "
                     f"{'-' if beat is None else f'{beat}s':>6}")
    lines += ["", f"Total: {data.get('count', len(rows))} workers"]
    return "\n".join(lines)


def format_stats(data: dict) -> str:
    status = data.get("status", {})
    lines = [
        f"Uptime:           {data.get('uptime')}s",
        f"PID:              {data.get('pid')}",
        (f"Workers:          {data.get('workers_current')} (target {data.get('workers_target')}, spawned "
        f"{data.get('workers_spawned')}, killed {data.get('workers_killed')}, reloads {data.get('reloads')})"),
        (f"Requests:         {data.get('requests')}  in flight {data.get('in_flight')}  queued {data.get('queued')}"
        f"  listen queue {data.get('backlog')}"),
        "Answers/s:        " + "  ".join(f"{_num(data.get(f'rate_{n}s'))} ({n}s)" for n in (1, 10, 60)),
        "Status:           " + "  ".join(f"{k} {v}" for k, v in status.items()),
        (f"Latency (60s):    p50 {_ms(data.get('latency_p50'))}  p90 {_ms(data.get('latency_p90'))}  "
        f"p99 {_ms(data.get('latency_p99'))}  max {_ms(data.get('latency_max'))}"),
        "Connections:      " + "  ".join(f"{k} {v}" for k, v in data.get("connections", {}).items()),
        f"Spooled bodies:   {_size(data.get('spooled_bytes'))}",
    ]
    return "\n".join(lines)


def format_listeners(data: dict) -> str:
    rows = data.get("listeners", [])
    if not rows:
        return "No listeners bound"
    lines = [f"{'ADDRESS':<40} {'TYPE':<6} {'FD':>4} {'QUEUED':>7} {'BACKLOG':>8}", "-" * 69]
    for r in rows:
        lines.append(f"{r['address']:<40} {r['type']:<6} {r['fd']:>4} {str(r.get('queued', '-')):>7} "
                     f"{str(r.get('backlog', '-')):>8}")
    return "\n".join(lines)


def format_all(data: dict) -> str:
    lines = ["ARBITER (master)", f"  PID: {data.get('arbiter', {}).get('pid')}", "",
             f"WEB WORKERS ({data.get('web_worker_count', 0)})"]
    for w in data.get("web_workers", []):
        lines.append(f"  {w['pid']:<10} age {w['age']:<5} {w.get('state', '')}")
    return "\n".join(lines)


def format_answer(command: str, data: Any) -> str:
    words = command.lower().split()
    formatter = {"show workers": format_workers, "show stats": format_stats, "show listeners": format_listeners,
                 "show all": format_all}.get(" ".join(words[:2]))
    if formatter is not None:
        return formatter(data)
    if words[:2] == ["show", "config"]:
        return "\n".join(f"{key}: {value}" for key, value in sorted(data.items()))
    if words[:1] == ["help"]:
        width = max(len(key) for key in data.get("commands", {"": ""}))
        return "\n".join(f"  {key:<{width}}  {text}" for key, text in data.get("commands", {}).items())
    return json.dumps(data, indent=2) if data else "OK"


# ------------------------------------------------------------------------------------------------------------- cli
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fastwsgi ctl", description="Control a running fastwsgi server through its control socket.",
        epilog='examples: fastwsgi ctl -c "show workers"; fastwsgi ctl -c "worker add 2"; fastwsgi ctl top')
    parser.add_argument("-s", "--socket", default=None,
                        help=f"control socket path (default: {default_control_socket()})")
    parser.add_argument("-c", "--command", help="run one command and exit")
    parser.add_argument("-j", "--json", action="store_true", help="print the answer as JSON")
    parser.add_argument("-v", "--version", action="store_true", help="print the version and exit")
    parser.add_argument("view", nargs="?", choices=["top"], help="top: a live view refreshed every second")
    return parser


def run_command(client: ControlClient, command: str, as_json: bool) -> int:
    try:
        data = client.call(command)
    except CtlError as exc:
        sys.stderr.write(f"fastwsgi ctl: error: {exc}\n")
        return 1
    sys.stdout.write((json.dumps(data, indent=2) if as_json else format_answer(command, data)) + "\n")
    return 0


def interactive(client: ControlClient, as_json: bool) -> int:
    try:
        import readline
    except ImportError:
        readline = None  # type: ignore[assignment]
    history = os.path.expanduser("~/.fastwsgi_ctl_history")
    if readline is not None:
        try:
            readline.read_history_file(history)
        except OSError:
            pass
    print(f"Connected to {client.path}. Type 'help' for the commands, 'quit' to leave.")
    code = 0
    try:
        while True:
            try:
                line = input("fastwsgi> ").strip()
            except EOFError:
                print()
                break
            if not line:
                continue
            if line.lower() in ("quit", "exit", "q"):
                break
            if run_command(client, line, as_json) and client.sock is None:
                try:
                    client.connect()
                except CtlError as exc:
                    sys.stderr.write(f"fastwsgi ctl: error: {exc}\n")
                    code = 1
                    break
    except KeyboardInterrupt:
        print()
        code = 130
    finally:
        client.close()
        if readline is not None:
            try:
                readline.write_history_file(history)
            except OSError:
                pass
    return code


def main(argv: list) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 2
    if args.version:
        from fastwsgi.config import version

        print(f"fastwsgi ctl (fastwsgi {version()})")
        return 0
    path = os.path.abspath(os.path.expanduser(args.socket or default_control_socket()))
    client = ControlClient(path)
    try:
        client.connect()
    except CtlError as exc:
        sys.stderr.write(f"fastwsgi ctl: error: {exc}\n")
        return 1
    if args.view == "top":
        from fastwsgi.top import run_top

        return run_top(client)
    if args.command:
        try:
            return run_command(client, args.command, args.json)
        finally:
            client.close()
    return interactive(client, args.json)
