"""What server hooks receive, under gunicorn's names: the request (`req`), the response (`resp`), the logger
(`worker.log`, `server.log`) and gunicorn's attribute names on the worker and the master.

A server without pre_request/post_request hooks pays nothing: the loop is only handed a request callable when a hook
is configured, and a `Request` is built from the environ in that callable. Its attributes read the environ the first
time they are asked for.

fastwsgi's hooks used to receive the environ itself: `pre_request(worker, environ)` and
`post_request(worker, environ, status, headers)`. Hooks whose parameters have those names are called that way (the
master warns at start); a `Request` is also a mapping over the environ, for such hooks under other names.
"""
from __future__ import annotations

import importlib
import inspect
import logging
import os
import sys
import threading
import time
from collections.abc import Iterator, MutableMapping
from functools import cached_property
from typing import Any, Callable
from urllib.parse import unquote_to_bytes

from fastwsgi import heartbeat as hb

REQUEST_KEY = "fastwsgi.hook_request"   # the environ key holding the Request from pre_request until post_request
_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
_SPECIAL_HEADERS = {"CONTENT_TYPE": "CONTENT-TYPE", "CONTENT_LENGTH": "CONTENT-LENGTH"}
_IN_POST_REQUEST = threading.local()    # .active: this thread runs post_request (its request not yet counted)


def split_target(uri: str) -> tuple:
    """(path, query, fragment) of a request-target, as gunicorn splits it (no percent-decoding; absolute-form
    gives the path part; a path beginning with // stays a path)."""
    rest, _, fragment = uri.partition("#")
    rest, _, query = rest.partition("?")
    if "://" in rest and not rest.startswith("/"):
        after = rest.split("://", 1)[1]
        slash = after.find("/")
        rest = after[slash:] if slash >= 0 else ""
    return rest, query, fragment


def header_key(name: str) -> str:
    """The environ key of a header name (CONTENT-TYPE and CONTENT-LENGTH have no HTTP_ prefix)."""
    key = name.upper().replace("-", "_")
    return key if key in _SPECIAL_HEADERS else "HTTP_" + key


class _Field:
    """One attribute of `req`: read from the environ when first asked for, then kept on the request. Its first value
    is remembered, so that after pre_request a value the hook changed (set, or a list edited in place) is written
    back to the environ by `write` (gunicorn builds the environ from `req` after pre_request)."""

    def __init__(self, read: Callable, write: Callable | None = None) -> None:
        self.read = read
        self.write = write

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, req: Any, owner: type | None = None) -> Any:
        if req is None:
            return self
        value = self.read(req.environ)
        req.__dict__[self.name] = value                 # later reads find it there (a non-data descriptor)
        req._first[self.name] = list(value) if isinstance(value, list) else value
        return value


def _headers(environ: dict) -> list:
    headers = []
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            headers.append((key[5:].replace("_", "-"), value))
        elif key in _SPECIAL_HEADERS:
            headers.append((_SPECIAL_HEADERS[key], value))
    return headers


def _write_headers(environ: dict, headers: list, before: list) -> None:
    """Entries added, replaced or removed set or delete their environ keys; a repeated name's values are joined
    with ',', except Content-Type and Content-Length, where the last one wins (as gunicorn builds the environ)."""
    new: dict = {}
    for name, value in headers:
        key = header_key(str(name))
        joined = key in new and key not in _SPECIAL_HEADERS
        new[key] = f"{new[key]},{value}" if joined else str(value)
    for name, _ in before:
        key = header_key(name)
        if key not in new:
            environ.pop(key, None)
    environ.update(new)


def _version(environ: dict) -> tuple:
    major, _, minor = environ.get("SERVER_PROTOCOL", "HTTP/1.1").partition("/")[2].partition(".")
    try:
        return int(major), int(minor or 0)
    except ValueError:
        return 1, 1


def _remote_addr(environ: dict) -> Any:
    addr = environ.get("REMOTE_ADDR", "")
    port = environ.get("REMOTE_PORT", "")
    return (addr, int(port)) if port else addr


def _uri(environ: dict) -> str:
    return environ.get("RAW_URI") or environ.get("REQUEST_URI") or ""


def _write_path(environ: dict, value: str, before: str) -> None:
    environ["PATH_INFO"] = unquote_to_bytes(value).decode("latin-1")   # percent-decoded, as gunicorn's


def _write_version(environ: dict, value: tuple, before: tuple) -> None:
    environ["SERVER_PROTOCOL"] = f"HTTP/{value[0]}.{value[1]}"


def _set(*keys: str) -> Callable:
    def write(environ: dict, value: Any, before: Any) -> None:
        for key in keys:
            environ[key] = value
    return write


class Request(MutableMapping):
    """gunicorn's `req` (gunicorn.http.message.Request) over one request's WSGI environ.

    `method`, `uri`, `path`, `query`, `fragment`, `version` ((1, 1)), `headers` (a list of (NAME, value), names
    upper-case as gunicorn has them), `scheme`, `remote_addr`/`peer_addr` ((host, port), or "" on a UNIX socket),
    `body` (wsgi.input: the whole body, already read by the loop). Each is read from the environ when first asked
    for. As on gunicorn's object they may be set, and what pre_request changes in method, uri, path, query,
    version, scheme and headers reaches the environ the app gets (`apply()`). Other attributes may be set too; they
    stay on the request until post_request. A header repeated in the request is one entry, its values joined as in
    the environ.

    Also a mapping over the environ (`req["PATH_INFO"]`, `req.get(...)`, `req[key] = value`), for hooks written for
    fastwsgi's earlier `pre_request(worker, environ)`.
    """

    method = _Field(lambda env: env.get("REQUEST_METHOD"), _set("REQUEST_METHOD"))
    uri = _Field(_uri, _set("RAW_URI", "REQUEST_URI"))
    path = _Field(lambda env: split_target(_uri(env))[0], _write_path)
    query = _Field(lambda env: split_target(_uri(env))[1], _set("QUERY_STRING"))
    fragment = _Field(lambda env: split_target(_uri(env))[2])
    version = _Field(_version, _write_version)
    headers = _Field(_headers, _write_headers)
    scheme = _Field(lambda env: env.get("wsgi.url_scheme", "http"), _set("wsgi.url_scheme"))
    remote_addr = _Field(_remote_addr)
    body = _Field(lambda env: env.get("wsgi.input"))
    trailers = _Field(lambda env: [])

    def __init__(self, environ: dict) -> None:
        self.environ = environ
        self._first: dict = {}          # attribute -> its value when first read from the environ

    __hash__ = object.__hash__      # one object per request, compared by identity (not as the environ mapping)
    __eq__ = object.__eq__

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.uri}>"

    @property
    def peer_addr(self) -> Any:
        return self.remote_addr

    def should_close(self) -> bool:
        """Whether the connection closes after this request (gunicorn's rule: Connection, then HTTP/1.0)."""
        value = self.environ.get("HTTP_CONNECTION", "").lower()
        if "close" in value:
            return True
        if "keep-alive" in value:
            return False
        return self.version <= (1, 0)

    def apply(self) -> None:
        """After pre_request: what the hook changed on the request goes into the environ. Only attributes it read or
        set are looked at; environ keys it set directly stay unless it also changed the attribute they come from."""
        for name, value in list(self.__dict__.items()):
            field = _FIELDS.get(name)
            if field is None or field.write is None:
                continue
            before = self._first[name] if name in self._first else field.read(self.environ)
            if value != before:
                field.write(self.environ, value, before)
                self._first[name] = list(value) if isinstance(value, list) else value

    # -- the mapping over the environ (fastwsgi's earlier hook argument)
    def __getitem__(self, key: str) -> Any:
        return self.environ[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.environ[key] = value

    def __delitem__(self, key: str) -> None:
        del self.environ[key]

    def __iter__(self) -> Iterator:
        return iter(self.environ)

    def __len__(self) -> int:
        return len(self.environ)

    def copy(self) -> dict:
        return self.environ.copy()


_FIELDS = {name: field for name, field in vars(Request).items() if isinstance(field, _Field)}


class Response:
    """gunicorn's `resp` (gunicorn.http.wsgi.Response) as post_request sees it: the answer has been sent.

    `status` ("200 OK"), `status_code` (200), `headers` (the app's list of (name, value)), `sent` (body bytes sent),
    `response_length` (the Content-Length the app gave, or None), `headers_sent`, `req`."""

    headers_sent = True

    def __init__(self, req: Request, status: str | None, headers: list | None, sent: int) -> None:
        self.req = req
        self.status = status
        self.headers = headers if headers is not None else []
        self.sent = sent

    def __repr__(self) -> str:
        return f"<Response {self.status}>"

    @cached_property
    def status_code(self) -> int | None:
        try:
            return int(self.status.split(None, 1)[0])
        except (AttributeError, IndexError, ValueError):
            return None

    @cached_property
    def response_length(self) -> int | None:
        for name, value in self.headers:
            if name.lower() == "content-length":
                try:
                    return int(value)
                except ValueError:
                    return None
        return None

    @cached_property
    def chunked(self) -> bool:
        return (self.response_length is None and self.req.version >= (1, 1) and self.req.method != "HEAD"
                and self.status_code not in (204, 304) and not 100 <= (self.status_code or 200) < 200)


class GunicornLogger:
    """gunicorn's Logger interface (gunicorn.glogging.Logger) over fastwsgi's loggers: `worker.log` and `server.log`.

    critical, error, warning, info, debug, exception and log (a level name or number) go to the error log;
    access(resp, req, environ, request_time) writes an access line when --access-logfile is set; reopen_files()
    reopens the log files; error_log and access_log are the logging.Logger objects."""

    LOG_LEVELS = {"critical": logging.CRITICAL, "error": logging.ERROR, "warning": logging.WARNING,
                  "info": logging.INFO, "debug": logging.DEBUG}

    def __init__(self, logs: Any) -> None:
        self.logs = logs

    @property
    def error_log(self) -> logging.Logger:
        return self.logs.error

    @property
    def access_log(self) -> logging.Logger:
        return self.logs.access

    def critical(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        self.logs.error.critical(msg, *args, **kwargs)

    def error(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        self.logs.error.error(msg, *args, **kwargs)

    def warning(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        self.logs.error.warning(msg, *args, **kwargs)

    def info(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        self.logs.error.info(msg, *args, **kwargs)

    def debug(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        self.logs.error.debug(msg, *args, **kwargs)

    def exception(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        self.logs.error.exception(msg, *args, **kwargs)

    def log(self, lvl: int | str, msg: Any, *args: Any, **kwargs: Any) -> None:
        if isinstance(lvl, str):
            lvl = self.LOG_LEVELS.get(lvl.lower(), logging.INFO)
        self.logs.error.log(lvl, msg, *args, **kwargs)

    def access(self, resp: Any, req: Any, environ: dict, request_time: Any) -> None:
        seconds = request_time.total_seconds() if hasattr(request_time, "total_seconds") else float(request_time)
        self.logs.log_access(environ, resp.status, resp.headers, resp.sent, seconds)

    def now(self) -> str:
        return time.strftime("[%d/%b/%Y:%H:%M:%S %z]")

    def reopen_files(self) -> None:
        self.logs.reopen()

    def close_on_exec(self) -> None:
        """Nothing to do: fastwsgi opens its log files with O_CLOEXEC."""


class WorkerAttributes:
    """gunicorn's names for a worker's state, for hooks written for gunicorn (mixed into fastwsgi.worker.Worker):
    `nr` (requests served; as in gunicorn, in post_request it counts the request being finished), `alive` (set it
    to False to retire the worker gracefully, as gunicorn's workers do), `sockets`, `timeout`, `wsgi`, `notify()`.
    `max_requests` is gunicorn's too (sys.maxsize when off)."""

    _alive = True

    @property
    def nr(self) -> int:
        if self.loop is None:
            return 0
        return self.loop.requests + getattr(_IN_POST_REQUEST, "active", 0)

    @property
    def alive(self) -> bool:
        return self._alive and self.heartbeat.state != hb.STOPPING and self.nr < self.max_requests

    @alive.setter
    def alive(self, value: bool) -> None:
        """False: a graceful stop asked by a hook, maybe on an app thread. Only the loop's flags are set; the loop
        does the rest from its own thread, as for --max-requests (before the loop exists, Worker.run does it)."""
        if value or not self._alive:
            return
        self._alive = False
        self.log.info("Worker stopping gracefully: worker.alive set to False (pid: %s)", self.pid)
        if self.loop is not None:
            self.loop.stop(graceful=True, timeout=self.cfg.graceful_timeout)

    @property
    def sockets(self) -> list:
        return self.listeners

    @property
    def timeout(self) -> float:
        return self.cfg.timeout / 2.0

    @property
    def wsgi(self) -> Callable | None:
        return self.app

    def notify(self) -> None:
        """Tell the master this worker is alive (a long post_worker_init may call it)."""
        self.heartbeat.beat()


class ArbiterAttributes:
    """gunicorn's names on the master (mixed into fastwsgi.arbiter.Arbiter), for hooks written for gunicorn:
    `WORKERS` (pid -> worker), `LISTENERS`, `timeout`, `proc_name`, `address`."""

    @property
    def WORKERS(self) -> dict:
        return self.workers

    @property
    def LISTENERS(self) -> list:
        return self.listeners

    @property
    def timeout(self) -> float:
        return self.cfg.timeout

    @property
    def proc_name(self) -> str:
        return self.cfg.proc_title

    @property
    def address(self) -> list:
        out = []
        for sock in self.listeners:
            try:
                name = sock.getsockname()
            except OSError:
                continue
            out.append(name[:2] if isinstance(name, tuple) else name)
        return out


def import_hook(spec: str) -> Callable:
    """A hook given as an import string, 'package.module.function' (gunicorn accepts them in config files), imported
    with the working directory on sys.path as gunicorn has it. Raises ValueError with a one-line reason."""
    module_name, _, name = spec.strip().rpartition(".")
    if not module_name or not name:
        raise ValueError(f"{spec!r} is not an import string ('module.function')")
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        return getattr(importlib.import_module(module_name), name)
    except AttributeError:
        raise ValueError(f"module {module_name!r} has no {name!r}") from None
    except ImportError as exc:
        raise ValueError(f"cannot import it: {exc}") from None
    except Exception as exc:  # the module failed while importing
        raise ValueError(f"cannot import it: {type(exc).__name__}: {exc}") from None


# -- the loop's request callables -----------------------------------------------------------------------------------
def configured(cfg: Any, name: str) -> Callable | None:
    """The hook set in the config file, or None when it is gunicorn's do-nothing default."""
    return getattr(cfg, name) if cfg.sources.get(name) != "default" else None


def _positional_names(hook: Callable) -> list | None:
    try:
        return [p.name for p in inspect.signature(hook).parameters.values() if p.kind in _POSITIONAL]
    except (TypeError, ValueError):
        return None     # no signature (a builtin): gunicorn's form


def pre_request_form(hook: Callable) -> int:
    """2: gunicorn's pre_request(worker, req); 0: fastwsgi's earlier pre_request(worker, environ), told by the name
    of its second parameter."""
    names = _positional_names(hook)
    return 0 if names is not None and names[1:2] == ["environ"] else 2


def post_request_form(hook: Callable) -> int:
    """How many arguments post_request is called with, by gunicorn's rule (4, 3 or 2 positional parameters), or
    0: fastwsgi's earlier form post_request(worker, environ, status, headers), told by its parameter names."""
    names = _positional_names(hook)
    if names is None:
        return 4
    if names[2:4] == ["status", "headers"]:
        return 0
    return len(names) if len(names) in (2, 3) else 4


def warn_legacy(cfg: Any, log: Any) -> None:
    """In the master at start: say so when a request hook has fastwsgi's earlier signature."""
    pre, post = configured(cfg, "pre_request"), configured(cfg, "post_request")
    if pre is not None and pre_request_form(pre) == 0:
        log.warning("pre_request(worker, environ) is fastwsgi's earlier signature and is called that way; "
                    "gunicorn's is pre_request(worker, req)")
    if post is not None and post_request_form(post) == 0:
        log.warning("post_request(worker, environ, status, headers) is fastwsgi's earlier signature and is called "
                    "that way; gunicorn's is post_request(worker, req, environ, resp)")


def pre_request_call(worker: Any, hook: Callable, keep: bool) -> Callable[[dict], None]:
    """The loop's pre_request: gunicorn's (worker, req), or fastwsgi's earlier (worker, environ). `keep`:
    post_request is configured too, and gets the same req (the environ holds it until then)."""
    if pre_request_form(hook) == 0:
        return lambda environ: hook(worker, environ)

    def pre_request(environ: dict) -> None:
        req = Request(environ)
        if keep:
            environ[REQUEST_KEY] = req
        hook(worker, req)
        req.apply()

    return pre_request


def post_request_call(worker: Any, hook: Callable) -> Callable[[dict, str, list, int, float], None]:
    """The loop's post_request part for the hook: gunicorn's (worker, req, environ, resp), or fewer arguments as
    the hook takes; an exception is logged (the answer is already out)."""
    form = post_request_form(hook)
    log = worker.log

    def post_request(environ: dict, status: str, headers: list, nbytes: int, seconds: float) -> None:
        req = environ.pop(REQUEST_KEY, None)
        _IN_POST_REQUEST.active = 1     # the loop counts the request after post_request; gunicorn, before the app
        try:
            if form == 0:
                hook(worker, environ, status, headers)
                return
            if req is None:
                req = Request(environ)
            if form == 4:
                hook(worker, req, environ, Response(req, status, headers, nbytes))
            elif form == 3:
                hook(worker, req, environ)
            else:
                hook(worker, req)
        except Exception:
            log.exception("Exception in post_request hook")
        finally:
            _IN_POST_REQUEST.active = 0

    return post_request
