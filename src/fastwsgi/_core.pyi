"""Type stub for the compiled request loop (ext/_core.pyx). tests/test_stub.py checks it against dir(_core)."""
import logging
import socket
import ssl
from collections.abc import Iterable
from typing import Any, Callable

class FileWrapper:
    """wsgi.file_wrapper: sent with sendfile(2) when filelike is a regular file with fileno()."""
    filelike: Any
    blksize: int
    def __init__(self, filelike: Any, blksize: int = 8192) -> None: ...
    def __iter__(self) -> FileWrapper: ...
    def __next__(self) -> bytes: ...
    def close(self) -> None: ...

class Loop:
    """One worker's epoll loop over already-listening sockets. The options are keyword-only and optional; the
    settings among them (fastwsgi.settings, Setting.loop) take their defaults from the settings registry, and
    tests/test_stub.py checks this signature against `loop_defaults()`."""
    requests: int
    connections: int
    def __init__(
        self,
        app: Callable[..., Iterable[bytes]],
        sockets: list[socket.socket],
        *,
        worker_connections: int = 1000,       # open connections at most; beyond it the oldest idle or slow one goes
        threads: int = 1,                     # app threads (1: the app runs on the loop thread)
        max_requests: int = 0,                # stop gracefully after this many requests (0: never)
        keepalive: float = 2.0,               # seconds an idle keep-alive connection is kept
        header_timeout: float = 30.0,         # seconds to receive a whole request head
        body_timeout: float = 60.0,           # seconds of silence allowed while the app reads the body
        send_timeout: float = 60.0,           # seconds of a client not reading our response
        limit_request_line: int = 4094,       # 414 beyond (0: unlimited)
        limit_request_fields: int = 100,      # 431 beyond
        limit_request_field_size: int = 8190,  # 431 beyond
        limit_request_body: int = 0,          # 413 beyond (0: unlimited)
        body_buffer_size: int = 262144,       # a request body beyond this is spooled to a temporary file
        spool_limit: int = -1,                # disk the spooled bodies may take (-1: auto, 0: no limit)
        tmp_upload_dir: str | None = None,    # where bodies are spooled (None: $TMPDIR)
        forwarded_allow_ips: list[str] | None = None,  # peers ("*": any) whose X-Forwarded-Proto: https,
                                              # X-Forwarded-Protocol: ssl or X-Forwarded-Ssl: on make the scheme https
        proxy_protocol: str = "off",          # "v1", "v2", "auto": every connection begins with a PROXY header
        proxy_allow_ips: list[str] = ["127.0.0.1", "::1"],  # peers ("*": any) allowed to send it (else 403)
        http_protocols: str = "h1",           # "h2,h1": HTTP/2 too (TLS: by ALPN, offered by the SSLContext)
        http2_cleartext: str = "off",         # "prior-knowledge"/"both": h2c from a trusted peer's preface
        http2_max_concurrent_streams: int = 100,
        http2_initial_window_size: int = 65535,
        http2_max_frame_size: int = 16384,
        http2_max_header_list_size: int = 65536,
        protocol: str = "http",               # "uwsgi": requests are uwsgi packets (nginx's uwsgi_pass)
        uwsgi_allow_ips: list[str] = ["127.0.0.1", "::1"],  # peers ("*": any) allowed to send them (else 403)
        sendfile: bool = True,                # wsgi.file_wrapper over a regular file: sendfile(2), else read and send
        io_uring: bool = True,                # a wakeup's sends and reads in one io_uring_enter each, where allowed
        multiprocess: bool = False,           # wsgi.multiprocess; one accept per wakeup (workers share listeners)
        url_scheme: str = "http",
        ssl_context: ssl.SSLContext | None = None,  # every connection speaks TLS (wsgi.file_wrapper without sendfile)
        on_tick: Callable[[], None] | None = None,   # about once a second (heartbeat)
        on_stop: Callable[[], None] | None = None,   # once, when a stop begins (signal, stop() or max_requests)
        pre_request: Callable[[dict], None] | None = None,
        post_request: Callable[[dict, str, list, int, float], None] | None = None,
                                              # (environ, status, response_headers, body_bytes_sent, seconds)
        logger: logging.Logger | None = None,  # app tracebacks, wire errors (default: "fastwsgi.error")
        stats: Any = None,                    # a writable buffer for the live figures (the heartbeat's page)
        # threads > 1: the CPU's pressure stall information, read to tell a host short of CPU (the loop then makes
        # bursts of its hand-overs to the threads); True: always short, None: never
        cpu_pressure: str | bool | None = "/proc/pressure/cpu",
    ) -> None: ...
    def run(self) -> None: ...
    def stop(self, graceful: bool = True, timeout: float = 30.0) -> None: ...
    def busy_since(self) -> float | None: ...
    def refuse_unstarted(self, within: float = 0.5) -> int: ...
    def leave(self, sock: socket.socket) -> int: ...
    def stats_words(self) -> list[int]: ...

def stats_layout() -> tuple[int, list[int]]:
    """(words in the stats block, the finite latency bucket bounds in µs)."""

def set_loop_defaults(defaults: dict[str, Any]) -> None:
    """The settings registry's defaults for the Loop options it declares (fastwsgi/__init__.py, once)."""

def loop_defaults() -> dict[str, Any]:
    """Every Loop option with its default."""

class Batch:
    """A worker's io_uring as a batch of non-blocking socket calls (made by Loop.run; not constructed from Python)."""

def debug_counters() -> dict[str, int]: ...
def uring_counters() -> dict[str, int]: ...
def parse_h2_fields(fields: list[tuple[bytes, bytes]], has_body: bool = False, **options: Any) -> dict[str, Any]:
    """Test hook: an HTTP/2 request's fields into its environ as a stream's are, or {"error": status}."""

def http2_available() -> tuple[bool, str]:
    """(True, nghttp2's version) when this build speaks HTTP/2, else (False, why)."""

def http2_hardening() -> dict[str, bool]:
    """Which of nghttp2's flood bounds this build sets: the stream-reset rate and the CONTINUATION cap."""

def pool_counters() -> dict[str, int]:
    """This process's app-thread pool: Jobs run, threads woken, gathers, and gathers that brought more Jobs."""

def parse_proxy_header(
    data: bytes, chunks: list[int] | None = None, mode: str = "auto"
) -> tuple[str | None, str | None, bytes] | None:
    """Feed a PROXY protocol header (and what follows) as a connection does, whole or in pieces of the given sizes:
    (REMOTE_ADDR, REMOTE_PORT, the bytes after the header), both None when the socket's addresses are kept; None
    if incomplete; ValueError(reason) if refused."""

def parse_request_bytes(data: bytes, chunks: list[int] | None = None, **options: Any) -> list[dict[str, Any]]:
    """Parse raw request bytes as the loop does (fed whole or in pieces of the given sizes); the environ of each
    complete head (no wsgi.input), then {"error": status, "reason": str} if parsing failed."""

def parse_uwsgi_bytes(data: bytes, chunks: list[int] | None = None, peer: str | None = "127.0.0.1",
                      **options: Any) -> list[dict[str, Any]]:
    """Parse uwsgi packets and their bodies as a --protocol uwsgi connection from `peer` does (fed whole or in
    pieces of the given sizes): the environ of each request, wsgi.input replaced by its body's bytes (None: not all
    in), then {"error": status, "reason": str} if parsing stopped (status 0: a refused packet, closed unanswered)."""

class ResponseProbe:
    """Test hook: one Response driven without a connection; each framing call returns the bytes it framed."""
    def __init__(self, *, is_head: bool = False, http10: bool = False, keep: bool = True,
                 stopping: bool = False) -> None: ...
    def start_response(self, status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any: ...
    def send_head(self, known_length: int = -1) -> bytes: ...
    def body(self, data: bytes) -> bytes: ...
    def finish(self) -> bytes: ...
    def fail(self, status: int) -> bytes: ...
    def set_clip(self, clip: bool) -> None: ...
    framing: str
    must_close: bool
    sent: int
    length_reached: bool

def run_exchange(app: Any, request: bytes = ..., *, keep: bool = True, sendfile: bool = True,
                 pre_request: Any = None, post_request: Any = None) -> tuple[bytes, list[str], bool]:
    """Test hook: a request's Exchange driven as a connection drives it, without a socket: (answer, steps, closes)."""

class ConnectionProbe:
    """Test hook: one Connection over a socketpair with a Loop that is not running."""
    loop: Loop
    def __init__(self, app: Any, **options: Any) -> None: ...
    def send(self, data: bytes) -> None: ...
    def shut(self) -> None: ...
    def recv(self, wait: float = 0.2) -> bytes: ...
    def expire(self) -> None: ...
    def close(self) -> None: ...
    state: str
    timeout: float | None
    closed: bool

# Internal types of the loop, exposed only because Cython makes cdef classes importable.
class Input:
    """wsgi.input of a request with a body."""
    def read(self, size: int | None = -1) -> bytes: ...
    def readline(self, size: int | None = -1) -> bytes: ...
    def readlines(self, hint: int | None = -1) -> list[bytes]: ...
    def __iter__(self) -> Input: ...
    def __next__(self) -> bytes: ...

class EmptyInput:
    """wsgi.input of every bodyless request."""
    def read(self, size: int | None = -1) -> bytes: ...
    def readline(self, size: int | None = -1) -> bytes: ...
    def readlines(self, hint: int | None = -1) -> list[bytes]: ...
    def __iter__(self) -> EmptyInput: ...
    def __next__(self) -> bytes: ...

class Response:
    """start_response of one connection."""
    def start_response(
        self, status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], None]: ...
    def early_hints(self, headers: list[tuple[str, str]]) -> None:
        """environ["wsgi.early_hints"]: a 103 Early Hints answer now (HTTP/1.1 clients, before the head)."""

class ByteView:
    """The bytes of one part of a request, as the buffer handed to httptools (not an API)."""
class Request: ...
class Parser:
    """One connection's request parser; httptools calls these (they are not an API)."""
    def on_message_begin(self) -> None: ...
    def on_body(self, body: bytes) -> None: ...
    def on_message_complete(self) -> None: ...
class HeadTemplate: ...       # one connection's field template (http/fields.pyx)
class ProxyHeader: ...
class TlsSession: ...          # one connection's TLS session (io/tls_session.pyx)
class Watcher: ...
class Connection(Watcher):
    """One client socket."""
    def write(self, data: bytes) -> None:
        """PEP 3333 write(), returned by start_response."""
    def hint(self, data: bytes) -> None:
        """A 103 answer's bytes to go out now (Response.early_hints)."""
class Listener(Watcher): ...
class Job: ...
class App: ...                 # the WSGI callable with its hooks (http/exchange.pyx)
class Exchange: ...            # one request's app call and answer (http/exchange.pyx)
class Pool(Watcher): ...
class H2Session: ...           # one HTTP/2 connection's nghttp2 session (io/h2.pyx)
class H2Stream(Watcher):      # one HTTP/2 stream: its Request, Exchange and unsent body
    def write(self, data: bytes) -> None: ...
    def hint(self, fields: list[tuple[bytes, bytes]]) -> None: ...
