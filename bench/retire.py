"""Zero-loss operations, fastwsgi next to gunicorn gthread (issue 11): the same signals under the same wrk load.

    python bench/retire.py [--runs 5] [--ours PYTHON] [--gunicorn GUNICORN] [--only hup,usr2,maxreq,trickle,slowloris]

Scenarios (each server serves bench/apps/echo.py from the repository root, on 127.0.0.1, unpinned):
  hup        -w 2; wrk -t1 -c20 -d4s keep-alive; SIGHUP to the master after 1 s
  usr2       -w 2; wrk ... -d6s; USR2 after 1 s, WINCH to the old master 1.5 s later, TERM to it 1 s after that
  maxreq     -w 2 --max-requests 5000; wrk ... -d4s
  trickle    -w 1; one client sends POST Content-Length 1000 a byte every 0.1 s for 3 s; a probe GET on a new
             connection every 0.2 s meanwhile: the slowest probe
  slowloris  -w 1; 2,000 connections each send a partial head and stop; then 5 normal GETs: the slowest
Prints a Markdown table (socket errors / non-2xx per run) and the exact commands.
"""
import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
APP = "bench.apps.echo:app"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def children(pid):
    out = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as f:
            out += [int(c) for c in f.read().split()]
    return out


def server_argv(kind, args, port, workers, extra=()):
    if kind == "ours":
        return [args.ours, "-m", "fastwsgi", "-b", f"127.0.0.1:{port}", "-w", str(workers),
                "--threads", str(args.ours_threads), *extra, APP]
    return [args.gunicorn, "-k", "gthread", "--threads", str(args.threads), "-b", f"127.0.0.1:{port}",
            "-w", str(workers), *extra, APP]


def start(argv, port):
    log = open(f"/tmp/bench-retire-{port}.log", "wb")
    proc = subprocess.Popen(argv, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                if s.recv(100).startswith(b"HTTP/1.1 200"):
                    time.sleep(0.5)     # every worker up
                    return proc
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{argv} did not serve")


def stop(proc, others=()):
    for pid in [proc.pid, *others]:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        pass
    for pid in [proc.pid, *others]:
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    proc.wait(5)


def wrk(port, seconds):
    argv = ["wrk", "-t1", "-c20", f"-d{seconds}s", "--timeout", "3s", f"http://127.0.0.1:{port}/"]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True), " ".join(argv)


def parse(out):
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    done = re.search(r"(\d+) requests in ", out)
    return (sum(int(n) for n in errors.groups()) if errors else 0, int(bad.group(1)) if bad else 0,
            int(done.group(1)) if done else 0)


def signal_run(kind, args, scenario):
    port = free_port()
    extra = ["--max-requests", "5000"] if scenario == "maxreq" else []
    argv = server_argv(kind, args, port, 2, extra)
    proc = start(argv, port)
    workers = children(proc.pid)
    load, command = wrk(port, 6 if scenario == "usr2" else 4)
    new_master = []
    time.sleep(1.0)
    if scenario == "hup":
        os.kill(proc.pid, signal.SIGHUP)
    elif scenario == "usr2":
        os.kill(proc.pid, signal.SIGUSR2)
        time.sleep(1.5)
        new_master = [p for p in children(proc.pid) if p not in workers]
        os.kill(proc.pid, signal.SIGWINCH)
        time.sleep(1.0)
        os.kill(proc.pid, signal.SIGTERM)
    out, _ = load.communicate(timeout=30)
    stop(proc, new_master)
    return parse(out), " ".join(argv), command


def trickle_run(kind, args):
    port = free_port()
    argv = server_argv(kind, args, port, 1)
    proc = start(argv, port)
    slow = socket.create_connection(("127.0.0.1", port), timeout=10)
    slow.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
    waits = []
    for i in range(30):
        slow.sendall(b"x")
        if i % 2:
            waits.append(probe(port))
        time.sleep(0.1)
    slow.close()
    stop(proc)
    return max(waits), " ".join(argv)


def probe(port, timeout=10.0):
    started = time.monotonic()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            if not s.recv(100).startswith(b"HTTP/1.1 200"):
                return float("inf")
    except OSError:
        return float("inf")
    return time.monotonic() - started


def slowloris_run(kind, args):
    port = free_port()
    argv = server_argv(kind, args, port, 1)
    proc = start(argv, port)
    socks = []
    try:
        for _ in range(2000):
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            socks.append(s)
        time.sleep(0.5)
        worst = max(probe(port) for _ in range(5))
    finally:
        for s in socks:
            s.close()
        stop(proc)
    return worst, " ".join(argv)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--ours", default=sys.executable, help="the Python with fastwsgi installed")
    p.add_argument("--gunicorn", default=str(Path.home() / ".cache/fastwsgi-bench/venvs/gunicorn/bin/gunicorn"))
    p.add_argument("--threads", type=int, default=4, help="gunicorn gthread --threads")
    p.add_argument("--ours-threads", type=int, default=1, help="fastwsgi --threads (1: the inline path)")
    p.add_argument("--only", default="hup,usr2,maxreq,trickle,slowloris")
    args = p.parse_args()
    only = args.only.split(",")
    rows, commands = [], set()
    for scenario in ("hup", "usr2", "maxreq"):
        if scenario not in only:
            continue
        for kind in ("ours", "gunicorn"):
            runs = []
            for _ in range(args.runs):
                result, server, command = signal_run(kind, args, scenario)
                runs.append(result)
                commands.update((server, command))
            cells = ", ".join(f"{e}/{b}" for e, b, _ in runs)
            rows.append(f"| {scenario} | {kind} | {cells} | {sum(n for _, _, n in runs) // len(runs)} |")
    for scenario, run in (("trickle", trickle_run), ("slowloris", slowloris_run)):
        if scenario not in only:
            continue
        for kind in ("ours", "gunicorn"):
            worst, server = run(kind, args)
            commands.add(server)
            rows.append(f"| {scenario} | {kind} | slowest probe {worst * 1000:.1f} ms | |")
    print("| scenario | server | socket errors / non-2xx per run | requests per run (mean) |")
    print("|---|---|---|---:|")
    print("\n".join(rows))
    generic = sorted({re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", c) for c in commands})
    print("\nCommands:\n" + "\n".join(f"    {c}" for c in generic))


if __name__ == "__main__":
    main()
