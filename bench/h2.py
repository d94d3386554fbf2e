"""HTTP/2 benchmark (issue 23): h2load against fastwsgi, granian (--http 2), gunicorn 27 (--http-protocols h2,h1)
and nginx (http2 on its own `return 200`), over h2c (prior knowledge) and over TLS (ALPN h2).

Each server runs one worker pinned to CPU 0; h2load runs one thread pinned to CPU 1 with `--clients` connections of
`--streams` concurrent streams each (-m), `--requests` requests per run. Per run: requests per second from h2load, and
the server's CPU time per request from /proc (utime+stime of its session, before and after). Medians of `--runs`.
gunicorn speaks HTTP/2 over TLS only (its h2c is not released): its h2c rows say so.

    python bench/h2.py --runs 3 --out bench/RESULTS-h2.md

Needs h2load (Debian's nghttp2-client) and the bench venvs (python bench/run.py --install --install-only); the
gunicorn venv also needs `h2` (pip install h2 into it).
"""
import argparse
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import measure  # noqa: E402
import peers  # noqa: E402

TARGET = "bench.apps.hello:app"
PEERS = ["nginx", "ours", "granian", "gunicorn"]
FINISHED = re.compile(rb"finished in [\d.]+(?:us|ms|s), ([\d.]+) req/s")
COUNTS = re.compile(rb"requests: (\d+) total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed, (\d+) errored")


def command(peer, transport, port, workdir):
    """argv of `peer` serving hello over HTTP/2 on 127.0.0.1:port, or None when it cannot."""
    cert, key = measure.TLS_CERT, measure.TLS_KEY
    tls = transport == "tls"
    if peer == "nginx":
        argv = peers.nginx_command("hello", port, 1, workdir, tls=tls)
        conf = Path(argv[-1])
        conf.write_text(conf.read_text().replace(" backlog=1024;", " http2 backlog=1024;"))
        return argv
    vbin = peers.venv_dir("gunicorn-gthread" if peer == "gunicorn" else peer) / "bin"
    host = "127.0.0.1"
    if peer == "ours":
        argv = [str(vbin / "fastwsgi"), "-w", "1", "-b", f"{host}:{port}", "--http-protocols", "h2,h1"]
        argv += ["--certfile", cert, "--keyfile", key] if tls else [
            "--http2-cleartext", "prior-knowledge", "--forwarded-allow-ips", host]
        return argv + [TARGET]
    if peer == "granian":
        argv = [str(vbin / "granian"), "--interface", "wsgi", "--http", "2", "--workers", "1",
                "--runtime-threads", "1", "--blocking-threads", "1", "--no-ws", "--no-access-log",
                "--log-level", "warning", "--working-dir", str(peers.REPO), "--host", host, "--port", str(port)]
        if tls:
            argv += ["--ssl-certificate", cert, "--ssl-keyfile", peers._pkcs8(key, workdir)]
        return argv + [TARGET]
    if peer == "gunicorn":
        if not tls:
            return None
        return [str(vbin / "gunicorn"), "-w", "1", "-k", "gthread", "--threads", "4", "-b", f"{host}:{port}",
                "--http-protocols", "h2,h1", "--certfile", cert, "--keyfile", key, "--chdir", str(peers.REPO),
                "--log-level", "warning", TARGET]
    raise ValueError(peer)


def h2load(url, requests, clients, streams, timeout=120):
    out = subprocess.run(["taskset", "-c", "1", "h2load", "-t", "1", "-n", str(requests), "-c", str(clients),
                          "-m", str(streams), url], capture_output=True, timeout=timeout)
    rate = FINISHED.search(out.stdout)
    counts = COUNTS.search(out.stdout)
    if out.returncode != 0 or not rate or not counts:
        raise measure.BenchError(f"h2load failed: {out.stdout[-400:]!r} {out.stderr[-400:]!r}")
    total, ok, failed, errored = (int(x) for x in counts.groups())
    return float(rate.group(1)), ok, failed + errored + (total - ok - failed - errored)


def wait_h2(url, proc, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise measure.BenchError(f"the server exited with {proc.returncode}")
        try:
            if h2load(url, 1, 1, 1, timeout=10)[1] == 1:
                return
        except (measure.BenchError, subprocess.TimeoutExpired):
            pass
        time.sleep(0.3)
    raise measure.BenchError("the server did not answer over HTTP/2")


def run_one(peer, transport, args, log):
    with tempfile.TemporaryDirectory() as workdir:
        port = measure.free_port()
        argv = command(peer, transport, port, workdir)
        if argv is None:
            return None
        scheme = "https" if transport == "tls" else "http"
        url = f"{scheme}://127.0.0.1:{port}/"
        proc = measure.spawn(argv, cpus="0", cwd=str(peers.REPO), log=log)
        try:
            wait_h2(url, proc)
            h2load(url, min(args.requests, 20000), args.clients, args.streams)       # warm-up
            before = measure.cpu_seconds(proc.pid)
            rate, ok, failed = h2load(url, args.requests, args.clients, args.streams)
            cpu = measure.cpu_seconds(proc.pid) - before
        finally:
            measure.stop(proc)
        return {"rate": rate, "ok": ok, "failed": failed, "cpu_us": cpu / max(ok, 1) * 1e6}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--peers", default=",".join(PEERS))
    parser.add_argument("--transports", default="h2c,tls")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--requests", type=int, default=200000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--streams", type=int, default=10)
    parser.add_argument("--quiet-wait", type=float, default=10.0)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    if shutil.which("h2load") is None:
        sys.exit("h2load is missing: apt-get install nghttp2-client")
    peers.ensure_venv("ours")
    log = str(HERE / "h2-servers.log")
    rows = {}
    for transport in args.transports.split(","):
        for peer in args.peers.split(","):
            runs = []
            for _ in range(args.runs):
                measure.wait_quiet(10, args.quiet_wait)
                result = run_one(peer, transport, args, log)
                if result is None:
                    break
                runs.append(result)
                print(transport, peer, result, flush=True)
            if runs:
                rows[transport, peer] = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
    report(rows, args)


def report(rows, args):
    cmd = "python bench/h2.py " + " ".join(sys.argv[1:])
    title = (f"## HTTP/2, {time.strftime('%Y-%m-%d')}: hello, h2load -t1 -c{args.clients} -m{args.streams} "
             f"-n{args.requests} (CPU 1), one worker (CPU 0), medians of {args.runs}")
    lines = [title, "", f"    {cmd}", "",
             "| transport | server | req/s | server CPU µs/req | failed | vs ours (req/s) | CPU vs nginx |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for (transport, peer), r in rows.items():
        ours = rows.get((transport, "ours"))
        nginx = rows.get((transport, "nginx"))
        vs_ours = f"{r['rate'] / ours['rate']:.2f}x" if ours else "-"
        vs_nginx = f"{r['cpu_us'] / nginx['cpu_us']:.2f}x" if nginx else "-"
        lines.append(f"| {transport} | {peer} | {r['rate']:,.0f} | {r['cpu_us']:.1f} | {r['failed']:.0f} | "
                     f"{vs_ours} | {vs_nginx} |")
    for transport in args.transports.split(","):
        if (transport, "gunicorn") not in rows and "gunicorn" in args.peers:
            lines.append(f"| {transport} | gunicorn | - | - | - | - | - |  (no h2c in gunicorn 27)")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
