# Test hooks: the request loop's pieces driven without a running loop (tests/, tests/fuzz/). They sit above both
# layers, as the Loop does: they may use http/ and io/ alike.


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
    sizes = list(chunks) if chunks else [max(n, 1)]
    if min(sizes) < 1:
        raise ValueError("piece sizes must be at least 1")
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
            if not parser.queued():
                parser.refill()             # what waited for room in the queue
    if parser.error_status:
        out.append({"error": parser.error_status, "reason": parser.error_reason})
    parser.release()
    return out


cdef dict FRAMING_NAMES = {FRAME_UNSET: "unset", FRAME_LENGTH: "length", FRAME_CHUNKED: "chunked",
                           FRAME_CLOSE: "close", FRAME_NONE: "none"}
cdef dict STEP_NAMES = {EX_DONE: "done", EX_STREAM: "stream", EX_FILE: "file", EX_ABORT: "abort"}
cdef bint NOT_STOPPING = False


cdef bytes drain(CBuf *buf):
    cdef bytes out = buf.data[:buf.len] if buf.len else b""
    buf.len = 0
    return out


cdef class ResponseProbe:
    """Test hook: one Response driven directly, without a connection. Each framing call returns the bytes it framed;
    `framing`, `must_close` and `sent` tell what the Response decided."""
    cdef Response resp
    cdef CBuf out
    cdef bint stopping

    def __init__(self, *, is_head=False, http10=False, keep=True, stopping=False):
        self.stopping = stopping
        self.resp = Response.new(None, None, logging.getLogger("fastwsgi.error"), &self.stopping)
        self.resp.begin(is_head, http10, keep, b"Date: Thu, 01 Jan 2026 00:00:00 GMT\r\n")

    def __dealloc__(self):
        cbuf_release(&self.out, 0)

    def start_response(self, status, headers, exc_info=None):
        return self.resp.start_response(status, headers, exc_info)

    def send_head(self, long long known_length=-1):
        self.resp.send_head(&self.out, known_length)
        return drain(&self.out)

    def body(self, data):
        self.resp.body(&self.out, data)
        return drain(&self.out)

    def finish(self):
        self.resp.finish(&self.out)
        return drain(&self.out)

    def fail(self, int status):
        self.resp.fail(&self.out, status)
        return drain(&self.out)

    def set_clip(self, bint clip):
        self.resp.clip = clip

    @property
    def framing(self):
        return FRAMING_NAMES[self.resp.framing]

    @property
    def must_close(self):
        return self.resp.closes()

    @property
    def sent(self):
        return self.resp.sent

    @property
    def length_reached(self):
        return self.resp.length_reached()


def run_exchange(app, request=b"GET / HTTP/1.1\r\nHost: t\r\n\r\n", *, keep=True, sendfile=True, pre_request=None,
                 post_request=None):
    """Test hook: the request's Exchange driven as a connection drives it, without a socket: the call, every piece
    of a stream, a file span read from its file as sendfile(2) would send it, then the end. Returns the answer's
    bytes, the steps taken (names of ExStep) and whether the connection would close after it."""
    cdef bint stopping = False
    cdef CBuf out
    cdef Request req
    cdef Exchange ex
    cdef int step
    cdef list steps = []
    opts = loop_options({})
    cdef Parser parser = Parser.new(dict_with_room(base_environ(opts)), None, None, False, make_limits(opts))
    parser.feed(<const char *>request, len(request))
    if not parser.queued():
        raise ValueError(f"not a whole request: {parser.error_reason or 'incomplete'}")
    req = parser.first()
    ex = Exchange.new(App.new(app, pre_request, post_request, logging.getLogger("fastwsgi.error"), sendfile),
                      None, None, &stopping)
    out.data = NULL
    out.len = out.cap = 0
    try:
        ex.begin(req, keep, b"Date: Thu, 01 Jan 2026 00:00:00 GMT\r\n", monotonic())
        step = ex.call(&out)
        steps.append(STEP_NAMES[step])
        if step == EX_FILE:
            data = os.pread(ex.file_fd, ex.file_left, ex.file_offset)
            cbuf_add(&out, <const char *>data, len(data))
            ex.file_sent(len(data))
            step = EX_DONE
        while step == EX_STREAM:
            step = ex.next_piece(&out)
            steps.append(STEP_NAMES[step])
        ex.end(&out)
        answer = drain(&out)
    finally:
        cbuf_release(&out, 0)
        parser.release()
    return answer, steps, ex.resp.closes()


cdef class ConnectionProbe:
    """Test hook: one Connection over a socketpair, with a Loop that is not running: `send()` writes to the peer
    end and has the connection handle the read event as the loop would, `recv()` reads what it answered; `state`
    and `timeout` (its deadline from now) show its state machine. No listener, no epoll wait, no thread."""
    cdef readonly Loop loop
    cdef Connection conn
    cdef object peer
    cdef object own

    def __init__(self, app, **options):
        self.loop = Loop(app, [], **options)
        self.own, self.peer = _socket.socketpair()
        self.own.setblocking(False)
        self.peer.settimeout(2.0)
        self.loop.update_clock()
        fd = self.own.detach()
        self.conn = Connection.new(self.loop, fd, Parser.new(dict_with_room(dict(self.loop.base_env)), None, None,
                                                             False, self.loop.limits))
        self.loop.conns[fd] = self.conn

    def send(self, bytes data):
        """The peer sends data; the connection reads it and serves what it can, as in one wakeup of the loop."""
        self.peer.sendall(data)
        self.loop.update_clock()
        if self.conn.fd >= 0:
            self.conn.on_event(EPOLLIN)
        if PyList_GET_SIZE(self.loop.deferred):
            self.loop.flush_deferred()

    def shut(self):
        """The peer half-closes (FIN) and the connection sees it."""
        self.peer.shutdown(_socket.SHUT_WR)
        if self.conn.fd >= 0:
            self.conn.on_event(EPOLLIN)
        if PyList_GET_SIZE(self.loop.deferred):
            self.loop.flush_deferred()

    def recv(self, double wait=0.2):
        """Everything the connection has sent so far (b"" if nothing came within `wait` seconds; EOF ends it)."""
        chunks = []
        self.peer.settimeout(wait)
        try:
            while True:
                data = self.peer.recv(65536)
                if not data:
                    break
                chunks.append(data)
                self.peer.settimeout(0.05)
        except (_socket.timeout, BlockingIOError):
            pass
        return b"".join(chunks)

    def expire(self):
        """The sweep found the deadline passed."""
        self.loop.update_clock()
        self.conn.expire()

    @property
    def state(self):
        return STATE_NAMES[<int>self.conn.state]

    @property
    def timeout(self):
        """Seconds from now to the deadline (None: no deadline)."""
        return None if self.conn.deadline == 0 else self.conn.deadline - self.loop.now

    @property
    def closed(self):
        return self.conn.fd < 0

    def close(self):
        self.conn.close()
        self.peer.close()
