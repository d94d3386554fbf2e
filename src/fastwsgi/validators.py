"""The validators and defaults of fastwsgi's settings (fastwsgi.settings declares the settings with them).

A validator takes a raw value (a string from the command line or `FASTWSGI_CMD_ARGS`, or any Python value from a
config file) and returns the converted one, or raises ValueError with a short "expected ..." text.
"""
from __future__ import annotations

import grp
import inspect
import os
import pwd
from typing import Any, Callable

# ---------------------------------------------------------------------------------------------------------- validators
# A validator takes a raw value and returns the converted one, or raises ValueError with a short "expected ..." text.

def _int(value: Any, minimum: int, what: str) -> int:
    if isinstance(value, bool):
        raise ValueError(f"expected {what}")
    if isinstance(value, str):
        try:
            value = int(value.strip(), 0) if value.strip().lower().startswith(("0x", "0o")) else int(value.strip())
        except ValueError:
            raise ValueError(f"expected {what}") from None
    if not isinstance(value, int) or value < minimum:
        raise ValueError(f"expected {what}")
    return value


def positive_int(value: Any) -> int:
    """An integer >= 1."""
    return _int(value, 1, "a positive integer")


def non_negative_int(value: Any) -> int:
    """An integer >= 0."""
    return _int(value, 0, "an integer >= 0")


def non_negative_float(value: Any) -> float:
    """A number of seconds >= 0."""
    if isinstance(value, bool):
        raise ValueError("expected a number >= 0")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError("expected a number >= 0") from None
    if number != number or number < 0:
        raise ValueError("expected a number >= 0")
    return number


def boolean(value: Any) -> bool:
    """True/False; from text: 1/0, true/false, yes/no, on/off."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("1", "true", "yes", "y", "on"):
            return True
        if text in ("0", "false", "no", "n", "off"):
            return False
    raise ValueError("expected a boolean (true/false)")


def string(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("expected a string")
    return value


def spool_size(value: Any) -> int:
    """'auto' (-1), or a number of bytes >= 0 (0: no limit)."""
    if isinstance(value, str) and value.strip().lower() == "auto":
        return -1
    if value == -1 and not isinstance(value, bool):
        return -1
    return _int(value, 0, "'auto' or a number of bytes >= 0")


def optional_string(value: Any) -> str | None:
    if value is None:
        return None
    return string(value)


def string_list(value: Any) -> list:
    """A list of strings; a single string is a list of one."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)) and all(isinstance(item, str) for item in value):
        return list(value)
    raise ValueError("expected a string or a list of strings")


def comma_list(value: Any) -> list:
    """A comma-separated string, or a list of strings; blanks dropped."""
    if isinstance(value, str):
        value = value.split(",")
    items = [item.strip() for item in string_list(list(value))]
    return [item for item in items if item]


def address_list(value: Any) -> list:
    """Bind addresses, checked for shape (HOST:PORT, [V6]:PORT, unix:PATH, fd://N)."""
    from fastwsgi.sockets import parse_address

    items = string_list(value)
    if not items:
        raise ValueError("expected at least one address")
    for item in items:
        parse_address(item)
    return items


def env_list(value: Any) -> list:
    """KEY=VALUE strings."""
    items = string_list(value)
    for item in items:
        if "=" not in item or not item.split("=", 1)[0]:
            raise ValueError(f"expected KEY=VALUE, got {item!r}")
    return items


def umask(value: Any) -> int:
    """An octal file mode creation mask: 0o22, '022', '0o022' or an int."""
    if isinstance(value, str):
        text = value.strip().lower()
        try:
            value = int(text, 0) if text.startswith(("0x", "0o", "0b")) else int(text, 8)
        except ValueError:
            raise ValueError("expected an octal mask such as 022") from None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 0o777:
        raise ValueError("expected an octal mask such as 022")
    return value


def _account_id(value: Any, lookup: Callable[[str], int], what: str) -> int | None:
    """A user or group given by name or number; resolved to its number."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = string(value).strip()
    if text.isdigit():
        return int(text)
    try:
        return lookup(text)
    except KeyError:
        raise ValueError(f"no such {what}: {text!r}") from None


def user(value: Any) -> int | None:
    """A user name or uid; resolved to a uid."""
    return _account_id(value, lambda name: pwd.getpwnam(name).pw_uid, "user")


def group(value: Any) -> int | None:
    """A group name or gid; resolved to a gid."""
    return _account_id(value, lambda name: grp.getgrnam(name).gr_gid, "group")


def access_format(value: Any) -> str:
    """A gunicorn access log format; every %(atom)s must be known."""
    from fastwsgi.errors import ConfigError
    from fastwsgi.logs import AccessFormatter

    text = string(value)
    try:
        AccessFormatter(text)
    except ConfigError as exc:
        raise ValueError(str(exc).replace("access_log_format: ", "")) from None
    return text


WORKER_CLASSES = {
    "sync": "sync", "gthread": "gthread",
    "gunicorn.workers.sync.SyncWorker": "sync", "gunicorn.workers.gthread.ThreadWorker": "gthread",
    "egg:gunicorn#sync": "sync", "egg:gunicorn#gthread": "gthread",
}


def worker_class(value: Any) -> str:
    """sync or gthread (gunicorn's spellings too); the thread count (threads) decides how apps are called."""
    text = string(value).strip()
    if text not in WORKER_CLASSES:
        raise ValueError(f"worker class {text!r} is not supported: fastwsgi runs sync and gthread workers "
                         "(use --threads N for threads)")
    return WORKER_CLASSES[text]


def log_level(value: Any) -> str:
    text = string(value).strip().lower()
    if text not in LOG_LEVELS:
        raise ValueError("expected one of " + ", ".join(LOG_LEVELS))
    return text


LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


def hook(arity: int | tuple) -> Callable[[Any], Callable]:
    """A callable taking `arity` positional arguments, or one of the counts in a tuple (checked when it has a
    signature); or an import string naming one ('module.function'), as gunicorn accepts."""
    counts = arity if isinstance(arity, tuple) else (arity,)
    expected = f"expected a callable taking {' or '.join(map(str, counts))} arguments"

    def validate(value: Any) -> Callable:
        if isinstance(value, str):
            from fastwsgi.hooks import import_hook

            value = import_hook(value)
        if not callable(value):
            raise ValueError(expected)
        try:
            signature = inspect.signature(value)
        except ValueError:
            return value  # builtins without a signature: trust them
        for count in counts:
            try:
                signature.bind(*range(count))
            except TypeError:
                continue
            return value
        raise ValueError(expected)

    return validate


def reload_engine(value: Any) -> str:
    text = string(value).strip().lower()
    if text not in RELOAD_ENGINES:
        raise ValueError("expected one of " + ", ".join(RELOAD_ENGINES))
    return text


RELOAD_ENGINES = ("auto", "poll", "inotify")


def proxy_mode(value: Any) -> str:
    """off, v1, v2 or auto; a boolean is auto or off (gunicorn's older spelling)."""
    if isinstance(value, bool):
        return "auto" if value else "off"
    text = string(value).strip().lower()
    text = {"false": "off", "0": "off", "none": "off", "true": "auto", "1": "auto"}.get(text, text)
    if text not in PROXY_MODES:
        raise ValueError("expected one of " + ", ".join(PROXY_MODES))
    return text


PROXY_MODES = ("off", "v1", "v2", "auto")


def metrics_address(value: Any) -> str | None:
    """HOST:PORT or [V6ADDR]:PORT (a port is required)."""
    if value is None:
        return None
    text = string(value).strip()
    if text.startswith("unix:") or not (text.count(":") == 1 or text.startswith("[")) or text.endswith("]"):
        raise ValueError("expected HOST:PORT or [V6ADDR]:PORT")
    return statsd_address(text)


def file_mode(value: Any) -> int:
    """Permission bits: 0o600, '600', '0600' or an int."""
    if isinstance(value, str):
        text = value.strip().lower()
        try:
            value = int(text, 0) if text.startswith(("0x", "0o")) else int(text, 8)
        except ValueError:
            raise ValueError("expected an octal mode such as 600") from None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 0o777:
        raise ValueError("expected an octal mode such as 600")
    return value


def default_control_socket() -> str:
    """gunicorn's location, our name: $XDG_RUNTIME_DIR/fastwsgi.ctl, else ~/.fastwsgi/fastwsgi.ctl."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isdir(runtime):
        return os.path.join(runtime, "fastwsgi.ctl")
    return os.path.join(os.path.expanduser("~"), ".fastwsgi", "fastwsgi.ctl")


def statsd_address(value: Any) -> str | None:
    """HOST:PORT (port 8125 when omitted), [V6ADDR]:PORT, or unix:PATH / unix://PATH (a datagram socket)."""
    if value is None:
        return None
    text = string(value).strip()
    if text.startswith("unix:"):
        if not text[5:].lstrip("/"):
            raise ValueError("expected HOST:PORT or unix:PATH")
        return text
    host, port = text, "8125"
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest:
            if not rest.startswith(":"):
                raise ValueError("expected HOST:PORT or unix:PATH")
            port = rest[1:]
    elif text.count(":") == 1:
        host, port = text.split(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError("expected HOST:PORT or unix:PATH")
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def ssl_version(value: Any) -> str:
    """The lowest TLS version served: TLS (OpenSSL's default), TLSv1, TLSv1_1, TLSv1_2 or TLSv1_3; gunicorn's
    spellings too (an ssl.PROTOCOL_* number or name: the generic ones mean the default, a versioned one its floor)."""
    if isinstance(value, bool):
        raise ValueError("expected one of " + ", ".join(SSL_VERSIONS))
    if isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit()):
        number = int(value)
        if number not in SSL_PROTOCOL_NUMBERS:
            raise ValueError("expected one of " + ", ".join(SSL_VERSIONS) + " (or an ssl.PROTOCOL_* number)")
        return SSL_PROTOCOL_NUMBERS[number]
    text = string(value).strip().replace(".", "_")
    text = text[len("PROTOCOL_"):] if text.upper().startswith("PROTOCOL_") else text
    for name in SSL_VERSIONS + ("SSLv23", "TLS_SERVER"):
        if text.lower() == name.lower():
            return "TLS" if name in ("SSLv23", "TLS_SERVER") else name
    raise ValueError("expected one of " + ", ".join(SSL_VERSIONS))


SSL_VERSIONS = ("TLS", "TLSv1", "TLSv1_1", "TLSv1_2", "TLSv1_3")
# ssl.PROTOCOL_* values as gunicorn configs give them: SSLv23/TLS 2, TLSv1 3, TLSv1_1 4, TLSv1_2 5, TLS_SERVER 17
SSL_PROTOCOL_NUMBERS = {2: "TLS", 3: "TLSv1", 4: "TLSv1_1", 5: "TLSv1_2", 17: "TLS"}


def cert_reqs(value: Any) -> int:
    """Whether a client certificate is asked for: 0 / CERT_NONE, 1 / CERT_OPTIONAL, 2 / CERT_REQUIRED."""
    if isinstance(value, str) and not value.strip().isdigit():
        text = value.strip().upper()
        text = text if text.startswith("CERT_") else "CERT_" + text
        if text not in CERT_REQS:
            raise ValueError("expected 0/1/2 or CERT_NONE/CERT_OPTIONAL/CERT_REQUIRED")
        return CERT_REQS.index(text)
    number = _int(value, 0, "0/1/2 or CERT_NONE/CERT_OPTIONAL/CERT_REQUIRED")
    if number > 2:
        raise ValueError("expected 0/1/2 or CERT_NONE/CERT_OPTIONAL/CERT_REQUIRED")
    return number


CERT_REQS = ("CERT_NONE", "CERT_OPTIONAL", "CERT_REQUIRED")


# ------------------------------------------------------------------------------------------------------------ defaults

def default_bind() -> list:
    port = os.environ.get("PORT")
    return [f"0.0.0.0:{port}"] if port else ["127.0.0.1:8000"]


def default_workers() -> int:
    try:
        return positive_int(os.environ.get("WEB_CONCURRENCY", "1"))
    except ValueError:
        return 1


def default_forwarded_allow_ips() -> list:
    return comma_list(os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1"))


def _nothing(*args: Any) -> None:
    return None
