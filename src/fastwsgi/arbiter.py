"""The master process: owns the listening sockets, forks workers and keeps the right number of them alive.

Signal handlers only enqueue the signal and wake the master through a pipe. The main loop then dispatches
`handle_<sig>`, reaps dead workers, murders silent ones (--timeout) and manages the worker count:

  TERM      graceful stop: workers finish in-flight requests within --graceful-timeout, then the master exits 0
  INT, QUIT quick stop
  HUP       re-read the config, start new workers, retire the old ones once the new ones serve; HUPs during a
            reload (until its old generation has exited) make one more reload after it, so at most one old
            generation drains at a time and the workers stay within 2x --workers (+1)
  TTIN/TTOU one worker more / less
  USR1      reopen log files (master and workers)
  USR2      fork+exec a new master that inherits the listening sockets ($FASTWSGI_FD); this old master keeps
            serving until told: WINCH retires its workers, TERM stops it (the new master then takes over the pidfile)
  CHLD      reap
"""
from __future__ import annotations

import os
import select
import signal
import sys
import time
from typing import Any, Callable

from fastwsgi import control, hooks, statsd, systemd, tls
from fastwsgi import heartbeat as hb
from fastwsgi.app_loader import load_app
from fastwsgi.config import Config, version
from fastwsgi.errors import APP_LOAD_ERROR, WORKER_BOOT_ERROR, BindError, ConfigError, HaltServer
from fastwsgi.logs import Logs
from fastwsgi.pidfile import Pidfile
from fastwsgi.settings_gunicorn import inert_notes
from fastwsgi.sockets import INHERITED_FDS_ENV, close_listeners, create_listeners, describe, inherited_fds
from fastwsgi.worker import Worker, child_main, set_proc_title

OLD_MASTER_ENV = "FASTWSGI_PID"   # set for a master started by SIGUSR2: the pid of the master that started it

SIGNAL_NAMES = {getattr(signal, f"SIG{name}"): name.lower()
                for name in "HUP QUIT INT TERM TTIN TTOU USR1 USR2 WINCH CHLD".split()}


def fork_with_signals_blocked() -> tuple:
    """fork() with the master's signals blocked across it, so that a signal sent to the new process reaches the
    handlers it installs, not a copy of the master's. Returns (pid, mask before blocking): in the parent the mask is
    restored; the child restores it once its own handlers are in place."""
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, SIGNAL_NAMES)
    try:
        pid = os.fork()
    except BaseException:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        raise
    if pid:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
    return pid, mask


class Arbiter(hooks.ArbiterAttributes):
    """Run with `Arbiter(cfg).run()`; returns when stopped, raises HaltServer when workers cannot boot.

    Hooks get it as gunicorn's `server`: `cfg`, `log`, `pid`, `num_workers`, `workers`/`WORKERS`..."""

    def __init__(self, cfg: Config, logs: Logs | None = None, app: Callable | None = None) -> None:
        self.cfg = cfg
        self.logs = logs or Logs.from_config(cfg)
        self.log = hooks.GunicornLogger(self.logs)
        self.app = app
        self.pid = os.getpid()
        self.listeners: list = []
        self.workers: dict = {}
        self.num_workers = cfg.workers
        self.worker_age = 0
        self.reexec_pid = 0
        self.master_pid = 0
        self.sig_queue: list = []
        self.pipe: list = []
        self.pidfile: Pidfile | None = None
        self.ready = False
        self.to_retire: list = []
        self.retire_deadline = 0.0
        self.draining: list = []        # the old generation of the last reload, retired and not yet exited
        self.reload_pending = False     # a HUP arrived during a reload: reload once more when it is over
        self.systemd = False
        self.stopping = False
        self.statsd: statsd.Statsd | None = None
        self.control = control.Servers(self)    # the control socket and /metrics (opened by start)
        self.reloads = 0
        self.workers_killed = 0
        self.start_environ = dict(os.environ)
        self.start_cwd = os.getcwd()
        self.start_args = self._start_args()

    @property
    def master_name(self) -> str:
        return "Master.2" if self.master_pid else "Master"

    @staticmethod
    def _start_args() -> list:
        orig = getattr(sys, "orig_argv", None)
        if orig:
            return [sys.executable, *orig[1:]]
        return [sys.executable, *sys.argv]

    # ------------------------------------------------------------------------------------------------------ startup
    def start(self) -> None:
        """on_starting, environment, pidfile, signals, sockets, preload. Raises BindError/AppImportError."""
        cfg = self.cfg
        self.pid = os.getpid()
        if OLD_MASTER_ENV in os.environ:
            self.master_pid = int(os.environ.get(OLD_MASTER_ENV) or 0)
        self.log.info("Starting fastwsgi %s", version())
        if cfg.config:
            self.log.info("Config file: %s", cfg.config)
        for note in inert_notes(cfg):
            self.log.info(note)
        self.statsd = statsd.install(cfg, self.logs.error)
        cfg.nworkers_changed(self, self.num_workers, None)  # as gunicorn: the first count, before on_starting
        cfg.on_starting(self)
        hooks.warn_legacy(cfg, self.log)
        os.environ.update(cfg.env)
        if cfg.pidfile:
            self.pidfile = Pidfile(cfg.pidfile + (".2" if self.master_pid else ""))
            other = self.pidfile.running_pid()
            if other:
                self.pidfile = None
                raise HaltServer(f"already running: pid {other} (pidfile {cfg.pidfile})", 1)
            self.pidfile.create(self.pid)
        self.init_signals()

        fds = inherited_fds(os.environ)
        if not fds:
            fds = systemd.listen_fds(os.environ)
            self.systemd = bool(fds)
        self.listeners = create_listeners(cfg.bind, cfg.backlog, cfg.reuse_port, cfg.umask, inherited=fds)
        for sock in self.listeners:
            self.log.info("Listening at: %s (%s)", describe(sock, tls.scheme(cfg)), self.pid)
        if cfg.preload_app and not cfg.reload and self.app is None:  # --reload: the workers import it
            self.app = load_app(cfg.app_uri)
            self.logs.adopt_app_records()
        self.control.open(cfg, self.log, takeover=bool(self.master_pid))

    def init_signals(self) -> None:
        for fd in self.pipe:
            os.close(fd)
        self.pipe = list(os.pipe())
        for fd in self.pipe:
            os.set_blocking(fd, False)
        for sig in SIGNAL_NAMES:
            signal.signal(sig, self.signal)

    def signal(self, sig: int, frame: Any) -> None:
        """Only enqueue and wake the main loop."""
        if sig == signal.SIGCHLD and sig in self.sig_queue:
            pass
        elif len(self.sig_queue) < 10:
            self.sig_queue.append(sig)
        self.wakeup()

    def wakeup(self) -> None:
        try:
            os.write(self.pipe[1], b".")
        except (OSError, IndexError):
            pass

    # ------------------------------------------------------------------------------------------------------- loop
    def run(self) -> None:
        """Start, then supervise until stopped. Raises HaltServer (after cleaning up) when a worker cannot boot."""
        try:
            self.start()
        except BaseException:
            self.control.close()
            if self.pidfile is not None:
                self.pidfile.unlink(self.pid)
            close_listeners(self.listeners, unlink=not self.reexec_pid and not self.master_pid)
            raise
        set_proc_title(f"fastwsgi: master [{self.cfg.proc_title}]")
        try:
            self.manage_workers()
            while True:
                self.maybe_promote_master()
                # poll faster while waiting for workers to come up (READY=1, retiring old workers after HUP)
                self.wait_for_signals(0.1 if not self.ready or self.to_retire or self.reload_pending else 1.0)
                while self.sig_queue:
                    sig = self.sig_queue.pop(0)
                    name = SIGNAL_NAMES.get(sig, str(sig))
                    if sig != signal.SIGCHLD:
                        self.log.info("Handling signal: %s", name)
                    getattr(self, f"handle_{name}")()
                self.reap_workers()
                self.murder_workers()
                self.manage_workers()
                if self.reload_pending and not self.reloading():
                    self.reload_pending = False
                    self.log.info("Reloading for the HUP(s) received during the last reload")
                    self.reload()
                self.check_ready()
                if self.statsd is not None:
                    self.statsd.gauge("gunicorn.workers", len(self.active_workers()))
                    if self.cfg.enable_backlog_metric:
                        self.control.backlog_metric(self.statsd)
                    self.statsd.flush(every=1.0)
        except StopIteration:
            self.halt()
        except HaltServer as exc:
            self.halt(exc.reason, exc.exit_status, graceful=False)
            raise
        except KeyboardInterrupt:
            self.halt(graceful=False)
        except Exception as exc:  # a hook or a bug: never leave workers behind
            self.log.exception("Unhandled exception in the master loop")
            self.halt(graceful=False)
            raise HaltServer(f"unhandled exception in the master: {type(exc).__name__}: {exc}", 1) from None

    def wait_for_signals(self, timeout: float) -> None:
        """Sleep until a signal arrives or `timeout`; serve the control socket and /metrics meanwhile."""
        readers, writers = self.control.watched()
        try:
            ready, writable, _ = select.select([self.pipe[0], *readers], writers, [], timeout)
            self.control.serve(ready, writable)
            if self.pipe[0] in ready:
                while os.read(self.pipe[0], 4096):
                    pass
        except BlockingIOError:
            pass
        except InterruptedError:
            pass

    def check_ready(self) -> None:
        if self.ready:
            return
        if any(worker.heartbeat.state == hb.SERVING for worker in self.workers.values()):
            self.ready = True
            self.cfg.when_ready(self)
            systemd.notify("READY=1")
            self.log.info("Ready: serving with %d worker(s) configured", self.num_workers)

    # ---------------------------------------------------------------------------------------------------- signals
    def handle_chld(self) -> None:
        self.reap_workers()

    def handle_term(self) -> None:
        raise StopIteration

    def handle_int(self) -> None:
        self.stop(graceful=False)
        raise StopIteration

    handle_quit = handle_int

    def handle_hup(self) -> None:
        self.log.info("Hang up: %s", self.master_name)
        if self.reloading():
            if not self.reload_pending:
                self.log.info("A reload is in progress: this HUP reloads once more when its old workers have "
                              "exited (HUPs until then count as one)")
            self.reload_pending = True
            return
        self.reload()

    def handle_ttin(self) -> None:
        self.set_num_workers(self.num_workers + 1)

    def handle_ttou(self) -> None:
        if self.num_workers > 1:
            self.set_num_workers(self.num_workers - 1)

    def handle_usr1(self) -> None:
        self.logs.reopen()
        self.kill_workers(signal.SIGUSR1)

    def handle_usr2(self) -> None:
        self.reexec()

    def handle_winch(self) -> None:
        if self.reexec_pid:
            self.log.info("Graceful stop of workers (a new master runs: pid %s)", self.reexec_pid)
            self.set_num_workers(0)
        else:
            self.log.debug("SIGWINCH ignored: no new master")

    def set_num_workers(self, value: int) -> None:
        old, self.num_workers = self.num_workers, value
        self.cfg.nworkers_changed(self, value, old)   # each time it is set, as gunicorn's num_workers setter does

    # --------------------------------------------------------------------------------------------------- workers
    def active_workers(self) -> list:
        return [w for w in self.workers.values() if not w.retiring and w not in self.to_retire]

    def manage_workers(self) -> None:
        """Spawn up to num_workers; retire old workers once their replacements serve; retire the oldest extras."""
        if self.stopping:
            return
        active = self.active_workers()
        for _ in range(self.num_workers - len(active)):
            self.spawn_worker()
        if self.to_retire:
            fresh = self.active_workers()
            if all(w.heartbeat.state == hb.SERVING for w in fresh) or time.monotonic() > self.retire_deadline:
                for worker in self.to_retire:
                    self.retire(worker)
                self.draining, self.to_retire = self.to_retire, []
        active = sorted(self.active_workers(), key=lambda w: w.age)
        while len(active) > self.num_workers:
            self.retire(active.pop(0))

    def reloading(self) -> bool:
        """A reload is in progress: its new workers are not all serving yet, or its old ones have not exited."""
        self.draining = [w for w in self.draining if w.pid in self.workers]
        return bool(self.to_retire or self.draining)

    def retire(self, worker: Worker) -> None:
        if worker.pid not in self.workers or worker.retiring:
            return
        worker.retiring = True
        worker.retire_deadline = time.monotonic() + self.cfg.graceful_timeout + 5.0
        self.kill_worker(worker.pid, signal.SIGTERM)

    def spawn_worker(self) -> int:
        self.worker_age += 1
        worker = Worker(self.worker_age, self.pid, self.listeners, self.app, self.cfg, self.logs, server=self)
        worker.generation, worker.born = self.reloads, time.monotonic()
        self.cfg.pre_fork(self, worker)
        # signals stay blocked across fork until the worker has its own handlers: a TERM sent to a worker that
        # was just forked must reach the worker's handler, not a copy of the master's
        pid, mask = fork_with_signals_blocked()
        if pid:
            worker.pid = pid
            self.workers[pid] = worker
            return pid
        for other in self.workers.values():
            other.heartbeat.close()
        self.control.forget()
        child_main(worker, self, close_fds=self.pipe, sigmask=mask)  # never returns
        return 0

    def kill_workers(self, sig: int) -> None:
        for pid in list(self.workers):
            self.kill_worker(pid, sig)

    def kill_worker(self, pid: int, sig: int) -> None:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            worker = self.workers.pop(pid, None)
            if worker is not None:
                worker.heartbeat.close()

    def murder_workers(self) -> None:
        """SIGABRT a worker silent past --timeout, SIGKILL it on the next pass; SIGKILL overdue retirees."""
        timeout = self.cfg.timeout
        now = time.monotonic()
        for pid, worker in list(self.workers.items()):
            if worker.retiring and now > worker.retire_deadline:
                self.log.warning("Worker (pid:%s) still retiring after --graceful-timeout: SIGKILL", pid)
                self.kill_worker(pid, signal.SIGKILL)
                continue
            # a healthy worker beats about once a second: allow that period on top of --timeout
            if not timeout or worker.heartbeat.silence() <= timeout + hb.BEAT_PERIOD:
                continue
            if not worker.aborted:
                self.log.critical("WORKER TIMEOUT (pid:%s)", pid)
                worker.aborted = True
                self.kill_worker(pid, signal.SIGABRT)
            else:
                self.kill_worker(pid, signal.SIGKILL)

    def reap_workers(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            except InterruptedError:
                continue
            if not pid:
                return
            if pid == self.reexec_pid:
                self.log.warning("New master (pid:%s) exited with status %s", pid, _describe_status(status))
                self.reexec_pid = 0
                continue
            worker = self.workers.pop(pid, None)
            if worker is None:
                continue
            code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else None
            booting = worker.heartbeat.state == hb.BOOTING
            reason = worker.heartbeat.reason()
            if booting and code in (APP_LOAD_ERROR, WORKER_BOOT_ERROR):
                self.log.info("Worker (pid:%s) failed to boot", pid)
            else:
                self._log_exit(worker, status)
            self.control.figures.worker_exited(worker)
            worker.heartbeat.close()
            self.cfg.child_exit(self, worker)
            if booting and code in (APP_LOAD_ERROR, WORKER_BOOT_ERROR):
                if worker.retiring:  # a worker of an aborted reload
                    continue
                if self.to_retire:
                    self.abort_reload(reason)
                    continue
                if code == APP_LOAD_ERROR:
                    raise HaltServer(reason or "the application failed to load", APP_LOAD_ERROR)
                raise HaltServer(reason or "a worker failed to boot", WORKER_BOOT_ERROR)

    def abort_reload(self, reason: str) -> None:
        """A worker started by SIGHUP cannot boot while the old ones still serve: keep the old ones (gunicorn would
        halt the whole server here)."""
        self.log.error("Reload failed, the old workers keep serving: %s", reason)
        keep = [w for w in self.to_retire if w.pid in self.workers]
        self.to_retire = []
        for worker in list(self.workers.values()):
            if worker not in keep and not worker.retiring:
                worker.retiring = True
                worker.retire_deadline = time.monotonic() + 5.0
                self.kill_worker(worker.pid, signal.SIGQUIT)
        self.set_num_workers(max(1, len(keep)))

    def _log_exit(self, worker: Worker, status: int) -> None:
        pid = worker.pid
        if os.WIFSIGNALED(status):
            sig = os.WTERMSIG(status)
            name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
            if sig == signal.SIGKILL:
                self.log.error("Worker (pid:%s) was sent SIGKILL! Perhaps out of memory?", pid)
            else:
                self.log.error("Worker (pid:%s) was killed by signal %s", pid, name)
        elif os.WEXITSTATUS(status) != 0:
            self.log.error("Worker (pid:%s) exited with code %s", pid, os.WEXITSTATUS(status))
        else:
            self.log.info("Worker (pid:%s) exited", pid)

    # ------------------------------------------------------------------------------------------------ reload/exec
    def reload(self) -> None:
        """SIGHUP: re-read the config, start new workers, retire the old ones once the new ones serve."""
        old_cfg = self.cfg
        try:
            cfg = old_cfg.reread()
            tls.make_context(cfg)
        except ConfigError as exc:
            self.log.error("Reload failed, keeping the current settings: %s", exc)
            return
        for key in old_cfg.env:
            os.environ.pop(key, None)
        os.environ.update(cfg.env)
        self.cfg = cfg
        try:
            self.logs = Logs.from_config(cfg)
        except ConfigError as exc:
            self.log.error("Reload: %s", exc)
        self.log = hooks.GunicornLogger(self.logs)
        self.statsd = statsd.install(cfg, self.logs.error)
        if (cfg.bind, cfg.reuse_port) != (old_cfg.bind, old_cfg.reuse_port) and not self.systemd:
            try:
                new = create_listeners(cfg.bind, cfg.backlog, cfg.reuse_port, cfg.umask)
            except BindError as exc:
                self.log.error("Reload: cannot bind the new addresses, keeping the current sockets: %s", exc)
            else:
                close_listeners(self.listeners, unlink=self.reexec_pid == self.master_pid == 0)
                self.listeners = new
                for sock in self.listeners:
                    self.log.info("Listening at: %s (%s)", describe(sock, tls.scheme(cfg)), self.pid)
        cfg.on_reload(self)
        if cfg.pidfile != old_cfg.pidfile:
            if self.pidfile is not None:
                self.pidfile.unlink(self.pid)
            self.pidfile = Pidfile(cfg.pidfile) if cfg.pidfile else None
            if self.pidfile is not None:
                self.pidfile.create(self.pid)
        set_proc_title(f"fastwsgi: master [{cfg.proc_title}]")
        self.reloads += 1
        self.set_num_workers(cfg.workers)
        self.to_retire = [w for w in self.workers.values() if not w.retiring]
        self.retire_deadline = time.monotonic() + max(cfg.timeout or 30.0, 5.0)
        self.manage_workers()

    def reexec(self) -> None:
        """SIGUSR2: fork, and exec a new master with the listening sockets in $FASTWSGI_FD."""
        if self.reexec_pid:
            self.log.warning("USR2 ignored: a new master already runs (pid %s)", self.reexec_pid)
            return
        if self.master_pid:
            self.log.warning("USR2 ignored: the old master (pid %s) still runs", self.master_pid)
            return
        master_pid = os.getpid()
        pid, mask = fork_with_signals_blocked()
        if pid:
            self.reexec_pid = pid
            self.log.info("Re-executing: new master pid %s", pid)
            return
        try:
            for sig in SIGNAL_NAMES:
                signal.signal(sig, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)  # exec keeps the mask: the new master needs it clear
            self.cfg.pre_exec(self)
            environ = {k: v for k, v in self.start_environ.items() if not k.startswith("LISTEN_")}
            environ[OLD_MASTER_ENV] = str(master_pid)
            for sock in self.listeners:
                sock.set_inheritable(True)
            environ[INHERITED_FDS_ENV] = ",".join(str(sock.fileno()) for sock in self.listeners)
            os.chdir(self.start_cwd)
            os.execve(self.start_args[0], self.start_args, environ)
        except BaseException:
            self.log.exception("re-exec failed")
        finally:
            os._exit(1)

    def maybe_promote_master(self) -> None:
        if not self.master_pid or os.getppid() == self.master_pid:
            return
        self.log.info("Master has been promoted (old master %s is gone)", self.master_pid)
        self.master_pid = 0
        os.environ.pop(OLD_MASTER_ENV, None)
        if self.pidfile is not None and self.cfg.pidfile:
            try:
                self.pidfile.rename(self.cfg.pidfile)
            except OSError as exc:
                self.log.warning("cannot rename pidfile: %s", exc)
        set_proc_title(f"fastwsgi: master [{self.cfg.proc_title}]")

    # ------------------------------------------------------------------------------------------------------- stop
    def stop(self, graceful: bool = True) -> None:
        """Close the listeners, signal every worker, wait up to --graceful-timeout, then SIGKILL the rest."""
        if self.stopping and graceful:
            return
        self.stopping = True
        systemd.notify("STOPPING=1")
        # final: no new master (USR2) or old one, nor systemd, keeps these sockets; the workers then serve what waits
        # in the listen backlog and shut the sockets down (refused, not queued and reset at exit)
        final = self.reexec_pid == self.master_pid == 0 and not self.systemd
        close_listeners(self.listeners, unlink=final)
        self.listeners = []
        for worker in self.workers.values():
            worker.heartbeat.final = final
        self.kill_workers(signal.SIGTERM if graceful else signal.SIGQUIT)
        deadline = time.monotonic() + self.cfg.graceful_timeout
        while self.workers and time.monotonic() < deadline:
            time.sleep(0.05)
            if graceful and any(sig in (signal.SIGINT, signal.SIGQUIT) for sig in self.sig_queue):
                self.log.info("Quick stop asked during the graceful stop")
                self.sig_queue.clear()
                self.kill_workers(signal.SIGQUIT)
            try:
                self.reap_workers()
            except HaltServer:
                pass
        self.kill_workers(signal.SIGKILL)
        kill_deadline = time.monotonic() + 5.0
        while self.workers and time.monotonic() < kill_deadline:
            time.sleep(0.02)
            try:
                self.reap_workers()
            except HaltServer:
                pass

    def halt(self, reason: str | None = None, exit_status: int = 0, graceful: bool = True) -> None:
        self.control.close()
        self.stop(graceful=graceful)
        self.log.info("Shutting down: %s", self.master_name)
        if reason is not None and self.cfg.errorlog != "-":
            self.log.error("Reason: %s", reason)
        if self.pidfile is not None:
            self.pidfile.unlink(self.pid)
        try:
            self.cfg.on_exit(self)
        finally:
            self.logs.flush()
            if self.statsd is not None:
                self.statsd.flush()
            for fd in self.pipe:
                try:
                    os.close(fd)
                except OSError:
                    pass
            self.pipe = []


def _describe_status(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"signal {os.WTERMSIG(status)}"
    return f"code {os.WEXITSTATUS(status)}"

