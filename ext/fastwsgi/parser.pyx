# Request parsing: llhttp (through httptools, strict mode) validates and frames the bytes; its callbacks build each
# Request's environ, apply the limits and the checks llhttp leaves to us (strict.pyx), and queue the Request once
# its head is complete. A callback never lets an error escape into C: it records the error and raises _ParseStop,
# which makes feed_data() stop; feed() then marks the parser stopped. Nothing here knows about sockets.

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.dict cimport PyDict_Copy, PyDict_SetDefault
from cpython.list cimport PyList_GET_SIZE, PyList_GET_ITEM
from cpython.memoryview cimport PyMemoryView_FromMemory
from cpython.buffer cimport PyBUF_READ

cdef Py_ssize_t SEEN_NAMES_MAX = 16           # header names remembered per connection (header_key)
cdef dict VERSIONS = {"1.1": PROTO_11, "1.0": PROTO_10}

cdef long long live_requests = 0


class _ParseStop(Exception):
    """Raised from a parser callback to stop llhttp; the reason is on the Parser."""


cdef str line_version(const char *data, Py_ssize_t n):
    """SERVER_PROTOCOL when the first line of data ends with " HTTP/1.1" or " HTTP/1.0" and CRLF, else None."""
    cdef const char *nl = <const char *>memchr(data, b"\n", min(n, 8192))
    cdef const char *v
    if nl == NULL or nl - data < 11 or (nl - 1)[0] != b"\r":
        return None
    v = nl - 10
    if memcmp(v, b" HTTP/1.", 8) != 0:
        return None
    if v[8] == b"1":
        return PROTO_11
    if v[8] == b"0":
        return PROTO_10
    return None


cdef Limits make_limits(dict options):
    cdef Limits limits
    limits.request_line = options["limit_request_line"]
    limits.request_fields = options["limit_request_fields"]
    limits.request_field_size = options["limit_request_field_size"]
    limits.request_body = options["limit_request_body"]
    limits.body_buffer_size = options["body_buffer_size"]
    if limits.request_fields > 0 and limits.request_field_size > 0:
        limits.head = (limits.request_line + 16 + limits.request_fields * (limits.request_field_size + 2) + 2)
    else:
        limits.head = 0
    return limits


@cython.final
@cython.freelist(64)
cdef class Request:

    def __cinit__(self):
        global live_requests
        live_requests += 1

    def __dealloc__(self):
        global live_requests
        live_requests -= 1

    @staticmethod
    cdef Request new(dict base):
        cdef Request self = Request.__new__(Request)
        self.environ = PyDict_Copy(base)
        self.content_length = -1
        return self


@cython.final
cdef class Parser:

    @staticmethod
    cdef Parser new(dict base_env, str remote_addr, str remote_port, bint trusted_proxy, Limits limits):
        cdef Parser self = Parser.__new__(Parser)
        parser = HttpRequestParser(self)
        self.feed_data = parser.feed_data
        self.get_method = parser.get_method
        self.get_http_version = parser.get_http_version
        self.should_keep_alive = parser.should_keep_alive
        self.limits = limits
        self.base_env = base_env
        self.remote_addr = remote_addr
        self.remote_port = remote_port
        self.trusted_proxy = trusted_proxy
        self.queue = []
        self.seen_names = []
        return self

    # -- llhttp callbacks (from inside feed_data; errors are recorded, then _ParseStop stops llhttp) --

    def on_url(self, bytes url):
        # the first piece of a target starts the request (cheaper than an on_message_begin callback)
        cdef Request req = self.cur
        if req is None:
            req = Request.new(self.base_env)
            if self.remote_addr is not None:
                req.environ[K_REMOTE_ADDR] = self.remote_addr
                req.environ[K_REMOTE_PORT] = self.remote_port
            req.url = url
            self.cur = req
            self.head_bytes = -1        # the head starts in the piece being fed: feed() counts from the next one
        else:
            req.url += url
        if 0 < self.limits.request_line < PyBytes_GET_SIZE(req.url):
            self.fail(414, "request line too long")
            raise _ParseStop()

    def on_header(self, bytes name, bytes value):
        cdef Request req = self.cur
        cdef dict env = req.environ
        cdef str key, old
        cdef object bad
        cdef Py_ssize_t size
        req.nfields += 1
        if 0 < self.limits.request_fields < req.nfields:
            self.fail(431, "too many header fields")
            raise _ParseStop()
        if 0 < self.limits.request_field_size < PyBytes_GET_SIZE(name) + PyBytes_GET_SIZE(value) + 2:
            self.fail(431, "header field too large")
            raise _ParseStop()
        if req.input is not None:
            # a trailer field (the head is complete): checked, never merged into the environ
            bad = check_trailer(name)
            if bad is not None:
                self.fail(bad[0], bad[1])
                raise _ParseStop()
            return
        value = strip_ows(value)
        key = self.header_key(name, req.nfields - 1)
        if key is DROPPED:
            return
        sval = PyUnicode_DecodeLatin1(PyBytes_AS_STRING(value), PyBytes_GET_SIZE(value), NULL)
        size = len(env)
        old = <str>PyDict_SetDefault(env, key, sval)     # one lookup; the size tells whether the name is new
        if len(env) == size:
            # a repeated name: one line per RFC 9110 5.3 (cookies joined with "; "), or refused where it matters
            if key is K_HTTP_HOST or key is K_CONTENT_LENGTH:
                self.fail(400, "duplicate " + key)
                raise _ParseStop()
            env[key] = old + ("; " if key is K_HTTP_COOKIE else ", ") + sval
        if key is K_CONTENT_LENGTH:
            req.content_length = parse_content_length(value)
            if req.content_length < 0:
                # llhttp reads up to 2**64-1 (and leading zeros); ours stops at 18 digits: never frame differently
                self.fail(400, "Content-Length out of range")
                raise _ParseStop()
        elif key is K_HTTP_HOST:
            bad = check_host(value)
            if bad is not None:
                self.fail(bad[0], bad[1])
                raise _ParseStop()
        elif key is K_HTTP_TE:
            req.has_body = True
        elif key is K_HTTP_EXPECT:
            if value.lower() == b"100-continue":
                req.expect_continue = True
            else:
                self.fail(417, "unsupported Expect")
                raise _ParseStop()
        elif self.trusted_proxy and (key is K_HTTP_XF_PROTO or key is K_HTTP_XF_PROTOCOL or key is K_HTTP_XF_SSL):
            # gunicorn's secure_scheme_headers: the first one a trusted proxy sends decides wsgi.url_scheme
            # (header_key() returns the interned keys: identity, not a dict lookup, on every field)
            if req.secure == 0:
                req.secure = 1 if value.lower() == SECURE_SCHEME_VALUES[key] else -1

    def on_headers_complete(self):
        cdef Request req = self.cur
        cdef dict env = req.environ
        cdef str proto
        method = self.get_method()
        m = METHODS.get(method)
        if m is None:
            m = method.decode("latin-1")
        env[K_METHOD] = m
        req.is_head = m == "HEAD"
        proto = self.version_hint
        if proto is None:
            proto = VERSIONS.get(self.get_http_version())
        else:
            self.version_hint = None
        if proto is None:
            self.fail(505, "unsupported HTTP version")
            raise _ParseStop()
        env[K_PROTOCOL] = proto
        req.http10 = proto is PROTO_10
        if not req.http10 and K_HTTP_HOST not in env:
            self.fail(400, "HTTP/1.1 request without Host")
            raise _ParseStop()
        bad = check_target(m, req.url)
        if bad is None and req.has_body:            # has_body so far means a Transfer-Encoding field
            bad = check_transfer_encoding(env[K_HTTP_TE], req.http10)
        if bad is not None:
            self.fail(bad[0], bad[1])
            raise _ParseStop()
        if PyBytes_AS_STRING(req.url)[0] != b"/":
            authority = target_authority(req.url)
            if authority is not None:
                env[K_HTTP_HOST] = authority
        set_target(env, req.url)
        req.keep_alive = self.should_keep_alive()
        if req.content_length > 0:
            req.has_body = True
            if 0 < self.limits.request_body < req.content_length:
                self.fail(413, "body larger than limit_request_body")
                raise _ParseStop()
        if req.has_body:
            req.input = Input.new(self.limits.body_buffer_size)
        else:
            req.input = EMPTY_INPUT
        env[K_INPUT] = req.input
        if req.secure > 0:
            env[K_URL_SCHEME] = "https"
        self.queue.append(req)

    def on_body(self, bytes body):
        cdef Request req = self.cur
        cdef Input inp
        if type(req.input) is not Input:
            # llhttp framed a body we did not expect: our framing and llhttp's disagree, never guess
            self.fail(400, "unexpected request body")
            raise _ParseStop()
        inp = <Input>req.input
        inp.feed(body)
        if 0 < self.limits.request_body < inp.received:
            self.fail(413, "body larger than limit_request_body")
            raise _ParseStop()

    def on_message_complete(self):
        cdef Request req = self.cur
        req.complete = True
        if req.has_body:
            (<Input>req.input).finish()
        self.cur = None

    # -- feeding --

    cdef str header_key(self, bytes name, Py_ssize_t i):
        """Environ key of the i-th header field. A client sends the same names in the same order on every request
        of a connection: compare with what it sent last time (memcmp) before hashing into the process cache."""
        cdef list seen = self.seen_names
        cdef Py_ssize_t j = 2 * i, n = PyBytes_GET_SIZE(name)
        cdef object last
        cdef str key
        if j < PyList_GET_SIZE(seen):
            last = <object>PyList_GET_ITEM(seen, j)
            if PyBytes_GET_SIZE(last) == n and memcmp(PyBytes_AS_STRING(last), PyBytes_AS_STRING(name), n) == 0:
                return <str>PyList_GET_ITEM(seen, j + 1)
        key = HEADER_KEYS.get(name)
        if key is None:
            key = header_key_slow(name)
        if j < PyList_GET_SIZE(seen):
            seen[j] = name
            seen[j + 1] = key
        elif j == PyList_GET_SIZE(seen) and i < SEEN_NAMES_MAX:
            seen.append(name)
            seen.append(key)
        return key

    cdef int fail(self, int status, str reason) except -1:
        if not self.error_status:
            self.error_status = status
            self.error_reason = reason
        return 0

    cdef int feed(self, const char *data, Py_ssize_t n) except -1:
        cdef Request req
        if self.stopped:
            return 0
        self.version_hint = None
        if self.cur is None:
            # this piece starts a request line (or continues its method): read the version off the line's end, as
            # llhttp reads it, and spare get_http_version() its str.format for the request (hot path)
            self.version_hint = line_version(data, n)
        try:
            self.feed_data(PyMemoryView_FromMemory(<char *>data, n, PyBUF_READ))
        except HttpParserUpgrade:
            # llhttp stops after a request that asks to upgrade; we serve it as plain HTTP and close after it
            self.upgraded = True
            self.stopped = True
            return 0
        except HttpParserError as exc:
            self.stopped = True
            if not self.error_status:
                self.fail(400, str(exc) or "malformed request")
            return 0
        # bytes of a head still incomplete after this piece: llhttp buffers an unterminated field without limit.
        # Counted from the piece after the one where the head started (that piece may hold the end of the previous
        # request's body): the limit holds within one read of slack and never counts another message's bytes.
        req = self.cur
        if req is not None and req.input is None:
            if self.head_bytes < 0:
                self.head_bytes = 0
            else:
                self.head_bytes += n
            if 0 < self.limits.head < self.head_bytes:
                self.fail(431, "request head too large")
                self.stopped = True
        return 0

    # -- the queue of requests whose head is complete --

    cdef inline bint queued(self):
        return PyList_GET_SIZE(self.queue) > self.qhead

    cdef inline Request first(self):
        return <Request>PyList_GET_ITEM(self.queue, self.qhead)

    cdef int pop(self) except -1:
        self.queue[self.qhead] = None
        self.qhead += 1
        if self.qhead == PyList_GET_SIZE(self.queue):
            self.clear()
        return 0

    cdef int clear(self) except -1:
        del self.queue[:]
        self.qhead = 0
        return 0

    cdef int release(self) except -1:
        self.stopped = True
        self.feed_data = self.get_method = self.get_http_version = self.should_keep_alive = None
        self.cur = None
        return self.clear()


def parse_request_bytes(data, chunks=None, **options):
    """Test hook: parse raw request bytes (fed whole, or in pieces of the given sizes) as a connection does and
    return the environ of each complete request head (without wsgi.input and the socket-derived keys), then
    {"error": status, "reason": str} if parsing failed."""
    cdef dict opts = loop_options(options)
    # no peer address: trusted when any proxy is (as a connection over a UNIX socket)
    cdef Parser parser = Parser.new(dict_with_room(base_environ(opts)), None, None,
                                    bool(opts["forwarded_allow_ips"]), make_limits(opts))
    cdef const char *p = data
    cdef Py_ssize_t pos = 0, size, n = len(data)
    cdef list out = []
    cdef Request req
    sizes = list(chunks) if chunks else [n]
    i = 0
    while pos < n and not parser.stopped:
        size = min(sizes[i % len(sizes)], n - pos)
        parser.feed(p + pos, size)
        pos += size
        i += 1
        while parser.queued():
            req = parser.first()
            parser.pop()
            env = dict(req.environ)
            env.pop("wsgi.input", None)
            out.append(env)
    if parser.error_status:
        out.append({"error": parser.error_status, "reason": parser.error_reason})
    parser.release()
    return out
