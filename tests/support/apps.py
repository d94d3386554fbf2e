"""Every WSGI app the wire tests run inside a fastwsgi server process (imported there as tests.support.apps:NAME).

`app` routes on the first PATH_INFO segment so one server process serves most tests; `CLOSED` counts result.close()
calls per tag and is read back through /closed (the server is single-process, so the count is shared).
"""
import hashlib
import io
import json
import os
import sys
import time
from urllib.parse import parse_qsl

BLOCK = bytes(range(256)) * 4096  # 1 MiB; client.pattern() builds the same bytes
CLOSED = {}


def _query(environ):
    return dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))


def _reply(start_response, body, status="200 OK", ctype="text/plain", extra=()):
    start_response(status, [("Content-Type", ctype), ("Content-Length", str(len(body)))] + list(extra))
    return [body]


def _json(start_response, obj, status="200 OK"):
    return _reply(start_response, json.dumps(obj).encode(), status, "application/json")


def read_body(environ):
    """The whole request body, read with read(65536) calls (the form wsgiref.validate accepts)."""
    inp = environ["wsgi.input"]
    parts = []
    while True:
        part = inp.read(65536)
        if not part:
            return b"".join(parts)
        parts.append(part)


def environ_json(environ):
    """The environ as JSON-able data: str/bool/int values as they are, others as '<object>', plus checks."""
    out = {}
    for key, value in environ.items():
        if value is None or isinstance(value, (str, bool, int, float)):
            out[key] = value
        elif isinstance(value, tuple) and all(isinstance(x, int) for x in value):
            out[key] = list(value)
        else:
            out[key] = "<object>"
    inp = environ.get("wsgi.input")
    errors = environ.get("wsgi.errors")
    out["_input_ok"] = all(hasattr(inp, a) for a in ("read", "readline", "readlines", "__iter__"))
    out["_errors_ok"] = all(hasattr(errors, a) for a in ("write", "writelines", "flush"))
    out["_file_wrapper_callable"] = callable(environ.get("wsgi.file_wrapper"))
    body = read_body(environ) if inp is not None else None
    out["_body"] = None if body is None else body.decode("latin-1")
    out["_body_is_bytes"] = isinstance(body, bytes)
    return out


def echo_environ(environ, start_response):
    return _json(start_response, environ_json(environ))


def hello(environ, start_response):
    return _reply(start_response, b"Hello, World!")


def input_ops(inp, mode, n=3):
    """Apply one reading pattern to a file-like; tests run the same on io.BytesIO for the expected result."""
    if mode == "read_n":
        out = []
        while True:
            part = inp.read(n)
            if not part:
                return out
            out.append(part)
    if mode == "read_all":
        return [inp.read(), inp.read()]
    if mode == "read_minus1":
        return [inp.read(-1), inp.read(-1)]
    if mode == "read_some":
        return [inp.read(n)]
    if mode in ("readline", "readline_limit"):
        out = []
        while True:
            line = inp.readline() if mode == "readline" else inp.readline(n)
            if not line:
                return out
            out.append(line)
    if mode == "readlines":
        return inp.readlines() + [inp.read()]
    if mode == "iter":
        return list(inp)
    if mode == "mixed":
        return [inp.read(2), inp.readline(), inp.read(3), inp.readline(), inp.read(), inp.readline()]
    raise ValueError(mode)


class Closing:
    """A result iterable whose close() is counted in CLOSED[tag]."""

    def __init__(self, tag, mode):
        self.tag = tag
        self.mode = mode

    def __iter__(self):
        if self.mode == "exc_first":
            raise RuntimeError("close-exc-first-marker")
        yield b"a"
        if self.mode == "exc":
            raise RuntimeError("close-exc-marker")
        if self.mode == "stream":
            for _ in range(1600):
                yield BLOCK[:65536]
        yield b"b"

    def close(self):
        CLOSED[self.tag] = CLOSED.get(self.tag, 0) + 1


BAD_START = {
    "status_bytes": (b"200 OK", []),
    "status_short": ("20 OK", []),
    "status_word": ("abc", []),
    "status_none": (None, []),
    "name_bytes": ("200 OK", [(b"X-Bad", "v")]),
    "value_bytes": ("200 OK", [("X-Bad", b"v")]),
    "value_int": ("200 OK", [("X-Bad", 1)]),
    "name_crlf": ("200 OK", [("X-Bad\r\nX-Injected", "v")]),
    "name_colon": ("200 OK", [("X-Bad: X-Injected", "v")]),
    "name_nul": ("200 OK", [("X-Bad\x00X-Injected", "v")]),
    "value_crlf": ("200 OK", [("X-Bad", "v\r\nX-Injected: 1")]),
    "value_lf": ("200 OK", [("X-Bad", "v\nX-Injected: 1")]),
    "value_cr": ("200 OK", [("X-Bad", "v\rX-Injected: 1")]),
    "value_nul": ("200 OK", [("X-Bad", "v\x00X-Injected")]),
    "value_not_latin1": ("200 OK", [("X-Bad", "\u20ac")]),
    "name_empty": ("200 OK", [("", "X-Bad")]),
    "header_not_pair": ("200 OK", [("X-Bad",)]),
    "headers_not_list": ("200 OK", "X-Bad: v"),
    "content_length_word": ("200 OK", [("Content-Length", "X-Bad")]),
}


def _bad_start(environ, start_response, q):
    status, headers = BAD_START[q["case"]]
    if isinstance(headers, list):
        headers = [("Content-Type", "text/plain")] + headers
    start_response(status, headers)
    return [b"body-of-bad-start"]


def _exc_before(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("X-First", "1")])
    try:
        raise ValueError("exc-before-marker")
    except ValueError:
        start_response("500 Oops", [("Content-Type", "text/plain"), ("X-Second", "1")], sys.exc_info())
    return [b"replaced"]


def _exc_after(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    yield b"first"
    try:
        raise ValueError("exc-after-marker")
    except ValueError:
        start_response("500 Oops", [("Content-Type", "text/plain")], sys.exc_info())
    yield b"should-not-appear"


def _twice(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    start_response("201 Created", [("Content-Type", "text/plain")])
    return [b"twice"]


def _write(environ, start_response):
    write = start_response("200 OK", [("Content-Type", "text/plain")])
    write(b"a")
    write(b"b")
    return [b"c"]


def _lazy(environ, start_response):
    def gen():
        start_response("200 OK", [("Content-Type", "text/plain"), ("X-Lazy", "yes")])
        yield b""
        yield b"lazy"

    return gen()


def _gen(environ, start_response, q):
    start_response("200 OK", [("Content-Type", "text/plain")])
    for i in range(int(q.get("n", "3"))):
        yield b"chunk%d;" % i


def _slowgen(environ, start_response, q):
    start_response("200 OK", [("Content-Type", "text/plain")])
    yield b"first"
    time.sleep(float(q.get("sleep", "1")))
    yield b"second"


def _status(environ, start_response, q):
    start_response(f"{q['code']} Whatever", [("X-Status", "yes")])
    if q.get("body"):
        return [b"must-not-appear"]
    if q.get("gen"):
        return iter(())
    return []


def _raise_after(environ, start_response, q):
    headers = [("Content-Type", "text/plain")]
    if q.get("cl"):
        headers.append(("Content-Length", "100"))
    start_response("200 OK", headers)
    yield b"partial"
    raise RuntimeError("secret-boom-after")


def _big(environ, start_response, q):
    size = int(q["size"])
    headers = [("Content-Type", "application/octet-stream")]
    if not q.get("nocl"):
        headers.append(("Content-Length", str(size)))
    start_response("200 OK", headers)
    for off in range(0, size, len(BLOCK)):
        yield BLOCK[: min(len(BLOCK), size - off)]


class _CountedFile(io.FileIO):
    """A regular file (sendfile-able) whose read() calls are counted: shows whether the server read it itself."""
    reads = 0

    def read(self, size=-1):
        _CountedFile.reads += 1
        return super().read(size)


def _file(environ, start_response, q):
    time.sleep(float(q.get("delay", "0")))     # a slow app (a client may give up meanwhile)
    f = _CountedFile(q["path"]) if q.get("counted") else open(q["path"], "rb")
    offset = int(q.get("offset", "0"))
    f.seek(offset)
    length = int(q["length"]) if "length" in q else os.fstat(f.fileno()).st_size - offset
    start_response("200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", str(length))])
    return environ["wsgi.file_wrapper"](f, 65536)


def _bytesio(environ, start_response, q):
    data = BLOCK[:300000]
    headers = [("Content-Type", "application/octet-stream")]
    if not q.get("nocl"):
        headers.append(("Content-Length", str(len(data))))
    start_response("200 OK", headers)
    return environ["wsgi.file_wrapper"](io.BytesIO(data), 8192)


def _upload(environ, start_response):
    inp = environ["wsgi.input"]
    digest = hashlib.sha256()
    size = biggest = 0
    while True:
        part = inp.read(65536)
        if not part:
            break
        digest.update(part)
        size += len(part)
        biggest = max(biggest, len(part))
    return _json(start_response, {"sha256": digest.hexdigest(), "size": size, "biggest_read": biggest})


def _hints(environ, start_response, q):
    """103 Early Hints: n hints before the answer; bad: a header value with CRLF (the app's error: 500); late: a
    hint after the head went out (ignored)."""
    hint = environ["wsgi.early_hints"]
    for i in range(int(q.get("n", "1"))):
        hint([("Link", f"</style{i}.css>; rel=preload; as=style")])
    if "bad" in q:
        hint([("Link", "</x>\r\nX-Injected: 1")])
    start_response("200 OK", [("Content-Type", "text/plain")])
    yield b"ok"
    hint([("Link", "</late.css>; rel=preload")])
    yield b"!"


def app(environ, start_response):
    """The router: /<route>[/...]?query."""
    path = environ["PATH_INFO"]
    route = path.split("/")[1] if path.count("/") else ""
    q = _query(environ)
    if route in ("", "hello"):
        return hello(environ, start_response)
    if route == "environ":
        return echo_environ(environ, start_response)
    if route == "qs":
        return _reply(start_response, environ.get("QUERY_STRING", "").encode("latin-1"))
    if route == "echo":
        return _reply(start_response, read_body(environ))
    if route == "hints":
        return _hints(environ, start_response, q)
    if route == "noread":
        return _reply(start_response, b"ignored")
    if route == "input":
        parts = input_ops(environ["wsgi.input"], q["mode"], int(q.get("n", "3")))
        return _json(start_response, [p.decode("latin-1") for p in parts])
    if route == "upload":
        return _upload(environ, start_response)
    if route == "gen":
        return _gen(environ, start_response, q)
    if route == "slowgen":
        return _slowgen(environ, start_response, q)
    if route == "head_strips":
        # as werkzeug does: a streamed answer whose body is dropped for HEAD
        start_response("200 OK", [("Content-Type", "text/plain")])
        if environ["REQUEST_METHOD"] == "HEAD":
            return [] if q.get("list") else iter(())
        return (b"x" * 1009 for _ in range(10))
    if route == "sleep":
        time.sleep(float(q.get("s", "0.5")))
        return _reply(start_response, b"slept")
    if route == "headers":
        start_response("200 OK", [("Content-Type", "text/plain"), ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"),
                                  ("X-Empty", ""), ("x-lower", "kept")])
        return [b"h"]
    if route == "cl_mismatch":
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", q["declared"])])
        return [b"x" * int(q["actual"])] if q.get("shape") == "list" else iter([b"x"] * int(q["actual"]))
    if route == "many_headers":
        n, size = int(q["n"]), int(q["size"])
        start_response("200 OK", [("Content-Type", "text/plain")] + [(f"X-H{i}", str(i) * size) for i in range(n)])
        return [b"many"]
    if route == "bigone":
        size = int(q["size"])
        start_response("200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", str(size))])
        full, rest = divmod(size, len(BLOCK))
        return [BLOCK * full + BLOCK[:rest]]
    if route == "list":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"abcd"] if q.get("parts") == "1" else [b"ab", b"cd"]
    if route == "status":
        return _status(environ, start_response, q)
    if route == "write":
        return _write(environ, start_response)
    if route == "lazy":
        return _lazy(environ, start_response)
    if route == "bad_start":
        return _bad_start(environ, start_response, q)
    if route == "exc_before":
        return _exc_before(environ, start_response)
    if route == "exc_after":
        return _exc_after(environ, start_response)
    if route == "twice":
        return _twice(environ, start_response)
    if route == "close":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return Closing(q["tag"], q.get("mode", "ok"))
    if route == "debug":
        import gc

        from fastwsgi import _core

        if q.get("gc"):
            gc.collect()
        return _json(start_response, _core.debug_counters())
    if route == "uring":
        from fastwsgi import _core

        return _json(start_response, _core.uring_counters())
    if route == "pool":
        from fastwsgi import _core

        return _json(start_response, _core.pool_counters())
    if route == "bad_result":
        start_response("200 OK", [("Content-Type", "text/plain")])
        kinds = {"str": ["text"], "none": None, "int": 5, "str_gen": iter(["text"]), "str_later": iter([b"ok", "text"])}
        return kinds[q["kind"]]
    if route == "errors":
        environ["wsgi.errors"].write("wsgi-errors-marker\n")
        environ["wsgi.errors"].flush()
        return _reply(start_response, b"logged")
    if route == "closed":
        return _json(start_response, CLOSED)
    if route == "raise_before":
        raise RuntimeError("secret-boom-before")
    if route == "raise_after":
        return _raise_after(environ, start_response, q)
    if route == "big":
        return _big(environ, start_response, q)
    if route == "file":
        return _file(environ, start_response, q)
    if route == "file_reads":
        return _reply(start_response, str(_CountedFile.reads).encode())
    if route == "bytesio":
        return _bytesio(environ, start_response, q)
    return _reply(start_response, b"not found", "404 Not Found")


# -- single-purpose apps (strictness, limits, timeouts, fuzzing) ----------------------------------------------------

def echo(environ, start_response):
    """JSON of the str environ values, plus _body: the whole request body (read errors propagate: the server then
    answers the parse error's status)."""
    body = environ["wsgi.input"].read()
    out = {k: v for k, v in environ.items() if isinstance(v, str)}
    out["_body"] = body.decode("latin-1")
    data = json.dumps(out).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]


def reader(environ, start_response):
    """Reads the body in 64 KiB pieces and answers its length."""
    inp = environ["wsgi.input"]
    n = 0
    while True:
        piece = inp.read(65536)
        if not piece:
            break
        n += len(piece)
    data = str(n).encode()
    start_response("200 OK", [("Content-Length", str(len(data)))])
    return [data]


def big(environ, start_response):
    """?n=BYTES of body (default 8 MiB), for clients that stop reading."""
    n = int(environ.get("QUERY_STRING", "").partition("n=")[2] or 8 << 20)
    block = b"x" * 65536
    start_response("200 OK", [("Content-Length", str(n))])

    def gen():
        left = n
        while left > 0:
            piece = block[:min(left, len(block))]
            left -= len(piece)
            yield piece
    return gen()


BAD_RESPONSE = {
    "status_no_reason_space": lambda: ("200OK", [("Content-Length", "0")]),
    "status_two_digits": lambda: ("20 OK", [("Content-Length", "0")]),
    "status_crlf": lambda: ("200 OK\r\nX-Injected: 1", [("Content-Length", "0")]),
    "status_bytes": lambda: (b"200 OK", [("Content-Length", "0")]),
    "name_crlf": lambda: ("200 OK", [("X-A\r\nX-Injected", "1")]),
    "name_colon": lambda: ("200 OK", [("X-A: b", "1")]),
    "name_space": lambda: ("200 OK", [("X A", "1")]),
    "name_empty": lambda: ("200 OK", [("", "1")]),
    "value_crlf": lambda: ("200 OK", [("X-A", "1\r\nX-Injected: 1")]),
    "value_lf": lambda: ("200 OK", [("X-A", "1\nX-Injected: 1")]),
    "value_nul": lambda: ("200 OK", [("X-A", "1\x002")]),
    "value_not_latin1": lambda: ("200 OK", [("X-A", "\u20ac")]),
    "hop_transfer_encoding": lambda: ("200 OK", [("Transfer-Encoding", "chunked")]),
    "hop_keep_alive": lambda: ("200 OK", [("Keep-Alive", "timeout=5")]),
    "hop_upgrade": lambda: ("200 OK", [("Upgrade", "h2c")]),
    "content_length_bad": lambda: ("200 OK", [("Content-Length", "5, 5")]),
    "content_length_twice": lambda: ("200 OK", [("Content-Length", "5"), ("Content-Length", "5")]),
}


def bad_response(environ, start_response):
    """/<case>: start_response with an invalid status or header (see BAD_RESPONSE); the server must answer 500."""
    status, headers = BAD_RESPONSE[environ["PATH_INFO"].strip("/")]()
    start_response(status, headers)
    return [b"hello"]


def length_mismatch(environ, start_response):
    """/short: declares 10 bytes, sends 5; /long: declares 5, sends 10 (in two pieces); /ok: correct."""
    path = environ["PATH_INFO"]
    if path == "/short":
        start_response("200 OK", [("Content-Length", "10")])
        return [b"hello"]
    if path == "/long":
        start_response("200 OK", [("Content-Length", "5")])
        return iter([b"hello", b"world"])
    start_response("200 OK", [("Content-Length", "2")])
    return [b"ok"]


def crash(environ, start_response):
    """Raises with a recognisable secret in the message and the traceback."""
    secret_token_in_traceback = "SECRET-1f2e3d"
    raise RuntimeError(f"boom {secret_token_in_traceback}")


def h2(environ, start_response):
    """For tests/test_http2.py: /environ (JSON, with the body), /echo (the body back), /big?n= (a stream of 16 KiB
    pieces), /write (PEP 3333 write()), /file (wsgi.file_wrapper), /empty (204), /boom (raises), /slow?s=, else
    hello."""
    path = environ["PATH_INFO"]
    q = _query(environ)
    if path == "/environ":
        return echo_environ(environ, start_response)
    if path == "/echo":
        return _reply(start_response, read_body(environ))
    if path == "/big":
        n = int(q.get("n", "300000"))
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return (bytes([65 + i % 26]) * min(16384, n - i * 16384) for i in range((n + 16383) // 16384))
    if path == "/write":
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"written ")
        return [b"then returned"]
    if path == "/file":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return environ["wsgi.file_wrapper"](open(__file__, "rb"), 8192)
    if path == "/empty":
        start_response("204 No Content", [])
        return []
    if path == "/boom":
        raise RuntimeError("boom in the app")
    if path == "/slow":
        time.sleep(float(q.get("s", "1")))
    return hello(environ, start_response)
