"""The SSLContext a worker serves TLS with, from the SSL settings (gunicorn's names) or the `ssl_context` hook.

Workers build their own after fork, so a HUP after renewing a certificate serves the new one; the master builds one
at start and on HUP only to report a bad file or setting in one line (ConfigError) before any worker needs it.
"""
from __future__ import annotations

import ssl
from typing import Any

from fastwsgi.errors import ConfigError

ALPN = ["http/1.1"]
ALPN_H2 = ["h2", "http/1.1"]        # --http-protocols with h2: offered first (gunicorn's order)


def enabled(cfg: Any) -> bool:
    return bool(cfg.certfile)


def scheme(cfg: Any) -> str:
    return "https" if enabled(cfg) else "http"


def default_context(cfg: Any) -> ssl.SSLContext:
    """The context the settings describe; raises ConfigError naming the setting at fault."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.options |= ssl.OP_NO_COMPRESSION | getattr(ssl, "OP_NO_RENEGOTIATION", 0)
    if cfg.ssl_version != "TLS":
        try:
            ctx.minimum_version = getattr(ssl.TLSVersion, cfg.ssl_version)
        except (AttributeError, ValueError) as exc:
            raise ConfigError(f"ssl_version {cfg.ssl_version}: not available here ({exc})") from None
    try:
        ctx.load_cert_chain(cfg.certfile, cfg.keyfile or None)
    except (OSError, ssl.SSLError) as exc:
        what = f"certfile {cfg.certfile}" + (f" / keyfile {cfg.keyfile}" if cfg.keyfile else "")
        raise ConfigError(f"{what}: {_reason(exc)}") from None
    if cfg.cert_reqs:
        ctx.verify_mode = ssl.VerifyMode(cfg.cert_reqs)
    if cfg.ca_certs:
        try:
            ctx.load_verify_locations(cafile=cfg.ca_certs)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"ca_certs {cfg.ca_certs}: {_reason(exc)}") from None
    elif cfg.cert_reqs:
        ctx.load_default_certs(ssl.Purpose.CLIENT_AUTH)
    if cfg.ciphers:
        try:
            ctx.set_ciphers(cfg.ciphers)
        except ssl.SSLError as exc:
            raise ConfigError(f"ciphers {cfg.ciphers!r}: {_reason(exc)}") from None
    h2 = "h2" in str(getattr(cfg, "http_protocols", "h1") or "").split(",")
    ctx.set_alpn_protocols(ALPN_H2 if h2 else ALPN)
    return ctx


def make_context(cfg: Any) -> ssl.SSLContext | None:
    """The worker's SSLContext, or None when TLS is off (no certfile)."""
    if not enabled(cfg):
        return None
    if cfg.sources.get("ssl_context") == "default":
        return default_context(cfg)
    ctx = cfg.ssl_context(cfg, lambda: default_context(cfg))
    if not isinstance(ctx, ssl.SSLContext):
        raise ConfigError(f"the ssl_context hook returned {type(ctx).__name__}, not an ssl.SSLContext")
    return ctx


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    if isinstance(exc, ssl.SSLError) and reason:
        return f"{reason.lower().replace('_', ' ')} ({getattr(exc, 'library', None) or 'ssl'})"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    if exc.args and isinstance(exc.args[-1], str):
        return exc.args[-1].rstrip(".")
    return str(exc) or type(exc).__name__
