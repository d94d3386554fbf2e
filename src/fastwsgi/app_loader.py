"""Turn an application spec into a WSGI callable, with one-line errors.

Spec forms (as gunicorn reads them): `module:name`, `module:obj.attr`, `module:factory(literal, args, key=1)`,
and `module` alone (meaning `module:application`, else `module:app`).
"""
from __future__ import annotations

import ast
import importlib
import os
import sys
import traceback
from collections.abc import Iterable
from typing import Any, Callable

from fastwsgi.errors import AppImportError

DEFAULT_NAMES = ("application", "app")


def prepare_sys_path(chdir: str | None, pythonpath: Iterable[str]) -> None:
    """chdir (if asked), then put the working directory and --pythonpath entries first on sys.path (as gunicorn)."""
    if chdir:
        try:
            os.chdir(chdir)
        except OSError as exc:
            raise AppImportError(f"cannot chdir to {chdir!r}: {exc.strerror}") from None
    cwd = os.getcwd()
    for entry in reversed([cwd, *[os.path.abspath(p) for p in pythonpath]]):
        if entry in sys.path:
            sys.path.remove(entry)
        sys.path.insert(0, entry)


def _file_hint(spec: str) -> str | None:
    base = spec.split(":", 1)[0]
    if base.endswith(".py") or "/" in base or os.sep in base:
        module = base[:-3] if base.endswith(".py") else base
        module = module.strip("./").replace("/", ".").replace(os.sep, ".")
        return (f"{spec!r} looks like a file path; give a module instead, e.g. '{module}:application' "
                f"(use --chdir or --pythonpath for the directory)")
    return None


def _parse_target(spec: str, text: str) -> tuple:
    """Return (dotted name, args, kwargs or None when there is no call)."""
    try:
        node = ast.parse(text.strip(), mode="eval").body
    except SyntaxError:
        raise AppImportError(f"bad application name {text!r} in {spec!r}: expected NAME or FACTORY(ARGS)") from None
    args: list | None = None
    kwargs: dict = {}
    if isinstance(node, ast.Call):
        try:
            args = [ast.literal_eval(arg) for arg in node.args]
            kwargs = {kw.arg: ast.literal_eval(kw.value) for kw in node.keywords if kw.arg is not None}
        except ValueError:
            raise AppImportError(f"factory arguments in {spec!r} must be Python literals") from None
        if any(kw.arg is None for kw in node.keywords):
            raise AppImportError(f"factory arguments in {spec!r} must be Python literals")
        node = node.func
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        raise AppImportError(f"bad application name {text!r} in {spec!r}: expected NAME or FACTORY(ARGS)")
    parts.append(node.id)
    return ".".join(reversed(parts)), args, kwargs


def _app_frames(frames: Iterable[traceback.FrameSummary]) -> list:
    """The frames of the application's code: without importlib's machinery and this module's own calls."""
    return [f for f in frames
            if "importlib._bootstrap" not in f.filename and f.filename not in (__file__, importlib.__file__)]


def _where(exc: BaseException) -> str:
    frames = _app_frames(traceback.extract_tb(exc.__traceback__))
    if not frames:
        return ""
    last = frames[-1]
    where = last.filename if last.filename.startswith("<") else os.path.relpath(last.filename)
    return f" ({where}, line {last.lineno})"


def import_traceback(error: BaseException) -> str:
    """The full traceback of what made the application fail to load (the cause of an AppImportError), without
    importlib's frames; "" when there is no cause to show (a typo in the spec, a missing name)."""
    cause = error.__cause__
    if cause is None:
        return ""
    report = traceback.TracebackException.from_exception(cause)
    report.stack = traceback.StackSummary.from_list(_app_frames(report.stack))
    return "".join(report.format())


def import_module(spec: str, module_name: str) -> Any:
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and (module_name == exc.name or module_name.startswith(exc.name + ".")):
            hint = _file_hint(spec)
            raise AppImportError(hint or f"cannot import module {module_name!r}: {exc}") from None
        raise AppImportError(f"error while importing {module_name!r}: "
                             f"{type(exc).__name__}: {exc}{_where(exc)}") from exc
    except SyntaxError as exc:
        raise AppImportError(f"error while importing {module_name!r}: SyntaxError: {exc.msg} "
                             f"({exc.filename}, line {exc.lineno})") from exc
    except Exception as exc:
        raise AppImportError(f"error while importing {module_name!r}: "
                             f"{type(exc).__name__}: {exc}{_where(exc)}") from exc


PASTE = "paste:"        # the spec --paste makes (config.paste_spec): paste:FILE#NAME?KEY=VALUE&...


def load_paste_app(target: str) -> Callable:
    """A PasteDeploy app (--paste), as gunicorn loads it: its [server:*] sections are not read."""
    from urllib.parse import parse_qsl

    location, _, query = target.partition("?")
    file, _, name = location.partition("#")
    try:
        from paste.deploy import loadapp
    except ImportError:
        raise AppImportError("--paste needs PasteDeploy: pip install 'fastwsgi[paste]'") from None
    try:
        return loadapp(f"config:{file}", name=name or "main", relative_to=os.path.dirname(file),
                       global_conf=dict(parse_qsl(query)))
    except Exception as exc:
        error = AppImportError(f"--paste {file}#{name}: {type(exc).__name__}: {exc}")
        raise error from exc


def check_spec(spec: str | None) -> tuple:
    """Check the shape of `spec` without importing anything; return (module name, target or "").

    Used by the master to fail fast on a typo or a file path before any worker is forked.
    """
    if not spec or not spec.strip():
        raise AppImportError("no application given: fastwsgi [OPTIONS] MODULE:NAME")
    spec = spec.strip()
    if spec.startswith(PASTE):
        file = spec[len(PASTE):].partition("#")[0]
        if not os.path.isfile(file):
            raise AppImportError(f"--paste: no such file: {file}")
        return PASTE, spec[len(PASTE):]
    module_name, sep, target = spec.partition(":")
    if not module_name or (sep and not target):
        raise AppImportError(f"bad application spec {spec!r}: expected MODULE:NAME")
    hint = _file_hint(spec)
    if hint and not os.path.isdir(module_name.split(".", 1)[0]):
        raise AppImportError(hint)
    if target:
        _parse_target(spec, target)
    return module_name, target


def load_app(spec: str | None) -> Callable:
    """Import and return the WSGI callable named by `spec`; raises AppImportError with a one-line message (and,
    when the application's code raised, that error as its __cause__: see import_traceback)."""
    module_name, target = check_spec(spec)
    if module_name == PASTE:
        return load_paste_app(target)
    spec = spec.strip()  # type: ignore[union-attr]
    sep = ":" if target else ""
    module = import_module(spec, module_name)

    if not sep:
        for name in DEFAULT_NAMES:
            if hasattr(module, name):
                target = name
                break
        else:
            raise AppImportError(f"module {module_name!r} has neither 'application' nor 'app'; "
                                 f"name the object: {module_name}:NAME")
    dotted, args, kwargs = _parse_target(spec, target)
    obj: Any = module
    for part in dotted.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise AppImportError(f"module {module_name!r} has no attribute {dotted!r}") from None
    if args is not None:
        if not callable(obj):
            raise AppImportError(f"{module_name}:{dotted} is not callable, cannot call it as a factory")
        try:
            obj = obj(*args, **kwargs)
        except Exception as exc:
            raise AppImportError(f"factory {module_name}:{dotted} raised "
                                 f"{type(exc).__name__}: {exc}{_where(exc)}") from exc
    if not callable(obj):
        raise AppImportError(f"application {module_name}:{target} is not callable (got {type(obj).__name__})")
    return obj
