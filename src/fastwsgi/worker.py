"""One worker process: built in the master before fork (pure), initialised after fork, then runs the Cython loop.

Signals in a worker: TERM stops gracefully (stop accepting, finish in-flight requests, close idle keep-alive
connections, exit, bounded by --graceful-timeout); INT and QUIT stop at once; ABRT (the master's --timeout) exits
at once with status 1; USR1 reopens log files on the next tick. HUP, USR2, WINCH, TTIN and TTOU are ignored.
"""
from __future__ import annotations

import os
import pwd
import random
import signal
import sys
from typing import Any, Callable

from fastwsgi import heartbeat as hb
from fastwsgi import hooks, statsd, tls
from fastwsgi.app_loader import import_traceback, load_app
from fastwsgi.errors import AppImportError
from fastwsgi.logs import Logs
from fastwsgi.reloader import Reloader, error_app, error_files
from fastwsgi.settings import LOOP_SETTINGS
from fastwsgi.settings_gunicorn import scheme_fixer
from fastwsgi.sockets import describe, reuse_port_twins


def set_proc_title(title: str) -> None:
    """Set the process title when setproctitle is importable; otherwise do nothing."""
    try:
        from setproctitle import setproctitle
    except ImportError:
        return
    setproctitle(title)


class Worker(hooks.WorkerAttributes):
    """Master side: bookkeeping (pid, age, heartbeat). Child side: `init_process()` then `run()`.

    Hooks get it as gunicorn's worker: `pid`, `ppid`, `age`, `cfg`, `log` (gunicorn's Logger interface), and the
    names in hooks.WorkerAttributes (`nr`, `alive`, `max_requests`...)."""

    def __init__(self, age: int, ppid: int, listeners: list, app: Callable | None, cfg: Any,
                 logs: Logs, server: Any = None) -> None:
        self.age = age
        self.ppid = ppid
        self.listeners = listeners
        self.app = app
        self.cfg = cfg
        self.logs = logs
        self.log = hooks.GunicornLogger(logs)
        self.server = server
        self.pid: int | str = "[booting]"      # gunicorn's value until the fork (pre_fork hooks see it)
        self.heartbeat = hb.Heartbeat()
        self.aborted = False
        self.retiring = False
        self.retire_deadline = 0.0
        jitter = cfg.max_requests_jitter
        # gunicorn's worker.max_requests: sys.maxsize when off (the loop's option is then 0)
        self.max_requests = (cfg.max_requests + (random.randint(0, jitter) if jitter else 0) if cfg.max_requests > 0
                             else sys.maxsize)
        self.loop: Any = None
        self.own_sockets: list = []
        self.booted = False
        self._reopen_logs = False
        self.statsd: statsd.Statsd | None = None
        self.reloader: Reloader | None = None

    def __repr__(self) -> str:
        return f"<Worker pid={self.pid} age={self.age}>"

    # -------------------------------------------------------------------------------------------------- child side
    def init_process(self) -> None:
        """After fork (signals are already the worker's): randomness, privileges, app, loop.
        Raises AppImportError when the app cannot load."""
        self.pid = os.getpid()
        random.seed()
        set_proc_title(f"fastwsgi: worker [{self.cfg.proc_title}]")
        self._drop_privileges()
        self.statsd = statsd.install(self.cfg, self.logs.error)
        if self.cfg.spew:
            install_spew()
        if self.cfg.reload:
            self.reloader = Reloader(self.cfg.reload_extra_files, self.cfg.reload_engine)
            self.log.warning("Reloader is on (%s). Use in development only!", self.reloader.engine)
        if self.app is None:
            self.app = self._load_app()
        self.logs.adopt_app_records()
        if self.reloader is not None:
            self.reloader.refresh(catch_up=True)  # the modules the app just imported
        sockets = reuse_port_twins(self.listeners, self.cfg.backlog) if self.cfg.reuse_port else self.listeners
        self.own_sockets = [sock for sock in sockets if sock not in self.listeners]
        from fastwsgi._core import Loop

        self.loop = Loop(self.app, list(sockets), **self.loop_options())
        self.cfg.post_worker_init(self)
        self.booted = True
        self.heartbeat.state = hb.SERVING
        self.heartbeat.beat()

    def _load_app(self) -> Callable:
        """Import the app. With --reload, an import error whose files are known is served as a 500 (and those
        files watched) instead of stopping the server: the developer fixes the file and the worker restarts."""
        try:
            return load_app(self.cfg.app_uri)
        except AppImportError as exc:
            files = error_files(exc) if self.reloader is not None else set()
            if not files or self.reloader is None:
                raise
            self.reloader.add_files(files)
            self.log.error("%s; serving the error until a watched file changes", exc)
            return error_app(exc)

    def run(self) -> None:
        if not self._alive:     # a hook (post_fork) set worker.alive = False before the loop existed
            self.loop.stop(graceful=True, timeout=self.cfg.graceful_timeout)
        self.loop.run()
        self.heartbeat.state = hb.STOPPING
        if self.statsd is not None:
            self.statsd.flush()

    def loop_options(self) -> dict:
        """The Loop's options: every loop setting of the registry as configured, and the worker's wiring."""
        cfg = self.cfg
        options = {setting.name: getattr(cfg, setting.name) for setting in LOOP_SETTINGS}
        options.update(
            max_requests=self.max_requests if self.max_requests < sys.maxsize else 0,
            forwarded_allow_ips=cfg.forwarded_allow_ips or None,
            multiprocess=cfg.workers > 1,
            ssl_context=tls.make_context(cfg),
            on_tick=self.tick,
            on_stop=self._leave_reuse_port_group,
            logger=self.log,
            stats=self.heartbeat.stats_buffer(),
        )
        if options["ssl_context"] is not None:
            options["url_scheme"] = "https"
        pre = self._pre_request()
        allowed = set(cfg.forwarded_allow_ips or ())
        fix = scheme_fixer(cfg, lambda peer: "*" in allowed or not peer or peer in allowed,
                           "https" if options["ssl_context"] is not None else "http")
        if fix is not None:     # a secure_scheme_headers of the config's: before the hook, as gunicorn's environ
            pre = fix if pre is None else (lambda environ, hook=pre: (fix(environ), hook(environ))[1])
        if pre is not None:
            options["pre_request"] = pre
        post = self._post_request()
        if post is not None:
            options["post_request"] = post
        return options

    def _pre_request(self) -> Callable[[dict], None] | None:
        hook = hooks.configured(self.cfg, "pre_request")
        if hook is None:
            return None
        return hooks.pre_request_call(self, hook, keep=hooks.configured(self.cfg, "post_request") is not None)

    def _post_request(self) -> Callable[[dict, str, list, int, float], None] | None:
        """One callable for the loop: statsd, the access log and the post_request hook, those in use only."""
        calls: list = []
        if self.statsd is not None:
            calls.append(self.statsd.request)
        if self.logs.access_formatter is not None:
            calls.append(self.logs.log_access)
        hook = hooks.configured(self.cfg, "post_request")
        if hook is not None:
            calls.append(hooks.post_request_call(self, hook))
        if len(calls) <= 1:
            return calls[0] if calls else None

        def every(environ: dict, status: str, headers: list, nbytes: int, seconds: float) -> None:
            for call in calls:
                call(environ, status, headers, nbytes, seconds)

        return every

    def tick(self) -> None:
        """Called by the loop about once a second: beat, flush buffered log lines and metrics, notice an orphaned
        worker or (--reload) changed code."""
        self.heartbeat.beat(self.loop.busy_since() if self.loop is not None else None)
        self.logs.flush()
        if self.statsd is not None:
            self.statsd.flush()
        if self.reloader is not None and self.heartbeat.state == hb.SERVING:
            changed = self.reloader.changed()
            if changed is not None:
                self.log.info("Worker reloading: %s modified", changed)
                self.stop(graceful=True)
        if self._reopen_logs:
            self._reopen_logs = False
            self.logs.reopen()
        if os.getppid() != self.ppid and self.heartbeat.state == hb.SERVING:
            self.log.warning("Parent changed, shutting down: %s", self)
            self.stop(graceful=True)

    def stop(self, graceful: bool) -> None:
        self.heartbeat.state = hb.STOPPING
        if self.loop is None:
            raise SystemExit(0)  # still booting: nothing in flight
        # leave the reuse-port group now, even while an app call holds the loop (a stop from inside the loop,
        # max-requests, leaves through on_stop)
        self._leave_reuse_port_group()
        if graceful and self.heartbeat.final:
            self._leave_listeners()
        self.loop.stop(graceful=graceful, timeout=self.cfg.graceful_timeout)

    def _leave_listeners(self) -> None:
        """A stop that ends the server (the master's TERM, no new master): nobody will accept from the listening
        sockets after us, and the kernel would queue connections there until our exit, then reset them. Accept and
        serve what is queued, then shut the sockets down so that new connections are refused at once (the first
        worker to get here does it for every worker sharing the socket)."""
        for sock in self.listeners:
            try:
                taken = self.loop.leave(sock)
            except OSError:
                continue    # another worker shut it down first
            if taken:
                self.log.debug("Took %d queued connection(s) off %s before the final stop", taken, describe(sock))

    def _leave_reuse_port_group(self) -> None:
        """--reuse-port, as a stop begins: leave the group with our own listening sockets, so
        that the kernel routes new connections to the other sockets; the connections already queued on ours are
        accepted and served first (shutting a socket down resets its queue)."""
        sockets, self.own_sockets = self.own_sockets, []
        for sock in sockets:
            try:
                taken = self.loop.leave(sock)
            except OSError:
                continue
            if taken:
                self.log.debug("Took %d queued connection(s) off %s before leaving the reuse-port group",
                               taken, sock.getsockname())

    def init_signals(self) -> None:
        for sig in (signal.SIGHUP, signal.SIGUSR2, signal.SIGWINCH, signal.SIGTTIN, signal.SIGTTOU):
            signal.signal(sig, signal.SIG_IGN)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, self.handle_term)
        signal.signal(signal.SIGINT, self.handle_quit)
        signal.signal(signal.SIGQUIT, self.handle_quit)
        signal.signal(signal.SIGABRT, self.handle_abort)
        signal.signal(signal.SIGUSR1, self.handle_usr1)

    def handle_term(self, sig: int, frame: Any) -> None:
        self.stop(graceful=True)

    def handle_quit(self, sig: int, frame: Any) -> None:
        try:
            self.cfg.worker_int(self)
        except Exception:
            self.log.exception("Exception in worker_int hook")
        self.stop(graceful=False)

    def handle_abort(self, sig: int, frame: Any) -> None:
        self.log.error("Worker timeout, aborting (pid:%s)", self.pid)
        try:
            if self.loop is not None:
                refused = self.loop.refuse_unstarted()
                if refused:
                    self.log.warning("Answered %d request(s) not yet started with 503 before the abort", refused)
            try:
                self.cfg.worker_abort(self)
            except Exception:
                self.log.exception("Exception in worker_abort hook")
            self.logs.flush()
        finally:
            os._exit(1)

    def handle_usr1(self, sig: int, frame: Any) -> None:
        self._reopen_logs = True

    def _drop_privileges(self) -> None:
        cfg = self.cfg
        if cfg.initgroups and cfg.user is not None and os.getuid() != cfg.user:
            # --initgroups: every group of the user, plus --group (else the user's own group), as gunicorn
            entry = pwd.getpwuid(cfg.user)
            gid = cfg.group if cfg.group is not None else entry.pw_gid
            os.initgroups(entry.pw_name, gid)
            os.setgid(gid)
        elif cfg.group is not None and os.getgid() != cfg.group:
            os.setgroups([])
            os.setgid(cfg.group)
        if self.cfg.user is not None and os.getuid() != self.cfg.user:
            os.setuid(self.cfg.user)


def install_spew() -> None:
    """--spew: print every line executed, on every thread (gunicorn's nuclear option)."""
    import linecache
    import threading

    def spew(frame: Any, event: str, arg: Any) -> Any:
        if event == "line":
            name = frame.f_code.co_filename
            line = linecache.getline(name, frame.f_lineno).rstrip()
            sys.stderr.write(f"{name}:{frame.f_lineno}: {line}\n")
        return spew

    sys.settrace(spew)
    threading.settrace(spew)


def child_main(worker: Worker, server: Any, close_fds: list, sigmask: set | None = None) -> None:
    """Body of a freshly forked worker; never returns (os._exit with gunicorn's worker exit codes).

    `sigmask`: the mask to restore once the worker's handlers are installed (the master blocks signals over fork).
    """
    from fastwsgi.errors import APP_LOAD_ERROR, WORKER_BOOT_ERROR, AppImportError

    code = 0
    worker.pid = os.getpid()
    try:
        worker.init_signals()
        if sigmask is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, sigmask)
        for fd in close_fds:
            try:
                os.close(fd)
            except OSError:
                pass
        worker.log.info("Booting worker with pid: %s", worker.pid)
        worker.cfg.post_fork(server, worker)
        worker.init_process()
        worker.run()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except AppImportError as exc:
        worker.heartbeat.set_reason(str(exc))  # the master prints this line and stops
        details = import_traceback(exc)
        if details:
            worker.log.debug("The application failed to load:\n%s", details.rstrip("\n"))
        code = APP_LOAD_ERROR
    except BaseException as exc:
        reason = f"worker failed to boot: {type(exc).__name__}: {exc}"
        if worker.booted:
            worker.log.exception("Exception in worker process")
            code = 1
        else:
            worker.log.debug("worker boot failure", exc_info=True)
            worker.heartbeat.set_reason(reason)
            code = WORKER_BOOT_ERROR
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGUSR1):
            signal.signal(sig, signal.SIG_IGN)
        try:
            worker.log.info("Worker exiting (pid: %s)", worker.pid)
            worker.cfg.worker_exit(server, worker)
        except BaseException:
            worker.log.exception("worker_exit hook failed")
        try:
            worker.logs.flush()
            sys.stdout.flush()
            sys.stderr.flush()
        except BaseException:
            pass
        os._exit(code)
