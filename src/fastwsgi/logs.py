"""Logging: loggers `fastwsgi.error` and `fastwsgi.access`, files reopened on SIGUSR1, access lines buffered.

Access lines are formatted in the worker's post_request callback and kept in memory; the buffer is written (whole
lines, at most PIPE_BUF bytes per write so workers sharing a pipe never interleave inside a line) on the loop's
once-a-second tick, when it passes 64 KiB, and at exit. Error lines are written at once.
"""
from __future__ import annotations

import logging
import os
import re
import time
from typing import Any, Callable

from fastwsgi.errors import ConfigError

ERROR_LOGGER = "fastwsgi.error"
ACCESS_LOGGER = "fastwsgi.access"
ERROR_FORMAT = "[%(asctime)s] [%(process)d] [%(levelname)s] %(message)s"
DATE_FORMAT = "%Y-%m-%d %H:%M:%S %z"
_PIPE_BUF = 4096
_BUFFER_LIMIT = 65536


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

    def close(self) -> None:
        self.flush()
        if self.target != "-" and self.fd >= 0:
            try:
                os.close(self.fd)
            except OSError:
                pass
            self.fd = -1
        super().close()


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


def _uri(environ: dict) -> str:
    from urllib.parse import quote

    path = quote(environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", ""), safe="/;=,@:!$&'()*+~")
    query = environ.get("QUERY_STRING")
    return f"{path}?{query}" if query else path


# ------------------------------------------------------------------------------------------------------------ setup

class Logs:
    """The process's log handlers. Build once per process (master at start, again on HUP; worker after fork)."""

    def __init__(self, errorlog: str, loglevel: str, accesslog: str | None, access_log_format: str) -> None:
        self.error = logging.getLogger(ERROR_LOGGER)
        self.access = logging.getLogger(ACCESS_LOGGER)
        self.handlers: list = []
        error_handler = LineHandler(errorlog, 2, buffered=False)
        error_handler.setFormatter(logging.Formatter(ERROR_FORMAT, DATE_FORMAT))
        self._install(self.error, error_handler, getattr(logging, loglevel.upper()))
        self.access_formatter: AccessFormatter | None = None
        if accesslog:
            self.access_formatter = AccessFormatter(access_log_format)
            access_handler = LineHandler(accesslog, 1, buffered=True)
            access_handler.setFormatter(logging.Formatter("%(message)s"))
            self._install(self.access, access_handler, logging.INFO)
        else:
            for handler in list(self.access.handlers):
                if isinstance(handler, LineHandler):
                    self.access.removeHandler(handler)
                    handler.close()
            self.access.setLevel(logging.CRITICAL + 1)  # off
            self.access.propagate = False

    def _install(self, logger: logging.Logger, handler: LineHandler, level: int) -> None:
        for old in list(logger.handlers):
            if isinstance(old, LineHandler):
                logger.removeHandler(old)
                old.close()
        logger.addHandler(handler)
        logger.setLevel(level)
        logger.propagate = False
        self.handlers.append(handler)

    @classmethod
    def from_config(cls, cfg: Any) -> Logs:
        return cls(cfg.errorlog, cfg.loglevel, cfg.accesslog, cfg.access_log_format)

    def log_access(self, environ: dict, status: str, headers: list, nbytes: int, seconds: float) -> None:
        formatter = self.access_formatter
        if formatter is not None:
            try:
                self.access.info(formatter.format(environ, status, headers, nbytes, seconds))
            except Exception:
                self.error.exception("access log line failed")

    def flush(self) -> None:
        for handler in self.handlers:
            handler.flush()

    def reopen(self) -> None:
        for handler in self.handlers:
            handler.reopen()

    def close(self) -> None:
        for handler in self.handlers:
            handler.close()
