"""Command line: `fastwsgi [OPTIONS] MODULE:APP` (also `python -m fastwsgi`), and `fastwsgi ctl ...` (fastwsgi/ctl.py)
for a running server. The only place that picks exit codes.

Exit codes: 0 stopped cleanly; 1 cannot bind / other failure; 2 bad settings or usage (no application given);
3 a worker failed to boot; 4 the application failed to load (at --log-level debug with its full traceback).
"""
from __future__ import annotations

import sys
import traceback

from fastwsgi.app_loader import check_spec, import_traceback, load_app, prepare_sys_path
from fastwsgi.config import load_config
from fastwsgi.errors import APP_LOAD_ERROR, AppImportError, BindError, ConfigError, FastWSGIError, HaltServer
from fastwsgi.tls import make_context

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2


def _error(message: str) -> None:
    sys.stderr.write(f"fastwsgi: error: {message}\n")
    sys.stderr.flush()


def daemonize(keep_stdio: bool) -> None:
    """--daemon, as gunicorn: fork, new session, fork again (no controlling terminal can come back); the parent
    exits 0 at once. stdin (and stdout, stderr unless --enable-stdio-inheritance) go to /dev/null."""
    import os

    if os.fork():
        os._exit(EXIT_OK)
    os.setsid()
    if os.fork():
        os._exit(EXIT_OK)
    os.umask(0o22)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    if not keep_stdio:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(null, 1)
        os.dup2(null, 2)
    if null > 2:
        os.close(null)


def main(argv: list | None = None) -> int:
    """Run the server until it stops; return the process exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["ctl"]:     # `fastwsgi ctl ...`: the control client (an app module named ctl: `ctl:app`)
        from fastwsgi.ctl import main as ctl_main

        return ctl_main(argv[1:])
    try:
        cfg = load_config(argv)
    except ConfigError as exc:
        _error(str(exc))
        return EXIT_USAGE
    except SystemExit as exc:  # --help / --version printed their text
        return exc.code if isinstance(exc.code, int) else EXIT_OK

    if cfg.print_config:
        sys.stdout.write(cfg.render() + "\n")
        return EXIT_OK
    if not (cfg.app_uri or "").strip():  # a usage error, as argparse's: not an application that failed to load
        _error("no application given: fastwsgi [OPTIONS] MODULE:NAME (see --help)")
        return EXIT_USAGE
    try:
        prepare_sys_path(cfg.chdir, cfg.pythonpath)
        check_spec(cfg.app_uri)
        make_context(cfg)  # a bad certificate or SSL setting: one line now, not a worker that cannot boot
        if cfg.check_config:
            load_app(cfg.app_uri)
            return EXIT_OK
        from fastwsgi.arbiter import Arbiter
        from fastwsgi.logs import Logs

        if cfg.daemon:
            daemonize(cfg.enable_stdio_inheritance)     # before the logs open: --capture-output points fds 1, 2
        Arbiter(cfg, Logs.from_config(cfg)).run()
    except HaltServer as exc:
        _error(exc.reason)
        return exc.exit_status
    except AppImportError as exc:  # --preload or --check-config: the app was imported here
        if cfg.loglevel == "debug":
            sys.stderr.write(import_traceback(exc))
        _error(str(exc))
        return APP_LOAD_ERROR
    except ConfigError as exc:
        _error(str(exc))
        return EXIT_USAGE
    except (BindError, FastWSGIError) as exc:
        _error(str(exc))
        return EXIT_FAILURE
    except Exception as exc:  # a config-file hook raising in the master, or a bug: show where, then one line
        traceback.print_exc()
        _error(f"{type(exc).__name__}: {exc}")
        return EXIT_FAILURE
    return EXIT_OK


def run() -> None:
    """Console-script style entry: exit with main()'s code."""
    sys.exit(main())
