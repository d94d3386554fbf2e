"""Scenarios and the procedure of one measured run (start, check, warm up, measure, stop).

A run returns a dict of numbers (see `measure_run`); failures raise measure.BenchError and are recorded.
"""
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import measure
import peers
import session
from measure import BenchError


@dataclass
class Scenario:
    name: str
    title: str
    app: str = "hello"
    conns: int = 50
    threads: int = 1
    script: str = "plain.lua"
    args: tuple = ()
    workers: int = 1
    server_cpus: str = "0"
    wrk_cpus: str = "1"
    idle: int = 0              # idle keep-alive connections held open during the load (raises peers' limits)
    kind: str = "wrk"          # wrk | soak | rss
    ready_body: bytes = b""    # POST this body in the readiness check
    expect: object = None      # callable(body) -> bool for the readiness check
    peers_only: tuple = field(default_factory=tuple)  # restrict to these peers (empty: all)
    server_threads: int = 1    # app threads per worker (gunicorn's --threads); see peers.app_slots
    block_s: float = 0.0       # mean seconds an app call blocks (GIL released): the thread ceiling is slots / this
    private_tmp: bool = False  # the server's TMPDIR is the run's work directory (removed after the run)
    tls: bool = False          # HTTPS: every peer terminates TLS itself (measure.TLS_CERT), wrk speaks https
    data: object = None        # callable(): writes the data file the script reads (its path is among args)


def _hello(body):
    return body == peers.HELLO_BODY.encode()


# the heads of bench/session.py, read by wrk/session.lua
SESSION_HEADS = str(Path(os.environ.get("BENCH_TMP", "/tmp")) / "fastwsgi-bench-session-heads")


SCENARIOS = {s.name: s for s in [
    Scenario("hello", "hello world, keep-alive, wrk -t1 -c50", expect=_hello),
    Scenario("pipeline", "hello world, pipelined depth 16 (latency per batch of 16), wrk -t1 -c50",
             script="pipeline.lua", args=(16,), expect=_hello),
    Scenario("flask", "Flask hello app, keep-alive, wrk -t1 -c50", app="flask_hello", expect=_hello),
    Scenario("browser", "hello world, a browser-sized GET (12 fields, a cookie, a query string: 540 bytes), "
             "keep-alive, wrk -t1 -c50", script="browser.lua", args=(1,), expect=_hello),
    Scenario("browser_pipeline", "the browser-sized GET pipelined depth 16 (latency per batch of 16), wrk -t1 -c50",
             script="browser.lua", args=(16,), expect=_hello),
    Scenario("session", "hello world, a browser session's heads on each connection (bench/session.py: a page, its "
             "stylesheets, scripts, fonts, images and XHRs; a cookie that changes, revalidations), keep-alive, "
             "wrk -t1 -c50", script="session.lua", args=(SESSION_HEADS, 50),
             data=lambda: session.write(SESSION_HEADS), expect=_hello),
    Scenario("post64k", "64 KB POST echo, wrk -t1 -c50", app="echo", script="post.lua", args=(65536,),
             ready_body=b"x" * 65536, expect=lambda b: b == b"x" * 65536),
    Scenario("file10m", "10 MB file via wsgi.file_wrapper, wrk -t1 -c8", app="files", conns=8,
             expect=lambda b: len(b) == 10 * 1024 * 1024),
    Scenario("idle1k", "hello + 1,000 idle keep-alive connections, wrk -t1 -c50", idle=1000, expect=_hello),
    Scenario("workers2", "hello, 2 workers on both cores, wrk -t2 -c50 on both cores", threads=2, workers=2,
             server_cpus="0,1", wrk_cpus="0,1", expect=_hello),
    Scenario("soak", "soak: N hello requests in 5 s wrk slices, server RSS at start and end", kind="soak",
             expect=_hello),
    Scenario("rss10k", "server RSS per idle keep-alive connection, 10,000 connections", kind="rss", idle=10000,
             expect=_hello),
]}
QUICK_SET = ["hello", "pipeline", "flask"]

# Issue 16, TLS terminated by the server itself (gunicorn --certfile, granian --ssl-certificate, nginx ssl): one
# worker on CPU 0, wrk on CPU 1; TLS 1.3 (the default of every peer here), keep-alive, so the handshake is paid once
# per connection and the scenario measures the record layer.
TLS_PEERS = ("ours", "nginx", "granian", "gunicorn-sync", "gunicorn-gthread")
TLS_SET = ["tls-hello"]
SCENARIOS.update({s.name: s for s in [
    Scenario("tls-hello", "hello world over TLS 1.3, keep-alive, wrk -t1 -c50", tls=True, peers_only=TLS_PEERS,
             expect=_hello),
]})

# Issue 12, blocking apps served concurrently: 2 workers x 8 app threads (waitress: 1 process x 8 threads) on both
# cores, shared with wrk -t2 -c64, as in workers2. `--scenarios blocking` runs the whole set.
_THREADED = dict(workers=2, server_threads=8, threads=2, conns=64, server_cpus="0,1", wrk_cpus="0,1",
                 peers_only=peers.THREADED_PEERS, expect=_hello)
BLOCKING_SET = ["block-all", "block-tenth", "hello-threads", "sqlite"]
SCENARIOS.update({s.name: s for s in [
    Scenario("block-all", "every request blocks 20 ms (GIL released), 2 workers x 8 threads, wrk -t2 -c64, "
             "both cores", app="blocking", script="block.lua", args=(1,), block_s=0.02, **_THREADED),
    Scenario("block-tenth", "one request in ten blocks 20 ms, 2 workers x 8 threads, wrk -t2 -c64, both cores",
             app="blocking", script="block.lua", args=(10,), block_s=0.002, **_THREADED),
    Scenario("hello-threads", "hello world, 2 workers x 8 threads, wrk -t2 -c64, both cores", **_THREADED),
    Scenario("sqlite", "SQLite SELECT by primary key (1,000 rows, a file db per worker), 2 workers x 8 threads, "
             "wrk -t2 -c64, both cores", app="sqlite_pk", private_tmp=True,
             **{**_THREADED, "expect": lambda b: b.startswith(b'{"id": ')}),
]})
SETS = {"blocking": BLOCKING_SET, "tls": TLS_SET}


_PORT_MARK = 54321


def describe_commands(scenario, peer, seconds, workdir):
    """The exact server and load-generator command lines (PORT stands for the ephemeral port)."""
    if scenario.peers_only and peer not in scenario.peers_only:
        return None
    argv = peers.command(peer, scenario.app, _PORT_MARK, scenario.workers, workdir, bool(scenario.idle),
                         threads=scenario.server_threads, tls=scenario.tls)
    if argv is None:
        return None
    server = shlex.join(["taskset", "-c", scenario.server_cpus, *argv]).replace(str(_PORT_MARK), "PORT")
    if scenario.kind == "soak":
        seconds = 5
    wrk = " ".join(["taskset", "-c", scenario.wrk_cpus, *_wrk_argv(scenario, "PORT", seconds)])
    if scenario.idle:
        wrk = f"taskset -c 1 python bench/holder.py 127.0.0.1 PORT {scenario.idle}" + (
            "" if scenario.kind == "rss" else f"   # then, while the connections are held:\n{wrk}")
    return server, wrk


def _wrk_argv(scenario, port, seconds):
    cmd = measure.wrk_command(port, threads=scenario.threads, conns=scenario.conns, seconds=seconds,
                              script=scenario.script, args=scenario.args, tls=scenario.tls)
    cmd[cmd.index("-s") + 1] = f"bench/wrk/{scenario.script}+done.lua"
    return cmd


def measure_run(scenario, peer, *, seconds, warmup, soak, logdir, tag):
    """One measured run of `peer` in `scenario`; returns a dict of results. Stops the server in all cases."""
    workdir = tempfile.mkdtemp(prefix=f"fastwsgi-bench-{peer}-")
    server = holder = None
    try:
        port = measure.free_port()
        argv = peers.command(peer, scenario.app, port, scenario.workers, workdir, bool(scenario.idle),
                             threads=scenario.server_threads, tls=scenario.tls)
        if argv is None or (scenario.peers_only and peer not in scenario.peers_only):
            raise BenchError("configuration not supported by this peer")
        log = logdir / f"{tag}.log"
        env = {**os.environ, "TMPDIR": workdir} if scenario.private_tmp else None
        server = measure.spawn(argv, cpus=scenario.server_cpus, cwd=str(peers.REPO), log=log, env=env)
        sid = server.pid
        measure.wait_ready(server, port, method="POST" if scenario.ready_body else "GET",
                           body=scenario.ready_body, expect=scenario.expect, tls=scenario.tls)
        if scenario.kind == "rss":
            return _rss_run(scenario, peer, server, sid, port)

        def wrk(secs):
            return measure.wrk_command(port, threads=scenario.threads, conns=scenario.conns, seconds=secs,
                                       script=scenario.script, args=scenario.args, tls=scenario.tls)

        if scenario.data is not None:
            scenario.data()
        if warmup > 0:
            measure.run_wrk(wrk(warmup), cpus=scenario.wrk_cpus, seconds=warmup, cwd=str(peers.REPO))
        _alive(server)
        result = {}
        if scenario.server_threads > 1:
            result["procs"], result["threads"] = peers.app_slots(peer, scenario.workers, scenario.server_threads)
        if scenario.idle:
            holder = measure.Holder(sys.executable, port, scenario.idle, cpus=scenario.wrk_cpus,
                                    cwd=str(peers.REPO))
            opened = holder.open()
            result["idle_held"] = opened["held"]
        if scenario.kind == "soak":
            result.update(_soak(scenario, server, sid, wrk, *soak))
        else:
            rss0, cpu0 = measure.rss_bytes(sid), measure.cpu_seconds(sid)
            busy0, wrk0 = (measure.cpu_busy_seconds(0), measure.cpu_busy_seconds(1)), measure.children_cpu()
            summary = measure.run_wrk(wrk(seconds), cpus=scenario.wrk_cpus, seconds=seconds,
                                      cwd=str(peers.REPO))
            busy1, wrk1 = (measure.cpu_busy_seconds(0), measure.cpu_busy_seconds(1)), measure.children_cpu()
            cpu1, rss1 = measure.cpu_seconds(sid), measure.rss_bytes(sid)
            result.update(_numbers(summary, cpu1 - cpu0))
            result.update(rss_start=rss0, rss_end=rss1)
            if scenario.server_cpus == "0" and scenario.wrk_cpus == "1" and summary["duration_us"]:
                # CPU time on the two cores not spent in the server (CPU 0) or wrk (CPU 1): other jobs on the
                # machine disturbing the measurement.
                secs = summary["duration_us"] / 1e6
                result["other_cpu0_pct"] = max(0.0, 100 * ((busy1[0] - busy0[0]) - (cpu1 - cpu0)) / secs)
                result["other_cpu1_pct"] = max(0.0, 100 * ((busy1[1] - busy0[1]) - (wrk1 - wrk0)) / secs)
                result["wrk_cpu_pct"] = 100 * (wrk1 - wrk0) / secs  # near 100: wrk, not the server, is the limit
                # wrk's own cost per answer: 1e6 / this is the most req/s one wrk thread can ask for
                result["wrk_us_per_req"] = (wrk1 - wrk0) * 1e6 / result["requests"] if result["requests"] else None
        if holder is not None:
            result["idle_open_after"] = holder.check()["open"]
        _alive(server)
        return result
    finally:
        if holder is not None:
            holder.close()
        if server is not None:
            measure.stop(server)
        shutil.rmtree(workdir, ignore_errors=True)


def _alive(server):
    if server.poll() is not None:
        raise BenchError(f"server exited with code {server.returncode} during the run")


def _numbers(summary, cpu_s):
    reqs = summary["requests"]
    secs = summary["duration_us"] / 1e6
    return {
        "requests": reqs,
        "rps": reqs / secs if secs else 0.0,
        "mbps": summary["bytes"] / secs / 1e6 if secs else 0.0,
        "p50_us": summary["p50_us"],
        "p99_us": summary["p99_us"],
        "non2xx": summary["status"],
        "sock_errors": summary["connect"] + summary["read"] + summary["write"] + summary["timeout"],
        "cpu_s": cpu_s,
        "cpu_us_per_req": cpu_s * 1e6 / reqs if reqs else None,
    }


def _soak(scenario, server, sid, wrk, soak_requests, max_seconds):
    """wrk in 5 s slices until `soak_requests` responses or `max_seconds`; RSS before and after."""
    rss0, cpu0 = measure.rss_bytes(sid), measure.cpu_seconds(sid)
    total = {"requests": 0, "duration_us": 0, "bytes": 0, "connect": 0, "read": 0, "write": 0, "status": 0,
             "timeout": 0, "p50_us": 0, "p99_us": 0}
    p50s, p99s = [], []
    for _ in range(max(1, max_seconds // 5)):
        s = measure.run_wrk(wrk(5), cpus=scenario.wrk_cpus, seconds=5, cwd=str(peers.REPO))
        for k in ("requests", "duration_us", "bytes", "connect", "read", "write", "status", "timeout"):
            total[k] += s[k]
        p50s.append(s["p50_us"])
        p99s.append(s["p99_us"])
        _alive(server)
        if total["requests"] >= soak_requests or s["requests"] == 0:
            break
    total["p50_us"], total["p99_us"] = sorted(p50s)[len(p50s) // 2], max(p99s)
    cpu1, rss1 = measure.cpu_seconds(sid), measure.rss_bytes(sid)
    out = _numbers(total, cpu1 - cpu0)
    out.update(rss_start=rss0, rss_end=rss1)
    return out


def _rss_run(scenario, peer, server, sid, port):
    """Server RSS before and after opening `scenario.idle` keep-alive connections (each served once)."""
    time.sleep(0.5)
    rss0 = measure.rss_bytes(sid)
    holder = measure.Holder(sys.executable, port, scenario.idle, cpus="1", cwd=str(peers.REPO))
    try:
        opened = holder.open()
        rss1 = measure.rss_bytes(sid)
        still = holder.check()["open"]
    finally:
        holder.close()
    _alive(server)
    held = opened["held"]
    return {"rss_start": rss0, "rss_end": rss1, "idle_held": held, "idle_open_after": still,
            "open_seconds": opened["seconds"],
            "rss_per_conn": (rss1 - rss0) / held if held else None}


def check_tools():
    missing = [t for t in ("wrk", "taskset") if not shutil.which(t)]
    if missing:
        raise SystemExit(f"missing tools: {', '.join(missing)} (run with --install)")
    subprocess.run(["taskset", "-c", "1", "true"], check=True)
