"""The servers under comparison: how each is installed (one venv per peer) and how it is started.

Venvs live outside the repository, in $FASTWSGI_BENCH_CACHE (default ~/.cache/fastwsgi-bench)/venvs/<venv>.
A venv is (re)installed when its marker file is missing; `ours` is also reinstalled whenever the repository's
HEAD or its uncommitted changes under src/, ext/, setup.py, pyproject.toml differ from what was installed.

Every Python peer serves the same files, bench/apps/<app>.py, imported as `bench.apps.<app>:app` with the
repository root as working directory. Each `command()` returns the argv (before `taskset`) or None when the peer
cannot run that configuration (e.g. several workers). `threads` > 1 asks for that many app threads per worker
(gunicorn's `--threads`); `app_slots()` says how many app calls each peer can then run at once.
"""
import functools
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import measure
from measure import HERE

REPO = HERE.parent
CACHE = Path(os.environ.get("FASTWSGI_BENCH_CACHE", Path.home() / ".cache" / "fastwsgi-bench"))
VENVS = CACHE / "venvs"
MARKER = ".bench-installed"

HELLO_BODY = "Hello, World!"

# name -> (venv, pip steps, packages whose versions are reported)
# Each pip step is one `pip install` argv tail. Flask goes into every Python peer for the flask scenario.
INSTALL = {
    "ours": ("ours", [["--upgrade", "pip"], [str(REPO), "flask"]], ["fastwsgi", "httptools"]),
    "bjoern": ("bjoern", [["bjoern", "flask"]], ["bjoern"]),
    "cfastwsgi": ("cfastwsgi", [["fastwsgi", "flask"]], ["fastwsgi"]),
    "granian": ("granian", [["granian", "flask"]], ["granian"]),
    # meinheld pins an ancient greenlet that no longer builds on 3.11: install a current greenlet first, then
    # meinheld itself without its dependency pins.
    "meinheld": ("meinheld", [["--upgrade", "greenlet", "setuptools", "wheel"],
                              ["--no-deps", "--no-build-isolation", "meinheld"], ["flask"]],
                 ["meinheld", "greenlet"]),
    "uwsgi": ("uwsgi", [["uwsgi", "flask"]], ["uwsgi"]),
    "waitress": ("waitress", [["waitress", "flask"]], ["waitress"]),
    "gunicorn-sync": ("gunicorn", [["gunicorn", "flask"]], ["gunicorn"]),
    "gunicorn-gthread": ("gunicorn", [["gunicorn", "flask"]], ["gunicorn"]),
    "tool": ("tool", [["matplotlib"]], ["matplotlib"]),
}

ALL_PEERS = ["nginx", "ours", "bjoern", "cfastwsgi", "granian", "meinheld", "uwsgi", "waitress",
             "gunicorn-sync", "gunicorn-gthread"]
LABELS = {
    "nginx": "nginx `return 200` (no Python)",
    "ours": "fastwsgi (ours)",
    "bjoern": "bjoern",
    "cfastwsgi": "fastwsgi C (PyPI, unrelated)",
    "granian": "granian WSGI",
    "meinheld": "meinheld",
    "uwsgi": "uWSGI",
    "waitress": "waitress",
    "gunicorn-sync": "gunicorn sync",
    "gunicorn-gthread": "gunicorn gthread",
}


class InstallError(Exception):
    pass


def venv_dir(peer):
    return VENVS / INSTALL[peer][0]


def python(peer):
    return str(venv_dir(peer) / "bin" / "python")


def _ours_stamp():
    def git(*args):
        return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True).stdout
    head = git("rev-parse", "HEAD")
    diff = git("diff", "HEAD", "--", "src", "ext", "setup.py", "pyproject.toml")
    untracked = git("ls-files", "--others", "--exclude-standard", "--", "src", "ext", "setup.py",
                    "pyproject.toml")
    digest = hashlib.sha256(diff + untracked)
    for name in untracked.decode().split():
        try:
            digest.update((REPO / name).read_bytes())
        except OSError:
            pass
    return head.decode().strip() + " " + digest.hexdigest()[:16]


def ensure_venv(peer, *, force=False, rebuild_ours=True, log=print):
    """Create/upgrade the peer's venv; raise InstallError with the pip output's tail on failure.

    `ours` is rebuilt when the repository changed since it was installed, unless rebuild_ours is False.
    """
    if peer == "nginx":
        if not shutil.which("nginx"):
            raise InstallError("nginx not found (run with --install)")
        return
    vdir = venv_dir(peer)
    marker = vdir / MARKER
    stamp = _ours_stamp() if peer == "ours" else "installed"
    if not force and marker.exists() and (marker.read_text() == stamp or (peer == "ours" and not rebuild_ours)):
        return
    log(f"[install] {peer}: venv {vdir}")
    if not (vdir / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(vdir)], check=True)
    for step in INSTALL[peer][1]:
        argv = [str(vdir / "bin" / "python"), "-m", "pip", "install", "-q"]
        if peer == "ours" and str(REPO) in step:
            argv += ["--force-reinstall", "--no-cache-dir"]
        proc = subprocess.run(argv + step, capture_output=True, text=True, timeout=900)
        if proc.returncode != 0:
            marker.unlink(missing_ok=True)
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
            raise InstallError(f"pip install {' '.join(step)} failed:\n{tail}")
    marker.write_text(stamp)


def versions(peer):
    if peer == "nginx":
        out = subprocess.run(["nginx", "-v"], capture_output=True, text=True)
        return out.stderr.strip().replace("nginx version: ", "")
    code = ("import importlib.metadata as m, sys\n"
            "for n in sys.argv[1:]:\n"
            "    try: print(n, m.version(n))\n"
            "    except Exception: print(n, '?')")
    out = subprocess.run([python(peer), "-c", code, *INSTALL[peer][2]], capture_output=True, text=True,
                         cwd=tempfile.gettempdir())
    return ", ".join(out.stdout.split("\n")).strip(", ")


def ours_has_cli():
    exe = venv_dir("ours") / "bin" / "fastwsgi"
    if not exe.exists():
        return False
    try:
        return subprocess.run([str(exe), "--version"], capture_output=True, timeout=20,
                              cwd=tempfile.gettempdir()).returncode == 0
    except subprocess.TimeoutExpired:
        return False


@functools.cache
def ours_has_threads():
    """Whether our CLI knows `--threads` (app calls on a thread pool per worker; issue 12). Asked once per process:
    run.py installs every venv before the first command()."""
    exe = venv_dir("ours") / "bin" / "fastwsgi"
    try:
        out = subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=20,
                             cwd=tempfile.gettempdir())
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0 and "--threads" in out.stdout


# Peers that can run app calls on threads, for the blocking scenarios (gunicorn's sync worker turns itself into
# gthread when --threads > 1; the single-threaded event loops would only measure one call at a time).
THREADED_PEERS = ("ours", "gunicorn-gthread", "granian", "waitress", "uwsgi")


def app_slots(peer, workers, threads):
    """(processes, threads each) that `command()` gives `peer`: how many app calls it can run at once."""
    if threads <= 1:
        return workers, 1
    if peer == "waitress":
        return 1, threads  # one process only
    if peer == "ours":
        return workers, threads if ours_has_threads() else 1
    return workers, threads


def command(peer, app, port, workers, workdir, many_conns=False, threads=1, tls=False):
    """argv for `peer` serving bench/apps/<app>.py on 127.0.0.1:port with `workers` processes, or None.

    many_conns: raise the peer's connection limit and idle keep-alive timeout where it has them (the idle
    connection scenarios measure the loop's cost per idle connection, not default limits).
    threads: app threads per worker (> 1 only for THREADED_PEERS; others get None). waitress has no worker
    processes: it runs as one process with `threads` threads whatever `workers` says.
    """
    if threads > 1 and peer not in THREADED_PEERS:
        return None
    if tls:
        return tls_command(peer, app, port, workers, workdir)
    argv = _command(peer, app, port, workers, workdir, threads)
    if argv is None or not many_conns:
        return argv
    if peer == "ours" and argv[0].endswith("fastwsgi"):
        argv[1:1] = ["--worker-connections", "20000", "--keep-alive", "300", "--backlog", "4096"]
    elif peer.startswith("gunicorn"):
        argv[1:1] = ["--worker-connections", "20000", "--keep-alive", "300", "--backlog", "4096"]
    elif peer == "granian":
        argv[1:1] = ["--backlog", "4096", "--backpressure", "20000"]
    elif peer == "uwsgi":
        argv[argv.index("--listen") + 1] = "4096"
    elif peer in ("bjoern", "meinheld", "cfastwsgi", "waitress", "ours"):
        argv += [str(workers), "many"] if len(argv) == 6 else ["many"]
    return argv


def _command(peer, app, port, workers, workdir, threads=1):
    target = f"bench.apps.{app}:app"
    host = "127.0.0.1"
    if peer == "nginx":
        return nginx_command(app, port, workers, workdir)
    vbin = venv_dir(peer) / "bin"
    launch = [str(vbin / "python"), str(HERE / "launch.py")]
    if peer == "ours":
        if ours_has_cli():
            # --threads only once the CLI has it (issue 12); until then ours runs single-threaded and the report
            # says so (app_slots).
            with_threads = ["--threads", str(threads)] if threads > 1 and ours_has_threads() else []
            return [str(vbin / "fastwsgi"), "-w", str(workers), *with_threads, "-b", f"{host}:{port}", target]
        if workers != 1:
            return None
        return launch + ["ours", target, host, str(port)] + ([f"threads={threads}"] if threads > 1 else [])
    if peer in ("bjoern", "meinheld"):
        return launch + [peer, target, host, str(port), str(workers)]
    if peer == "waitress" and threads > 1:
        return launch + [peer, target, host, str(port), "1", f"threads={threads}"]
    if peer in ("cfastwsgi", "waitress"):
        return launch + [peer, target, host, str(port)] if workers == 1 else None
    if peer == "granian":
        return [str(vbin / "granian"), "--interface", "wsgi", "--workers", str(workers),
                "--runtime-threads", "1", "--blocking-threads", str(threads), "--no-ws", "--no-access-log",
                "--log-level", "warning", "--working-dir", str(REPO), "--host", host, "--port", str(port),
                target]
    if peer == "uwsgi":
        # --http-socket: uWSGI's own HTTP parser in the worker, no router process. It closes after each
        # response (keep-alive would block a sync worker on one client); the added header announces that, or
        # wrk counts every close as a read error.
        argv = [str(vbin / "uwsgi"), "--http-socket", f"{host}:{port}", "--module", target,
                "--add-header", "Connection: close",
                "--pythonpath", str(REPO), "--processes", str(workers), "--threads", str(threads), "--disable-logging",
                "--need-app", "--die-on-term", "--listen", "1024", "--max-fd", "20000"]
        return argv + (["--master"] if workers > 1 else [])
    if peer in ("gunicorn-sync", "gunicorn-gthread"):
        kind = peer.split("-")[1]
        return [str(vbin / "gunicorn"), "-w", str(workers), "-k", kind, "--threads", str(threads),
                "-b", f"{host}:{port}", "--chdir", str(REPO), "--log-level", "warning", target]
    raise ValueError(peer)


def tls_command(peer, app, port, workers, workdir):
    """argv for `peer` serving HTTPS with the test certificate (measure.TLS_CERT), or None (no TLS of its own)."""
    cert, key = measure.TLS_CERT, measure.TLS_KEY
    if peer == "nginx":
        return nginx_command(app, port, workers, workdir, tls=True)
    argv = _command(peer, app, port, workers, workdir)
    if argv is None:
        return None
    if peer == "ours" and argv[0].endswith("fastwsgi") or peer.startswith("gunicorn"):
        return argv[:1] + ["--certfile", cert, "--keyfile", key] + argv[1:]
    if peer == "granian":
        return argv[:1] + ["--ssl-certificate", cert, "--ssl-keyfile", _pkcs8(key, workdir)] + argv[1:]
    return None


def _pkcs8(key, workdir):
    """granian reads PKCS#8 keys only: the key converted into workdir."""
    out = os.path.join(workdir, "key.pk8.pem")
    subprocess.run(["openssl", "pkcs8", "-topk8", "-nocrypt", "-in", key, "-out", out], check=True)
    return out


NGINX_CONF = """\
{user}worker_processes {workers};
worker_rlimit_nofile 30000;
daemon off;
master_process on;
pid {dir}/nginx.pid;
error_log stderr warn;
events {{ worker_connections 20000; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    keepalive_requests 100000000;
    keepalive_timeout 300s;
    sendfile on;
    tcp_nodelay on;
    server {{
        listen 127.0.0.1:{port}{ssl} backlog=1024;
{ssl_files}        location / {{
{location}
        }}
    }}
}}
"""


def nginx_command(app, port, workers, workdir, tls=False):
    """nginx with a config in `workdir`: `return 200` for hello, a static 10 MB file for files; else None."""
    if app == "hello":
        location = f'            default_type text/plain;\n            return 200 "{HELLO_BODY}";'
    elif app == "files":
        with open(os.path.join(workdir, "10mb.bin"), "wb") as f:
            f.write(os.urandom(1024 * 1024) * 10)
        location = (f"            default_type application/octet-stream;\n            root {workdir};\n"
                    "            rewrite ^ /10mb.bin break;")
    else:
        return None
    conf = os.path.join(workdir, "nginx.conf")
    with open(conf, "w") as f:
        f.write(NGINX_CONF.format(user="user root;\n" if os.geteuid() == 0 else "", workers=workers,
                                  dir=workdir, port=port, location=location, ssl=" ssl" if tls else "",
                                  ssl_files=(f"        ssl_certificate {measure.TLS_CERT};\n"
                                             f"        ssl_certificate_key {measure.TLS_KEY};\n") if tls else ""))
    return ["nginx", "-p", workdir, "-c", conf]
