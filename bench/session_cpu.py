"""Server CPU per request on the browser session (bench/session.py) with a load generator that is not the bottleneck.

wrk with session.lua costs ~9 us of its own CPU per answer here: one wrk thread on CPU 1 asks for ~110k answers a
second at most, and both nginx and fastwsgi, pinned to CPU 0, then answer at wrk's rate at ~100% of their core, their
CPU per request being 1 / wrk's rate whatever their own cost (bench/run.py's `session` table shows it: wrk 99% busy,
the servers' rates within a few % of each other). bench/loadgen.c sends the same heads, in the same order per
connection, and reads the answers at a fraction of wrk's cost, so that the server is the one at 100%.

    python bench/session_cpu.py [--runs 3] [--seconds 10] [--warmup 2] [--conns 50] [--peers nginx,ours]
                                [--ours-flags=--no-io-uring] [--request session|browser|wrk|small]

Needs the bench venvs (python bench/run.py --install) and cc. Each run: the server pinned to CPU 0, loadgen to CPU 1,
servers interleaved; the server's CPU (every process of its session, /proc/PID/stat) over the measured window divided
by the answers loadgen counted; medians of the runs, and each peer's ratio to nginx.
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import measure  # noqa: E402
import peers  # noqa: E402
import session  # noqa: E402

LOADGEN_SRC = HERE / "loadgen.c"


def build_loadgen(workdir):
    out = Path(workdir) / "loadgen"
    subprocess.run(["cc", "-O2", "-o", str(out), str(LOADGEN_SRC)], check=True)
    return str(out)


def one_run(peer, loadgen, heads, args, workdir):
    port = measure.free_port()
    cmd = peers.command(peer, "hello", port, 1, workdir)
    if peer == "ours" and args.ours_flags:
        cmd[1:1] = args.ours_flags.split()          # after the executable: e.g. --no-io-uring
    proc = measure.spawn(cmd, cpus="0", cwd=str(peers.REPO), log=os.path.join(workdir, f"{peer}.log"))
    try:
        measure.wait_ready(proc, port)
        gen = subprocess.Popen(["taskset", "-c", "1", loadgen, str(port), heads, str(args.conns), str(args.warmup),
                                str(args.seconds)], stdout=subprocess.PIPE, text=True)
        line = gen.stdout.readline()
        if line.strip() != "measure":
            raise RuntimeError(f"loadgen: {line!r}")
        before = measure.cpu_seconds(proc.pid)
        summary = gen.stdout.readline().split()
        after = measure.cpu_seconds(proc.pid)
        if gen.wait(30) != 0:
            raise RuntimeError(f"loadgen failed against {peer}: {' '.join(summary)}")
        fields = dict(zip(summary[::2], summary[1::2]))
        n, secs, gen_cpu = int(fields["requests"]), float(fields["seconds"]), float(fields["cpu"])
        return {"rps": n / secs, "cpu_us": (after - before) / n * 1e6, "server_busy": (after - before) / secs * 100,
                "gen_busy": gen_cpu / secs * 100, "gen_us": gen_cpu / n * 1e6}
    finally:
        measure.stop(proc)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--warmup", type=float, default=2)
    ap.add_argument("--conns", type=int, default=50)
    ap.add_argument("--peers", default="nginx,ours")
    ap.add_argument("--ours-flags", default="", help="extra fastwsgi flags, e.g. --no-io-uring")
    ap.add_argument("--request", default="session", choices=["session", "browser", "wrk", "small"],
                    help="session: bench/session.py's heads in turn (default); else callgrind.py's head of that name")
    args = ap.parse_args(argv)
    names = args.peers.split(",")
    results = {p: [] for p in names}
    with tempfile.TemporaryDirectory(prefix="fastwsgi-session-cpu-") as workdir:
        loadgen = build_loadgen(workdir)
        heads = os.path.join(workdir, "heads")
        if args.request == "session":
            session.write(heads)
        else:
            from callgrind import REQUESTS
            with open(heads, "wb") as f:
                f.write(REQUESTS[args.request])
        for r in range(args.runs):
            for peer in (names if r % 2 == 0 else names[::-1]):
                res = one_run(peer, loadgen, heads, args, workdir)
                results[peer].append(res)
                print(f"run {r + 1} {peer:6s} {res['rps']:10,.0f} req/s  server {res['cpu_us']:.2f} us/req "
                      f"({res['server_busy']:.0f}% busy)  loadgen {res['gen_us']:.2f} us/req "
                      f"({res['gen_busy']:.0f}% busy)", flush=True)
    med = {p: {k: statistics.median(x[k] for x in v) for k in v[0]} for p, v in results.items()}
    print("\n| server | req/s | server CPU us/req | server busy % | loadgen us/req | loadgen busy % | CPU / nginx |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for p in names:
        m = med[p]
        ratio = m["cpu_us"] / med["nginx"]["cpu_us"] if "nginx" in med else float("nan")
        print(f"| {p} | {m['rps']:,.0f} | {m['cpu_us']:.2f} | {m['server_busy']:.0f} | {m['gen_us']:.2f} | "
              f"{m['gen_busy']:.0f} | {ratio:.2f} |")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        measure.stop_all()
