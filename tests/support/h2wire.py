"""HTTP/2 frames by hand, for tests that send what no well-behaved client sends (a bad preface, malformed frames,
floods): frames built from their fields, header blocks as HPACK literals (no Huffman, no indexing unless asked),
and a reader that collects the server's frames until it closes or goes quiet."""
import socket
import struct
import time

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = 0, 1, 3, 4, 6, 7, 8, 9
END_STREAM, END_HEADERS, ACK = 0x1, 0x4, 0x1
NO_ERROR, PROTOCOL_ERROR, FRAME_SIZE_ERROR, REFUSED_STREAM, ENHANCE_YOUR_CALM = 0, 1, 6, 7, 11


def frame(kind, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


def _int(value, prefix_bits, first=0):
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first | value])
    out = [first | limit]
    value -= limit
    while value >= 128:
        out.append(value % 128 + 128)
        value //= 128
    out.append(value)
    return bytes(out)


def literal(name, value, index=False):
    """One header field as an HPACK literal (with incremental indexing if index: it joins the dynamic table)."""
    return (b"\x40" if index else b"\x00") + _int(len(name), 7) + name + _int(len(value), 7) + value


def indexed(i):
    return _int(i, 7, 0x80)


def request_block(path=b"/", method=b"GET", authority=b"localhost", extra=()):
    block = (literal(b":method", method) + literal(b":scheme", b"http") + literal(b":path", path)
             + literal(b":authority", authority))
    for name, value in extra:
        block += literal(name, value)
    return block


def start(settings=b""):
    """What a client sends first: the preface and its SETTINGS."""
    return PREFACE + frame(SETTINGS, 0, 0, settings)


def get(stream, path=b"/", **kw):
    return frame(HEADERS, END_HEADERS | END_STREAM, stream, request_block(path, **kw))


class Conn:
    def __init__(self, port, timeout=5.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""
        self.closed = False

    def send(self, data):
        self.sock.sendall(data)

    def frames(self, until=None, timeout=5.0):
        """The server's frames until until(frames) is true, it closes (self.closed), or timeout passes."""
        got = []
        deadline = time.monotonic() + timeout
        while True:
            while len(self.buf) >= 9:
                n = int.from_bytes(self.buf[:3], "big")
                if len(self.buf) < 9 + n:
                    break
                kind, flags = self.buf[3], self.buf[4]
                stream = int.from_bytes(self.buf[5:9], "big") & 0x7FFFFFFF
                got.append((kind, flags, stream, self.buf[9:9 + n]))
                if kind == SETTINGS and not flags & ACK:
                    self.send(frame(SETTINGS, ACK, 0))
                self.buf = self.buf[9 + n:]
            if (until is not None and until(got)) or self.closed:
                return got
            left = deadline - time.monotonic()
            if left <= 0:
                return got
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                return got
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                self.closed = True
            self.buf += chunk

    def close(self):
        self.sock.close()


def goaway(frames):
    """(last stream id, error code) of each GOAWAY among frames."""
    return [(int.from_bytes(p[:4], "big") & 0x7FFFFFFF, int.from_bytes(p[4:8], "big"))
            for kind, _, _, p in frames if kind == GOAWAY]


def body(frames, stream):
    return b"".join(p for kind, _, s, p in frames if kind == DATA and s == stream)


def ended(frames, stream):
    return any(s == stream and flags & END_STREAM and kind in (DATA, HEADERS) for kind, flags, s, _ in frames)
