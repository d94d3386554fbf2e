# start_response and the response head: validation, serialisation, framing (Content-Length, chunked,
# close-delimited), HEAD and bodyless statuses, error answers. A Response writes into the buffer it is handed and
# reports must_close; it never touches the connection (write() is the connection's, handed in as write_cb).


from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE, PyBytes_CheckExact
from libc.stdio cimport snprintf

# header name (str, as the app spells it) -> (b"Name: ", kind); validated once per process
cdef enum HeaderKind:
    H_PLAIN = 0
    H_CONTENT_LENGTH = 1
    H_CONNECTION = 2
    H_HOP = 3            # framing headers the server owns: the app must not send them
    H_DATE = 4
    H_SERVER = 5

cdef dict HEADER_NAMES = {}
cdef dict HEADER_LINES = {}          # (name, value) -> header_line() entry
cdef dict STATUS_LINES = {}          # status str -> b"HTTP/1.1 200 OK\r\n"
cdef Py_ssize_t CACHE_MAX = 1024

cdef bytes SERVER_LINE = b"Server: fastwsgi\r\n"
cdef bytes CHUNKED_LINE = b"Transfer-Encoding: chunked\r\n"
cdef bytes CLOSE_LINE = b"Connection: close\r\n"
cdef bytes KEEPALIVE_LINE = b"Connection: keep-alive\r\n"
cdef bytes CRLF = b"\r\n"
cdef bytes LAST_CHUNK = b"0\r\n\r\n"
cdef bytes HINTS_LINE = b"HTTP/1.1 103 Early Hints\r\n"


cdef dict ERROR_REASONS = {
    400: "Bad Request", 403: "Forbidden", 408: "Request Timeout", 413: "Content Too Large", 414: "URI Too Long",
    417: "Expectation Failed",
    431: "Request Header Fields Too Large", 500: "Internal Server Error", 501: "Not Implemented",
    503: "Service Unavailable", 505: "HTTP Version Not Supported", 507: "Insufficient Storage",
}


cdef bytes error_response(int status, bytes date_line, bint is_head):
    """A plain-text error answer that closes the connection; without its body when it answers a HEAD request."""
    cdef str reason = ERROR_REASONS.get(status, "Error")
    cdef bytes body = reason.encode()
    cdef bytes retry = b"Retry-After: 5\r\n" if status == 503 else b""     # (503: a limit that passes)
    return (b"HTTP/1.1 %d %s\r\nServer: fastwsgi\r\n%s%sContent-Type: text/plain\r\nContent-Length: %d\r\n"
            b"Connection: close\r\n\r\n%s" % (status, body, date_line, retry, len(body), b"" if is_head else body))


cdef inline int buf_add(CBuf *buf, const char *data, Py_ssize_t n) except -1:
    return cbuf_add(buf, data, n)


cdef inline int buf_add_bytes(CBuf *buf, bytes data) except -1:
    return cbuf_add(buf, PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data))


cdef int buf_add_line(CBuf *buf, const char *fmt, long long value) except -1:
    cdef char tmp[64]
    cdef int n = snprintf(tmp, sizeof(tmp), fmt, value)
    return cbuf_add(buf, tmp, n)


cdef bint has_ctl(const unsigned char *s, Py_ssize_t n) noexcept nogil:
    """True if s holds a control character other than HTAB (CR, LF and NUL among them) or DEL."""
    cdef Py_ssize_t i
    cdef unsigned char c
    for i in range(n):
        c = s[i]
        if (c < 0x20 and c != 0x09) or c == 0x7f:
            return True
    return False


cdef bytes latin1(str text, str what):
    """The bytes of a native string (PEP 3333: latin-1), or a ValueError naming what it was."""
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        raise ValueError(f"{what} {text!r} is not latin-1")


cdef tuple header_name(object name):
    cdef tuple entry = HEADER_NAMES.get(name)
    cdef bytes raw
    cdef str low
    cdef Py_ssize_t i
    cdef int kind
    if entry is not None:
        return entry
    if type(name) is not str:
        raise TypeError(f"header name must be str, not {type(name).__name__}")
    raw = latin1(name, "header name")
    if not raw:
        raise ValueError("empty header name")
    for i in range(len(raw)):
        if not IS_TCHAR[<unsigned char>raw[i]]:
            raise ValueError(f"invalid character in header name {name!r}")
    low = (<str>name).lower()
    if low == "content-length":
        kind = H_CONTENT_LENGTH
    elif low == "connection":
        kind = H_CONNECTION
    elif low in ("transfer-encoding", "keep-alive", "upgrade", "proxy-connection", "te", "trailer"):
        kind = H_HOP
    elif low == "date":
        kind = H_DATE
    elif low == "server":
        kind = H_SERVER
    else:
        kind = H_PLAIN
    entry = (raw + b": ", kind)
    if len(HEADER_NAMES) < CACHE_MAX:
        HEADER_NAMES[name] = entry
    return entry


cdef tuple header_line(tuple item):
    """(b"Name: value\r\n" or None, kind, Content-Length or close flag) for a validated (name, value) pair.
    Pairs are cached (bounded) by value: most responses repeat the same few headers."""
    cdef tuple entry = HEADER_LINES.get(item)
    cdef tuple name_entry
    cdef bytes raw
    cdef long long number = 0
    cdef int kind
    if entry is not None:
        return entry
    name, value = item
    name_entry = header_name(name)
    if type(value) is not str:
        raise TypeError(f"header {name!r}: value must be str, not {type(value).__name__}")
    raw = latin1(value, f"header {name!r}: value")
    if has_ctl(<const unsigned char *>PyBytes_AS_STRING(raw), PyBytes_GET_SIZE(raw)):
        raise ValueError(f"header {name!r}: control character in value")
    kind = name_entry[1]
    if kind == H_CONTENT_LENGTH:
        number = parse_content_length(raw)
        if number < 0:
            raise ValueError(f"invalid Content-Length {value!r}")
    elif kind == H_CONNECTION:
        number = "close" in (<str>value).lower()
    elif kind == H_HOP:
        raise ValueError(f"hop-by-hop header {name!r} is the server's to set")
    entry = (None if kind == H_CONNECTION else <bytes>name_entry[0] + raw + b"\r\n", kind, number)
    if len(HEADER_LINES) < CACHE_MAX and PyBytes_GET_SIZE(raw) <= 64:
        HEADER_LINES[item] = entry
    return entry


cdef bytes status_line(object status):
    cdef bytes line = STATUS_LINES.get(status)
    cdef bytes raw
    if line is not None:
        return line
    if type(status) is not str:
        raise TypeError(f"status must be str, not {type(status).__name__}")
    raw = latin1(status, "status")
    if (len(raw) < 3 or not raw[:3].isdigit() or (len(raw) > 3 and raw[3:4] != b" ")
            or has_ctl(<const unsigned char *>PyBytes_AS_STRING(raw), len(raw)) or raw[0:1] == b"0"):
        raise ValueError(f"invalid status {status!r}: want '<3 digits> <reason>'")
    line = b"HTTP/1.1 " + raw + b"\r\n"
    if len(STATUS_LINES) < CACHE_MAX:
        STATUS_LINES[status] = line
    return line


cdef Py_ssize_t list_body_length(list result) except -2:
    """The body length of an app's list of bytes (known before the head goes out), or -1 when an item is not
    bytes (then it is iterated and checked piece by piece)."""
    cdef Py_ssize_t total = 0
    for item in result:
        if type(item) is not bytes:
            return -1
        total += PyBytes_GET_SIZE(item)
    return total


@cython.final
cdef class Response:

    def __dealloc__(self):
        cbuf_release(&self.head, 0)

    @staticmethod
    cdef Response new(object write_cb, object hints_cb, object logger, const bint *stopping):
        cdef Response self = Response.__new__(Response)
        self.stopping = stopping
        self.start_response_cb = self.start_response
        self.early_hints_cb = self.early_hints
        self.write_cb = write_cb
        self.hints_cb = hints_cb
        self.logger = logger
        return self

    cdef void begin(self, bint is_head, bint http10, bint keep, bytes date_line):
        self.started = False
        self.head_sent = False
        self.is_head = is_head
        self.http10 = http10
        self.keep = keep
        self.must_close = not keep
        self.date_line = date_line
        self.bodyless = False
        self.clip = False
        self.app_close = False
        self.framing = FRAME_UNSET
        self.has_date = False
        self.has_server = False
        self.content_length = -1
        self.sent = 0
        self.status_line = None
        self.status = None
        self.headers = None
        self.head.len = 0

    def start_response(self, status, headers, exc_info=None):
        cdef bytes line
        cdef tuple entry
        cdef int code, kind
        if exc_info is not None:
            try:
                if self.head_sent:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        elif self.started:
            raise AssertionError("start_response called a second time without exc_info")
        self.started = False
        line = status_line(status)
        if type(headers) is not list:
            raise TypeError(f"headers must be a list, not {type(headers).__name__}")
        self.head.len = 0
        has_cl = has_date = has_server = app_close = False
        content_length = -1
        for item in <list>headers:
            if type(item) is not tuple or len(<tuple>item) != 2:
                raise TypeError(f"header must be a (name, value) tuple, not {item!r}")
            entry = header_line(<tuple>item)
            kind = entry[1]
            if kind == H_CONTENT_LENGTH:
                if has_cl:
                    raise ValueError("two Content-Length headers")
                content_length = entry[2]
                has_cl = True
            elif kind == H_CONNECTION:
                if entry[2]:
                    app_close = True
                continue                    # the server writes its own Connection header
            elif kind == H_DATE:
                has_date = True
            elif kind == H_SERVER:
                has_server = True
            buf_add_bytes(&self.head, <bytes>entry[0])
        code = (line[9] - 48) * 100 + (line[10] - 48) * 10 + (line[11] - 48)
        self.bodyless = code < 200 or code == 204 or code == 304
        self.status_line = line
        self.code = code
        self.status = status
        self.headers = headers
        self.content_length = content_length
        self.has_date = has_date
        self.has_server = has_server
        self.app_close = app_close
        self.started = True
        return self.write_cb

    def early_hints(self, headers):
        """environ["wsgi.early_hints"] (gunicorn's): a 103 Early Hints answer with these (name, value) headers, sent
        at once, before the final answer (RFC 8297); a no-op once that answer's head is out and for an HTTP/1.0
        client. Headers are validated as start_response validates them (ValueError, TypeError)."""
        cdef CBuf out
        cdef tuple entry
        if self.head_sent or self.http10 or self.hints_cb is None:
            return
        if type(headers) is not list:
            headers = list(headers)
        if self.h2:
            return self.hints_cb(h2_hints(headers))
        out.data = NULL
        out.len = out.cap = 0
        try:
            buf_add_bytes(&out, HINTS_LINE)
            for item in <list>headers:
                if type(item) is not tuple or len(<tuple>item) != 2:
                    raise TypeError(f"header must be a (name, value) tuple, not {item!r}")
                entry = header_line(<tuple>item)
                if entry[1] != H_PLAIN:
                    raise ValueError(f"header {item[0]!r} does not belong in a 103 answer")
                buf_add_bytes(&out, <bytes>entry[0])
            buf_add(&out, "\r\n", 2)
            self.hints_cb(out.data[:out.len])
        finally:
            cbuf_release(&out, 0)

    cdef bint frame(self, long long known_length, bint can_chunk) except -1:
        """The body's framing, decided once for HTTP/1.1 and HTTP/2 alike: the app's Content-Length, else the length
        known beforehand (a list of bytes, a file, an empty body: known_length >= 0; True: announce it), else chunked
        where the protocol has it (HTTP/1.1), else close-delimited (HTTP/1.0; HTTP/2: up to END_STREAM); no body for
        HEAD and 1xx/204/304."""
        if self.bodyless:
            self.framing = FRAME_NONE
            self.content_length = 0
        elif self.content_length >= 0:
            self.framing = FRAME_NONE if self.is_head else FRAME_LENGTH
        elif known_length > 0 or (known_length == 0 and not self.is_head):
            # a HEAD answer with an empty body says nothing of the length: apps (werkzeug) drop the body of a HEAD
            # request, and RFC 9110 9.3.2 wants GET's length or none
            self.content_length = known_length
            self.framing = FRAME_NONE if self.is_head else FRAME_LENGTH
            return True
        elif self.is_head:
            self.framing = FRAME_NONE
        else:
            self.framing = FRAME_CHUNKED if can_chunk else FRAME_CLOSE
        return False

    cdef int send_head(self, CBuf *out, long long known_length) except -1:
        """The head into out, and the framing of the body decided: the app's Content-Length, else the length known
        beforehand (a list of bytes, a file, an empty body: known_length >= 0), else chunked (HTTP/1.1) or
        close-delimited (HTTP/1.0); no body for HEAD and 1xx/204/304."""
        if not self.started:
            raise AssertionError("the app returned without calling start_response()")
        if self.h2:
            return self.h2_head(known_length)
        buf_add_bytes(out, self.status_line)
        if self.head.len:
            buf_add(out, self.head.data, self.head.len)
        if not self.has_server:
            buf_add_bytes(out, SERVER_LINE)
        if not self.has_date:
            buf_add_bytes(out, self.date_line)
        if self.frame(known_length, not self.http10):
            buf_add_line(out, "Content-Length: %lld\r\n", known_length)
        elif self.framing == FRAME_CHUNKED:
            buf_add_bytes(out, CHUNKED_LINE)
        if self.app_close or self.framing == FRAME_CLOSE or not self.keep or self.stopping[0]:
            self.must_close = True
            buf_add_bytes(out, CLOSE_LINE)
        elif self.http10:
            buf_add_bytes(out, KEEPALIVE_LINE)
        buf_add(out, "\r\n", 2)
        self.head_sent = True
        return 0

    cdef int body(self, CBuf *out, object data) except -1:
        cdef Py_ssize_t n
        cdef long long room
        if not PyBytes_CheckExact(data):
            if isinstance(data, bytes):
                data = bytes(data)
            else:
                raise TypeError(f"response body must be bytes, not {type(data).__name__}")
        n = PyBytes_GET_SIZE(data)
        if n == 0:
            return 0
        if not self.head_sent:
            self.send_head(out, -1)
        if self.framing == FRAME_LENGTH:
            room = self.content_length - self.sent
            self.sent += n
            if n > room:
                if not self.clip:
                    self.logger.error(
                        "app sent more than its Content-Length (%d): response truncated, connection closed",
                        self.content_length)
                    self.must_close = True
                if room > 0:
                    buf_add(out, PyBytes_AS_STRING(data), room)
                return 0
            buf_add(out, PyBytes_AS_STRING(data), n)
            return 0
        self.sent += n
        if self.framing == FRAME_CHUNKED:
            buf_add_line(out, "%llx\r\n", n)
            buf_add(out, PyBytes_AS_STRING(data), n)
            buf_add(out, "\r\n", 2)
        elif self.framing == FRAME_CLOSE:
            buf_add(out, PyBytes_AS_STRING(data), n)
        return 0                            # FRAME_NONE: counted, not sent

    cdef int finish(self, CBuf *out) except -1:
        if not self.head_sent:
            self.send_head(out, 0)
        if self.framing == FRAME_CHUNKED:
            buf_add_bytes(out, LAST_CHUNK)
        elif self.framing == FRAME_LENGTH and self.sent < self.content_length:
            self.logger.error(
                "app sent %d bytes of its Content-Length %d: connection closed", self.sent, self.content_length)
            self.must_close = True
        return 0

    cdef int end(self, CBuf *out, object uri) except -1:
        if self.started:
            return self.finish(out)
        if not self.head_sent:
            self.logger.error("Error handling request %s: the app returned without calling start_response()", uri)
            self.fail(out, 500)
        return 0

    cdef int fail(self, CBuf *out, int status) except -1:
        """An error answer in place of the app's (whose head was not sent): the head counts as sent."""
        if self.h2:
            return self.h2_fail(out, status)
        buf_add_bytes(out, error_response(status, self.date_line, self.is_head))
        self.must_close = True
        self.started = False
        self.head_sent = True
        self.status = "%d %s" % (status, ERROR_REASONS.get(status, "Error"))
        self.headers = []
        return 0

    cdef int h2_head(self, long long known_length) except -1:
        return response_h2_head(self, known_length)

    cdef int h2_fail(self, CBuf *out, int status) except -1:
        return response_h2_fail(self, out, status, ERROR_REASONS.get(status, "Error"))
