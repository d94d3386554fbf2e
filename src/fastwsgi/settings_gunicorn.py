"""gunicorn 27's settings that have no fastwsgi setting of their own (issue 21), declared as data like every other.

Each is one of three kinds, so that no gunicorn flag is answered with `unrecognized arguments` and no gunicorn setting
in a config file is ignored without a word:
- implemented here or where its name is read (`paste`, `daemon`, `initgroups`, `spew`, `secure_scheme_headers`...);
- accepted with the reason it changes nothing (`inert`): one log line at start when it is set;
- refused in one line when set to what fastwsgi cannot do (the validator's error): HTTP/2, ASGI and dirty arbiters.
`fastwsgi.settings` adds GUNICORN_SETTINGS to its registry; docs_gen lists them with the rest.
"""
from __future__ import annotations

from typing import Any, Callable

from fastwsgi.settings import (
    Setting,
    _nothing,
    boolean,
    comma_list,
    non_negative_int,
    optional_string,
    positive_int,
    string,
)

GUNICORN_SECURE_SCHEME_HEADERS = {"X-FORWARDED-PROTOCOL": "ssl", "X-FORWARDED-PROTO": "https", "X-FORWARDED-SSL": "on"}


def _refused(why: str, default: Any) -> Callable[[Any], Any]:
    """A validator that refuses any value but gunicorn's default for the setting (a config file written out with
    every default still loads)."""
    def validate(value: Any) -> Any:
        if isinstance(default, int) and isinstance(value, str):
            try:
                value = int(value.strip())
            except ValueError:
                pass
        if value == default or (value == [default] if isinstance(value, list) else False):
            return default
        raise ValueError(why)
    validate.refuses = why            # type: ignore[attr-defined]
    return validate


def _one_of(allowed: tuple, why: str, refusal: bool = False) -> Callable[[Any], Any]:
    def validate(value: Any) -> Any:
        value = string(value)
        if (value.strip().lower() if isinstance(value, str) else value) not in allowed:
            raise ValueError(why)
        return value
    if refusal:
        validate.refuses = why        # type: ignore[attr-defined]
    return validate


def http_protocols(value: Any) -> str:
    """gunicorn's list of HTTP versions: h1, and h2 where this build has libnghttp2; a list without h1 is refused
    (fastwsgi keeps HTTP/1.1 as every client's fallback)."""
    protocols = [p.strip().lower() for p in string(value).split(",") if p.strip()]
    if not set(protocols) <= {"h1", "h2"}:
        raise ValueError("expected a list of h1 and h2, e.g. h2,h1")
    if "h1" not in protocols:
        raise ValueError("a list without h1 is refused: HTTP/1.1 stays every client's fallback (use h2,h1)")
    if "h2" in protocols:
        from fastwsgi._core import http2_available
        ok, why = http2_available()
        if not ok:
            raise ValueError(f"h2 is unavailable: {why}")
    return ",".join(protocols)


def _between(low: int, high: int) -> Callable[[Any], int]:
    def validate(value: Any) -> int:
        number = non_negative_int(value)
        if not low <= number <= high:
            raise ValueError(f"expected an integer from {low} to {high}")
        return number
    return validate


def scheme_headers(value: Any) -> dict:
    """{HEADER: value} (gunicorn's secure_scheme_headers): upper-case header names, values compared exactly."""
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise ValueError("expected a dict of header names to values, e.g. {'X-FORWARDED-PROTO': 'https'}")
    return {k.strip().upper(): v for k, v in value.items()}


def _g(name: str, section: str, validator: Callable, default: Any, *flags: str, **kw: Any) -> Setting:
    why = getattr(validator, "refuses", "")
    return Setting(name, section, validator, default, tuple(flags), refuse=kw.pop("refuse", why), **kw)


_ASGI = "fastwsgi serves WSGI applications only; gunicorn's asgi worker settings do not apply"
_DIRTY = "fastwsgi has no dirty arbiters (gunicorn 27's pool for blocking side jobs); run them in a worker of their own"
_DIRTY_HOOK = "no effect: fastwsgi has no dirty arbiters"

GUNICORN_SETTINGS: tuple = (
    # implemented
    _g("paste", "Server mechanics", optional_string, None, "--paste", "--paster", meta="STRING",
       help="Load the application from a PasteDeploy config file (`production.ini`, or `production.ini#admin` for "
            "another app section), instead of MODULE:NAME; its [server:*] sections are ignored, as gunicorn does, "
            "and its [loggers] configure logging when no log config is given. Needs PasteDeploy "
            "(`pip install fastwsgi[paste]`)."),
    _g("raw_paste_global_conf", "Server mechanics", lambda v: [string(x) for x in (v if isinstance(v, list) else [v])],
       [], "--paste-global", meta="CONF", action="append",
       help="A PasteDeploy global config variable, KEY=VALUE, passed to the app's factory. Repeatable."),
    _g("daemon", "Server mechanics", boolean, False, "-D", "--daemon", action="store_true",
       help="Detach from the terminal and run in the background (double fork, new session); stdin, stdout and "
            "stderr go to /dev/null unless --enable-stdio-inheritance. Use a --pid file to find it."),
    _g("initgroups", "Server mechanics", boolean, False, "--initgroups", action="store_true",
       help="With --user, give the workers every group the user is a member of (initgroups(3)), plus --group; "
            "without it they keep --group only."),
    _g("spew", "Debugging", boolean, False, "--spew", action="store_true",
       help="Print every line the workers execute (a trace function on every thread). The nuclear option."),
    _g("secure_scheme_headers", "Security", scheme_headers, dict(GUNICORN_SECURE_SCHEME_HEADERS),
       default_doc=repr(GUNICORN_SECURE_SCHEME_HEADERS),
       help="Headers (and the value each must have) by which a proxy in --forwarded-allow-ips says the request "
            "came over HTTPS: wsgi.url_scheme is then https. The default three are read in C with the head; "
            "another dict is applied per request from the peers allowed (config file only)."),
    _g("default_proc_name", "Process naming", string, "fastwsgi",
       help="The process title's name when --name is not given and there is no application spec (--paste)."),
    # accepted: what fastwsgi does already, or no effect here
    _g("forwarder_headers", "gunicorn compatibility", comma_list, ["SCRIPT_NAME", "PATH_INFO"], "--forwarder-headers",
       default_doc="SCRIPT_NAME,PATH_INFO",
       inert="no effect: fastwsgi drops every header name holding '_' from every peer (header_map = drop), so a "
             "proxy cannot set SCRIPT_NAME or PATH_INFO by header; mount the app with SCRIPT_NAME in --env instead",
       help="gunicorn: underscore headers a trusted proxy may set. fastwsgi never maps them (see the log line)."),
    _g("header_map", "gunicorn compatibility",
       _one_of(("drop",), "fastwsgi always drops header names holding '_' (header_map = drop): they could pose as "
                          "the '-' spelling", refusal=True),
       "drop", "--header-map",
       help="How header names with '_' map to the environ: drop (the only one: they are dropped, as gunicorn's "
            "default); refuse and dangerous are refused in one line."),
    _g("worker_tmp_dir", "gunicorn compatibility", optional_string, None, "--worker-tmp-dir", meta="DIR",
       inert="no effect: the workers' heartbeat is a shared-memory page, never a file (nothing to put on /dev/shm)",
       help="gunicorn: where the heartbeat files go. Accepted; fastwsgi's heartbeat is shared memory."),
    _g("http_parser", "gunicorn compatibility", _one_of(("auto", "fast", "python"), "expected auto, fast or python"),
       "auto", "--http-parser", meta="STRING",
       inert="no effect: fastwsgi always frames requests itself and validates them with llhttp (httptools)",
       help="gunicorn: which HTTP parser. Accepted; fastwsgi has one."),
    _g("suppress_ragged_eofs", "gunicorn compatibility", boolean, True, "--suppress-ragged-eofs", action="store_true",
       inert="no effect: TLS runs over memory buffers; a client closing without close_notify ends its connection "
             "as an EOF does",
       help="gunicorn: the ssl module's suppress_ragged_eofs. Accepted."),
    _g("do_handshake_on_connect", "gunicorn compatibility",
       boolean, False, "--do-handshake-on-connect", action="store_true",
       inert="no effect: the TLS handshake always runs in the loop, without blocking, bounded by --header-timeout",
       help="gunicorn: the ssl module's do_handshake_on_connect. Accepted."),
    _g("casefold_http_method", "gunicorn compatibility", boolean, False, "--casefold-http-method", action="store_true",
       inert="no effect: methods are case-sensitive (RFC 9110 9.1) and passed as sent",
       help="gunicorn: upper-case the method. Accepted; fastwsgi keeps the method as sent."),
    _g("strip_header_spaces", "gunicorn compatibility", boolean, False, "--strip-header-spaces", action="store_true",
       inert="no effect: fastwsgi keeps refusing whitespace between a field name and ':' with 400 (RFC 9112 5.1: "
             "a request smuggling vector)",
       help="gunicorn: accept 'Name :'. Accepted; fastwsgi keeps refusing it."),
    _g("permit_obsolete_folding", "gunicorn compatibility",
       boolean, False, "--permit-obsolete-folding", action="store_true",
       inert="no effect: fastwsgi keeps refusing obsolete line folding with 400 (RFC 9112 5.2)",
       help="gunicorn: accept obs-fold. Accepted; fastwsgi keeps refusing it."),
    _g("permit_unconventional_http_method", "gunicorn compatibility",
       boolean, False, "--permit-unconventional-http-method",
       action="store_true",
       inert="no effect: fastwsgi accepts every method llhttp knows (lowercase ones and unknown tokens are 400)",
       help="gunicorn: accept odd methods. Accepted; llhttp's method list applies."),
    _g("permit_unconventional_http_version", "gunicorn compatibility",
       boolean, False, "--permit-unconventional-http-version",
       action="store_true",
       inert="no effect: fastwsgi answers HTTP/1.0 and HTTP/1.1 only (others: 505)",
       help="gunicorn: accept odd versions. Accepted; others get 505."),
    _g("enable_backlog_metric", "gunicorn compatibility",
       boolean, False, "--enable-backlog-metric", action="store_true",
       help="With --statsd-host, the master sends `gunicorn.backlog` (a histogram, as gunicorn does) about once a "
            "second: the connections waiting in the listen queues of the TCP sockets (Linux TCP_INFO)."),
    _g("http2_cleartext", "gunicorn compatibility", _one_of(("off", "prior-knowledge", "upgrade", "both"),
                                                          "expected off, prior-knowledge, upgrade or both"),
       "off", "--http2-cleartext", meta="STRING", loop=True,
       help="HTTP/2 without TLS (h2c), for a proxy that speaks HTTP/2 upstream, with h2 in --http-protocols: "
            "prior-knowledge serves a connection that opens with the HTTP/2 connection preface; upgrade answers an "
            "HTTP/1.1 request with `Upgrade: h2c` and `HTTP2-Settings` with 101 and goes on in HTTP/2 (that request "
            "becomes stream 1); both: either. Only peers in --forwarded-allow-ips are considered (others are served "
            "HTTP/1.1 as if it were off), as gunicorn does. Never expose such a port to the internet."),
    _g("http2_max_concurrent_streams", "gunicorn compatibility", positive_int, 100, "--http2-max-concurrent-streams",
       meta="INT", loop=True,
       help="HTTP/2: streams a client may have open at once on one connection (SETTINGS_MAX_CONCURRENT_STREAMS); "
            "more are refused."),
    _g("http2_initial_window_size", "gunicorn compatibility", _between(1, 2**31 - 1), 65535,
       "--http2-initial-window-size", meta="INT", loop=True,
       help="HTTP/2: the flow-control window of each stream the client sends on (SETTINGS_INITIAL_WINDOW_SIZE), "
            "in bytes."),
    _g("http2_max_frame_size", "gunicorn compatibility", _between(16384, 16777215), 16384, "--http2-max-frame-size",
       meta="INT", loop=True,
       help="HTTP/2: the largest frame payload the client may send (SETTINGS_MAX_FRAME_SIZE), 16384-16777215."),
    _g("http2_max_header_list_size", "gunicorn compatibility", positive_int, 65536,
       "--http2-max-header-list-size", meta="INT", loop=True,
       help="HTTP/2: the largest header list a client may send, decoded (SETTINGS_MAX_HEADER_LIST_SIZE); the "
            "field limits (--limit-request-fields, --limit-request-field-size) apply too."),
    _g("http_protocols", "gunicorn compatibility", http_protocols, "h1", "--http-protocols", meta="STRING",
       loop=True, refuse="a list without h1 is refused (HTTP/1.1 is every client's fallback)",
       help="The HTTP versions to speak, in order of preference: h1, or h2,h1 to add HTTP/2 (libnghttp2): over TLS "
            "by ALPN (h2 offered first), and without TLS with --http2-cleartext. A build without libnghttp2 "
            "refuses h2 in one line saying why."),
    _g("root_path", "gunicorn compatibility", _refused(_ASGI, ""), "", "--root-path", meta="STRING",
       help="gunicorn: the ASGI root_path. Refused; for WSGI, mount points come as SCRIPT_NAME."),
    _g("asgi_loop", "gunicorn compatibility",
       _refused(_ASGI, "auto"), "auto", "--asgi-loop", meta="STRING", help="Refused: ASGI."),
    _g("asgi_lifespan", "gunicorn compatibility",
       _refused(_ASGI, "auto"), "auto", "--asgi-lifespan", meta="STRING", help="Refused: ASGI."),
    _g("asgi_disconnect_grace_period", "gunicorn compatibility",
       _refused(_ASGI, 3), 3, "--asgi-disconnect-grace-period", meta="INT",
       help="Refused: ASGI."),
    _g("websocket_max_message_size", "gunicorn compatibility",
       _refused(_ASGI, 16777216), 16777216, "--websocket-max-message-size", meta="INT",
       help="Refused: ASGI."),
    _g("dirty_apps", "gunicorn compatibility", _refused(_DIRTY, []), [], "--dirty-app", meta="STRING",
       action="append",
       help="Refused: no dirty arbiters."),
    _g("dirty_workers", "gunicorn compatibility", _refused(_DIRTY, 0), 0, "--dirty-workers", meta="INT",
       help="Refused: no dirty arbiters."),
    _g("dirty_timeout", "gunicorn compatibility", _refused(_DIRTY, 300), 300, "--dirty-timeout", meta="INT",
       help="Refused: no dirty arbiters."),
    _g("dirty_threads", "gunicorn compatibility", _refused(_DIRTY, 1), 1, "--dirty-threads", meta="INT",
       help="Refused: no dirty arbiters."),
    _g("dirty_graceful_timeout", "gunicorn compatibility", _refused(_DIRTY, 30), 30, "--dirty-graceful-timeout",
       meta="INT",
       help="Refused: no dirty arbiters."),
    _g("on_dirty_starting", "gunicorn compatibility",
       lambda v: v, _nothing, inert=_DIRTY_HOOK, default_doc="(none)",
       help="Accepted: no effect."),
    _g("dirty_post_fork", "gunicorn compatibility",
       lambda v: v, _nothing, inert=_DIRTY_HOOK, default_doc="(none)",
       help="Accepted: no effect."),
    _g("dirty_worker_init", "gunicorn compatibility",
       lambda v: v, _nothing, inert=_DIRTY_HOOK, default_doc="(none)",
       help="Accepted: no effect."),
    _g("dirty_worker_exit", "gunicorn compatibility",
       lambda v: v, _nothing, inert=_DIRTY_HOOK, default_doc="(none)",
       help="Accepted: no effect."),
)


# gunicorn 27.0.1's settings, in its order (gunicorn.config.KNOWN_SETTINGS; tests compare it with gunicorn when
# installed): docs/settings.md says for each what fastwsgi does with it
GUNICORN_27 = (
    "config", "wsgi_app", "bind", "backlog", "workers", "worker_class", "threads", "worker_connections",
    "max_requests", "max_requests_jitter", "timeout", "graceful_timeout", "keepalive", "limit_request_line",
    "limit_request_fields", "limit_request_field_size", "reload", "reload_engine", "reload_extra_files", "spew",
    "check_config", "print_config", "preload_app", "sendfile", "reuse_port", "chdir", "daemon", "raw_env",
    "pidfile", "worker_tmp_dir", "user", "group", "umask", "initgroups", "tmp_upload_dir", "secure_scheme_headers",
    "forwarded_allow_ips", "accesslog", "disable_redirect_access_to_syslog", "access_log_format", "errorlog",
    "loglevel", "capture_output", "logger_class", "logconfig", "logconfig_dict", "logconfig_json", "syslog_addr",
    "syslog", "syslog_prefix", "syslog_facility", "enable_stdio_inheritance", "statsd_host", "dogstatsd_tags",
    "statsd_prefix", "enable_backlog_metric", "proc_name", "default_proc_name", "pythonpath", "paste",
    "on_starting", "on_reload", "when_ready", "pre_fork", "post_fork", "post_worker_init", "worker_int",
    "worker_abort", "pre_exec", "pre_request", "post_request", "child_exit", "worker_exit", "nworkers_changed",
    "on_exit", "ssl_context", "proxy_protocol", "proxy_allow_ips", "protocol", "uwsgi_allow_ips", "keyfile",
    "certfile", "ssl_version", "cert_reqs", "ca_certs", "suppress_ragged_eofs", "do_handshake_on_connect",
    "ciphers", "http_protocols", "http2_cleartext", "http2_max_concurrent_streams", "http2_initial_window_size",
    "http2_max_frame_size", "http2_max_header_list_size", "raw_paste_global_conf", "permit_obsolete_folding",
    "strip_header_spaces", "permit_unconventional_http_method", "permit_unconventional_http_version",
    "casefold_http_method", "forwarder_headers", "header_map", "asgi_loop", "asgi_lifespan",
    "asgi_disconnect_grace_period", "websocket_max_message_size", "http_parser", "root_path", "dirty_apps",
    "dirty_workers", "dirty_timeout", "dirty_threads", "dirty_graceful_timeout", "on_dirty_starting",
    "dirty_post_fork", "dirty_worker_init", "dirty_worker_exit", "control_socket", "control_socket_mode",
    "control_socket_disable",
)


def inert_notes(cfg: Any) -> list:
    """One line per setting given (not at its default) that changes nothing here: logged by the master at start."""
    notes = []
    for setting in GUNICORN_SETTINGS:
        if setting.inert and cfg.sources.get(setting.name, "default") != "default" \
                and getattr(cfg, setting.name) != setting.default_value():
            notes.append(f"Setting {setting.name}: {setting.inert}")
    return notes


def scheme_fixer(cfg: Any, trusted: Callable[[str], bool], own_scheme: str) -> Callable[[dict], None] | None:
    """A per-request step for a secure_scheme_headers other than gunicorn's default (which the C parser applies):
    wsgi.url_scheme from the configured headers of a trusted peer, else the listener's own scheme. None when the
    default is in use: nothing per request."""
    wanted = cfg.secure_scheme_headers
    if wanted == GUNICORN_SECURE_SCHEME_HEADERS:
        return None
    keys = [("HTTP_" + name.replace("-", "_"), value) for name, value in wanted.items()]

    def fix(environ: dict) -> None:
        scheme = own_scheme
        if trusted(environ.get("REMOTE_ADDR", "")):
            for key, value in keys:
                got = environ.get(key)
                if got is not None:
                    scheme = "https" if got == value else "http"
                    break
        environ["wsgi.url_scheme"] = scheme
    return fix
