"""Helpers for the strictness, limit, timeout and fuzz tests: the request corpus, replay chunkings, and the WSGI apps
those tests run inside a server (imported there as tests.strict_support:NAME).

Corpus layout (tests/requests/): valid/NAME.http holds the exact request bytes (one or more pipelined requests) and
valid/NAME.json {"environs": [expected environ subset per request], "bodies": [...]}; invalid/NAME.http and
invalid/NAME.json {"status": the error status, "environs": complete request heads before the error,
"live_statuses": the statuses a live server answers before closing}.
"""
import glob
import json
import os
import random
import select
import socket
import time

from tests import wire

CORPUS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "requests")


# -- corpus -----------------------------------------------------------------------------------------------------------

def corpus(kind):
    """[(name, raw bytes, meta dict)] of tests/requests/<kind>, sorted by name."""
    out = []
    for path in sorted(glob.glob(os.path.join(CORPUS, kind, "*.http"))):
        name = os.path.basename(path)[:-5]
        with open(path, "rb") as f:
            raw = f.read()
        with open(path[:-5] + ".json") as f:
            meta = json.load(f)
        out.append((name, raw, meta))
    return out


def seeds():
    """Every corpus request's bytes (valid first): the fuzzers' seed corpus."""
    return [raw for _, raw, _ in corpus("valid")] + [raw for _, raw, _ in corpus("invalid")]


# -- chunkings -------------------------------------------------------------------------------------------------------

def split_lines(data):
    """Pieces ending after each LF (and the rest)."""
    pieces, start = [], 0
    while True:
        i = data.find(b"\n", start)
        if i < 0:
            break
        pieces.append(data[start:i + 1])
        start = i + 1
    if start < len(data):
        pieces.append(data[start:])
    return pieces


def split_random(data, seed, max_piece=7):
    rnd = random.Random(seed)
    pieces, pos = [], 0
    while pos < len(data):
        n = rnd.randint(1, max_piece)
        pieces.append(data[pos:pos + n])
        pos += n
    return pieces


def chunkings(data, seed=0):
    """{mode: [piece sizes]} for parse_request_bytes: whole, line by line, byte by byte, seeded random pieces."""
    return {
        "whole": None,
        "lines": [len(p) for p in split_lines(data)] or None,
        "bytes": [1],
        "random": [len(p) for p in split_random(data, seed)] or None,
    }


def pieces(data, mode, seed=0):
    if mode == "whole":
        return [data]
    if mode == "lines":
        return split_lines(data)
    if mode == "bytes":
        return [data[i:i + 1] for i in range(len(data))]
    return split_random(data, seed)


# -- checks ---------------------------------------------------------------------------------------------------------

def subset_mismatch(expected, env):
    """The keys of `expected` whose value differs in env (missing counts as a difference)."""
    return {k: (v, env.get(k, "<missing>")) for k, v in expected.items() if env.get(k, "<missing>") != v}


def send_pieces(sock, data, mode, seed=0):
    """Send data in pieces; returns False if the server closed before all was sent (its answer stays readable)."""
    for piece in pieces(data, mode, seed):
        try:
            sock.sendall(piece)
        except (BrokenPipeError, ConnectionResetError):
            return False
    return True


def methods(data):
    """The request methods the parser finds in data, in order (to read HEAD responses right)."""
    from fastwsgi._core import parse_request_bytes
    return [env["REQUEST_METHOD"] for env in parse_request_bytes(data) if "error" not in env]


def read_all_responses(client, methods=(), limit=10):
    """Responses until the server closes (at most limit); the connection must then be closed. methods[i] is the
    method of the i-th request (GET when not given)."""
    out = []
    while len(out) < limit:
        try:
            out.append(client.read_final(methods[len(out)] if len(out) < len(methods) else "GET"))
        except wire.Closed as exc:
            assert not exc.partial, f"connection closed inside a response: {exc.partial[:200]!r}"
            return out
    raise AssertionError(f"more than {limit} responses: {out!r}")


# the live fuzz runs' server (tests/test_fuzz.py, tests/fuzz_long.py): the echo app with short timeouts
FUZZ_TARGET = "tests.strict_support:echo"
FUZZ_OPTIONS = {"header_timeout": 2, "body_timeout": 1, "keepalive": 1}


def fuzz_exchange(port, data, seed):
    """One mutated byte stream on a fresh connection: sent whole (even seed) or in random pieces, half-closed, then
    every answer read; each must be 200 or a known error status (AssertionError otherwise). A reset after an error
    answer is not a finding: the client may lose the tail."""
    with wire.Client(port, timeout=3) as c:
        send_pieces(c.sock, data, "random" if seed % 2 else "whole", seed=seed)
        try:
            c.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        try:
            for resp in read_all_responses(c, methods(data), limit=20):
                if resp.status != 200 and resp.status not in ERROR_STATUSES:
                    raise AssertionError(f"status {resp.status} for {data[:200]!r}")
        except wire.Closed:
            pass


# -- apps (run inside the server process) ----------------------------------------------------------------------------

def echo(environ, start_response):
    """JSON of the str environ values, plus _body: the whole request body (read errors propagate: the server then
    answers the parse error's status)."""
    body = environ["wsgi.input"].read()
    out = {k: v for k, v in environ.items() if isinstance(v, str)}
    out["_body"] = body.decode("latin-1")
    data = json.dumps(out).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]


def hello(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
    return [b"hello"]


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


_BAD = {
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
    """/<case>: start_response with an invalid status or header (see _BAD); the server must answer 500."""
    status, headers = _BAD[environ["PATH_INFO"].strip("/")]()
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


# -- raw connections -------------------------------------------------------------------------------------------------

def open_raw(port, n, timeout=10.0):
    """n plain connected sockets (for slowloris-style tests); the caller closes them."""
    socks = []
    try:
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
            socks.append(s)
    except BaseException:
        for s in socks:
            s.close()
        raise
    return socks


def closed_by_peer(sock, timeout):
    """True if the peer closes (EOF or reset) within timeout; data received before that is ignored."""
    deadline = time.monotonic() + timeout
    while True:
        poller = select.poll()  # not select(): with 1,000 held sockets the descriptors pass FD_SETSIZE
        poller.register(sock, select.POLLIN)
        if not poller.poll(max(0.0, deadline - time.monotonic()) * 1000):
            return False
        try:
            if not sock.recv(65536):
                return True
        except (ConnectionResetError, socket.timeout):
            return True



# -- fuzzing ---------------------------------------------------------------------------------------------------------

TOKENS = [
    b"\r\n", b"\n", b"\r", b" ", b"\t", b"\x00", b"\x0b", b"\x7f", b"\xff", b":", b",", b";", b"=", b"\"", b"0", b"-1",
    b"+", b"_", b"%", b"%00", b"?", b"#", b"*", b"@", b"/", b"\r\n\r\n", b"HTTP/1.1", b"HTTP/1.0", b"HTTP/2.0",
    b"chunked", b"gzip", b"identity", b"Content-Length: ", b"Transfer-Encoding: ", b"Host: x\r\n", b"Expect: ",
    b"100-continue", b"Connection: close\r\n", b"Connection: keep-alive\r\n", b"Upgrade: websocket\r\n", b"ffffffff",
    b"0\r\n\r\n", b"5\r\nhello\r\n", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"POST ", b"OPTIONS ", b"CONNECT ",
    b"http://", b"a" * 300,
]


def mutate(rnd, seeds):
    """A mutated request: a seed with 1-6 byte flips, token insertions, deletions, duplications or splices."""
    data = bytearray(rnd.choice(seeds))
    for _ in range(rnd.randint(1, 6)):
        op = rnd.randrange(6)
        pos = rnd.randint(0, len(data))
        if op == 0 and data:
            data[min(pos, len(data) - 1)] = rnd.randrange(256)
        elif op == 1:
            data[pos:pos] = rnd.choice(TOKENS)
        elif op == 2:
            del data[pos:pos + rnd.randint(1, 8)]
        elif op == 3:
            end = min(len(data), pos + rnd.randint(1, 40))
            data[end:end] = data[pos:end]
        elif op == 4:
            other = rnd.choice(seeds)
            cut = rnd.randint(0, len(other))
            data[pos:] = other[cut:]
        else:
            data[pos:pos] = bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 6)))
    return bytes(data)


# an HTTP_* key: a token name upper-cased with '-' turned into '_' (so no '-' and no lower case)
KEY_CHARS = set("!#$%&'*+.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")
ERROR_STATUSES = {400, 408, 413, 414, 417, 431, 501, 505}


def check_parse(out):
    """Property violations (a list of str) in parse_request_bytes' result: what an accepted request may look like."""
    bad = []
    if type(out) is not list:
        return [f"not a list: {out!r}"]
    for i, env in enumerate(out):
        if "error" in env:
            if i != len(out) - 1:
                bad.append("error entry before the end")
            if env["error"] not in ERROR_STATUSES:
                bad.append(f"status {env['error']}")
            continue
        proto = env.get("SERVER_PROTOCOL")
        if proto not in ("HTTP/1.0", "HTTP/1.1"):
            bad.append(f"protocol {proto!r}")
        if "CONTENT_LENGTH" in env and "HTTP_TRANSFER_ENCODING" in env:
            bad.append("both Content-Length and Transfer-Encoding")
        cl = env.get("CONTENT_LENGTH")
        if cl is not None and not (cl.isdigit() and cl.isascii()):
            bad.append(f"Content-Length {cl!r}")
        te = env.get("HTTP_TRANSFER_ENCODING")
        if te is not None and (te.lower() != "chunked" or proto != "HTTP/1.1"):
            bad.append(f"Transfer-Encoding {te!r} on {proto}")
        if proto == "HTTP/1.1" and not env.get("HTTP_HOST"):
            bad.append("HTTP/1.1 without Host")
        for k, v in env.items():
            if isinstance(v, str) and ("\x00" in v or (k != "PATH_INFO" and ("\r" in v or "\n" in v))):
                bad.append(f"CR/LF/NUL in {k}")
            if k.startswith("HTTP_") and not all(c in KEY_CHARS for c in k):
                bad.append(f"key {k!r}")
        if not isinstance(env.get("PATH_INFO"), str):
            bad.append("no PATH_INFO")
    return bad


def comparable(out):
    """parse_request_bytes output with the error reduced to its presence: an input with two faults may show either
    first depending on where the pieces end (a field reaches on_header only once the next one starts)."""
    return [{"error": True} if "error" in e else e for e in out]
