"""Long fuzz run over the request parser and a live server (CI runs the short seeded version in tests/test_fuzz.py).

    python tests/fuzz_long.py --seconds 600 [--seed 1] [--live-share 0.25] [--out DIR]

Parser phase: a child process parses mutated corpus requests (tests/requests/ is the seed corpus) whole, in random
pieces and byte by byte, and checks the properties of tests.support.corpus.check_parse plus split invariance. Input
i is a pure function of (seed, i), so when the child dies (a crash in C code) the parent regenerates the input it was
on, saves it, and restarts the child after it. Live phase: a server (tests.support.apps:echo) gets mutated requests
over TCP; every answer must be a well-formed response with an expected status, and the server must stay up.
Findings are written to --out as NAME.http plus NAME.txt; the summary (executions, rate, findings) goes to stdout.
"""
import argparse
import json
import multiprocessing
import os
import random
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from tests.support import corpus  # noqa: E402


def case(seed, i, seeds):
    rnd = random.Random(seed * 1_000_003 + i)
    data = corpus.mutate(rnd, seeds)
    sizes = [rnd.randint(1, 64) for _ in range(rnd.randint(1, 8))]
    return data, sizes


def parser_child(seed, start, stop_at, counter, queue):
    from fastwsgi._core import parse_request_bytes
    seeds = corpus.seeds()
    i = start
    while time.monotonic() < stop_at:
        counter.value = i
        data, sizes = case(seed, i, seeds)
        try:
            whole = parse_request_bytes(data)
            problems = corpus.check_parse(whole)
            if corpus.comparable(parse_request_bytes(data, sizes)) != corpus.comparable(whole):
                problems.append(f"split {sizes} differs from whole")
            if corpus.comparable(parse_request_bytes(data, [1])) != corpus.comparable(whole):
                problems.append("byte-by-byte differs from whole")
        except Exception as exc:                     # parse_request_bytes must not raise
            problems = [f"raised {exc!r}"]
        if problems:
            queue.put((i, data, problems))
        i += 1
    counter.value = i


def save(out, name, data, text):
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, name + ".http"), "wb") as f:
        f.write(data)
    with open(os.path.join(out, name + ".txt"), "w") as f:
        f.write(text + "\n")


def run_parser(seed, seconds, out):
    seeds = corpus.seeds()
    stop_at = time.monotonic() + seconds
    ctx = multiprocessing.get_context("fork")
    counter = ctx.Value("q", 0, lock=False)
    queue = ctx.Queue()
    findings, start, crashes = [], 0, 0
    while time.monotonic() < stop_at:
        proc = ctx.Process(target=parser_child, args=(seed, start, stop_at, counter, queue))
        proc.start()
        proc.join(max(1.0, stop_at - time.monotonic() + 30))
        if proc.is_alive():
            proc.kill()
            proc.join()
        while not queue.empty():
            i, data, problems = queue.get()
            findings.append(f"parser-{seed}-{i}: {problems}")
            save(out, f"parser-{seed}-{i}", data, "\n".join(problems))
        if proc.exitcode != 0:                        # crashed (signal) or killed: the input it was on is the finding
            i = counter.value
            data, _ = case(seed, i, seeds)
            crashes += 1
            findings.append(f"parser-{seed}-{i}: child exit code {proc.exitcode}")
            save(out, f"crash-{seed}-{i}", data, f"child exit code {proc.exitcode}")
            start = i + 1
        else:
            break
    return counter.value, findings, crashes


def run_live(seed, seconds, out):
    from tests.support.server import Server
    seeds = corpus.seeds()
    rnd = random.Random(seed)
    srv = Server(corpus.FUZZ_TARGET, **corpus.FUZZ_OPTIONS)
    findings, n = [], 0
    stop_at = time.monotonic() + seconds
    try:
        while time.monotonic() < stop_at:
            data = corpus.mutate(rnd, seeds)
            n += 1
            try:
                corpus.fuzz_exchange(srv.port, data, seed=n)
            except (AssertionError, TimeoutError, OSError) as exc:
                findings.append(f"live-{seed}-{n}: {exc!r}"[:300])
                save(out, f"live-{seed}-{n}", data, repr(exc))
            if not srv.alive:
                findings.append(f"live-{seed}-{n}: server died")
                save(out, f"live-{seed}-{n}-died", data, srv.stderr[-3000:])
                srv.stop()
                srv = Server(corpus.FUZZ_TARGET, **corpus.FUZZ_OPTIONS)
    finally:
        try:
            crash = srv.stop()
        except OSError as exc:                        # its log file removed from under it: the run still counts
            crash = None if srv.returncode in (0, -15, -9) else f"server stop: {exc!r}"
        if crash:
            findings.append(crash[:300])
    return n, findings


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=600.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--live-share", type=float, default=0.25, help="share of the time spent on the live server")
    ap.add_argument("--out", default=os.path.join(tempfile.gettempdir(), "fastwsgi-fuzz-findings"))
    args = ap.parse_args(argv)
    live_seconds = args.seconds * args.live_share
    t = time.monotonic()
    n_parse, f_parse, crashes = run_parser(args.seed, args.seconds - live_seconds, args.out)
    t_parse = time.monotonic() - t
    print(f"parser: {n_parse} inputs in {t_parse:.0f}s, {len(f_parse)} findings", file=sys.stderr, flush=True)
    t = time.monotonic()
    n_live, f_live = run_live(args.seed, live_seconds, args.out) if live_seconds > 0 else (0, [])
    t_live = time.monotonic() - t
    summary = {
        "seed": args.seed,
        "parser_executions": n_parse, "parser_seconds": round(t_parse, 1),
        "parser_exec_per_s": round(n_parse / max(t_parse, 1e-9)),
        "parser_crashes": crashes,
        "live_requests": n_live, "live_seconds": round(t_live, 1),
        "findings": f_parse + f_live,
    }
    print(json.dumps(summary, indent=1))
    return 1 if summary["findings"] else 0


if __name__ == "__main__":
    sys.exit(main())
