"""gunicorn's logging settings around the server's own logs: syslog, --log-config (fileConfig), logconfig_dict and
--log-config-json (dictConfig over gunicorn's defaults), --logger-class; and the validators of those settings.

Names, defaults and semantics are gunicorn 27's (gunicorn/glogging.py, gunicorn/config.py); `fastwsgi.logs` calls
`syslog_handler` and `apply_log_config` while it builds a process's logs.
"""
from __future__ import annotations

import json
import logging
import logging.config
import logging.handlers
import os
import socket
from typing import Any

from fastwsgi.errors import ConfigError

# syslog facility codes, by gunicorn's names ("security" is an old alias of auth)
SYSLOG_FACILITIES = {
    "auth": 4, "authpriv": 10, "cron": 9, "daemon": 3, "ftp": 11, "kern": 0, "lpr": 6, "mail": 2, "news": 7,
    "security": 4, "syslog": 5, "user": 1, "uucp": 8, "local0": 16, "local1": 17, "local2": 18, "local3": 19,
    "local4": 20, "local5": 21, "local6": 22, "local7": 23,
}

# --logger-class values that name what fastwsgi does anyway: gunicorn's default logger (and its statsd subclass,
# whose metrics come from --statsd-host here), or ours
LOGGER_CLASSES = ("gunicorn.glogging.Logger", "gunicorn.instrument.statsd.Statsd", "fastwsgi.logs.Logs")

# gunicorn's CONFIG_DEFAULTS: the dict a logconfig_dict or --log-config-json is laid over (top-level keys replace
# these). gunicorn.error and gunicorn.access are the server's loggers (fastwsgi.logs makes them one logger each with
# fastwsgi.error and fastwsgi.access).
LOG_CONFIG_DEFAULTS: dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "root": {"level": "INFO", "handlers": ["console"]},
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": ["error_console"], "propagate": True,
                           "qualname": "gunicorn.error"},
        "gunicorn.access": {"level": "INFO", "handlers": ["console"], "propagate": True,
                            "qualname": "gunicorn.access"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "generic", "stream": "ext://sys.stdout"},
        "error_console": {"class": "logging.StreamHandler", "formatter": "generic", "stream": "ext://sys.stderr"},
    },
    "formatters": {
        "generic": {"format": "%(asctime)s [%(process)d] [%(levelname)s] %(message)s",
                    "datefmt": "[%Y-%m-%d %H:%M:%S %z]", "class": "logging.Formatter"},
    },
}


# ---------------------------------------------------------------------------------------------------- validators

def parse_syslog_address(text: str) -> tuple:
    """gunicorn's syslog address: unix://PATH[#dgram|#stream], udp://HOST[:PORT], tcp://HOST[:PORT] (port 514).
    Returns (socket type or None, address) as logging.handlers.SysLogHandler takes them."""
    if text.startswith("unix://"):
        path, _, kind = text[len("unix://"):].partition("#")
        if not path or kind not in ("", "dgram", "stream"):
            raise ValueError("expected unix://PATH[#dgram|#stream], udp://HOST:PORT or tcp://HOST:PORT")
        return (socket.SOCK_DGRAM if kind == "dgram" else None), path  # None: SysLogHandler tries both
    scheme, _, rest = text.partition("://")
    kinds = {"udp": socket.SOCK_DGRAM, "tcp": socket.SOCK_STREAM}
    if scheme not in kinds or not _:
        raise ValueError("expected unix://PATH[#dgram|#stream], udp://HOST:PORT or tcp://HOST:PORT")
    if rest.startswith("["):
        host, _, tail = rest[1:].partition("]")
        if tail and not tail.startswith(":"):
            raise ValueError("expected [V6ADDR]:PORT")
        port = tail[1:]
    else:
        host, _, port = rest.partition(":")
    if port and not port.isdigit():
        raise ValueError(f"{port!r} is not a port number")
    return kinds[scheme], (host.lower() or "localhost", int(port) if port else 514)


def syslog_address(value: Any) -> str:
    """unix://PATH#TYPE (TYPE stream, the default, or dgram), udp://HOST:PORT or tcp://HOST:PORT."""
    if not isinstance(value, str):
        raise ValueError("expected a string")
    parse_syslog_address(value.strip())
    return value.strip()


def syslog_facility(value: Any) -> str:
    """A syslog facility name: user, daemon, local0 ... local7, ..."""
    if not isinstance(value, str) or value.strip().lower() not in SYSLOG_FACILITIES:
        raise ValueError("expected a syslog facility: " + ", ".join(SYSLOG_FACILITIES))
    return value.strip().lower()


def logger_class(value: Any) -> str:
    """gunicorn.glogging.Logger (gunicorn's default, given as a dotted name or as the class): the logs are fastwsgi's
    own, set up by the logging settings; another class is refused in one line."""
    if isinstance(value, type):
        value = f"{value.__module__}.{value.__qualname__}"
    if not isinstance(value, str):
        raise ValueError("expected a dotted class name")
    text = value.strip()
    if text not in LOGGER_CLASSES:
        raise ValueError(f"logger class {text!r} is not supported: fastwsgi writes its logs itself, as "
                         "gunicorn.glogging.Logger does (use --log-config, logconfig_dict or --log-config-json for "
                         "other handlers and formats)")
    return text


def log_config_dict(value: Any) -> dict:
    """A logging.config.dictConfig dictionary (laid over gunicorn's defaults)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError("expected a dict (logging.config.dictConfig's format)")
    return value


# ------------------------------------------------------------------------------------------------------- syslog

class SyslogHandler(logging.handlers.SysLogHandler):
    """SysLogHandler that survives the application's logging setup: close() (from logging.shutdown, dictConfig or
    fileConfig) keeps the socket; dispose() closes it."""

    def close(self) -> None:
        pass

    def dispose(self) -> None:
        super().close()


def syslog_handler(cfg: Any, stream: str) -> SyslogHandler:
    """The --log-syslog handler of the error or access log (`stream`), tagged gunicorn's way:
    `gunicorn.<--log-syslog-prefix, or the process name with ':' as '.'>.<error|access>: [pid] message`."""
    prefix = cfg.syslog_prefix or cfg.proc_title.replace(":", ".")
    kind, address = parse_syslog_address(cfg.syslog_addr)
    try:
        handler = SyslogHandler(address=address, facility=SYSLOG_FACILITIES[cfg.syslog_facility], socktype=kind)
    except OSError as exc:
        raise ConfigError(f"--log-syslog-to {cfg.syslog_addr}: {exc.strerror or exc}") from None
    handler.setFormatter(logging.Formatter(f"gunicorn.{prefix}.{stream}: [%(process)d] %(message)s"))
    return handler


# --------------------------------------------------------------------------------------------------- log config

def uses_log_config(cfg: Any) -> bool:
    return bool(cfg.logconfig_dict or cfg.logconfig_json or cfg.logconfig)


def apply_log_config(cfg: Any) -> None:
    """gunicorn's order: logconfig_dict, else --log-config-json, else --log-config (an ini file for fileConfig, with
    `%(here)s` and `%(__file__)s`, existing loggers kept). The dicts are laid over LOG_CONFIG_DEFAULTS.
    Raises ConfigError (one line) when the configuration cannot be read or applied."""
    if cfg.logconfig_dict:
        _dict_config(dict(LOG_CONFIG_DEFAULTS, **cfg.logconfig_dict), "logconfig_dict")
    elif cfg.logconfig_json:
        path = cfg.logconfig_json
        try:
            with open(path) as handle:
                loaded = json.load(handle)
        except OSError as exc:  # gunicorn skips a missing file without a word; a typo should not pass silently
            raise ConfigError(f"--log-config-json {path}: {exc.strerror}") from None
        except ValueError as exc:
            raise ConfigError(f"--log-config-json {path}: {exc}") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"--log-config-json {path}: expected a JSON object")
        _dict_config(dict(LOG_CONFIG_DEFAULTS, **loaded), f"--log-config-json {path}")
    elif cfg.logconfig:
        path = cfg.logconfig
        if not os.path.exists(path):
            raise ConfigError(f"--log-config {path}: log config not found")
        # gunicorn's `here` is os.path.dirname(path): '' for a relative name, which made '%(here)s/x.log' '/x.log'
        defaults = {"__file__": path, "here": os.path.dirname(os.path.abspath(path))}
        try:
            logging.config.fileConfig(path, defaults=defaults, disable_existing_loggers=False)
        except Exception as exc:
            raise ConfigError(f"--log-config {path}: {type(exc).__name__}: {exc}") from None


def _dict_config(config: dict, where: str) -> None:
    try:
        logging.config.dictConfig(config)
    except (AttributeError, ImportError, ValueError, TypeError) as exc:
        raise ConfigError(f"{where}: {exc}") from None
