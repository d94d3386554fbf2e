"""Every setting of fastwsgi, declared once.

A `Setting` names the config-file key (gunicorn's spelling), the command-line flags, how a raw value (a string from
the command line or `FASTWSGI_CMD_ARGS`, or any Python value from a config file) is validated and converted, the
default, and the help text. `fastwsgi.config` builds the argparse parser and the config-file reader from `SETTINGS`,
and `fastwsgi.docs_gen` renders docs/settings.md from it: nothing else lists options. The validators and computed
defaults live in `fastwsgi.validators`, gunicorn's remaining settings in `fastwsgi.settings_gunicorn`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from fastwsgi import logconfig as _logcfg
from fastwsgi.validators import (  # noqa: F401  (re-exported: callers read them from fastwsgi.settings)
    CERT_REQS,
    LOG_LEVELS,
    PROTOCOLS,
    PROXY_MODES,
    RELOAD_ENGINES,
    SSL_PROTOCOL_NUMBERS,
    SSL_VERSIONS,
    WORKER_CLASSES,
    _int,
    _nothing,
    access_format,
    address_list,
    boolean,
    cert_reqs,
    comma_list,
    default_bind,
    default_control_socket,
    default_forwarded_allow_ips,
    default_workers,
    env_list,
    file_mode,
    group,
    hook,
    log_level,
    metrics_address,
    non_negative_float,
    non_negative_int,
    optional_string,
    positive_int,
    protocol,
    proxy_mode,
    reload_engine,
    spool_size,
    ssl_version,
    statsd_address,
    string,
    string_list,
    umask,
    user,
    worker_class,
)

# ------------------------------------------------------------------------------------------------------------ registry

@dataclass(frozen=True)
class Setting:
    """One setting. `name` is its config-file key and attribute name on `Config`."""

    name: str
    section: str
    validator: Callable[[Any], Any]
    default: Any = None
    flags: tuple = ()
    help: str = ""
    meta: str | None = None
    action: str = "store"          # "store", "append" (repeatable flag) or "store_true"
    default_factory: Callable[[], Any] | None = None
    default_doc: str | None = None
    hook_args: str = ""           # for hooks: the documented signature
    loop: bool = False            # an option of the worker's request loop (fastwsgi._core.Loop), same name
    const: Any = None             # the value of the flag given alone (its value is then optional)
    extra: str = field(default="")  # longer text for the docs only
    inert: str = ""               # gunicorn's, accepted: why it changes nothing here (logged at start when set)
    refuse: str = ""              # gunicorn's, refused unless at its default: why (the validator says it too)

    def default_value(self) -> Any:
        if self.default_factory is not None:
            return self.default_factory()
        return list(self.default) if isinstance(self.default, list) else self.default

    @property
    def is_hook(self) -> bool:
        return self.section == "Server hooks"


FLAG_ACTIONS = ("store_true", "store_false")  # on/off flags: they take no value on the command line


def _s(name: str, section: str, validator: Callable, default: Any = None, *flags: str, **kw: Any) -> Setting:
    return Setting(name, section, validator, default, tuple(flags), **kw)


DEFAULT_ACCESS_LOG_FORMAT = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"'

SETTINGS: tuple = (
    # Config file
    _s("config", "Config file", optional_string, None, "-c", "--config", meta="FILE",
       help="Python config file, or `python:MODULE` (a module found from the working directory, as gunicorn); "
            "without -c, ./fastwsgi.conf.py, else ./gunicorn.conf.py, is read when it exists. The master logs the "
            "file it used.",
       default_doc="./fastwsgi.conf.py, else ./gunicorn.conf.py, if present"),
    _s("check_config", "Config file", boolean, False, "--check-config", action="store_true",
       help="Validate the settings, import the application, report and exit (0 when good)."),
    _s("print_config", "Config file", boolean, False, "--print-config", action="store_true",
       help="Print the resolved settings, one `name = value` per line, and exit."),
    _s("wsgi_app", "Config file", optional_string, None,
       help="The application spec (MODULE:NAME) when none is given on the command line; config file only."),
    # Server socket
    _s("bind", "Server socket", address_list, None, "-b", "--bind", meta="ADDRESS", action="append",
       default_factory=default_bind, default_doc="127.0.0.1:8000, or 0.0.0.0:$PORT when PORT is set",
       help="Address to listen on: HOST:PORT, [V6ADDR]:PORT, unix:PATH or fd://N. Repeat to listen on several."),
    _s("backlog", "Server socket", positive_int, 2048, "--backlog", meta="INT",
       help="Length of the listen queue of each socket."),
    _s("reuse_port", "Server socket", boolean, False, "--reuse-port", action="store_true",
       help="Each worker listens on its own SO_REUSEPORT socket for TCP addresses (the kernel spreads connections)."),
    # Worker processes
    _s("workers", "Worker processes", positive_int, None, "-w", "--workers", meta="INT",
       default_factory=default_workers, default_doc="$WEB_CONCURRENCY or 1",
       help="Number of worker processes."),
    _s("worker_class", "Worker processes", worker_class, "sync", "-k", "--worker-class", meta="STRING",
       help="gunicorn's worker type: sync and gthread are accepted (the thread count decides: --threads); other "
            "classes (gevent, eventlet, uvicorn workers...) are refused with one error line."),
    _s("threads", "Worker processes", positive_int, 1, "--threads", meta="INT", loop=True,
       help="App threads per worker. Above 1, each worker's loop keeps every socket, parses and reads bodies, and "
            "app calls run on this many threads (gunicorn's gthread: a blocking app serves other clients "
            "meanwhile); 1 calls the app on the loop thread."),
    _s("worker_connections", "Worker processes", positive_int, 1000, "--worker-connections", meta="INT", loop=True,
       help="Open connections per worker at most; beyond it the worker stops accepting."),
    _s("max_requests", "Worker processes", non_negative_int, 0, "--max-requests", meta="INT", loop=True,
       help="A worker stops gracefully after this many requests and is replaced (0: never)."),
    _s("max_requests_jitter", "Worker processes", non_negative_int, 0, "--max-requests-jitter", meta="INT",
       help="Add a random 0..N to --max-requests per worker so workers do not restart together."),
    _s("timeout", "Worker processes", non_negative_float, 30.0, "-t", "--timeout", meta="SECONDS",
       help="A worker silent for this long (a blocked app call counts) is killed and replaced (0: never)."),
    _s("graceful_timeout", "Worker processes", non_negative_float, 30.0, "--graceful-timeout", meta="SECONDS",
       help="On a graceful stop, in-flight requests get this long to finish before workers are killed."),
    _s("keepalive", "Worker processes", non_negative_float, 2.0, "--keep-alive", meta="SECONDS", loop=True,
       help="Seconds an idle keep-alive connection is kept open."),
    _s("header_timeout", "Worker processes", non_negative_float, 30.0, "--header-timeout", meta="SECONDS", loop=True,
       help="A client gets this long to send a whole request head (slow clients are cut: 408)."),
    _s("body_timeout", "Worker processes", non_negative_float, 60.0, "--body-timeout", meta="SECONDS", loop=True,
       help="Seconds of client silence allowed while the app reads the request body."),
    _s("send_timeout", "Worker processes", non_negative_float, 60.0, "--send-timeout", meta="SECONDS", loop=True,
       help="Seconds a client may stop reading the response before the connection is dropped."),
    # Security
    _s("limit_request_line", "Security", non_negative_int, 4094, "--limit-request-line", meta="INT", loop=True,
       help="Longest request line in bytes; longer gets 414 (0: unlimited)."),
    _s("limit_request_fields", "Security", non_negative_int, 100, "--limit-request-fields", meta="INT", loop=True,
       help="Most header fields per request; more gets 431."),
    _s("limit_request_field_size", "Security", non_negative_int, 8190, "--limit-request-field-size",
       "--limit-request-field_size", meta="INT",
       loop=True, help="Largest header field in bytes; larger gets 431."),
    _s("limit_request_body", "Security", non_negative_int, 0, "--limit-request-body", meta="INT", loop=True,
       help="Largest request body in bytes; larger gets 413 (0: unlimited)."),
    _s("body_buffer_size", "Security", non_negative_int, 256 * 1024, "--body-buffer-size", meta="BYTES", loop=True,
       help="Request bodies are read whole by the worker before the app is called (a slow client costs memory, "
            "never a worker). Up to this many bytes of a body stay in memory; a larger body is spooled to an "
            "anonymous temporary file in $TMPDIR (nginx's client_body_buffer_size). Memory cost: at most this much "
            "per connection sending a body, so worker_connections x this in the worst case.",
       default_doc="262144 (256 KiB)"),
    _s("spool_limit", "Security", spool_size, -1, "--spool-limit", meta="BYTES", loop=True, default_doc="auto",
       help="The disk a worker's spooled request bodies may take at once: a body that would go beyond is refused "
            "with 503 and Retry-After (413 if it could never fit) before its bytes are written, and the log says "
            "why. auto: a body is spooled only while the spool's filesystem keeps 10 % of its size (at most 1 GiB) "
            "free once the body is all there; a number: this many bytes per worker; 0: no limit. A write the disk "
            "refuses (full, quota) is a 507 and a warning naming the directory. See docs/deployment.md."),
    _s("tmp_upload_dir", "Security", optional_string, None, "--tmp-upload-dir", meta="DIR", loop=True,
       help="Where request bodies larger than body_buffer_size are spooled (anonymous files): $TMPDIR by default.",
       default_doc="$TMPDIR"),
    _s("forwarded_allow_ips", "Security", comma_list, None, "--forwarded-allow-ips", meta="IPS", loop=True,
       default_factory=default_forwarded_allow_ips, default_doc="$FORWARDED_ALLOW_IPS or 127.0.0.1,::1",
       help="Comma-separated peer addresses trusted to set X-Forwarded-Proto/-Ssl/-Protocol ('*': any)."),
    _s("proxy_protocol", "Security", proxy_mode, "off", "--proxy-protocol", meta="MODE", const="auto", loop=True,
       help="Every connection begins with a PROXY protocol header (haproxy's send-proxy, stunnel's protocol = proxy) "
            "giving the client's address, which becomes REMOTE_ADDR/REMOTE_PORT: v1 (text), v2 (binary), auto "
            "(either) or off. The flag alone means auto.",
       extra="The header is required: a connection that does not begin with a valid one (within header_timeout) is "
             "closed without an answer, as the PROXY protocol specification asks; a v2 LOCAL header (a proxy's "
             "health check) keeps the socket's addresses, and so do v1 UNKNOWN and v2 AF_UNSPEC. A valid header from "
             "a peer not in `proxy_allow_ips` is answered 403 and the connection closed. Unlike gunicorn, which "
             "also serves connections without a header, fastwsgi does not guess. On the command line put the app "
             "before a bare `--proxy-protocol`, or give the mode."),
    _s("proxy_allow_ips", "Security", comma_list, ["127.0.0.1", "::1"], "--proxy-allow-from", meta="IPS", loop=True,
       default_doc="127.0.0.1,::1",
       help="Comma-separated peer addresses allowed to send a PROXY protocol header ('*': any). A peer on a UNIX "
            "socket always is."),
    _s("uwsgi_allow_ips", "Security", comma_list, ["127.0.0.1", "::1"], "--uwsgi-allow-from", meta="IPS", loop=True,
       default_doc="127.0.0.1,::1",
       help="With --protocol uwsgi: comma-separated peer addresses allowed to send uwsgi requests ('*': any); "
            "another peer is answered 403. A peer on a UNIX socket always is."),
    # SSL
    _s("certfile", "SSL", optional_string, None, "--certfile", meta="FILE",
       help="Serve HTTPS: the certificate (PEM; the chain after it) of every listening socket.",
       extra="TLS is terminated in the worker without blocking its loop (an SSLObject over memory buffers), "
             "renegotiation refused, ALPN `http/1.1` (`h2` first with --http-protocols h2,h1); `wsgi.url_scheme` is "
             "`https`. The handshake happens within "
             "`--header-timeout` of accept. `wsgi.file_wrapper` files are read and encrypted instead of going out "
             "with sendfile(2). A client speaking plain HTTP gets a plain 400; one whose handshake fails gets the "
             "alert OpenSSL wrote, then is closed. "
             "The files are read when a worker starts, and checked by the master at start and on HUP (a bad file "
             "keeps the running workers): HUP after renewing a certificate."),
    _s("keyfile", "SSL", optional_string, None, "--keyfile", meta="FILE",
       help="The private key (PEM) of --certfile, when not in the same file."),
    _s("ca_certs", "SSL", optional_string, None, "--ca-certs", meta="FILE",
       help="CA certificates (PEM) that client certificates are checked against (see --cert-reqs)."),
    _s("cert_reqs", "SSL", cert_reqs, 0, "--cert-reqs", meta="INT",
       help="Client certificates: 0 (CERT_NONE) not asked for, 1 (CERT_OPTIONAL) checked when sent, "
            "2 (CERT_REQUIRED) required."),
    _s("ssl_version", "SSL", ssl_version, "TLS", "--ssl-version", meta="VERSION",
       help="The lowest TLS version accepted: TLS (OpenSSL's default floor), TLSv1_2, TLSv1_3 ... gunicorn's "
            "ssl.PROTOCOL_* values are accepted, a versioned one meaning its floor."),
    _s("ciphers", "SSL", optional_string, None, "--ciphers", meta="CIPHERS",
       help="OpenSSL cipher list for TLS 1.2 and older, e.g. 'ECDHE+AESGCM' (default: OpenSSL's)."),
    # Server mechanics
    _s("preload_app", "Server mechanics", boolean, False, "--preload", action="store_true",
       help="Import the application in the master before forking (faster boot, no code reload on HUP)."),
    _s("sendfile", "Server mechanics", boolean, True, "--no-sendfile", action="store_false", loop=True,
       help="Do not use sendfile(2) for wsgi.file_wrapper files: the worker reads them and sends the data itself. "
            "sendfile (the default) spares the worker's CPU, but a receiver on the same host (a local proxy) pays "
            "more per byte.",
       extra="In a config file, `sendfile = False` does the same."),
    _s("io_uring", "Server mechanics", boolean, True, "--no-io-uring", action="store_false", loop=True,
       help="Do not use io_uring: each send() and recv() is a system call of its own. By default a worker sends "
            "the answers of one wakeup (and reads its requests) with one io_uring_enter(2), where the kernel allows "
            "io_uring (Linux 5.6 and later; Docker's default seccomp profile refuses it, and then the calls are "
            "made one by one, as with this flag).",
       extra="In a config file, `io_uring = False` does the same. Only the batching of non-blocking socket calls "
             "goes through the ring; the worker still waits in epoll_wait(2)."),
    _s("protocol", "Server mechanics", protocol, "http", "--protocol", meta="STRING", loop=True,
       help="What the listeners speak: http, or uwsgi (the uWSGI protocol of nginx's `uwsgi_pass`, from the peers "
            "in --uwsgi-allow-from).",
       extra="With uwsgi, each request is a uwsgi packet whose vars become the environ as uWSGI takes them "
             "(REMOTE_ADDR, SERVER_NAME, PATH_INFO... as nginx's `uwsgi_params` sends them, over the listener's own "
             "keys; `wsgi.url_scheme` is https when the HTTPS var is on), its body CONTENT_LENGTH bytes. Answers "
             "are HTTP/1.1 heads and bodies, never chunked: a body of unknown length ends with the connection. "
             "nginx opens a connection per request; other clients may send further packets on a kept-alive one. A "
             "malformed packet (modifier1 not 0, truncated vars), or one beyond the limit_request_* settings, is "
             "logged and its connection closed without an answer; nginx reports it as a 502.\n\n"
             "```nginx\nlocation / {\n    include uwsgi_params;\n    uwsgi_pass 127.0.0.1:8000;\n}\n```"),
    _s("chdir", "Server mechanics", optional_string, None, "--chdir", meta="DIR",
       help="Change to this directory before loading the application."),
    _s("pythonpath", "Server mechanics", comma_list, [], "--pythonpath", meta="DIRS",
       help="Comma-separated directories put in front of sys.path."),
    _s("raw_env", "Server mechanics", env_list, [], "-e", "--env", meta="KEY=VALUE", action="append",
       help="Set an environment variable in the server processes. Repeatable."),
    _s("pidfile", "Server mechanics", optional_string, None, "-p", "--pid", meta="FILE",
       help="Write the master's pid to this file."),
    _s("user", "Server mechanics", user, None, "-u", "--user", meta="USER",
       help="Workers switch to this user (name or uid) after fork; needs root."),
    _s("group", "Server mechanics", group, None, "-g", "--group", meta="GROUP",
       help="Workers switch to this group (name or gid) after fork; needs root."),
    _s("umask", "Server mechanics", umask, 0, "-m", "--umask", meta="INT",
       help="File mode creation mask for the unix sockets fastwsgi creates (octal, e.g. 007). The default 0 (as "
            "gunicorn's) makes them 0777 so that a proxy running as another user can connect; the process umask, "
            "which applies to the files the application writes, is left as inherited.", default_doc="0"),
    # Logging
    _s("accesslog", "Logging", optional_string, None, "--access-logfile", meta="FILE",
       help="Access log file; '-' is stdout. Off unless given."),
    _s("access_log_format", "Logging", access_format, DEFAULT_ACCESS_LOG_FORMAT, "--access-logformat", meta="FORMAT",
       help="Access log line in gunicorn's atoms: h l u t r m U q H s B b f a T M D L p {header}i {header}o {var}e."),
    _s("errorlog", "Logging", string, "-", "--error-logfile", "--log-file", meta="FILE",
       help="Error log file; '-' is stderr."),
    _s("loglevel", "Logging", log_level, "info", "--log-level", meta="LEVEL",
       help="Error log level: debug, info, warning, error, critical."),
    # gunicorn's other logging settings (validators and behaviour in fastwsgi.logconfig and fastwsgi.logs)
    _s("capture_output", "Logging", boolean, False, "--capture-output", action="store_true",
       help="Redirect the application's stdout and stderr (file descriptors 1 and 2, in the master and the "
            "workers) to the --error-logfile file; nothing changes when the error log is '-'."),
    _s("logger_class", "Logging", _logcfg.logger_class, "gunicorn.glogging.Logger", "--logger-class", meta="STRING",
       help="gunicorn's logger class. gunicorn.glogging.Logger (its default, whose behaviour fastwsgi's logs "
            "follow) and gunicorn.instrument.statsd.Statsd (statsd comes from --statsd-host) are accepted; another "
            "class is refused: use a log config for other handlers and formats."),
    _s("logconfig", "Logging", optional_string, None, "--log-config", meta="FILE",
       help="A logging configuration file in the ini format of logging.config.fileConfig (`%(here)s` is its "
            "directory; existing loggers are kept)."),
    _s("logconfig_dict", "Logging", _logcfg.log_config_dict, None, default_factory=dict, default_doc="{}",
       help="A logging.config.dictConfig dictionary, laid over gunicorn's defaults (its top-level keys replace "
            "theirs). Takes precedence over --log-config-json and --log-config. Config file only.",
       extra="gunicorn's defaults (`gunicorn.glogging.CONFIG_DEFAULTS`, in `fastwsgi.logconfig.LOG_CONFIG_DEFAULTS`)"
             " send the root logger and `gunicorn.access` to stdout and `gunicorn.error` to stderr. The loggers "
             "`gunicorn.error` and `gunicorn.access` are fastwsgi's `fastwsgi.error` and `fastwsgi.access` (one "
             "logger each under both names): a configuration that names either decides where the server's lines "
             "go, as under gunicorn. With any log config, access records carry gunicorn's atoms dict as their "
             "args (formatters that read `record.args['h']` work), and access logging is on even without "
             "--access-logfile."),
    _s("logconfig_json", "Logging", optional_string, None, "--log-config-json", meta="FILE",
       help="A JSON file holding a dictConfig dictionary, as logconfig_dict (a missing file is an error)."),
    _s("syslog_addr", "Logging", _logcfg.syslog_address, "udp://localhost:514", "--log-syslog-to",
       meta="SYSLOG_ADDR",
       help="Where --log-syslog sends: unix://PATH#TYPE (TYPE stream, the default, or dgram), udp://HOST:PORT or "
            "tcp://HOST:PORT (port 514 when omitted)."),
    _s("syslog", "Logging", boolean, False, "--log-syslog", action="store_true",
       help="Also send the error log (and the access log, unless --disable-redirect-access-to-syslog) to syslog "
            "at --log-syslog-to, tagged `gunicorn.<prefix>.error` / `gunicorn.<prefix>.access` as gunicorn does."),
    _s("syslog_prefix", "Logging", optional_string, None, "--log-syslog-prefix", meta="SYSLOG_PREFIX",
       help="The <prefix> of the syslog tag; by default the process name (--name, else the application spec) "
            "with ':' as '.'."),
    _s("syslog_facility", "Logging", _logcfg.syslog_facility, "user", "--log-syslog-facility",
       meta="SYSLOG_FACILITY", help="Syslog facility name: user, daemon, local0 ... local7, ..."),
    _s("disable_redirect_access_to_syslog", "Logging", boolean, False, "--disable-redirect-access-to-syslog",
       action="store_true", help="With --log-syslog, do not send the access log to syslog."),
    _s("enable_stdio_inheritance", "Logging", boolean, False, "-R", "--enable-stdio-inheritance",
       action="store_true",
       help="With --daemon, keep stdout and stderr where they point instead of /dev/null (stdin always is). "
            "Without --daemon it changes nothing: the processes always keep their stdio."),
    _s("statsd_host", "Logging", statsd_address, None, "--statsd-host", meta="STATSD_ADDR",
       help="Send gunicorn's statsd metrics to this address (HOST:PORT, default port 8125, or unix:PATH) over "
            "UDP. Off unless given.",
       extra="Workers count requests in memory and send about once a second, packed into datagrams of at most "
             "1400 bytes; the master sends the worker count and its own log counters. Metrics (each after "
             "`--statsd-prefix`): `gunicorn.requests` (counter), `gunicorn.request.status.<code>` (counters), "
             "`gunicorn.request.duration` (timer in ms; above 100 requests a second per worker a uniform sample "
             "of 100 is sent with its `@rate`, so statsd still counts every request), `gunicorn.workers` (gauge), "
             "`gunicorn.log.critical`, `gunicorn.log.error`, `gunicorn.log.warning`, `gunicorn.log.exception` "
             "(counters of error-log lines)."),
    _s("statsd_prefix", "Logging", string, "", "--statsd-prefix", meta="STATSD_PREFIX",
       help="Prefix of every statsd metric name; a trailing '.' is added when missing."),
    _s("dogstatsd_tags", "Logging", string, "", "--dogstatsd-tags", meta="DOGSTATSD_TAGS",
       help="Comma-separated DogStatsD tags appended to every metric, e.g. 'env:prod,app:shop' (sent as |#tags)."),
    # Debugging
    _s("reload", "Debugging", boolean, False, "--reload", action="store_true",
       help="Restart workers when the application's code changes. For development only; implies no --preload.",
       extra="Watched: the source of every module the worker has loaded from outside the standard library, "
             "site-packages and fastwsgi, plus `--reload-extra-file`. Each worker checks once a second; on a change "
             "it logs the file, stops gracefully (as for `--max-requests`) and the master starts a fresh worker, "
             "which imports the application again. With `--preload` the application would be imported once in "
             "the master, so `--reload` turns preloading off. When the changed code fails to import, the worker "
             "answers every request with a 500 showing the error (its traceback, to any client: never in "
             "production) and keeps watching the files involved."),
    _s("reload_engine", "Debugging", reload_engine, "auto", "--reload-engine", meta="STRING",
       help="How --reload notices changes: inotify (Linux, through libc; watches the files' directories), poll "
            "(stats every watched file once a second) or auto (inotify when available)."),
    _s("reload_extra_files", "Debugging", string_list, [], "--reload-extra-file", meta="FILES", action="append",
       help="Also restart workers when this file changes (templates, configuration); globs such as "
            "'templates/**/*.html' are expanded on every check. Repeatable; with --reload only."),
    # Process naming
    _s("proc_name", "Process naming", optional_string, None, "-n", "--name", meta="STRING",
       help="Name in process titles (needs setproctitle); defaults to the application spec.",
       default_doc="the application spec"),
    # Control (issue 22): gunicorn's control socket, and Prometheus metrics
    _s("control_socket", "Control", string, None, "--control-socket", meta="PATH",
       default_factory=default_control_socket,
       default_doc="$XDG_RUNTIME_DIR/fastwsgi.ctl or $HOME/.fastwsgi/fastwsgi.ctl",
       help="UNIX socket on which the master takes `fastwsgi ctl` commands (show workers/stats/config/listeners, "
            "worker add/remove/kill, reload, reopen, shutdown); its directory is made when missing. A socket "
            "another running server answers on is left to it (a warning; give each server its own PATH).",
       extra="One JSON request per line, one JSON answer per line (gunicorn's length-prefixed framing is answered "
             "in kind, so `gunicornc -s PATH` works too). See docs/deployment.md, Watching a server."),
    _s("control_socket_mode", "Control", file_mode, 0o600, "--control-socket-mode", meta="INT",
       default_doc="0600", help="Permissions of the control socket (0600: its owner only; 0660 adds the group)."),
    _s("control_socket_disable", "Control", boolean, False, "--no-control-socket", action="store_true",
       help="Open no control socket."),
    _s("metrics_bind", "Control", metrics_address, None, "--metrics-bind", meta="ADDRESS",
       help="Serve Prometheus metrics at http://ADDRESS/metrics (HOST:PORT) from the master; nothing else is "
            "served there (404). Off unless given.",
       extra="Text exposition format 0.0.4: requests, status classes, a latency histogram, in-flight and queued "
             "requests, connections by state, spooled bytes, RSS and CPU, each labelled by worker pid. See "
             "docs/deployment.md, Watching a server."),
)

# Hooks: config-file only, gunicorn's names and moments. Each is `name(args)`; the docs show the signature.
_HOOKS = (
    ("on_starting", 1, "server", "Just before the master initialises (sockets not bound yet)."),
    ("on_reload", 1, "server", "On SIGHUP, after the config is re-read, before new workers start."),
    ("when_ready", 1, "server", "Once the sockets listen and the first worker serves (READY=1 goes to systemd)."),
    ("pre_fork", 2, "server, worker", "In the master, just before a worker is forked."),
    ("post_fork", 2, "server, worker", "In the worker, just after fork (before the app is loaded)."),
    ("post_worker_init", 1, "worker", "In the worker, after the app is loaded, before it serves."),
    ("worker_int", 1, "worker", "In the worker, on SIGINT/SIGQUIT (quick exit)."),
    ("worker_abort", 1, "worker", "In the worker, on SIGABRT (sent by the master on --timeout)."),
    ("pre_exec", 1, "server", "In the new master forked by SIGUSR2, just before exec."),
    ("ssl_context", 2, "config, default_ssl_context_factory",
     ("With --certfile: return the ssl.SSLContext to serve with; default_ssl_context_factory() builds the one "
      "the SSL settings describe. Called in each worker (and in the master, to check it).")),
    ("pre_request", 2, "worker, req",
     ("In the worker, before the app is called (on the app thread with --threads). `req` is gunicorn's request "
      "object: `req.method`, `req.path`, `req.headers`... (see [hooks](hooks.md)); what the hook changes on it "
      "reaches the environ, as in gunicorn. An exception is logged and answered with a 500.")),
    ("post_request", (4, 3, 2), "worker, req, environ, resp",
     ("In the worker, after the response is sent. `resp` has `status` ('200 OK'), `status_code`, `headers`, "
      "`sent`; as in gunicorn the hook may take only (worker, req) or (worker, req, environ). An exception is "
      "logged (the answer is already out).")),
    ("child_exit", 2, "server, worker", "In the master, after a worker exited."),
    ("worker_exit", 2, "server, worker", "In the worker, just before it exits."),
    ("nworkers_changed", 3, "server, new_value, old_value",
     ("In the master, each time the worker count is set: at start (old_value None, just before on_starting), "
      "on TTIN, TTOU and WINCH, and on reload (HUP, even when the count stays the same), as in gunicorn.")),
    ("on_exit", 1, "server", "In the master, just before it exits."),
)

SETTINGS = SETTINGS + tuple(
    Setting(name, "Server hooks", hook(arity), _nothing, (), help=text, hook_args=args)
    for name, arity, args, text in _HOOKS
)

from fastwsgi.settings_gunicorn import GUNICORN_SETTINGS  # noqa: E402  (built on the definitions above)

SETTINGS = SETTINGS + GUNICORN_SETTINGS
BY_NAME: dict = {setting.name: setting for setting in SETTINGS}
LOOP_SETTINGS: tuple = tuple(setting for setting in SETTINGS if setting.loop)
assert len(BY_NAME) == len(SETTINGS), "duplicate setting name"
