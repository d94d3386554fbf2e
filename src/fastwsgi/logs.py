"""Logging: loggers `fastwsgi.error` and `fastwsgi.access`, files reopened on SIGUSR1, access lines buffered.

Access lines are formatted in the worker's post_request callback and kept in memory; the buffer is written (whole
lines, at most PIPE_BUF bytes per write so workers sharing a pipe never interleave inside a line) on the loop's
once-a-second tick, when it passes 64 KiB, and at exit. Error lines are written at once.

Nothing the application does to `logging` silences the server's logs (see docs/deployment.md, "Logging"):
- our handlers keep their file descriptor when closed: logging.shutdown(), dictConfig() and fileConfig() close every
  handler there is, and a closed handler used to drop every later line; only `dispose()` (a new Logs on HUP, the
  end) closes the descriptor;
- the two loggers are `ServerLogger`s, which `disable_existing_loggers` (dictConfig's default, and fileConfig's)
  and logging.disable() cannot switch off. A configuration that names them (or gunicorn's names for them,
  `gunicorn.error` and `gunicorn.access`, which are the same two loggers) does reconfigure them, as in gunicorn;
- with an error log file, the application's own warnings and errors that no root handler takes (Django's 500
  tracebacks, which its default configuration only mails to ADMINS) are written there too (`adopt_app_records`).
"""
from __future__ import annotations

import logging
import os
import re
import sys
import time
from typing import Any, Callable

from fastwsgi import logconfig
from fastwsgi.errors import ConfigError

ERROR_LOGGER = "fastwsgi.error"
ACCESS_LOGGER = "fastwsgi.access"
GUNICORN_NAMES = {ERROR_LOGGER: "gunicorn.error", ACCESS_LOGGER: "gunicorn.access"}
ERROR_FORMAT = "[%(asctime)s] [%(process)d] [%(levelname)s] %(message)s"
APP_FORMAT = "[%(asctime)s] [%(process)d] [%(levelname)s] %(name)s: %(message)s"
DATE_FORMAT = "%Y-%m-%d %H:%M:%S %z"
_PIPE_BUF = 4096
_BUFFER_LIMIT = 65536


class ServerLogger(logging.Logger):
    """The class of the server's two loggers: never disabled (dictConfig and fileConfig set `disabled` on every
    logger they do not name unless told otherwise, and Django's LOGGING, fileConfig's default and many apps do), and
    deaf to logging.disable(); their level and handlers are set as usual."""

    @property  # type: ignore[override]
    def disabled(self) -> bool:
        return False

    @disabled.setter
    def disabled(self, value: bool) -> None:
        pass

    def isEnabledFor(self, level: int) -> bool:
        return level >= self.getEffectiveLevel()


def server_logger(name: str) -> logging.Logger:
    """logging.getLogger(name) made a ServerLogger, also registered under gunicorn's name for it, so that
    `logging.getLogger("gunicorn.error")` (an app that logs through gunicorn's handlers) and gunicorn log configs
    reach it."""
    manager = logging.Logger.manager
    previous, manager.loggerClass = manager.loggerClass, ServerLogger
    try:
        logger = logging.getLogger(name)
    finally:
        manager.loggerClass = previous
    if type(logger) is logging.Logger:  # made before us (a setLoggerClass() subclass is left as it is)
        logger.__class__ = ServerLogger
    alias = GUNICORN_NAMES[name]
    existing = manager.loggerDict.get(alias)
    if existing is not logger:
        manager.loggerDict[alias] = logger
        if isinstance(existing, logging.PlaceHolder):  # loggers named below the alias get it as their parent
            for child in list(existing.loggerMap):
                if not child.parent.name.startswith(alias + "."):
                    child.parent = logger
    return logger


class LineHandler(logging.Handler):
    """Writes formatted lines to a file ('-': the given standard fd) with os.write; reopenable; optionally buffered."""

    def __init__(self, target: str, std_fd: int, buffered: bool) -> None:
        super().__init__()
        self.target = target
        self.std_fd = std_fd
        self.buffered = buffered
        self._lines: list = []
        self._size = 0
        self.fd = -1
        self.open()

    def open(self) -> None:
        if self.target == "-":
            self.fd = self.std_fd
            return
        try:
            self.fd = os.open(self.target, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise ConfigError(f"cannot open log file {self.target!r}: {exc.strerror}") from None

    def reopen(self) -> None:
        """SIGUSR1: flush, then reopen the file by name (after logrotate moved it)."""
        self.acquire()
        try:
            self._write_buffer()
            if self.target != "-":
                old = self.fd
                self.open()
                os.close(old)
        finally:
            self.release()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record) + "\n"
        except Exception:
            self.handleError(record)
            return
        if self.buffered:
            self._lines.append(line)
            self._size += len(line)
            if self._size >= _BUFFER_LIMIT:
                self._write_buffer()
        else:
            self._write(line.encode("utf-8", "replace"))

    def flush(self) -> None:
        if self._lines:
            self.acquire()
            try:
                self._write_buffer()
            finally:
                self.release()

    def _write_buffer(self) -> None:
        lines, self._lines, self._size = self._lines, [], 0
        chunk: list = []
        size = 0
        for line in lines:
            data = line.encode("utf-8", "replace")
            if size and size + len(data) > _PIPE_BUF:
                self._write(b"".join(chunk))
                chunk, size = [], 0
            chunk.append(data)
            size += len(data)
        if chunk:
            self._write(b"".join(chunk))

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                written = os.write(self.fd, view)
            except InterruptedError:
                continue
            except OSError:
                return  # a closed stderr must not kill the server
            view = view[written:]

    def write_line(self, line: str) -> None:
        """Write one formatted line now (records of the application's loggers, see AppRecords)."""
        self.acquire()
        try:
            self._write_buffer()
            self._write((line + "\n").encode("utf-8", "replace"))
        finally:
            self.release()

    def close(self) -> None:
        """Called by logging.shutdown() and by every dictConfig()/fileConfig(), which close all handlers: flush and
        keep the file open, so that the server's lines go on being written (dispose() closes it)."""
        self.flush()

    def dispose(self) -> None:
        self.flush()
        if self.target != "-" and self.fd >= 0:
            try:
                os.close(self.fd)
            except OSError:
                pass
            self.fd = -1
        super().close()


class AppRecords(logging.Handler):
    """On the root logger while no other handler is there: the application's warnings and errors (with their
    logger's name) go to the error log file instead of nowhere. Writes through the current Logs' error handler."""

    target: LineHandler | None = None

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.setFormatter(logging.Formatter(APP_FORMAT, DATE_FORMAT))

    def emit(self, record: logging.LogRecord) -> None:
        target = self.target
        if target is None:
            return
        try:
            line = self.format(record)
        except Exception:
            self.handleError(record)
            return
        target.write_line(line)

    def close(self) -> None:
        pass


APP_RECORDS = AppRecords()


# --------------------------------------------------------------------------------------------------- access log atoms

_ATOM = re.compile(r"%\(([^)]+)\)s")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _request_header(environ: dict, name: str) -> str:
    key = name.upper().replace("-", "_")
    if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        return environ.get(key) or "-"
    return environ.get("HTTP_" + key) or "-"


def _response_header(headers: list, name: str) -> str:
    for key, value in headers:
        if key.lower() == name:
            return value
    return "-"


def _user(environ: dict) -> str:
    user = environ.get("REMOTE_USER")
    if user:
        return user
    auth = environ.get("HTTP_AUTHORIZATION", "")
    if auth[:6].lower() == "basic ":
        import base64
        import binascii

        try:
            return base64.b64decode(auth[6:].strip()).decode("latin-1").split(":", 1)[0] or "-"
        except (binascii.Error, ValueError):
            return "-"
    return "-"


class AccessFormatter:
    """Compiles a gunicorn access_log_format once; `format(...)` computes only the atoms the format uses."""

    _date_second = -1
    _date_text = ""

    def __init__(self, fmt: str) -> None:
        self.fmt = fmt
        self.keys = sorted(set(_ATOM.findall(fmt)))
        self.getters: list = [(key, self._getter(key)) for key in self.keys]
        try:
            fmt % dict.fromkeys(self.keys, "-")
        except (TypeError, ValueError, KeyError) as exc:
            raise ConfigError(f"access_log_format: {exc}") from None

    def _getter(self, key: str) -> Callable[[dict, str, list, int, float], Any]:
        if key.startswith("{") and "}" in key:
            name, _, kind = key[1:].partition("}")
            name = name.lower()
            if kind == "i":
                return lambda env, status, headers, nbytes, secs: _request_header(env, name)
            if kind == "o":
                return lambda env, status, headers, nbytes, secs: _response_header(headers, name)
            if kind == "e":
                var = key[1:].partition("}")[0]  # environ keys are case-sensitive
                return lambda env, status, headers, nbytes, secs: str(env.get(var, "-"))
            raise ConfigError(f"access_log_format: unknown atom %({key})s")
        simple: dict = {
            "h": lambda e, s, hd, n, t: e.get("REMOTE_ADDR") or "-",
            "l": lambda e, s, hd, n, t: "-",
            "u": lambda e, s, hd, n, t: _user(e),
            "t": lambda e, s, hd, n, t: self._date(),
            "r": lambda e, s, hd, n, t: (
                f"{e.get('REQUEST_METHOD')} {e.get('RAW_URI') or _uri(e)} {e.get('SERVER_PROTOCOL')}"),
            "m": lambda e, s, hd, n, t: e.get("REQUEST_METHOD", "-"),
            "U": lambda e, s, hd, n, t: e.get("PATH_INFO", "-"),
            "q": lambda e, s, hd, n, t: e.get("QUERY_STRING", ""),
            "H": lambda e, s, hd, n, t: e.get("SERVER_PROTOCOL", "-"),
            "s": lambda e, s, hd, n, t: s.split(" ", 1)[0],
            "B": lambda e, s, hd, n, t: str(n),
            "b": lambda e, s, hd, n, t: str(n) if n else "-",
            "f": lambda e, s, hd, n, t: e.get("HTTP_REFERER") or "-",
            "a": lambda e, s, hd, n, t: e.get("HTTP_USER_AGENT") or "-",
            "T": lambda e, s, hd, n, t: str(int(t)),
            "M": lambda e, s, hd, n, t: str(int(t * 1000)),
            "D": lambda e, s, hd, n, t: str(int(t * 1000000)),
            "L": lambda e, s, hd, n, t: f"{t:.6f}",
            "p": lambda e, s, hd, n, t: f"<{os.getpid()}>",
        }
        if key not in simple:
            raise ConfigError(f"access_log_format: unknown atom %({key})s")
        return simple[key]

    def _date(self) -> str:
        now = int(time.time())
        if now != self._date_second:
            tm = time.localtime(now)
            offset = tm.tm_gmtoff // 60
            sign = "+" if offset >= 0 else "-"
            offset = abs(offset)
            self._date_text = (f"[{tm.tm_mday:02d}/{_MONTHS[tm.tm_mon - 1]}/{tm.tm_year}:"
                               f"{tm.tm_hour:02d}:{tm.tm_min:02d}:{tm.tm_sec:02d} "
                               f"{sign}{offset // 60:02d}{offset % 60:02d}]")
            self._date_second = now
        return self._date_text

    def format(self, environ: dict, status: str, headers: list, nbytes: int, seconds: float) -> str:
        atoms = {key: getter(environ, status, headers, nbytes, seconds) for key, getter in self.getters}
        return self.fmt % atoms

    def atoms(self, environ: dict, status: str, headers: list, nbytes: int, seconds: float) -> Atoms:
        """gunicorn's atoms mapping (the args of its access record, which log-config formatters read): every
        simple atom, and {header}i, {header}o, {var}e looked up when asked; '-' for anything unknown."""
        if self._every is None:
            self._every = [(key, self._getter(key)) for key in "hlutrmUqHsbfaLp"]
        atoms = Atoms({key: _escape(getter(environ, status, headers, nbytes, seconds)) for key, getter in self._every})
        atoms.update(B=nbytes, T=int(seconds), M=int(seconds * 1000), D=int(seconds * 1000000))
        atoms.sources = (environ, headers)
        return atoms

    _every: list | None = None


class Atoms(dict):
    """gunicorn's SafeAtoms: a missing atom is '-'; {name}i, {name}o and {name}e are found in the request headers,
    the response headers and the environ; '"' in a text value is escaped as '\\"'."""

    sources: tuple = ({}, [])

    def __missing__(self, key: str) -> Any:
        if key.startswith("{") and "}" in key:
            name, _, kind = key[1:].partition("}")
            environ, headers = self.sources
            if kind == "i":
                return _escape(_request_header(environ, name))
            if kind == "o":
                return _escape(_response_header(headers, name.lower()))
            if kind == "e":
                if name not in environ:  # gunicorn matches environ keys without case
                    name = next((key for key in environ if key.lower() == name.lower()), name)
                return _escape(environ.get(name, "-"))
        return "-"


def _escape(value: Any) -> Any:
    return value.replace('"', '\\"') if isinstance(value, str) else value


def _uri(environ: dict) -> str:
    from urllib.parse import quote

    path = quote(environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", ""), safe="/;=,@:!$&'()*+~")
    query = environ.get("QUERY_STRING")
    return f"{path}?{query}" if query else path


# ------------------------------------------------------------------------------------------------------------ setup

class Logs:
    """The process's logs. Build once per process (master at start, again on HUP; workers inherit them by fork).

    `cfg` brings gunicorn's other logging settings (capture_output, syslog*, logconfig*); without it only the four
    given here apply.
    """

    def __init__(self, errorlog: str, loglevel: str, accesslog: str | None, access_log_format: str,
                 cfg: Any = None) -> None:
        self.errorlog = errorlog
        self.error = server_logger(ERROR_LOGGER)
        self.access = server_logger(ACCESS_LOGGER)
        self.capture_output = bool(cfg is not None and cfg.capture_output and errorlog != "-")
        self.structured = cfg is not None and logconfig.uses_log_config(cfg)
        syslog = cfg is not None and cfg.syslog
        access_syslog = syslog and not cfg.disable_redirect_access_to_syslog
        self.access_formatter: AccessFormatter | None = None
        if accesslog or self.structured or access_syslog:  # gunicorn: any of these turns access logging on
            self.access_formatter = AccessFormatter(access_log_format)
        # open everything first: when a file or the syslog address fails (ConfigError), the previous Logs stays
        self.handlers: list = []
        self._targets: list = []  # (handler, logger)
        try:
            self.error_handler = self._add(self.error, LineHandler(errorlog, 2, buffered=False), ERROR_FORMAT)
            if syslog:
                self._add(self.error, logconfig.syslog_handler(cfg, "error"))
            if accesslog:
                self._add(self.access, LineHandler(accesslog, 1, buffered=True), "%(message)s")
            if access_syslog:
                self._add(self.access, logconfig.syslog_handler(cfg, "access"))
        except BaseException:
            self.close()
            raise
        if Logs.current is not None:  # HUP: the previous handlers go, attached or not (a log config detaches them)
            for logger in (self.error, self.access):
                for old in Logs.current.handlers:
                    logger.removeHandler(old)
            Logs.current.close()
        Logs.current = self
        self.error.propagate = self.access.propagate = False
        for handler, logger in self._targets:
            logger.addHandler(handler)
        self.error.setLevel(getattr(logging, loglevel.upper()))
        self.access.setLevel(logging.INFO if self.access_formatter is not None else logging.CRITICAL + 1)
        APP_RECORDS.target = self.error_handler
        if errorlog == "-":  # records nobody takes go to stderr by themselves (logging.lastResort)
            logging.getLogger().removeHandler(APP_RECORDS)
        if self.capture_output:
            self._capture()
        if self.structured:
            logconfig.apply_log_config(cfg)

    def _add(self, logger: logging.Logger, handler: Any, fmt: str | None = None) -> Any:
        """A handler for `logger`, attached once every handler could be opened."""
        if fmt is not None:
            handler.setFormatter(logging.Formatter(fmt, DATE_FORMAT))
        self.handlers.append(handler)
        self._targets.append((handler, logger))
        return handler

    current: Logs | None = None  # the process's Logs, the last built

    def _capture(self) -> None:
        """--capture-output: the error log file becomes the process's fds 1 and 2 (inherited by the workers), so
        that what the application prints lands there; Python's stdout and stderr flush at each line."""
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (AttributeError, OSError, ValueError):
                pass
        for fd in (1, 2):
            os.dup2(self.error_handler.fd, fd)
        for stream in (sys.stdout, sys.stderr):
            reconfigure = getattr(stream, "reconfigure", None)
            if reconfigure is not None:
                try:
                    reconfigure(line_buffering=True)
                except (OSError, ValueError):
                    pass

    @classmethod
    def from_config(cls, cfg: Any) -> Logs:
        return cls(cfg.errorlog, cfg.loglevel, cfg.accesslog, cfg.access_log_format, cfg)

    def adopt_app_records(self) -> None:
        """Once the application is loaded: with an error log file, and no handler on the root logger (the app
        configured none, or a configuration left root without one, as Django's does), the application's warnings
        and errors are written to the error log file rather than lost."""
        root = logging.getLogger()
        if self.errorlog != "-" and not root.handlers:
            root.addHandler(APP_RECORDS)

    def log_access(self, environ: dict, status: str, headers: list, nbytes: int, seconds: float) -> None:
        formatter = self.access_formatter
        if formatter is not None:
            try:
                if self.structured:  # gunicorn's record: the format and its atoms, for the configured formatters
                    self.access.info(formatter.fmt, formatter.atoms(environ, status, headers, nbytes, seconds))
                else:
                    self.access.info(formatter.format(environ, status, headers, nbytes, seconds))
            except Exception:
                self.error.exception("access log line failed")

    def flush(self) -> None:
        for handler in self.handlers:
            handler.flush()

    def reopen(self) -> None:
        """USR1: our files, the captured output, and (as gunicorn does) every logging.FileHandler of the process,
        a log config's or the application's."""
        for handler in self.handlers:
            if isinstance(handler, LineHandler):
                handler.reopen()
        if self.capture_output:
            self._capture()
        loggers = [logging.getLogger()] + [logger for logger in logging.Logger.manager.loggerDict.values()
                                           if isinstance(logger, logging.Logger)]
        for handler in {id(h): h for logger in loggers for h in logger.handlers}.values():
            if isinstance(handler, logging.FileHandler) and handler.stream is not None:
                handler.acquire()
                try:
                    handler.close()
                    handler.stream = handler._open()
                except OSError:
                    self.error.exception("cannot reopen %s", handler.baseFilename)
                finally:
                    handler.release()

    def close(self) -> None:
        handlers, self.handlers = self.handlers, []
        for handler in handlers:
            handler.dispose()
