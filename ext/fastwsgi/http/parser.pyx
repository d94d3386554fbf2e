# Request parsing. We frame the byte stream ourselves: a head runs from its first byte (empty lines before it are
# skipped, as llhttp skips them) to the first CRLF CRLF; a body is Content-Length bytes, or chunks up to the empty
# line after the last chunk's trailer section. llhttp (through httptools, strict mode) is fed exactly those bytes,
# part by part, and validates them: a head is only read once llhttp has accepted all of it, and after every part
# llhttp's count of begun and completed messages (its only two callbacks besides on_body) must equal ours, so the
# two can never frame the stream differently without the request being refused. The environ is built from the
# validated head bytes in one pass (no per-field callback or bytes object; fields.pyx: a connection's repeated fields
# come from its template), with the limits and the checks llhttp leaves to us (strict.pyx). Nothing here knows about
# sockets.

from cpython.list cimport PyList_GET_SIZE, PyList_GET_ITEM
from cpython.buffer cimport PyBuffer_FillInfo

cdef Py_ssize_t HBUF_KEEP = 4096            # a head buffer kept between heads (a larger one is freed)
cdef Py_ssize_t QUEUE_KEEP = 16             # queue slots kept once it empties (more, after deep pipelining: freed)
cdef long long CHUNK_SIZE_MAX = 1LL << 59   # a chunk size beyond: refused (llhttp's own bound is 2**64)
# Pipelining without reading the answers (issue 25.1): past this many requests queued on a connection, what follows
# is kept as bytes (the backlog: one read at most, as the connection stops reading) and framed as they are answered.
# Inline and on app threads alike, a connection costs this many parsed requests at most, not a read buffer's worth.
cdef Py_ssize_t QUEUE_MAX = 64

cdef long long live_requests = 0


class _ParseStop(Exception):
    """Raised from on_body to stop llhttp; the reason is on the Parser."""


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
cdef class ByteView:
    """A read-only buffer over bytes the Parser does not own, pointed at each part before it goes to feed_data():
    httptools takes the buffer and releases it before feed_data() returns (a memoryview per call would cost two
    allocations)."""

    def __getbuffer__(self, Py_buffer *buffer, int flags):
        PyBuffer_FillInfo(buffer, self, <void *>self.ptr, self.len, 1, flags)

    def __releasebuffer__(self, Py_buffer *buffer):
        pass


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
    cdef Request new():
        cdef Request self = Request.__new__(Request)
        self.content_length = -1
        return self


@cython.final
cdef class Parser:

    @staticmethod
    cdef Parser new(dict base_env, str remote_addr, str remote_port, bint trusted_proxy, Limits limits):
        cdef Parser self = Parser.__new__(Parser)
        self.feed_data = HttpRequestParser(self).feed_data
        self.view = ByteView.__new__(ByteView)
        self.limits = limits
        self.base_env = base_env
        self.remote_addr = remote_addr
        self.remote_port = remote_port
        self.trusted_proxy = trusted_proxy
        self.queue = []
        self.template = HeadTemplate.new()
        return self

    def __dealloc__(self):
        cbuf_release(&self.hbuf, 0)
        cbuf_release(&self.backlog, 0)

    # -- llhttp callbacks (from inside feed_data): counting, and the body into the request's Input --

    def on_message_begin(self):
        self.ll_begun += 1

    def on_message_complete(self):
        self.ll_done += 1

    def on_body(self, bytes body):
        cdef Request req = self.cur
        cdef Input inp
        cdef int status
        if req is None or type(req.input) is not Input:
            # llhttp framed a body we did not expect: our framing and llhttp's disagree, never guess
            self.fail(400, "unexpected request body")
            raise _ParseStop()
        inp = <Input>req.input
        status = inp.feed(body)
        if status:
            self.fail(status, "request body refused by the spool (see the log)")
            raise _ParseStop()
        if 0 < self.limits.request_body < inp.received:
            self.fail(413, "body larger than limit_request_body")
            raise _ParseStop()

    # -- feeding --

    cdef int feed(self, const char *data, Py_ssize_t n) except -1:
        cdef Py_ssize_t pos
        if self.bpos < self.backlog.len:
            cbuf_add(&self.backlog, data, n)      # behind the bytes already waiting for room
            return 0
        pos = self.frame(data, n)
        if pos < n and not self.stopped:
            cbuf_add(&self.backlog, data + pos, n - pos)
        return 0

    cdef inline bint backlogged(self) noexcept:
        return self.bpos < self.backlog.len

    cdef int refill(self) except -1:
        if self.bpos < self.backlog.len and not self.stopped:
            self.bpos += self.frame(self.backlog.data + self.bpos, self.backlog.len - self.bpos)
        if self.bpos >= self.backlog.len or self.stopped:
            cbuf_release(&self.backlog, 0)
            self.bpos = 0
        return 0

    cdef Py_ssize_t frame(self, const char *data, Py_ssize_t n) except -1:
        cdef Py_ssize_t pos = 0
        while pos < n and not self.stopped:
            if self.phase == PH_HEAD and self.cur is None and self.qtail - self.qhead >= QUEUE_MAX:
                break                           # enough requests wait: the rest stays bytes (feed, refill)
            if self.uwsgi:
                pos += uwsgi_feed(self, data + pos, n - pos)     # --protocol uwsgi: packets (uwsgi.pyx)
            elif self.phase == PH_HEAD:
                pos += self.feed_head(data + pos, n - pos)
            elif self.phase == PH_LENGTH:
                pos += self.feed_length(data + pos, n - pos)
            else:
                pos += self.feed_chunked(data + pos, n - pos)
        return pos

    cdef Py_ssize_t feed_head(self, const char *p, Py_ssize_t n) except -1:
        cdef Py_ssize_t i = 0, end
        if self.cur is None:
            while i < n and (p[i] == b"\r" or p[i] == b"\n"):
                i += 1                  # empty lines before a request (llhttp skips them as well)
            if i == n:
                return n
            self.cur = Request.new()
            self.begun += 1
        if self.hbuf.len == 0:
            end = self.template.kept_head(p + i, n - i)     # (a piece that starts with the kept head: its end)
            if end == 0:
                end = head_end(NULL, 0, p + i, n - i)
            if end > 0:
                # the common case: the whole head in this piece, parsed where it lies
                if self.llhttp_head(p + i, end):
                    self.head_complete(p + i, end)
                return i + end
            cbuf_add(&self.hbuf, p + i, n - i)
            self.line_scan = 0
        else:
            end = head_end(self.hbuf.data, self.hbuf.len, p, n)
            if end > 0:
                cbuf_add(&self.hbuf, p, end)
                if self.llhttp(p, end):
                    self.head_complete(self.hbuf.data, self.hbuf.len)
                cbuf_release(&self.hbuf, HBUF_KEEP)
                return end
            cbuf_add(&self.hbuf, p, n)
        # the head goes on in the next piece: llhttp checks what has come, the limits bound what we keep
        if self.llhttp(p + i, n - i):
            self.partial_head()
        return n

    cdef Py_ssize_t feed_length(self, const char *p, Py_ssize_t n) except -1:
        cdef Py_ssize_t k = <Py_ssize_t>min(<long long>n, self.body_left)
        if not self.llhttp(p, k):
            return n
        self.body_left -= k
        if self.body_left == 0:
            self.message_end()
        else:
            self.agree(0)
        return k

    cdef Py_ssize_t feed_chunked(self, const char *p, Py_ssize_t n) except -1:
        """Find how far this piece goes into the chunked body (collecting trailer lines), feed llhttp that much, then
        apply our checks to it."""
        cdef Py_ssize_t i = 0, k
        cdef const char *q
        cdef int v
        cdef bint ended = False
        cdef int status = 0
        cdef str reason = None
        while i < n and not ended:
            if self.chunk_state == CK_DATA or self.chunk_state == CK_DATA_END:
                k = <Py_ssize_t>min(<long long>(n - i), self.body_left)
                i += k
                self.body_left -= k
                if self.body_left == 0:
                    if self.chunk_state == CK_DATA:
                        self.chunk_state = CK_DATA_END
                        self.body_left = 2
                    else:
                        self.chunk_state = CK_SIZE
                        self.chunk_size = 0
                continue
            if self.chunk_state == CK_TRAILER:
                q = <const char *>memchr(p + i, b"\n", n - i)
                k = n if q == NULL else q - p + 1
                cbuf_add(&self.hbuf, p + i, k - i)
                i = k
                if q == NULL:
                    if 0 < self.limits.head < self.hbuf.len and not status:
                        status, reason = 431, "trailer field too large"
                elif self.hbuf.len <= 2:
                    ended = True        # the empty line: the end of the message
                    self.hbuf.len = 0
                else:
                    if not status:
                        bad = self.trailer_line()
                        if bad is not None:
                            status, reason = bad
                    self.hbuf.len = 0
                continue
            if self.chunk_state == CK_SIZE:
                v = hexdigit(p[i])
                if v >= 0:
                    if self.chunk_size < CHUNK_SIZE_MAX:
                        self.chunk_size = self.chunk_size * 16 + v
                    elif not status:
                        status, reason = 400, "chunk size too large"
                    i += 1
                    continue
                self.chunk_state = CK_EXT
            q = <const char *>memchr(p + i, b"\n", n - i)
            if q == NULL:
                i = n
                continue
            i = q - p + 1
            if self.chunk_size == 0:
                self.chunk_state = CK_TRAILER
                self.hbuf.len = 0
            else:
                self.chunk_state = CK_DATA
                self.body_left = self.chunk_size
        if not self.llhttp(p, i):
            return n
        if status:
            self.stop(status, reason)
        elif ended:
            cbuf_release(&self.hbuf, HBUF_KEEP)
            self.message_end()
        else:
            self.agree(0)
        return i

    cdef bint llhttp_head(self, const char *h, Py_ssize_t n) except -1:
        """llhttp fed a whole head, or only its request line when its fields are known: byte for byte those of the
        kept head, which llhttp accepted after an HTTP/1.1 request line and which frame a plain message (no body, no
        close, no upgrade). llhttp reads fields the same after any such line, so they would tell it nothing new: it
        is fed the line and the empty line, and begins and completes the message as it would have (agree() still
        counts). Else a field line is left out of what llhttp reads when it is one of the kept head's (llhttp accepted
        those bytes as a field line) or a plain one that llhttp would accept (headscan.pyx, plain_field_line: checked
        more strictly than llhttp does), and is not one llhttp reads for framing: a field line says nothing to llhttp
        about the others. The fields are read as ever, from the head itself (fields.pyx)."""
        cdef Py_ssize_t line = self.template.known_fields(h, n)
        cdef bint ok
        if line > 0:
            if plain_request_line(h, line - 2) and not self.ll_closed:
                return self.llhttp_spared()
            self.hbuf.len = 0               # (empty in this case: a scratch buffer)
            cbuf_add(&self.hbuf, h, line)
            cbuf_add(&self.hbuf, b"\r\n", 2)
        elif not self.template.known_lines(h, n, &self.hbuf):
            return self.llhttp(h, n)
        elif (not self.ll_closed
              and <const char *>memchr(self.hbuf.data, b"\n", self.hbuf.len) == self.hbuf.data + self.hbuf.len - 3
              and plain_request_line(self.hbuf.data, self.hbuf.len - 4)):
            self.hbuf.len = 0               # the request line alone is left: a plain one
            return self.llhttp_spared()
        ok = self.llhttp(self.hbuf.data, self.hbuf.len)
        self.hbuf.len = 0
        return ok

    cdef bint llhttp_spared(self) noexcept:
        """A head llhttp would accept whole and frame as a message without a body, kept alive: a plain request line
        (GET or HEAD, origin-form, HTTP/1.1; headscan.pyx) and no field line llhttp reads (each plain, or one it
        accepted in the kept head), after a head that kept the connection open (ll_closed: llhttp refuses what
        follows a close). llhttp, waiting for a message's first byte, is left there; its count of begun and
        completed messages goes on as if it had read the head (agree() compares them with ours as ever)."""
        self.ll_begun += 1
        self.ll_done += 1
        return True

    cdef bint llhttp(self, const char *p, Py_ssize_t n) except -1:
        self.view.ptr = p
        self.view.len = n
        try:
            self.feed_data(self.view)
        except HttpParserUpgrade:
            # llhttp stops after a request that asks to upgrade (its body skipped): head_complete() knows
            self.ll_upgrade = True
        except HttpParserError as exc:
            self.stop(400, str(exc) or "malformed request")
            return False
        return True

    cdef bint agree(self, int completing) except -1:
        if self.ll_begun == self.begun and self.ll_done == self.done + completing:
            return True
        self.stop(400, "request framing ambiguous")
        return False

    cdef int stop(self, int status, str reason) except -1:
        self.fail(status, reason)
        self.stopped = True
        return 0

    cdef int partial_head(self) except -1:
        """A head still incomplete: llhttp buffers an unterminated field without limit, so the whole head is
        bounded here, and a request line too long is refused before it ends."""
        cdef const char *h = self.hbuf.data
        cdef const char *sp
        cdef const char *te
        cdef const char *lf
        cdef Py_ssize_t n = self.hbuf.len
        if 0 < self.limits.head < n:
            return self.stop(431, "request head too large")
        if self.line_scan < 0:
            return 0
        lf = <const char *>memchr(h + self.line_scan, b"\n", n - self.line_scan)
        if lf != NULL:
            self.line_scan = -1             # the request line is in: checked now, as head_complete will
            if lf == h or (lf - 1)[0] != b"\r":
                return self.stop(400, "bare LF in the request line")
            n = lf - h
        else:
            self.line_scan = n
        if self.limits.request_line <= 0:
            return 0
        sp = <const char *>memchr(h, b" ", n)
        if sp != NULL:
            te = <const char *>memchr(sp + 1, b" ", n - (sp + 1 - h))
            if (te - sp - 1 if te != NULL else h + n - sp - 1) > self.limits.request_line:
                return self.stop(414, "request line too long")
        return 0

    # -- the environ from a validated head --

    cdef int head_complete(self, const char *h, Py_ssize_t n) except -1:
        """h: a head llhttp has accepted whole, from its first byte to its CRLF CRLF."""
        cdef Request req = self.cur
        cdef dict env
        cdef HeadFlags flags
        cdef const char *end = h + n - 2          # the empty line ending the head
        cdef const char *le
        cdef const char *sp
        cdef const char *t
        cdef const char *te
        cdef const char *v
        cdef Py_ssize_t tlen
        cdef str method, proto = None
        cdef object bad
        flags.host = flags.te = False
        flags.connection = 0
        if 0 < self.limits.head < n:
            return self.stop(431, "request head too large")
        # the request line: method SP target SP version, one SP each (llhttp lets a run of SP through: two parsers
        # behind each other could split such a line differently)
        # the line ends at its first LF, which must follow a CR: llhttp ends it at a bare LF too, so a target read up
        # to the first CR could hold what llhttp took for a field (issue 25.8)
        le = <const char *>memchr(h, b"\n", n)
        if le == h or (le - 1)[0] != b"\r":
            return self.stop(400, "bare LF in the request line")
        le -= 1
        sp = <const char *>memchr(h, b" ", le - h)
        if sp == NULL or sp + 1 >= le or sp[1] == b" ":
            return self.stop(400, "malformed request line")
        t = sp + 1
        te = <const char *>memchr(t, b" ", le - t)
        if te == NULL:
            tlen = le - t                           # no version: HTTP/0.9 (505 below)
        else:
            tlen = te - t
            v = te + 1
            if v == le or v[0] == b" ":
                return self.stop(400, "malformed request line")
            if le - v == 8 and memcmp(v, b"HTTP/1.", 7) == 0:
                if v[7] == b"1":
                    proto = PROTO_11
                elif v[7] == b"0":
                    proto = PROTO_10
        if 0 < self.limits.request_line < tlen:
            return self.stop(414, "request line too long")
        # the fields: name ":" OWS value OWS CRLF (llhttp has checked the syntax)
        if self.template.read_fields(self, req, &flags, h, le + 2, end):
            return 0
        env = req.environ
        # our framing (a body by Transfer-Encoding or Content-Length; none after an upgrade, whose body llhttp skips)
        # must be llhttp's before anything else is decided on this head
        req.has_body = flags.te or req.content_length > 0
        upgrade = self.ll_upgrade
        if upgrade and req.has_body:
            self.restart_llhttp(flags.te, req.content_length)
        if not self.agree(0 if req.has_body else 1):
            return 0
        method = method_str(h, sp - h)
        req.is_head = method is M_HEAD
        if proto is None:
            return self.stop(505, "unsupported HTTP version")
        req.http10 = proto is PROTO_10
        if not req.http10 and not flags.host:
            return self.stop(400, "HTTP/1.1 request without Host")
        bad = check_target(method, t, tlen)
        if bad is None and flags.te:
            bad = check_transfer_encoding(env[K_HTTP_TE], req.http10)
        if bad is not None:
            return self.stop(bad[0], bad[1])
        if req.http10:
            req.keep_alive = (flags.connection & CONN_KEEP_ALIVE) != 0
        else:
            req.keep_alive = (flags.connection & CONN_CLOSE) == 0
        self.ll_closed = not req.keep_alive or upgrade
        if not req.has_body:
            pass
        elif flags.te:
            self.phase = PH_CHUNKED
            self.chunk_state = CK_SIZE
            self.chunk_size = 0
        else:
            if 0 < self.limits.request_body < req.content_length:
                return self.stop(413, "body larger than limit_request_body")
            self.phase = PH_LENGTH
            self.body_left = req.content_length
        if req.has_body:
            req.input = Input.new(self.limits.body_buffer_size, -1 if flags.te else req.content_length)
        else:
            req.input = EMPTY_INPUT
        self.template.set_request_keys(req, method, proto, t, tlen)
        if t[0] != b"/":
            authority = target_authority(t, tlen)
            if authority is not None:
                env[K_HTTP_HOST] = authority
        if req.secure > 0:
            env[K_URL_SCHEME] = "https"
        self.enqueue(req)
        # its fields can spare llhttp the next head's (llhttp_head)
        self.template.plain = not (req.has_body or upgrade or req.http10) and req.keep_alive
        if not req.has_body:
            self.message_end()
        if upgrade:
            self.upgraded = True                    # served as plain HTTP, then the connection closes
            if not req.has_body:
                self.stopped = True
        return 0

    cdef int restart_llhttp(self, bint chunked, long long length) except -1:
        """An upgrade request with a body (issue 13.3). WSGI cannot switch protocols: it is served as plain HTTP, with
        its body. llhttp stops at the upgrade and skips the body, so a fresh llhttp frames it, behind a head that
        asks for the same framing without the upgrade; neither that head's begin nor the upgrade's early completion
        is counted."""
        self.feed_data = HttpRequestParser(self).feed_data
        self.ll_upgrade = False
        self.ll_done -= 1
        head = (b"POST / HTTP/1.1\r\nHost: x\r\n"
                + (b"Transfer-Encoding: chunked\r\n" if chunked else b"Content-Length: %d\r\n" % length) + b"\r\n")
        self.llhttp(head, len(head))
        self.ll_begun -= 1
        return 0

    cdef int message_end(self) except -1:
        if not self.agree(1):
            return 0
        return self.request_whole()

    cdef int request_whole(self) except -1:
        """The current request is whole (its body too): queued as complete, the next head is awaited."""
        cdef Request req = self.cur
        if req.has_body and (<Input>req.input).finish():
            return self.stop(507, "request body refused by the spool (see the log)")
        req.complete = True
        self.cur = None
        self.done += 1
        self.phase = PH_HEAD
        if self.upgraded:
            self.stopped = True                     # nothing is parsed after an upgrade request
        return 0

    cdef object trailer_line(self):
        """The trailer field line in hbuf (CRLF included): counted against the field limits, and refused if it is a
        field that must not be sent as a trailer; (status, reason) then, else None. Never put in the environ: the app
        may be reading the body already."""
        cdef Request req = self.cur
        cdef const char *p = self.hbuf.data
        cdef const char *colon = <const char *>memchr(p, b":", self.hbuf.len)
        cdef const char *v
        cdef const char *ve = p + self.hbuf.len - 2
        if colon == NULL or ve < colon:
            return None                             # not a field: llhttp refuses it
        v = colon + 1
        while v < ve and is_ows(v[0]):
            v += 1
        while ve > v and is_ows((ve - 1)[0]):
            ve -= 1
        req.nfields += 1
        if 0 < self.limits.request_fields < req.nfields:
            return (431, "too many header fields")
        if 0 < self.limits.request_field_size < (colon - p) + (ve - v) + 2:
            return (431, "header field too large")
        return check_trailer(p, colon - p)

    cdef int fail(self, int status, str reason) except -1:
        if not self.error_status:
            self.error_status = status
            self.error_reason = reason
        return 0

    # -- the queue of requests whose head is complete --

    cdef inline bint queued(self):
        return self.qtail > self.qhead

    cdef inline Request first(self):
        return <Request>PyList_GET_ITEM(self.queue, self.qhead)

    cdef Py_ssize_t pending(self) noexcept:
        return self.qtail - self.qhead

    cdef int enqueue(self, Request req) except -1:
        if self.qtail < PyList_GET_SIZE(self.queue):
            self.queue[self.qtail] = req
        else:
            self.queue.append(req)
        self.qtail += 1
        return 0

    cdef int pop(self) except -1:
        self.queue[self.qhead] = None
        self.qhead += 1
        if self.qhead == self.qtail:
            if PyList_GET_SIZE(self.queue) > QUEUE_KEEP:
                return self.clear()
            self.qhead = self.qtail = 0     # the slots (None now) stay for the next requests: no list resizing
        return 0

    cdef int clear(self) except -1:
        del self.queue[:]
        self.qhead = self.qtail = 0
        return 0

    cdef int set_peer(self, str addr, str port) except -1:
        self.remote_addr = addr
        self.remote_port = port
        self.template.forget()              # its environ holds the address it replaces
        return 0

    cdef int release(self) except -1:
        self.stopped = True
        self.feed_data = None
        self.cur = None
        self.template.release()
        cbuf_release(&self.hbuf, 0)
        cbuf_release(&self.backlog, 0)
        self.bpos = 0
        return self.clear()
