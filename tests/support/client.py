"""Raw-socket HTTP/1.x client for the wire tests: request builders, a buffered connection, a strict response parser,
and plain sockets for slowloris-style tests.

Every socket operation has a timeout (TIMEOUT seconds unless given). The parser accepts only well-formed HTTP/1.x
responses: a status line with a reason (possibly empty) after one space, token headers without folding, and exactly
one body framing (none, Content-Length, chunked or close-delimited). Anything else raises WireError; a connection
that ends before a message is complete raises Closed (with the bytes received so far).
"""
import json
import re
import select
import socket
import struct
import time

TIMEOUT = 5.0
MAX_HEAD = 64 * 1024

_STATUS = re.compile(rb"HTTP/(1\.[01]) ([1-5][0-9][0-9]) ([\t\x20-\x7e\x80-\xff]*)")
_VCHAR = rb"[\x21-\x7e\x80-\xff]"
_HEADER = re.compile(
    rb"([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*((?:" + _VCHAR + rb"(?:[ \t]*" + _VCHAR + rb")*)?)[ \t]*"
)
_CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]{1,16})[ \t]*(;[^\r\n]*)?")


class WireError(AssertionError):
    """The server's bytes broke HTTP/1.x framing."""


class Closed(Exception):
    """The connection ended (EOF or reset) before a complete message; .partial holds the unparsed bytes."""

    def __init__(self, message, partial=b""):
        super().__init__(f"{message}; unparsed bytes: {partial[:300]!r}")
        self.partial = partial


class Response:
    """One parsed response; header lookups are case-insensitive."""

    def __init__(self, version, status, reason, headers, raw_head):
        self.version = version
        self.status = status
        self.reason = reason
        self.headers = headers
        self.raw_head = raw_head
        self.body = b""
        self.trailers = []
        self.framing = "none"
        self.interim = []

    def get_all(self, name):
        name = name.lower()
        return [v for n, v in self.headers if n.lower() == name]

    def get(self, name, default=None):
        values = self.get_all(name)
        if not values:
            return default
        if len(values) > 1:
            raise WireError(f"header {name} sent {len(values)} times: {values!r}")
        return values[0]

    def has(self, name):
        return bool(self.get_all(name))

    def json(self):
        return json.loads(self.body)

    @property
    def connection_tokens(self):
        return {t.strip().lower() for v in self.get_all("connection") for t in v.split(",") if t.strip()}

    def __repr__(self):
        return (f"<Response {self.status} {self.reason!r} {self.framing} headers={self.headers!r} "
                f"body={self.body[:80]!r}>")


def request(method="GET", target="/", headers=(), body=b"", version="HTTP/1.1", host="127.0.0.1"):
    """Request bytes; adds Host (unless host is None) and Content-Length for a body unless a framing header is given."""
    lines = [f"{method} {target} {version}"]
    if host is not None:
        lines.append(f"Host: {host}")
    names = set()
    for name, value in headers:
        lines.append(f"{name}: {value}")
        names.add(name.lower())
    if body and not names & {"content-length", "transfer-encoding"}:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def chunked(pieces, extensions=None, trailers=()):
    """Chunked transfer coding of pieces; extensions[i] (e.g. ';a=b') is appended to chunk i's size line."""
    out = bytearray()
    for i, piece in enumerate(pieces):
        if not piece:
            continue
        ext = extensions[i] if extensions and i < len(extensions) else ""
        out += b"%x%s\r\n" % (len(piece), ext.encode("latin-1")) + piece + b"\r\n"
    out += b"0\r\n"
    for name, value in trailers:
        out += f"{name}: {value}\r\n".encode("latin-1")
    out += b"\r\n"
    return bytes(out)


class Client:
    """One TCP connection to the server with a read buffer; .received keeps every byte the server sent."""

    def __init__(self, port, host="127.0.0.1", timeout=TIMEOUT, rcvbuf=None, tls=None):
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.timeout = timeout
        self.sock.settimeout(timeout)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.connect((host, port))
        if tls is not None:     # an ssl.SSLContext (tests/support/tls.py): the same requests over TLS
            self.sock = tls.wrap_socket(self.sock, server_hostname="localhost")
        self.buf = bytearray()
        self.received = bytearray()
        self.eof = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def local_port(self):
        return self.sock.getsockname()[1]

    def close(self):
        self.sock.close()

    def reset(self):
        """Close with an RST instead of a FIN (SO_LINGER 0)."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()

    def send(self, data):
        self.sock.sendall(data)

    def recv_some(self, n=65536):
        """One recv into the buffer; returns the number of new bytes (0 at EOF)."""
        try:
            data = self.sock.recv(n)
        except ConnectionResetError:
            data = b""
        if not data:
            self.eof = True
            return 0
        self.buf += data
        self.received += data
        return len(data)

    def _fill(self, what):
        if self.eof:
            raise Closed(f"connection already closed while reading {what}", bytes(self.buf))
        try:
            data = self.sock.recv(262144)
        except ConnectionResetError:
            self.eof = True
            raise Closed(f"connection reset while reading {what}", bytes(self.buf)) from None
        except socket.timeout:
            raise TimeoutError(
                f"no bytes within {self.sock.gettimeout()}s while reading {what}; buffered {bytes(self.buf[:300])!r}"
            ) from None
        if not data:
            self.eof = True
            raise Closed(f"EOF while reading {what}", bytes(self.buf))
        self.buf += data
        self.received += data

    def read_until(self, delim, limit, what):
        start = 0
        while True:
            i = self.buf.find(delim, start)
            if i >= 0:
                end = i + len(delim)
                out = bytes(self.buf[:end])
                del self.buf[:end]
                return out
            if len(self.buf) > limit:
                raise WireError(f"{what} longer than {limit} bytes: {bytes(self.buf[:300])!r}")
            start = max(0, len(self.buf) - len(delim) + 1)
            self._fill(what)

    def read_exact(self, n, what="bytes"):
        while len(self.buf) < n:
            self._fill(f"{what} ({len(self.buf)} of {n} bytes)")
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def read_to_eof(self):
        while not self.eof:
            try:
                self._fill("close-delimited body")
            except Closed:
                break
        out = bytes(self.buf)
        self.buf.clear()
        return out

    def _read_chunked(self):
        body = bytearray()
        while True:
            line = self.read_until(b"\r\n", 4096, "chunk size line")[:-2]
            m = _CHUNK_SIZE.fullmatch(line)
            if not m:
                raise WireError(f"malformed chunk size line {line!r}")
            size = int(m[1], 16)
            if size == 0:
                break
            body += self.read_exact(size, "chunk data")
            if self.read_exact(2, "chunk terminator") != b"\r\n":
                raise WireError("chunk data not followed by CRLF")
        trailers = []
        while True:
            line = self.read_until(b"\r\n", MAX_HEAD, "trailer")[:-2]
            if not line:
                return bytes(body), trailers
            h = _HEADER.fullmatch(line)
            if not h:
                raise WireError(f"malformed trailer line {line!r}")
            trailers.append((h[1].decode("latin-1"), h[2].decode("latin-1")))

    def read_response(self, method="GET"):
        """Read one message (interim 1xx included) sent in answer to a request with this method."""
        head = self.read_until(b"\r\n\r\n", MAX_HEAD, "response head")
        lines = head[:-4].split(b"\r\n")
        m = _STATUS.fullmatch(lines[0])
        if not m:
            raise WireError(f"malformed status line {lines[0]!r}")
        headers = []
        for line in lines[1:]:
            h = _HEADER.fullmatch(line)
            if not h:
                raise WireError(f"malformed header line {line!r} in {head!r}")
            headers.append((h[1].decode("latin-1"), h[2].decode("latin-1")))
        resp = Response(m[1].decode(), int(m[2]), m[3].decode("latin-1"), headers, head)
        te = resp.get_all("transfer-encoding")
        cl = resp.get_all("content-length")
        status = resp.status
        if status < 200 or status in (204, 304):
            if te:
                raise WireError(f"Transfer-Encoding in a {status} response: {head!r}")
            if cl and status != 304:
                raise WireError(f"Content-Length in a {status} response: {head!r}")
            return resp
        if te and cl:
            raise WireError(f"both Transfer-Encoding and Content-Length: {head!r}")
        if cl and (len(cl) != 1 or not cl[0].isdigit()):
            raise WireError(f"bad Content-Length {cl!r}")
        if method == "HEAD":
            return resp
        if te:
            codings = [t.strip().lower() for v in te for t in v.split(",")]
            if codings != ["chunked"]:
                raise WireError(f"unexpected Transfer-Encoding {te!r}")
            resp.body, resp.trailers = self._read_chunked()
            resp.framing = "chunked"
        elif cl:
            resp.body = self.read_exact(int(cl[0]), "body")
            resp.framing = "length"
        else:
            resp.body = self.read_to_eof()
            resp.framing = "close"
        return resp

    def read_final(self, method="GET"):
        """Read interim 1xx responses (kept in .interim) and the final response."""
        interim = []
        while True:
            resp = self.read_response(method)
            if 100 <= resp.status < 200 and resp.status != 101:
                interim.append(resp)
                continue
            resp.interim = interim
            return resp

    def request(self, data, method=None):
        """Send request bytes and read the final response."""
        self.send(data)
        return self.read_final(method or data.split(b" ", 1)[0].decode("latin-1"))

    def is_closed(self, timeout=2.0):
        """True if the server closes (EOF or reset) within timeout, False if the connection stays open.

        Bytes that arrive instead are a framing error: nothing more was expected on this connection.
        """
        if self.buf:
            raise WireError(f"unexpected bytes after the last response: {bytes(self.buf[:300])!r}")
        if self.eof:
            return True
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return False
        except ConnectionResetError:
            data = b""
        finally:
            self.sock.settimeout(self.timeout)
        if data:
            self.received += data
            raise WireError(f"unexpected bytes after the last response: {data[:300]!r}")
        self.eof = True
        return True


def fetch(port, method="GET", target="/", headers=(), body=b"", version="HTTP/1.1", timeout=TIMEOUT, host="127.0.0.1",
          preamble=b"", tls=None, uwsgi=False):
    """One request on a new connection (after the preamble: a PROXY header; over TLS with an SSLContext; as a uwsgi
    packet to a --protocol uwsgi server); returns the final response."""
    make = uwsgi_request if uwsgi else request
    with Client(port, host=host, timeout=timeout, tls=tls) as c:
        return c.request(preamble + make(method, target, headers, body, version), method)


def uwsgi_packet(pairs, body=b"", modifier1=0, modifier2=0):
    """A uwsgi packet: the (name, value) vars (str as latin-1, or bytes), then the body as it is."""
    data = bytearray()
    for name, value in (pairs.items() if isinstance(pairs, dict) else pairs):
        for item in (name, value):
            raw = item if isinstance(item, bytes) else item.encode("latin-1")
            data += struct.pack("<H", len(raw)) + raw
    return bytes([modifier1]) + struct.pack("<H", len(data)) + bytes([modifier2]) + bytes(data) + body


def uwsgi_vars(method="GET", target="/", headers=(), body=b"", version="HTTP/1.1", host="127.0.0.1"):
    """The vars nginx's stock uwsgi_params send for this request (the client at 203.0.113.9:5555), then a var per
    header field as nginx names it (HTTP_*, CONTENT_TYPE/CONTENT_LENGTH apart)."""
    path, _, query = target.partition("?")
    fields = ([("Host", host)] if host is not None else []) + list(headers)
    ctype = next((v for n, v in fields if n.lower() == "content-type"), "")
    pairs = [("QUERY_STRING", query), ("REQUEST_METHOD", method), ("CONTENT_TYPE", ctype),
             ("CONTENT_LENGTH", str(len(body)) if body else ""), ("REQUEST_URI", target),
             ("PATH_INFO", unquote_to_latin1(path)), ("DOCUMENT_ROOT", "/usr/share/nginx/html"),
             ("SERVER_PROTOCOL", version), ("REQUEST_SCHEME", "http"), ("REMOTE_ADDR", "203.0.113.9"),
             ("REMOTE_PORT", "5555"), ("SERVER_PORT", "80"), ("SERVER_NAME", "example.test")]
    for name, value in fields:
        if name.lower() not in ("content-type", "content-length"):
            pairs.append(("HTTP_" + name.upper().replace("-", "_"), value))
    return pairs


def uwsgi_request(method="GET", target="/", headers=(), body=b"", version="HTTP/1.1", host="127.0.0.1"):
    """The uwsgi packet (and body) nginx's uwsgi_pass sends for this request."""
    return uwsgi_packet(uwsgi_vars(method, target, headers, body, version, host), body)


def unquote_to_latin1(path):
    """A path's percent-escapes decoded, as bytes read as latin-1 (nginx's $document_uri, as WSGI wants it)."""
    from urllib.parse import unquote_to_bytes
    return unquote_to_bytes(path).decode("latin-1")


PROXY_V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"


def proxy_v1(src="203.0.113.7", dst="192.0.2.1", sport=4242, dport=80, proto=None):
    """A PROXY protocol v1 line; proto defaults to TCP4 or TCP6 from src ("UNKNOWN": no addresses)."""
    if proto == "UNKNOWN":
        return b"PROXY UNKNOWN\r\n"
    proto = proto or ("TCP6" if ":" in src else "TCP4")
    return f"PROXY {proto} {src} {dst} {sport} {dport}\r\n".encode()


def proxy_v2(src="203.0.113.7", dst="192.0.2.1", sport=4242, dport=80, command="PROXY", tlvs=b""):
    """A PROXY protocol v2 header: PROXY over TCP4/TCP6 (from src), or LOCAL (no addresses); tlvs appended."""
    if command == "LOCAL":
        return PROXY_V2_SIGNATURE + b"\x20\x00" + struct.pack(">H", len(tlvs)) + tlvs
    family = socket.AF_INET6 if ":" in src else socket.AF_INET
    block = (socket.inet_pton(family, src) + socket.inet_pton(family, dst) + struct.pack(">HH", sport, dport)
             + tlvs)
    return PROXY_V2_SIGNATURE + (b"\x21\x21" if family == socket.AF_INET6 else b"\x21\x11") + struct.pack(
        ">H", len(block)) + block


def pattern(size):
    """The deterministic body /big serves: bytes 0..255 repeated."""
    block = bytes(range(256)) * 4096
    full, rest = divmod(size, len(block))
    return block * full + block[:rest]


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


def closed_after(conn, timeout=3.0):
    """Seconds until the server closed conn, and every byte it sent (any bytes before the close must be one error
    response)."""
    start = time.monotonic()
    conn.sock.settimeout(timeout)
    while conn.recv_some():
        pass
    elapsed = time.monotonic() - start
    return elapsed, bytes(conn.received)


def has_ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False
