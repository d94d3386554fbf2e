"""Type stub for the compiled request loop (ext/_core.pyx). tests/test_stub.py checks it against dir(_core)."""
import socket
from typing import Any, Callable, Iterable, Optional

class FileWrapper:
    """wsgi.file_wrapper: sent with sendfile(2) when filelike is a regular file with fileno()."""
    filelike: Any
    blksize: int
    def __init__(self, filelike: Any, blksize: int = 8192) -> None: ...
    def __iter__(self) -> "FileWrapper": ...
    def __next__(self) -> bytes: ...
    def close(self) -> None: ...

class Loop:
    """One worker's epoll loop over already-listening sockets.

    Options (keyword-only), all optional:
      keepalive: float = 2.0             seconds an idle keep-alive connection is kept
      header_timeout: float = 30.0       seconds to receive a whole request head
      body_timeout: float = 60.0         seconds of silence allowed while the app reads the body
      send_timeout: float = 60.0         seconds of a client not reading our response
      worker_connections: int = 1000     open connections at most; beyond it accepting pauses
      max_requests: int = 0              stop gracefully after this many requests (0: never)
      limit_request_line: int = 4094     414 beyond (0: unlimited)
      limit_request_fields: int = 100    431 beyond
      limit_request_field_size: int = 8190  431 beyond
      limit_request_body: int = 0        413 beyond (0: unlimited)
      multiprocess: bool = False         wsgi.multiprocess
      url_scheme: str = "http"
      on_tick: Callable[[], None] | None  called about once a second (heartbeat)
      pre_request: Callable[[dict], None] | None
      post_request: Callable[[dict, str, list, int, float], None] | None
                                          (environ, status, response_headers, body_bytes_sent, seconds)
      logger: logging.Logger | None       app tracebacks and wire errors (default: logging.getLogger("fastwsgi.error"))
    """
    requests: int
    connections: int
    def __init__(self, app: Callable[..., Iterable[bytes]], sockets: list[socket.socket], **options: Any) -> None: ...
    def run(self) -> None: ...
    def stop(self, graceful: bool = True, timeout: float = 30.0) -> None: ...
    def pause_accepting(self) -> None: ...

def debug_counters() -> dict[str, int]: ...
