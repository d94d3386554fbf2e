"""Process lifecycle and measurements: start/stop pinned servers, run wrk, read /proc for CPU time and RSS.

Everything started here is registered in `LIVE` and killed by `stop_all()` (run.py calls it in a `finally` and
on SIGTERM/SIGINT). Servers run in their own session, so stopping one means signalling that session's process
group (the server and every worker it forked), first with SIGTERM, then SIGKILL.
"""
import http.client
import json
import os
import resource
import signal
import socket
import ssl
import subprocess
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
WRK_DIR = HERE / "wrk"
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
HOST = "127.0.0.1"
# the TLS scenarios serve the test-only certificate of tests/support/certs (CN localhost, signed by its CA)
TLS_CERT, TLS_KEY, TLS_CA = (str(HERE.parent / "tests" / "support" / "certs" / name)
                             for name in ("server.pem", "server.key", "ca.pem"))

LIVE = []  # subprocess.Popen objects started by this process and not yet reaped


class BenchError(Exception):
    """A server or tool misbehaved; the run is recorded as failed with this message."""


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def spawn(cmd, *, cpus, cwd, env=None, log=None, stdin=None, stdout=None):
    """Start `cmd` pinned with `taskset -c cpus` in a new session; returns the Popen (registered in LIVE)."""
    out = open(log, "ab") if log else subprocess.DEVNULL
    try:
        proc = subprocess.Popen(["taskset", "-c", cpus, *cmd], cwd=cwd, env=env, start_new_session=True,
                                stdin=stdin if stdin is not None else subprocess.DEVNULL,
                                stdout=stdout if stdout is not None else out,
                                stderr=out, preexec_fn=_raise_nofile)
    finally:
        if log:
            out.close()
    LIVE.append(proc)
    return proc


def stop(proc, timeout=5.0):
    """SIGTERM the process group of `proc`, SIGKILL it after `timeout` seconds; reap."""
    if proc.poll() is None:
        _signal_group(proc, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
    # Workers may outlive a master that exited: always sweep the group.
    _signal_group(proc, signal.SIGKILL)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        pass
    if proc in LIVE:
        LIVE.remove(proc)


def _signal_group(proc, sig):
    try:
        os.killpg(proc.pid, sig)  # pgid == pid: started with start_new_session=True
    except (ProcessLookupError, PermissionError):
        pass


def stop_all():
    for proc in list(LIVE):
        stop(proc, timeout=3.0)


# ---------------------------------------------------------------- /proc readings

def session_pids(sid):
    """PIDs whose session id is `sid` (the server and everything it forked)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = _stat_fields(entry)
        if fields is not None and int(fields[3]) == sid:
            pids.append(int(entry))
    return pids


def _stat_fields(pid):
    """Fields of /proc/<pid>/stat after the `(comm)` field, so index 0 is `state` (field 3)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    return data[data.rindex(b")") + 2:].split()


def cpu_seconds(sid):
    """utime+stime+cutime+cstime summed over the session's processes, in seconds."""
    ticks = 0
    for pid in session_pids(sid):
        f = _stat_fields(pid)
        if f is not None:
            ticks += int(f[11]) + int(f[12]) + int(f[13]) + int(f[14])  # fields 14..17
    return ticks / CLK_TCK


def rss_bytes(sid):
    """Resident set size summed over the session's processes (shared pages count once per process)."""
    total = 0
    for pid in session_pids(sid):
        try:
            with open(f"/proc/{pid}/statm", "rb") as f:
                total += int(f.read().split()[1]) * PAGE
        except OSError:
            pass
    return total


def cpu_busy_seconds(cpu):
    """user+nice+system time of one CPU from /proc/stat (irq/softirq excluded), in seconds."""
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith(f"cpu{cpu} "):
                fields = line.split()
                return (int(fields[1]) + int(fields[2]) + int(fields[3])) / CLK_TCK
    return 0.0


def wait_quiet(max_pct, max_wait):
    """Wait (at most max_wait seconds) until CPUs 0 and 1 are both below max_pct busy over one second.

    Returns the last busy percentages seen. Nothing of ours runs between benchmark runs, so what is busy is
    other jobs on the machine.
    """
    deadline = time.monotonic() + max_wait
    while True:
        before = (cpu_busy_seconds(0), cpu_busy_seconds(1))
        time.sleep(1.0)
        busy = [100 * (cpu_busy_seconds(i) - before[i]) for i in (0, 1)]
        if max(busy) <= max_pct or time.monotonic() >= deadline:
            return busy


def children_cpu():
    """user+system seconds of this process's reaped children (wrk, once run_wrk returned)."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


# ---------------------------------------------------------------- readiness

def wait_ready(proc, port, *, method="GET", body=b"", expect=None, timeout=30.0, tls=False):
    """Poll until the server answers 200 (and `expect` is in the body); raise BenchError otherwise. tls: over
    HTTPS, trusting the test CA (peers.TLS_CA)."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"server exited with code {proc.returncode} before answering")
        try:
            if tls:
                ctx = ssl.create_default_context(cafile=TLS_CA)
                ctx.check_hostname = False
                conn = http.client.HTTPSConnection(HOST, port, timeout=2.0, context=ctx)
            else:
                conn = http.client.HTTPConnection(HOST, port, timeout=2.0)
            try:
                conn.request(method, "/", body=body or None,
                             headers={"Content-Type": "application/octet-stream"} if body else {})
                resp = conn.getresponse()
                data = resp.read()
            finally:
                conn.close()
            if resp.status == 200 and (expect is None or expect(data)):
                return
            last = f"status {resp.status}, {len(data)} body bytes"
        except (OSError, http.client.HTTPException) as exc:
            last = repr(exc)
        time.sleep(0.1)
    raise BenchError(f"not ready after {timeout:.0f} s: {last}")


# ---------------------------------------------------------------- wrk

def wrk_command(port, *, threads, conns, seconds, script, args=(), timeout_s=5, tls=False):
    """The wrk argv (without taskset). `script` names a file in bench/wrk/ (done.lua gets appended)."""
    cmd = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{int(seconds)}s", f"--timeout={timeout_s}s",
           "-s", str(_script_with_done(script)), f"{'https' if tls else 'http'}://{HOST}:{port}/"]
    if args:
        cmd += ["--", *map(str, args)]
    return cmd


def _script_with_done(name):
    out = Path(os.environ.get("BENCH_TMP", "/tmp")) / f"fastwsgi-bench-{name}"
    text = (WRK_DIR / name).read_text() + "\n" + (WRK_DIR / "done.lua").read_text()
    if not out.exists() or out.read_text() != text:
        out.write_text(text)
    return out


def run_wrk(cmd, *, cpus, seconds, cwd):
    """Run wrk pinned to `cpus`; return the parsed BENCHJSON summary. Bounded by seconds + 30."""
    proc = spawn(cmd, cpus=cpus, cwd=cwd, stdout=subprocess.PIPE)
    try:
        out, _ = proc.communicate(timeout=seconds + 30)
    except subprocess.TimeoutExpired:
        stop(proc)
        raise BenchError("wrk did not finish in time") from None
    if proc in LIVE:
        LIVE.remove(proc)
    for line in out.decode(errors="replace").splitlines():
        if line.startswith("BENCHJSON "):
            return json.loads(line[len("BENCHJSON "):])
    raise BenchError(f"wrk exited {proc.returncode} without a summary: {out[-300:]!r}")


# ---------------------------------------------------------------- idle connections

class Holder:
    """bench/holder.py in a child process: opens and holds idle keep-alive connections."""

    def __init__(self, python, port, count, *, cpus, cwd):
        self.proc = spawn([python, str(HERE / "holder.py"), HOST, str(port), str(count)], cpus=cpus, cwd=cwd,
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def _ask(self, word, timeout):
        self.proc.stdin.write(word.encode() + b"\n")
        self.proc.stdin.flush()
        return self._read(timeout)

    def _read(self, timeout):
        import select
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            raise BenchError("idle-connection holder did not answer")
        line = self.proc.stdout.readline().decode().strip()
        if not line:
            raise BenchError("idle-connection holder exited")
        return json.loads(line)

    def open(self, timeout=120.0):
        """Open all connections; returns {"held": n, "failed": m, "seconds": s}."""
        return self._ask("OPEN", timeout)

    def check(self, timeout=30.0):
        """How many connections are still open (not closed by the server)."""
        return self._ask("CHECK", timeout)

    def close(self):
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        stop(self.proc, timeout=10.0)
