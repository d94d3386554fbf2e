"""--reload: notice that the application's source changed, so that the worker can exit and be replaced.

For development only. The watcher lives in each worker and is checked from the loop's once-a-second tick, not in a
thread as in gunicorn (a thread would contend with the request loop for the GIL and need a signal to stop the
worker): `Reloader.changed()` returns the first changed file or None, and the worker then stops gracefully, exactly
as for --max-requests; the master spawns a fresh worker, which imports the application again. --reload therefore
implies no --preload (an application imported in the master would be inherited unchanged by every new worker).

Watched files: the source of every loaded module that lives outside the standard library, site-packages and
fastwsgi itself (gunicorn watches every module; the list is re-read whenever sys.modules grows), plus
--reload-extra-file entries (glob patterns re-expanded on every check). A file counts as changed when its (mtime,
size, inode) differs from the first one seen, or it appeared or vanished (or, for the files of the app's first
import, changed during that import).

Engines: "inotify" (Linux, libc's inotify through ctypes, no dependency) watches the directories of those files and
only stats the files named in events; "poll" stats every watched file on each check; "auto" is inotify when
available, else poll.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import glob
import os
import site
import struct
import sys
import sysconfig
import time
import traceback
from collections.abc import Iterable
from typing import Callable, Optional

ENGINES = ("auto", "poll", "inotify")

# inotify(7) event bits
IN_MODIFY = 0x2
IN_ATTRIB = 0x4
IN_CLOSE_WRITE = 0x8
IN_MOVED_FROM = 0x40
IN_MOVED_TO = 0x80
IN_CREATE = 0x100
IN_DELETE = 0x200
IN_DELETE_SELF = 0x400
IN_MOVE_SELF = 0x800
IN_Q_OVERFLOW = 0x4000
WATCH_MASK = (IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE
              | IN_DELETE_SELF | IN_MOVE_SELF)
_EVENT = struct.Struct("iIII")  # wd, mask, cookie, len (then len bytes of NUL-padded name)

Signature = Optional[tuple]  # (mtime_ns, size, inode), None when the file does not exist


def _signature(path: str) -> Signature:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def _library_dirs() -> tuple:
    """Directories whose modules are never watched: the standard library, site-packages, fastwsgi itself."""
    dirs = set()
    for scheme_path in ("stdlib", "platstdlib", "purelib", "platlib"):
        path = sysconfig.get_paths().get(scheme_path)
        if path:
            dirs.add(os.path.realpath(path))
    for path in [*getattr(site, "getsitepackages", list)(), site.getusersitepackages()]:
        dirs.add(os.path.realpath(path))
    dirs.add(os.path.realpath(os.path.dirname(os.path.abspath(__file__))))
    return tuple(sorted(path.rstrip(os.sep) + os.sep for path in dirs))


_LIBRARY_DIRS: tuple | None = None


def is_app_file(path: str) -> bool:
    """True for a source file outside the standard library, site-packages/dist-packages and fastwsgi."""
    global _LIBRARY_DIRS
    if _LIBRARY_DIRS is None:
        _LIBRARY_DIRS = _library_dirs()
    real = os.path.realpath(path)
    parts = real.split(os.sep)
    if "site-packages" in parts or "dist-packages" in parts:
        return False
    return not real.startswith(_LIBRARY_DIRS)


def module_files(modules: Iterable) -> set:
    """The app source files among `modules` (sys.modules values): .pyc mapped back to .py, as gunicorn does."""
    files = set()
    for module in modules:
        path = getattr(module, "__file__", None)
        if not isinstance(path, str) or not path:
            continue
        if path.endswith((".pyc", ".pyo")):
            path = path[:-1]
        path = os.path.abspath(path)
        if is_app_file(path):
            files.add(path)
    return files


def error_files(exc: BaseException) -> set:
    """Files to watch after the app failed to import: the SyntaxError's file and the traceback's app frames.

    `exc` may be an AppImportError raised `from None`: its `__context__` still holds the original error."""
    files = set()
    seen: set = set()
    error: BaseException | None = exc
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        filename = getattr(error, "filename", None)
        if isinstance(error, SyntaxError) and isinstance(filename, str) and not filename.startswith("<"):
            files.add(os.path.abspath(filename))
        tb = error.__traceback__
        while tb is not None:
            name = tb.tb_frame.f_code.co_filename
            if not name.startswith("<"):
                files.add(os.path.abspath(name))
            tb = tb.tb_next
        error = error.__cause__ or error.__context__
    return {path for path in files if is_app_file(path)}


def error_app(exc: BaseException) -> Callable:
    """A WSGI app answering every request with 500 and the import error with its traceback (development only)."""
    cause = exc.__cause__ or exc.__context__ or exc
    text = f"{exc}\n\n" + "".join(traceback.format_exception(type(cause), cause, cause.__traceback__))
    body = text.encode("utf-8", "replace")

    def application(environ: dict, start_response: Callable) -> list:
        start_response("500 Internal Server Error", [("Content-Type", "text/plain; charset=utf-8"),
                                                      ("Content-Length", str(len(body)))])
        return [body]

    return application


class Inotify:
    """A non-blocking inotify instance (libc through ctypes) watching directories."""

    def __init__(self) -> None:
        name = ctypes.util.find_library("c")
        libc = ctypes.CDLL(name, use_errno=True)
        self._add_watch = libc.inotify_add_watch
        self._add_watch.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32)
        self._add_watch.restype = ctypes.c_int
        init1 = libc.inotify_init1
        init1.argtypes = (ctypes.c_int,)
        init1.restype = ctypes.c_int
        fd = init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if fd < 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"inotify_init1: {os.strerror(errno)}")
        self.fd = fd
        self.dirs: dict = {}  # wd -> directory

    def watch(self, directory: str) -> bool:
        """Watch `directory` (idempotent per wd); False when it cannot be watched (gone, or out of watches)."""
        wd = self._add_watch(self.fd, os.fsencode(directory), WATCH_MASK)
        if wd < 0:
            return False
        self.dirs[wd] = directory
        return True

    def read(self) -> set | None:
        """Paths named by the events queued so far; None when the queue overflowed (events were lost)."""
        paths: set = set()
        while True:
            try:
                data = os.read(self.fd, 65536)
            except (BlockingIOError, InterruptedError):
                return paths
            if not data:
                return paths
            offset = 0
            while offset + _EVENT.size <= len(data):
                wd, mask, _cookie, length = _EVENT.unpack_from(data, offset)
                offset += _EVENT.size
                name = data[offset:offset + length].rstrip(b"\0")
                offset += length
                if mask & IN_Q_OVERFLOW:
                    return None
                directory = self.dirs.get(wd)
                if directory is not None and name:
                    paths.add(os.path.join(directory, os.fsdecode(name)))

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class Reloader:
    """Tracks the app's files; `changed()` (cheap, call about once a second) names the first changed file."""

    def __init__(self, extra_files: Iterable[str] = (), engine: str = "auto") -> None:
        if engine not in ENGINES:
            raise ValueError(f"unknown reload engine {engine!r}")
        self.extra_files: set = set()
        self.patterns: list = []
        for entry in extra_files:
            if glob.has_magic(entry):
                self.patterns.append(os.path.abspath(entry))
            else:
                self.extra_files.add(os.path.abspath(entry))
        self.signatures: dict = {}
        self.started = time.time_ns() - 10_000_000  # file times come from a coarser clock (one kernel tick)
        self.pending: list = []  # first seen already modified since we started: maybe imported stale
        self.watched_dirs: set = set()
        self.polled: set = set()  # inotify engine: files whose directory cannot be watched
        self.inotify: Inotify | None = None
        if engine == "inotify" or (engine == "auto" and sys.platform.startswith("linux")):
            try:
                self.inotify = Inotify()
            except (OSError, AttributeError):
                if engine == "inotify":
                    raise
        self.engine = "inotify" if self.inotify is not None else "poll"
        self._modules_seen = -1
        self._module_files: set = set()
        self.refresh()

    def add_files(self, paths: Iterable[str]) -> None:
        """Watch these files too (e.g. the file with the syntax error that stopped the app from importing)."""
        self.extra_files.update(os.path.abspath(path) for path in paths)
        self.refresh(catch_up=True)

    def files(self) -> set:
        if len(sys.modules) != self._modules_seen:
            self._modules_seen = len(sys.modules)
            self._module_files = module_files(list(sys.modules.values()))
        found = self._module_files | self.extra_files
        for pattern in self.patterns:
            found.update(glob.glob(pattern, recursive=True))
        return found

    def refresh(self, catch_up: bool = False) -> None:
        """Record a first signature for files not seen before; watch their directories (inotify).

        `catch_up` (right after the app was imported): a file first seen with an mtime after this Reloader was made
        (and not in the future) may have changed while the worker imported it, a race with an editor saving twice:
        it is reported as changed, costing at most one extra restart. Files found later (lazy imports, new glob
        matches) start from what they are when first seen, as in gunicorn.
        """
        for path in self.files():
            if path in self.signatures:
                continue
            signature = self.signatures[path] = _signature(path)
            if catch_up and signature is not None and self.started <= signature[0] <= time.time_ns() + 10**9:
                self.pending.append(path)
            if self.inotify is not None:
                directory = os.path.dirname(path)
                if directory in self.watched_dirs or self.inotify.watch(directory):
                    self.watched_dirs.add(directory)
                else:
                    self.polled.add(path)

    def changed(self) -> str | None:
        """The first watched file whose signature changed since it was first seen, else None."""
        if self.pending:
            return self.pending.pop()
        if self.inotify is not None:
            named = self.inotify.read()
            if named is None:
                candidates: Iterable[str] = self.signatures
            else:
                candidates = [path for path in named if path in self.signatures] + list(self.polled)
        else:
            candidates = self.signatures
        for path in list(candidates):
            if _signature(path) != self.signatures[path]:
                return path
        self.refresh()
        return None

    def close(self) -> None:
        if self.inotify is not None:
            self.inotify.close()
