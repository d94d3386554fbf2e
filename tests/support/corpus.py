"""The request corpus and what replays or mutates it: chunkings, checks, and the fuzzers' mutations and properties.

Corpus layout (tests/requests/): valid/NAME.http holds the exact request bytes (one or more pipelined requests) and
valid/NAME.json {"environs": [expected environ subset per request], "bodies": [...]}; invalid/NAME.http and
invalid/NAME.json {"status": the error status, "environs": complete request heads before the error,
"live_statuses": the statuses a live server answers before closing}.
"""
import glob
import json
import os
import random
import socket

from tests.support import client

CORPUS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "requests")


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


def read_all_responses(conn, methods=(), limit=10):
    """Responses until the server closes (at most limit); the connection must then be closed. methods[i] is the
    method of the i-th request (GET when not given)."""
    out = []
    while len(out) < limit:
        try:
            out.append(conn.read_final(methods[len(out)] if len(out) < len(methods) else "GET"))
        except client.Closed as exc:
            assert not exc.partial, f"connection closed inside a response: {exc.partial[:200]!r}"
            return out
    raise AssertionError(f"more than {limit} responses: {out!r}")


# the live fuzz runs' server (tests/test_fuzz.py, tests/fuzz_long.py): the echo app with short timeouts
FUZZ_TARGET = "tests.support.apps:echo"
FUZZ_OPTIONS = {"header_timeout": 2, "body_timeout": 1, "keepalive": 1}


def fuzz_exchange(port, data, seed):
    """One mutated byte stream on a fresh connection: sent whole (even seed) or in random pieces, half-closed, then
    every answer read; each must be 200 or a known error status (AssertionError otherwise). A reset after an error
    answer is not a finding: the client may lose the tail."""
    with client.Client(port, timeout=3) as c:
        send_pieces(c.sock, data, "random" if seed % 2 else "whole", seed=seed)
        try:
            c.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        try:
            for resp in read_all_responses(c, methods(data), limit=20):
                if resp.status != 200 and resp.status not in ERROR_STATUSES:
                    raise AssertionError(f"status {resp.status} for {data[:200]!r}")
        except client.Closed:
            pass


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
            if k == "RAW_URI" and any(c < "\x21" or c == "\x7f" for c in v):
                bad.append(f"control byte in RAW_URI {v!r}")    # (issue 25.8: a bare LF read as part of the target)
            if k.startswith("HTTP_") and not all(c in KEY_CHARS for c in k):
                bad.append(f"key {k!r}")
        if not isinstance(env.get("PATH_INFO"), str):
            bad.append("no PATH_INFO")
    return bad


def comparable(out):
    """parse_request_bytes output with the error reduced to its presence: an input with two faults may show either
    first depending on where the pieces end (a field reaches on_header only once the next one starts)."""
    return [{"error": True} if "error" in e else e for e in out]
