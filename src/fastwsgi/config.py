"""Resolve settings from their sources: defaults < config file < $FASTWSGI_CMD_ARGS < command line.

The argparse parser and the config-file reader are both derived from `fastwsgi.settings.SETTINGS`.
"""
from __future__ import annotations

import argparse
import os
import shlex
from collections.abc import Iterable, Mapping
from typing import Any

from fastwsgi.errors import ConfigError
from fastwsgi.settings import BY_NAME, FLAG_ACTIONS, SETTINGS, Setting

ENV_ARGS = "FASTWSGI_CMD_ARGS"
DEFAULT_CONFIG_FILE = "fastwsgi.conf.py"
GUNICORN_CONFIG_FILE = "gunicorn.conf.py"

USAGE = "fastwsgi [OPTIONS] [APP_MODULE]"
DESCRIPTION = (
    "Serve a WSGI application with a master process and N worker processes. APP_MODULE is MODULE:NAME, "
    "MODULE:FACTORY(ARGS) or MODULE (meaning MODULE:application, else MODULE:app). Settings also come from a config "
    "file (-c, default ./fastwsgi.conf.py) and from $FASTWSGI_CMD_ARGS; the command line wins."
)


def version() -> str:
    try:
        from importlib.metadata import version as dist_version

        return dist_version("fastwsgi")
    except Exception:
        return "0+unknown"


class _Parser(argparse.ArgumentParser):
    """argparse that raises ConfigError (one line) instead of printing usage and exiting."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise ConfigError(message)


def _help_text(setting: Setting) -> str:
    if setting.action in FLAG_ACTIONS:
        return setting.help
    default = setting.default_doc or repr(setting.default)
    return f"{setting.help} [default: {default}]".replace("%", "%%")


def build_parser() -> argparse.ArgumentParser:
    """The command-line parser. Every option defaults to SUPPRESS so that only given options appear."""
    parser = _Parser(prog="fastwsgi", usage=USAGE, description=DESCRIPTION, argument_default=argparse.SUPPRESS)
    parser.add_argument("--version", action="version", version=f"fastwsgi {version()}")
    sections: dict = {}
    for setting in SETTINGS:
        if not setting.flags:
            continue
        section = sections.get(setting.section)
        if section is None:
            section = sections[setting.section] = parser.add_argument_group(setting.section)
        kwargs: dict = {"dest": setting.name, "help": _help_text(setting), "action": setting.action}
        if setting.action not in FLAG_ACTIONS:
            kwargs["metavar"] = setting.meta or "VALUE"
        if setting.const is not None:
            kwargs.update(nargs="?", const=setting.const)
        section.add_argument(*setting.flags, **kwargs)
    parser.add_argument("app_uri", nargs="?", metavar="APP_MODULE",
                        help="the WSGI application, e.g. myproject.wsgi:app")
    return parser


def _flag_name(setting: Setting) -> str:
    return "/".join(setting.flags) if setting.flags else setting.name


def validate(setting: Setting, raw: Any, where: str) -> Any:
    """Convert `raw` with the setting's validator; errors become one-line ConfigErrors naming `where`."""
    try:
        return setting.validator(raw)
    except ValueError as exc:
        shown = raw[0] if isinstance(raw, list) and len(raw) == 1 else raw
        raise ConfigError(f"{where}: invalid value {shown!r}: {exc}") from None


def parse_args(parser: argparse.ArgumentParser, args: list, origin: str) -> dict:
    """Parse command-line style args into {name: converted value} for the options actually given."""
    try:
        namespace = parser.parse_args(args)
    except ConfigError as exc:
        raise ConfigError(f"{origin}{exc}") from None
    given = vars(namespace)
    out = {}
    for name, raw in given.items():
        if name == "app_uri":
            if raw is not None:
                out[name] = raw
            continue
        setting = BY_NAME[name]
        out[name] = validate(setting, raw, f"{origin}argument {_flag_name(setting)}")
    return out


def read_config_file(path: str) -> dict:
    """Execute a Python config file; return {name: converted value} for the module-level names that are settings."""
    namespace: dict = {"__file__": path, "__name__": "__config__"}
    try:
        with open(path, "rb") as handle:
            source = handle.read()
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path!r}: {exc.strerror}") from None
    try:
        exec(compile(source, path, "exec"), namespace)
    except SyntaxError as exc:
        raise ConfigError(f"config file {path}, line {exc.lineno}: syntax error: {exc.msg}") from None
    except Exception as exc:
        raise ConfigError(f"config file {path}: {type(exc).__name__}: {exc}") from None
    values = {}
    for name, raw in namespace.items():
        setting = BY_NAME.get(name)
        if setting is None or name == "config":
            continue
        values[name] = validate(setting, raw, f"config file {path}: {name}")
    return values


class Config:
    """Resolved settings: `cfg.workers`, `cfg.bind`, hooks as `cfg.on_starting(server)`...

    `sources[name]` tells where each value came from: default, config file, env or command line.
    """

    def __init__(self, values: dict, sources: dict, app_uri: str | None, config_file: str | None,
                 argv: list, env_args: str, base_dir: str) -> None:
        self._values = values
        self.sources = sources
        self.app_uri = app_uri
        self.config_file = config_file
        self.argv = list(argv)
        self.env_args = env_args
        self.base_dir = base_dir

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["_values"][name]
        except KeyError:
            raise AttributeError(name) from None

    def set(self, name: str, value: Any, source: str = "code") -> None:
        self._values[name] = validate(BY_NAME[name], value, name)
        self.sources[name] = source

    @property
    def env(self) -> dict:
        """raw_env as a dict."""
        return dict(item.split("=", 1) for item in self.raw_env)

    @property
    def proc_title(self) -> str:
        return self.proc_name or (self.app_uri if not self.paste else None) or self.default_proc_name

    def items(self) -> Iterable:
        return ((setting.name, self._values[setting.name]) for setting in SETTINGS)

    def render(self) -> str:
        """`name = value` lines for --print-config."""
        lines = []
        for setting in SETTINGS:
            value = self._values[setting.name]
            if setting.is_hook:
                default = self.sources.get(setting.name) == "default"
                shown = "(default)" if default else getattr(value, "__qualname__", repr(value))
            elif setting.name == "umask":
                shown = oct(value)
            else:
                shown = repr(value)
            lines.append(f"{setting.name:26} = {shown}")
        lines.append(f"{'app_uri':26} = {self.app_uri!r}")
        return "\n".join(lines)

    def reread(self) -> Config:
        """A fresh Config from the same argv and env args, re-reading the config file (SIGHUP)."""
        return load_config(self.argv, {ENV_ARGS: self.env_args}, config_default_dir=self.base_dir)


def module_file(name: str, base_dir: str) -> str:
    """The file of a config module named on the command line (`-c python:pkg.gunicorn_conf`), found from the working
    directory as gunicorn finds it, without importing the module."""
    import importlib.util
    import sys

    sys.path.insert(0, base_dir)
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        spec = None
    finally:
        sys.path.remove(base_dir)
    if spec is None or not spec.origin or not os.path.isfile(spec.origin):
        raise ConfigError(f"config module {name!r} (-c python:{name}) not found")
    return spec.origin


def paste_spec(path: str, global_conf: list, values: dict) -> str:
    """--paste FILE[#NAME]: the application spec app_loader understands (paste:FILE#NAME?KEY=VALUE&...). As gunicorn,
    an ini with [loggers] configures logging when no log config is given."""
    import configparser
    from urllib.parse import urlencode

    file, _, name = path.partition("#")
    pairs = []
    for item in global_conf:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--paste-global: expected KEY=VALUE, got {item!r}")
        pairs.append((key, value))
    ini = configparser.ConfigParser(interpolation=None)
    try:
        ini.read(file)                  # (a missing file reads as empty: check_spec says so in one line)
    except configparser.Error as exc:
        raise ConfigError(f"--paste: {file}: {exc}") from None
    if ini.has_section("loggers") and not values.get("logconfig") and not values.get("logconfig_dict"):
        values["logconfig"] = file
    return f"paste:{file}#{name or 'main'}" + (f"?{urlencode(pairs)}" if pairs else "")


def load_config(argv: list, environ: Mapping | None = None, config_default_dir: str | None = ".") -> Config:
    """Resolve settings from defaults, the config file, $FASTWSGI_CMD_ARGS and `argv` (without the program name).

    `config_default_dir`: where fastwsgi.conf.py is looked for when no -c is given, and what a relative -c path is
    relative to (None: the current directory).
    Raises ConfigError with a one-line message.
    """
    environ = os.environ if environ is None else environ
    parser = build_parser()
    cli = parse_args(parser, list(argv), "")
    env_args = environ.get(ENV_ARGS, "")
    try:
        env_split = shlex.split(env_args)
    except ValueError as exc:
        raise ConfigError(f"{ENV_ARGS}: {exc}") from None
    env = parse_args(parser, env_split, f"{ENV_ARGS}: ") if env_split else {}

    base_dir = os.path.abspath(config_default_dir or ".")
    config_file = cli.get("config") or env.get("config")
    if config_file is not None and config_file.startswith("python:"):
        config_file = module_file(config_file[len("python:"):], base_dir)     # gunicorn's -c python:MODULE
    elif config_file is not None:
        config_file = os.path.join(base_dir, config_file)
    else:
        for name in (DEFAULT_CONFIG_FILE, GUNICORN_CONFIG_FILE):     # gunicorn's default file when ours is absent
            candidate = os.path.join(base_dir, name)
            if os.path.isfile(candidate):
                config_file = candidate
                break
    from_file = read_config_file(config_file) if config_file else {}

    values = {}
    sources = {}
    for setting in SETTINGS:
        values[setting.name] = setting.default_value()
        sources[setting.name] = "default"
    for origin, layer in (("config file", from_file), ("env", env), ("command line", cli)):
        for name, value in layer.items():
            if name == "app_uri":
                continue
            values[name] = value
            sources[name] = origin
    values["config"] = config_file
    app_uri = cli.get("app_uri") or env.get("app_uri") or values.get("wsgi_app")
    if values.get("paste"):
        app_uri = paste_spec(os.path.join(base_dir, values["paste"]), values["raw_paste_global_conf"], values)
    return Config(values, sources, app_uri, config_file, argv, env_args, base_dir)
