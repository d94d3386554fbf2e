# One client connection: httptools callbacks build Requests into a queue; step() runs the app for each in order,
# collects the responses in one write buffer and sends it with as few syscalls as possible. A response body that
# cannot be sent at once is resumed on EPOLLOUT; the connection reads nothing new meanwhile (backpressure).

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.dict cimport PyDict_Copy, PyDict_SetDefault
from cpython.list cimport PyList_GET_SIZE, PyList_GET_ITEM
from cpython.memoryview cimport PyMemoryView_FromMemory
from cpython.buffer cimport PyBUF_READ

cdef Py_ssize_t HIGH_WATER = 256 * 1024      # unsent bytes beyond which a flush that would block compacts wbuf
cdef Py_ssize_t KEEP_WBUF = 16 * 1024         # write buffer kept between responses (larger ones are freed)
cdef Py_ssize_t DEFER_MAX = 64 * 1024          # answers up to this size may wait for the end of the wakeup
cdef double DEFER_TIME = 0.001                 # ... for this many seconds at most (slow apps)
cdef Py_ssize_t SEEN_NAMES_MAX = 16           # header names remembered per connection (header_key)
cdef double LINGER_TIME = 2.0                 # seconds a closing connection keeps reading what the client still sends
cdef long long LINGER_MAX = 64 * 1024 * 1024   # ... and how many bytes at most
cdef long long DRAIN_MAX = 1024 * 1024        # unread body we read and drop to keep a connection alive
cdef bytes CONTINUE_100 = b"HTTP/1.1 100 Continue\r\n\r\n"

cdef dict VERSIONS = {"1.1": PROTO_11, "1.0": PROTO_10}
cdef dict ERROR_REASONS = {
    400: "Bad Request", 408: "Request Timeout", 413: "Content Too Large", 414: "URI Too Long",
    417: "Expectation Failed",
    431: "Request Header Fields Too Large", 500: "Internal Server Error", 501: "Not Implemented",
    505: "HTTP Version Not Supported",
}

cdef extern from *:
    """
    /* The next item of an iterator, or `end` once it is exhausted (StopIteration set or not, cleared): spares
       the exception, traceback and except-clause matching that next() costs at the end of every streamed body. */
    static PyObject *fw_iter_next(PyObject *it, PyObject *end) {
        PyObject *item = Py_TYPE(it)->tp_iternext(it);
        if (item != NULL)
            return item;
        if (PyErr_Occurred()) {
            if (!PyErr_ExceptionMatches(PyExc_StopIteration))
                return NULL;
            PyErr_Clear();
        }
        Py_INCREF(end);
        return end;
    }
    """
    object iter_next "fw_iter_next" (object iterator, object end)   # iterator: from iter()


cdef object ITER_END = object()

cdef long long live_connections = 0
cdef long long live_requests = 0


class _ParseStop(Exception):
    """Raised from a parser callback to stop llhttp; the reason is on the connection."""


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


cdef bytes error_response(int status, bytes date_line, bint is_head=False):
    """A plain-text error answer that closes the connection; without its body when it answers a HEAD request."""
    cdef str reason = ERROR_REASONS.get(status, "Error")
    cdef bytes body = reason.encode()
    return (b"HTTP/1.1 %d %s\r\nServer: fastwsgi\r\n%sContent-Type: text/plain\r\nContent-Length: %d\r\n"
            b"Connection: close\r\n\r\n%s" % (status, body, date_line, len(body), b"" if is_head else body))


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


cdef class Watcher:
    cdef int on_event(self, unsigned int events) except -1:
        return 0


@cython.final
cdef class Connection(Watcher):

    def __cinit__(self):
        global live_connections
        live_connections += 1

    def __dealloc__(self):
        global live_connections
        cbuf_release(&self.wbuf, 0)
        live_connections -= 1

    @staticmethod
    cdef Connection new(Loop loop, int fd, dict base_env, str remote_addr, str remote_port):
        cdef Connection self = Connection.__new__(Connection)
        self.loop = loop
        self.fd = fd
        self.base_env = base_env
        self.remote_addr = remote_addr
        self.remote_port = remote_port
        self.parser = HttpRequestParser(self)
        self.feed_data = self.parser.feed_data
        self.get_method = self.parser.get_method
        self.get_http_version = self.parser.get_http_version
        self.should_keep_alive = self.parser.should_keep_alive
        self.resp = Response()
        self.resp.conn = self
        self.queue = []
        self.seen_names = []
        self.keep = True
        self.interest = EPOLLIN
        self.state = CONN_NEW
        self.deadline = loop.now + loop.header_timeout
        if loop.forwarded_allow_ips is not None:
            peer = remote_addr
            self.trusted_proxy = "*" in loop.forwarded_allow_ips or not peer or peer in loop.forwarded_allow_ips
        return self

    # -- parser callbacks (called from inside feed_data; errors are recorded, then _ParseStop stops llhttp) --

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
            if self.state == CONN_IDLE or self.state == CONN_NEW:
                self.state = CONN_HEAD
                self.deadline = self.loop.now + self.loop.header_timeout
        else:
            req.url += url
        if 0 < self.loop.limit_request_line < PyBytes_GET_SIZE(req.url):
            self.fail(414, "request line too long")
            raise _ParseStop()

    def on_header(self, bytes name, bytes value):
        cdef Request req = self.cur
        cdef Loop loop = self.loop
        cdef dict env = req.environ
        cdef str key, old
        cdef object bad
        cdef Py_ssize_t size
        req.nfields += 1
        if 0 < loop.limit_request_fields < req.nfields:
            self.fail(431, "too many header fields")
            raise _ParseStop()
        if 0 < loop.limit_request_field_size < PyBytes_GET_SIZE(name) + PyBytes_GET_SIZE(value) + 2:
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
        cdef Loop loop = self.loop
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
            if 0 < loop.limit_request_body < req.content_length:
                self.fail(413, "body larger than limit_request_body")
                raise _ParseStop()
        if req.has_body:
            req.input = Input.new(self, req.expect_continue)
        else:
            req.input = EMPTY_INPUT
        env[K_INPUT] = req.input
        if req.secure > 0:
            env[K_URL_SCHEME] = "https"
        self.queue.append(req)
        self.state = CONN_APP

    def on_body(self, bytes body):
        cdef Request req = self.cur
        cdef Input inp
        if type(req.input) is not Input:
            # llhttp framed a body we did not expect: our framing and llhttp's disagree, never guess
            self.fail(400, "unexpected request body")
            raise _ParseStop()
        inp = <Input>req.input
        inp.feed(body)
        if 0 < self.loop.limit_request_body < inp.received:
            self.fail(413, "body larger than limit_request_body")
            inp.error = IOError("request body larger than the limit")
            raise _ParseStop()

    def on_message_complete(self):
        cdef Request req = self.cur
        req.complete = True
        if req.has_body:
            (<Input>req.input).complete = True
        self.cur = None

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

    # -- I/O --

    cdef int fail(self, int status, str reason) except -1:
        if not self.error_status:
            self.error_status = status
            self.error_reason = reason
        return 0

    cdef int feed(self, const char *data, Py_ssize_t n) except -1:
        cdef Request req
        self.version_hint = None
        if self.cur is None:
            # this piece starts a request line (or continues its method): read the version off the line's end, as
            # llhttp reads it, and spare get_http_version() its str.format for the request (hot path)
            self.version_hint = line_version(data, n)
        try:
            self.feed_data(PyMemoryView_FromMemory(<char *>data, n, PyBUF_READ))
        except HttpParserUpgrade:
            # llhttp stops after a request that asks to upgrade; we serve it as plain HTTP and close after it
            self.keep = False
            self.parser = None
            return 0
        except HttpParserError as exc:
            self.parser = None
            if not self.error_status:
                self.fail(400, str(exc) or "malformed request")
            req = self.cur
            if req is not None and req.has_body and req.input is not None and (<Input>req.input).error is None:
                (<Input>req.input).error = IOError("malformed request body")
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
            if 0 < self.loop.limit_head < self.head_bytes:
                self.fail(431, "request head too large")
                self.parser = None
        return 0

    cdef int on_event(self, unsigned int events) except -1:
        if self.interest == EPOLLOUT:
            return self.on_writable()
        return self.on_readable()

    cdef int on_readable(self) except -1:
        cdef Loop loop = self.loop
        cdef ssize_t n = recv(self.fd, loop.rbuf, loop.rbuf_size, 0)
        if n > 0:
            if self.state == CONN_LINGER:
                self.head_bytes += n            # read and dropped: the answer is out, the client still sends
                if self.head_bytes > LINGER_MAX:
                    return self.close()
                return 0
            if self.parser is None:
                return self.close()
            self.feed(loop.rbuf, n)
            return self.step()
        if n == 0 or (errno != EAGAIN and errno != EINTR):
            return self.close()
        return 0

    cdef int on_writable(self) except -1:
        if self.flush() != 1:
            return 0
        self.set_interest(EPOLLIN)
        return self.step()

    cdef int recv_blocking(self, double timeout) except -1:
        """For wsgi.input: flush what is pending (a 100 Continue first if asked), then read and feed one piece."""
        cdef Loop loop = self.loop
        cdef Request req = self.active
        cdef Input inp = <Input>req.input
        cdef pollfd pfd
        cdef ssize_t n
        cdef int r, ms = <int>(timeout * 1000) if timeout > 0 else -1
        if inp.expect_continue:
            inp.expect_continue = False
            req.expect_continue = False
            if not self.resp.head_sent:
                self.append(CONTINUE_100)
        if self.wpos < self.wbuf.len:
            self.flush_blocking(loop.send_timeout)
        if self.parser is None:
            inp.error = IOError("request body ended early")
            return 0
        while True:
            n = recv(self.fd, loop.rbuf, loop.rbuf_size, 0)
            if n > 0:
                self.feed(loop.rbuf, n)
                return 0
            if n == 0:
                self.fail(400, "request body ended early")     # answered if the client still reads (half-close)
                inp.error = IOError("client disconnected while sending the body")
                self.keep = False
                self.parser = None
                return 0
            if errno == EINTR:
                continue
            if errno != EAGAIN:
                inp.error = IOError(errno, strerror(errno).decode())
                self.keep = False
                self.parser = None
                return 0
            pfd.fd = self.fd
            pfd.events = POLLIN
            with nogil:
                r = poll(&pfd, 1, ms)
            if r == 0:
                self.fail(408, "timed out reading the request body")
                inp.error = TimeoutError("timed out reading the request body")
                self.keep = False
                self.parser = None
                return 0
            if r < 0 and errno == EINTR:
                PyErr_CheckSignals()

    cdef int append(self, object data) except -1:
        cdef Py_ssize_t n = PyBytes_GET_SIZE(data)
        cbuf_add(&self.wbuf, PyBytes_AS_STRING(data), n)
        return 0

    cdef int flush(self) except -1:
        cdef ssize_t n
        while self.wpos < self.wbuf.len:
            n = send(self.fd, self.wbuf.data + self.wpos, self.wbuf.len - self.wpos, MSG_NOSIGNAL)
            if n >= 0:
                self.wpos += n
                continue
            if errno == EINTR:
                continue
            if errno == EAGAIN:
                if self.wpos >= HIGH_WATER:
                    cbuf_consume(&self.wbuf, self.wpos)
                    self.wpos = 0
                self.deadline = self.loop.now + self.loop.send_timeout
                self.set_interest(EPOLLOUT)
                return 0
            self.state = CONN_CLOSED        # peer gone: the caller closes
            self.keep = False
            cbuf_release(&self.wbuf, KEEP_WBUF)
            self.wpos = 0
            return 0
        cbuf_release(&self.wbuf, KEEP_WBUF)
        self.wpos = 0
        return 1

    cdef int flush_blocking(self, double timeout) except -1:
        cdef pollfd pfd
        cdef int r, ms = <int>(timeout * 1000) if timeout > 0 else -1
        while self.flush() == 0:
            if self.state == CONN_CLOSED:
                raise IOError("client disconnected")
            pfd.fd = self.fd
            pfd.events = POLLOUT
            with nogil:
                r = poll(&pfd, 1, ms)
            if r == 0:
                self.keep = False
                self.state = CONN_CLOSED
                raise TimeoutError("timed out sending the response")
            if r < 0 and errno == EINTR:
                PyErr_CheckSignals()
        self.set_interest(EPOLLIN)
        return 0

    cdef int set_interest(self, unsigned int events) except -1:
        cdef epoll_event ev
        if self.interest != events and self.fd >= 0:
            ev.events = events
            ev.data.ptr = <void *>self
            epoll_ctl(self.loop.epfd, EPOLL_CTL_MOD, self.fd, &ev)
            self.interest = events
        return 0

    # -- serving --

    cdef int step(self) except -1:
        cdef Request req
        cdef Input inp
        while self.state != CONN_CLOSED:
            if self.active is not None:
                if self.drive() == 0:
                    return 0                   # blocked on the socket: EPOLLOUT resumes us
                continue
            if not self.queued():
                break
            req = <Request>self.queue[self.qhead]
            if not req.handled:
                self.run_app(req)
                continue
            if not req.complete and type(req.input) is not Input:
                self.keep = False           # a bodyless request cut short by a parse error: nothing to drain
            elif not req.complete:
                # the app left body unread: read and drop a bounded amount, else close
                inp = <Input>req.input
                inp.discard = True
                if (req.expect_continue or self.parser is None
                        or (req.content_length >= 0 and req.content_length - inp.received > DRAIN_MAX)
                        or inp.received > DRAIN_MAX):
                    self.keep = False
                else:
                    self.state = CONN_DRAIN
                    self.deadline = self.loop.now + self.loop.body_timeout
                    break
            self.pop_request()
            if not self.keep:
                self.clear_queue()
                break
        if self.state == CONN_CLOSED:
            return self.close()
        if self.error_status and self.keep and not self.queued() and self.active is None:
            self.append(error_response(self.error_status, self.loop.date_line))
            self.keep = False
        if self.keep and self.active is None and self.defer():
            return 0
        return self.finish_step()

    cdef bint defer(self) except -1:
        """During a wakeup's events: hold back a small pending answer; the loop sends it with the others' when the
        events are handled, then calls resume(). False: send it now."""
        if not self.loop.batching or not (0 < self.wbuf.len - self.wpos <= DEFER_MAX):
            return False
        if not self.deferred:
            if not PyList_GET_SIZE(self.loop.deferred):
                self.loop.defer_until = monotonic() + DEFER_TIME
            self.deferred = True
            self.loop.deferred.append(self)
        return True

    cdef int resume(self) except -1:
        """After the loop sent the deferred answer (flush()): go on where step() stopped (the rest of a streamed
        body, queued requests, keep-alive or close)."""
        if self.fd < 0:
            return 0
        if self.state == CONN_CLOSED:
            return self.close()
        if self.wpos < self.wbuf.len:
            return 0                    # not all sent: EPOLLOUT is armed, on_writable() goes on
        return self.step()

    cdef int finish_step(self) except -1:
        cdef int r = self.flush()
        if self.state == CONN_CLOSED:
            return self.close()
        if r == 0:
            return 0
        if not self.keep and not self.queued() and self.active is None:
            if self.error_status or self.cur is not None:
                return self.linger()
            return self.close()
        if self.queued() or self.state == CONN_DRAIN:
            return 0
        if self.cur is not None:
            if self.state != CONN_HEAD:
                self.state = CONN_HEAD
                self.deadline = self.loop.now + self.loop.header_timeout
        else:
            self.state = CONN_IDLE
            self.deadline = self.loop.now + self.loop.keepalive
            if self.loop.stopping:
                return self.close()
        return 0

    cdef int run_app(self, Request req) except -1:
        cdef Loop loop = self.loop
        cdef Response resp = self.resp
        cdef Py_ssize_t total
        req.handled = True
        self.active = req
        self.state = CONN_APP
        if not req.keep_alive or loop.stopping or loop.keepalive <= 0:
            self.keep = False
        resp.reset(req.is_head, req.http10)
        if loop.post_request is not None:
            self.started = monotonic()
        try:
            if loop.pre_request is not None:
                loop.pre_request(req.environ)
            result = loop.app(req.environ, resp.start_response_cb)
        except Exception:
            return self.app_error("calling the app")
        self.result = result
        try:
            if type(result) is list and resp.started and not resp.head_sent:
                total = 0
                for item in <list>result:
                    if type(item) is not bytes:
                        total = -1
                        break
                    total += PyBytes_GET_SIZE(item)
                if total >= 0:
                    resp.send_head(total if not resp.has_cl else -1)
                    for item in <list>result:
                        resp.body(item)
                    return self.end_response()
            if type(result) is FileWrapper and loop.sendfile and resp.started and not resp.is_head and not resp.no_body:
                if (<FileWrapper>result).prepare_sendfile(self):
                    self.sf_file = result
                    return 0
            self.stream = iter(result)
        except Exception:
            return self.app_error("reading the app's response")
        return 0

    cdef int drive(self) except -1:
        """Move the active response on: the sendfile part or the app's iterator. 1: done, 0: blocked."""
        cdef Response resp = self.resp
        cdef ssize_t n
        cdef off_t off
        try:
            if self.sf_file is not None:
                if self.flush() != 1:
                    if self.state != CONN_CLOSED:
                        return 0
                    self.sf_left = 0
                while self.sf_left > 0:
                    off = self.sf_off
                    n = sendfile(self.fd, self.sf_fd, &off, min(self.sf_left, 1 << 30))
                    if n > 0:
                        self.sf_off = off
                        self.sf_left -= n
                        resp.sent += n
                    elif n == 0:
                        self.keep = False            # file shorter than announced
                        break
                    elif errno == EAGAIN:
                        self.deadline = self.loop.now + self.loop.send_timeout
                        self.set_interest(EPOLLOUT)
                        return 0
                    elif errno != EINTR:
                        self.state = CONN_CLOSED
                        break
                self.sf_file = None
                if resp.sent < resp.content_length:
                    self.keep = False
                self.end_response()
                return 1
            while self.stream is not None:
                # PEP 3333: a yielded block goes out before the app is asked for the next one (a deferred block goes
                # out at the end of this wakeup; resume() then asks for the next)
                if self.wbuf.len > self.wpos:
                    if self.defer():
                        return 0
                    if self.flush() != 1:
                        if self.state == CONN_CLOSED:
                            self.end_response()
                            return 1
                        return 0
                chunk = iter_next(self.stream, ITER_END)
                if chunk is ITER_END:
                    self.stream = None
                    break
                resp.body(chunk)
        except Exception:
            self.stream = None
            self.sf_file = None
            self.app_error("iterating the app's response")
            return 1
        self.end_response()
        return 1

    cdef int end_response(self) except -1:
        cdef Loop loop = self.loop
        cdef Request req = self.active
        cdef Response resp = self.resp
        result = self.result
        self.result = None
        self.stream = None
        try:
            if self.state == CONN_CLOSED:
                pass
            elif resp.started:
                resp.finish()
            elif not resp.head_sent:
                loop.logger.error("Error handling request %s: the app returned without calling start_response()",
                                  req.environ.get(K_RAW_URI) if req is not None else "?")
                self.keep = False
                self.append(error_response(500, loop.date_line, req is not None and req.is_head))
        finally:
            self.active = None
            if result is not None and not type(result) is list:
                close = getattr(result, "close", None)
                if close is not None:
                    try:
                        close()
                    except Exception:
                        loop.logger.exception("Error closing the app's response")
        if req is not None:
            if type(req.input) is Input:
                # the app is done with wsgi.input: drop its links (an error's traceback holds the app's frames,
                # whose environ holds the input: a cycle the GC would have to find)
                (<Input>req.input).conn = None
                (<Input>req.input).error = None
            if loop.post_request is not None:
                try:
                    loop.post_request(req.environ, resp.status, resp.headers, resp.sent, monotonic() - self.started)
                except Exception:
                    loop.logger.exception("Error in post_request")
            loop.request_done()
        return 0

    cdef int app_error(self, str where) except -1:
        cdef Loop loop = self.loop
        cdef Request req = self.active
        loop.logger.exception("Error handling request %s (%s)",
                              req.environ.get(K_RAW_URI) if req is not None else "?", where)
        if self.resp.head_sent:
            self.keep = False             # the client already has part of the response: abort the connection
            self.state = CONN_CLOSED
        else:
            # answer 500 (or the parse error that broke this request's body while the app read it: 400, 413...);
            # the failed response has put nothing into the buffer (its head was not sent)
            self.keep = False
            status = 500
            if self.error_status and req is not None and not req.complete:
                status = self.error_status
            self.append(error_response(status, loop.date_line, req is not None and req.is_head))
            self.resp.started = False
            self.resp.head_sent = True
            self.resp.status = "%d %s" % (status, ERROR_REASONS.get(status, "Error"))
            self.resp.headers = []
        self.stream = None
        self.sf_file = None
        return self.end_response()

    cdef int linger(self) except -1:
        """Close a connection whose client may still be sending (an error answer, an unread body) as nginx's
        lingering_close does: stop writing, read and drop for a while, then close. Closing at once with unread
        bytes would reset the connection and could destroy the answer before the client reads it."""
        shutdown(self.fd, SHUT_WR)
        self.state = CONN_LINGER
        self.parser = None
        self.head_bytes = 0
        self.deadline = self.loop.now + LINGER_TIME
        return self.set_interest(EPOLLIN)

    cdef bint is_idle(self):
        return self.state == CONN_IDLE and self.active is None and not self.queued()

    cdef inline bint queued(self):
        return PyList_GET_SIZE(self.queue) > self.qhead

    cdef int pop_request(self) except -1:
        self.queue[self.qhead] = None
        self.qhead += 1
        if self.qhead == PyList_GET_SIZE(self.queue):
            self.clear_queue()
        return 0

    cdef int clear_queue(self) except -1:
        del self.queue[:]
        self.qhead = 0
        return 0

    cdef int close(self) except -1:
        cdef Loop loop = self.loop
        cdef int fd = self.fd
        if fd < 0:
            return 0
        self.state = CONN_CLOSED
        self.fd = -1
        if self.active is not None:
            self.stream = None
            self.sf_file = None
            self.end_response()
        if loop is not None:
            loop.conns.pop(fd, None)
            if loop.stopping and not loop.conns:
                loop.next_tick = 0              # the last one: the sweep ends a stopping loop now, not in a second
            if not loop.stopping and not loop.accepting and len(loop.conns) < loop.worker_connections:
                loop.set_accepting(True)
        close(fd)
        # break the cycles conn -> parser -> bound methods -> conn and conn <-> resp
        self.parser = None
        self.feed_data = None
        self.get_method = self.get_http_version = self.should_keep_alive = None
        self.resp.conn = None
        self.resp.start_response_cb = None      # bound methods: resp -> method -> resp
        self.resp.write_cb = None
        self.cur = None
        self.clear_queue()
        return 0


def _parse_for_tests(data, chunks, options):
    cdef Loop loop = Loop(None, [], **options)
    cdef Connection conn = Connection.new(loop, -1, dict_with_room(loop.base_env), None, None)
    cdef const char *p = data
    cdef Py_ssize_t pos = 0, size, n = len(data)
    cdef list out = []
    cdef Request req
    sizes = list(chunks) if chunks else [n]
    i = 0
    while pos < n and conn.parser is not None:
        size = min(sizes[i % len(sizes)], n - pos)
        conn.feed(p + pos, size)
        pos += size
        i += 1
        while conn.queued():
            req = conn.queue[conn.qhead]
            conn.pop_request()
            env = dict(req.environ)
            env.pop("wsgi.input", None)
            out.append(env)
    if conn.error_status:
        out.append({"error": conn.error_status, "reason": conn.error_reason})
    return out
