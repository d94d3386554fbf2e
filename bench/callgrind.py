"""User-space instructions per request, counted by callgrind: the server's cost that other jobs cannot disturb.

    python bench/callgrind.py                                  # ours (this checkout's build), hello, 1 connection
    python bench/callgrind.py --peer bjoern --app flask_hello --conns 50 --top 30
    python bench/callgrind.py --requests 2000,12000 --request browser
    python bench/callgrind.py --request wrk --pipeline 16           # 16 requests per write

The server runs twice under `valgrind --tool=callgrind` (Debian's valgrind), serving N1 and then N2 keep-alive
requests from a client here (--conns connections, each sending its next request when the answer is in), and the
result is (instructions(N2) - instructions(N1)) / (N2 - N1): start-up, import and shutdown cancel out. Timings on
a shared 2-core VM move by 10-20 % between runs; these counts repeat to a few instructions, so two builds can be
compared on a busy machine. They leave out the kernel (about 2/3 of a hello request: see RESULTS.md) and cache
and branch effects: confirm a change with bench/run.py.

`--peer dev` (default) is this checkout, built in place first (`python setup.py build_ext --inplace`, run with
PYTHONPATH=src); any other peer runs from its bench venv through launch.py. `--top K` lists the K functions with
the largest self cost per request. Traffic goes to 127.0.0.1 only; every step has a timeout.
"""
import argparse
import os
import re
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import peers
import session
from measure import free_port

REQUESTS = {
    # what wrk sends in the hello scenario
    "wrk": b"GET / HTTP/1.1\r\nHost: localhost:8080\r\n\r\n",
    "small": b"GET / HTTP/1.1\r\nHost: localhost:8080\r\nUser-Agent: wrk\r\nAccept: */*\r\n\r\n",
    # a browser's page request: 12 header fields (a cookie among them) and a query string, 540 bytes
    "browser": (b"GET /products/42?ref=home&lang=en HTTP/1.1\r\nHost: shop.example.com\r\n"
                b"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0\r\n"
                b"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
                b"Accept-Language: en-US,en;q=0.5\r\nAccept-Encoding: gzip, deflate, br, zstd\r\n"
                b"Referer: https://shop.example.com/\r\nConnection: keep-alive\r\n"
                b"Cookie: session=6f1c2a9e8b7d4c3a; theme=dark; _ga=GA1.1.123456789.1700000000\r\n"
                b"Upgrade-Insecure-Requests: 1\r\nSec-Fetch-Dest: document\r\nSec-Fetch-Mode: navigate\r\n"
                b"Priority: u=0, i\r\n\r\n"),
    # a browser session (bench/session.py, as the session scenario sends it): each connection walks its 146 heads
    "session": session.requests(),
}


def drive(port, total, conns, request, timeout=600.0, depth=1):
    """Send `total` requests over `conns` keep-alive connections, `depth` per write (pipelined when more than one);
    each answer must end with the hello body. `request`: one head, or a list of heads each connection sends in turn
    (cycled)."""
    hello = peers.HELLO_BODY.encode()
    heads = [request] if isinstance(request, bytes) else request
    heads = [b"".join(heads[(i + j) % len(heads)] for j in range(depth)) for i in range(0, len(heads), depth)] \
        if depth > 1 else heads
    sel = selectors.DefaultSelector()
    socks = []
    sent = done = 0
    deadline = time.monotonic() + timeout
    try:
        for _ in range(min(conns, total)):
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            s.setblocking(False)
            socks.append(s)
            state = [bytearray(), 1]            # what came in, the next head's index
            sel.register(s, selectors.EVENT_READ, state)
            s.sendall(heads[0])
            sent += 1
        while done < total:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{done} of {total} answers in {timeout} s")
            for key, _ in sel.select(5):
                data = key.fileobj.recv(65536)
                if not data:
                    raise ConnectionError("the server closed a connection")
                state = key.data
                buf = state[0]
                buf += data
                if not buf.endswith(hello) or buf.count(hello) < depth:
                    continue
                del buf[:]
                done += 1
                if sent < total:
                    key.fileobj.sendall(heads[state[1] % len(heads)])
                    state[1] += 1
                    sent += 1
    finally:
        for s in socks:
            s.close()


def wait_port(port, proc, timeout=120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode} before listening")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"nothing listens on port {port} after {timeout} s")


def server_argv(peer, app, port):
    target = f"bench.apps.{app}:app"
    if peer == "dev":
        return [os.path.realpath(sys.executable), str(peers.HERE / "launch.py"), "ours", target, "127.0.0.1",
                str(port)]
    python = peers.venv_dir(peer) / "bin" / "python"
    if not python.exists():
        sys.exit(f"callgrind.py: no bench venv for {peer!r}; run `python bench/run.py --install --install-only`")
    return [str(python), str(peers.HERE / "launch.py"), peer, target, "127.0.0.1", str(port)]


def count(peer, app, requests, conns, outdir, request=REQUESTS["small"], depth=1):
    """Total instructions of one server run that answered `requests` requests; the callgrind file's path."""
    port = free_port()
    out = Path(outdir) / f"callgrind.{requests}.out"
    env = dict(os.environ)
    if peer == "dev":
        env["PYTHONPATH"] = str(peers.REPO / "src") + os.pathsep + env.get("PYTHONPATH", "")
    argv = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"] + server_argv(peer, app, port)
    with open(Path(outdir) / f"server.{requests}.log", "wb") as log:
        proc = subprocess.Popen(argv, cwd=peers.REPO, env=env, stdout=log, stderr=log, start_new_session=True)
        try:
            wait_port(port, proc)
            drive(port, requests // depth, conns, request, depth=depth)
        finally:
            # SIGTERM: a background shell's children ignore SIGINT; callgrind writes its file on the fatal signal
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
    text = out.read_text(errors="replace")
    match = re.search(r"^(?:summary|totals): (\d+)", text, re.M)
    if not match:
        raise RuntimeError(f"no instruction total in {out}")
    return int(match.group(1)), out


def self_costs(path):
    """function -> self instructions, from callgrind_annotate."""
    text = subprocess.run(["callgrind_annotate", "--threshold=100", str(path)], capture_output=True, text=True,
                          check=True, timeout=300).stdout
    costs = {}
    for line in text.splitlines():
        match = re.match(r"\s*([\d,]+)\s+(?:\([^)]*\)\s+)?(\S.*)$", line)
        if not match or "=>" in line or "PROGRAM TOTALS" in line or ":" not in match.group(2):
            continue                # not a file:function entry (totals, call arcs, inlined source lines)
        name = re.sub(r"\s*\[[^\]]*\]$", "", match.group(2)).rsplit("/", 1)[-1]
        costs[name] = costs.get(name, 0) + int(match.group(1).replace(",", ""))
    return costs


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--peer", default="dev", help="dev (this checkout) or a bench peer with a venv (ours, bjoern...)")
    p.add_argument("--app", default="hello", help="bench/apps/<app>.py (its answer must end with the hello body)")
    p.add_argument("--conns", type=int, default=1, help="keep-alive connections sending requests")
    p.add_argument("--requests", default="2000,12000", help="N1,N2: requests in the two runs")
    p.add_argument("--request", default="small", choices=sorted(REQUESTS),
                   help="wrk: Host only; small: 3 fields (default); browser: 12 fields, a cookie and a query; "
                        "session: a browser session's 146 varied heads in turn (bench/session.py)")
    p.add_argument("--pipeline", type=int, default=1, metavar="DEPTH",
                   help="send DEPTH requests per write (pipelined); N1 and N2 count requests")
    p.add_argument("--top", type=int, default=0, help="list the K functions with the largest self cost")
    args = p.parse_args()
    n1, n2 = (int(x) for x in args.requests.split(","))
    if not 0 < n1 < n2:
        sys.exit("callgrind.py: --requests wants N1,N2 with 0 < N1 < N2")
    if shutil.which("valgrind") is None:
        sys.exit("callgrind.py: valgrind is not installed (apt-get install valgrind)")
    if args.peer == "dev":
        subprocess.run([sys.executable, "setup.py", "build_ext", "--inplace"], cwd=peers.REPO, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=900)
    with tempfile.TemporaryDirectory(prefix="fastwsgi-callgrind-") as tmp:
        request = REQUESTS[args.request]
        total1, out1 = count(args.peer, args.app, n1, args.conns, tmp, request, args.pipeline)
        total2, out2 = count(args.peer, args.app, n2, args.conns, tmp, request, args.pipeline)
        depth = f" pipeline={args.pipeline}" if args.pipeline > 1 else ""
        print(f"{args.peer} {args.app} conns={args.conns} request={args.request}{depth}: "
              f"{(total2 - total1) / (n2 - n1):,.0f} "
              f"user-space instructions per request ({n1} and {n2} requests)")
        if args.top:
            a, b = self_costs(out1), self_costs(out2)
            per = {k: (b.get(k, 0) - a.get(k, 0)) / (n2 - n1) for k in set(a) | set(b)}
            for name, cost in sorted(per.items(), key=lambda kv: -kv[1])[:args.top]:
                print(f"{cost:9,.0f}  {name[:120]}")


if __name__ == "__main__":
    main()
