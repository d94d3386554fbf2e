# One client connection: bytes read from the socket go to the Parser; step() serves each queued Request in order
# through the connection's Exchange (the app call, its answer framed into one write buffer) and sends the buffer with
# as few syscalls as possible. A body that cannot be sent at once is resumed on EPOLLOUT; the connection reads
# nothing new meanwhile (backpressure). Every change of state goes through set_state(), which knows the allowed
# transitions (docs/architecture.md) and sets the state's deadline.

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE

cdef Py_ssize_t HIGH_WATER = 256 * 1024      # unsent bytes beyond which a flush that would block compacts wbuf
cdef Py_ssize_t KEEP_WBUF = 16 * 1024         # write buffer kept between responses (larger ones are freed)
cdef Py_ssize_t DEFER_MAX = 64 * 1024          # answers up to this size may wait for the end of the wakeup
cdef double DEFER_TIME = 0.001                 # ... for this many seconds at most (slow apps)
cdef double LINGER_TIME = 2.0                 # seconds a closing connection keeps reading what the client still sends
cdef double STOP_IDLE_GRACE = 1.0             # seconds an idle keep-alive connection is kept while the loop stops
cdef long long LINGER_MAX = 64 * 1024 * 1024   # ... and how many bytes at most
cdef bytes CONTINUE_100 = b"HTTP/1.1 100 Continue\r\n\r\n"
# Pipelining without reading the answers (issue 25.1): a connection whose parser holds QUEUE_MAX requests and keeps
# bytes past them (Parser.backlogged) is not read until they are framed, as the queue drains below QUEUE_REFILL; past
# HIGH_WATER unsent answer bytes no queued request is started until the client reads. Both paths, inline and app
# threads, so one client costs a bounded amount of memory.
cdef Py_ssize_t QUEUE_REFILL = QUEUE_MAX // 2

# the states each state may move to (docs/architecture.md); a state may always stay as it is
cdef unsigned int TRANSITIONS[7]         # bit n set: ConnState n allowed next
for _state, _next in {
    CONN_NEW: (CONN_IDLE, CONN_HEAD, CONN_LINGER, CONN_CLOSED),
    CONN_IDLE: (CONN_HEAD, CONN_LINGER, CONN_CLOSED),
    CONN_HEAD: (CONN_BODY, CONN_APP, CONN_LINGER, CONN_CLOSED),
    CONN_BODY: (CONN_APP, CONN_LINGER, CONN_CLOSED),
    CONN_APP: (CONN_IDLE, CONN_HEAD, CONN_BODY, CONN_LINGER, CONN_CLOSED),
    CONN_LINGER: (CONN_CLOSED,),
    CONN_CLOSED: (),
}.items():
    TRANSITIONS[<int>_state] = sum([1 << <int>_s for _s in _next])
cdef tuple STATE_NAMES = ("NEW", "IDLE", "HEAD", "APP", "BODY", "LINGER", "CLOSED")

cdef long long live_connections = 0


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
    cdef Connection new(Loop loop, int fd, Parser parser):
        cdef Connection self = Connection.__new__(Connection)
        self.loop = loop
        self.fd = fd
        self.parser = parser
        self.ex = Exchange.new(loop.site, self.write, self.hint, &loop.stopping)
        self.interest = EPOLLIN
        self.state = CONN_NEW
        self.since = loop.now
        self.rearm()                        # the head's time counts from accept
        return self

    cdef inline int set_state(self, ConnState state) except -1:
        if state == self.state:
            return 0
        if not (TRANSITIONS[<int>self.state] & (1u << <int>state)):
            raise AssertionError(f"connection state {STATE_NAMES[<int>self.state]} -> {STATE_NAMES[<int>state]}")
        self.state = state
        return self.rearm()

    cdef inline int rearm(self) except -1:
        cdef double timeout = self.loop.timeouts[<int>self.state]
        if timeout <= 0:
            self.deadline = 0
        elif self.state == CONN_NEW or self.state == CONN_HEAD:
            self.deadline = self.since + timeout        # a head's time counts from accept or the last answer
        else:
            self.deadline = self.loop.now + timeout
        return 0

    cdef int on_event(self, unsigned int events) except -1:
        if self.interest == EPOLLOUT:
            return self.on_writable()
        return self.on_readable()

    # -- reading --

    cdef int on_readable(self) except -1:
        cdef ssize_t n = recv(self.fd, self.loop.rbuf, self.loop.rbuf_size, 0)
        return self.on_read(self.loop.rbuf, n, errno if n < 0 else 0)

    cdef int on_read(self, const char *data, ssize_t n, int err) except -1:
        """n bytes at data, 0 (the client half-closed) or -1 (err: the errno), read here or in the loop's batch."""
        if n > 0:
            if self.state == CONN_LINGER:
                self.linger_bytes += n          # read and dropped: the answer is out, the client still sends
                if self.linger_bytes > LINGER_MAX:
                    return self.close()
                return 0
            if self.parser.stopped and self.h2 is None:
                if self.active is not None or self.parser.queued():
                    return 0                # answers are still to go out: what follows is dropped, then we close
                return self.close()
            if self.proxy is not None:
                return self.read_proxy(data, n)
            if self.tls is not None:
                return self.read_tls(data, n)
            if self.received(data, n):
                return 0
            return self.step()
        if n == 0 and (self.active is not None or self.deferred):
            # the client half-closed after its requests: answer them (an answer held for the end of this wakeup
            # too: a Job's, taken earlier in the wakeup), then close (read events stop meanwhile)
            self.eof = True
            return self.set_interest(0)
        if n == 0 or (err != EAGAIN and err != EINTR):
            return self.close()
        return 0

    cdef int read_proxy(self, const char *data, Py_ssize_t n) except -1:
        """Bytes while the PROXY header is expected: the header parsed, the peer checked, the rest served as usual;
        a bad header closes the connection, a peer not in proxy_allow_ips gets 403."""
        cdef ProxyHeader ph = self.proxy
        cdef Parser parser = self.parser
        cdef Py_ssize_t used = ph.feed(data, n)
        if used == -1:
            return 0                # the header is not all in: NEW keeps its header deadline
        self.proxy = None
        if used == -2:
            self.loop.logger.warning("PROXY protocol: %s from %s; closing the connection", ph.error,
                                     parser.remote_addr or "a UNIX socket peer")
            return self.close()
        if not ph.allowed:
            self.loop.logger.warning("PROXY protocol: a header from %s, which is not in proxy_allow_ips; "
                                     "answering 403", parser.remote_addr)
            parser.fail(403, "PROXY header from a peer not in proxy_allow_ips")
            parser.stopped = True
            return self.step()
        if ph.addr is not None:
            parser.set_peer(ph.addr, ph.port)
        if used == n:
            return 0                # the request follows (or the TLS handshake)
        if self.tls is not None:
            return self.read_tls(data + used, n - used)
        if self.received(data + used, n - used):
            return 0
        return self.step()

    cdef int read_tls(self, const char *data, Py_ssize_t n) except -1:
        """Ciphertext: opened by the session, its plaintext received() as over TCP. A client speaking plain HTTP
        gets a plain 400 (as nginx answers), one whose handshake or record fails gets OpenSSL's alert and is
        closed."""
        cdef TlsSession tls = self.tls
        cdef Parser parser = self.parser
        cdef unsigned char first = <unsigned char>data[0]
        cdef bint opened = False
        if not tls.started and first != 0x16 and 65 <= first <= 90:
            self.tls = None             # not a TLS handshake record but (very likely) an HTTP method
            self.loop.logger.debug("plain HTTP from %s on a TLS port; answering 400",
                                   parser.remote_addr or "a UNIX socket peer")
            parser.fail(400, "plain HTTP request sent to a TLS port")
            parser.stopped = True
            return self.step()
        if tls.feed(data, n) == 0:
            if tls.alpn_h2 and self.h2 is None:
                self.h2 = H2Session.new(self)       # the client chose h2 in the handshake
            while not parser.stopped or self.h2 is not None:
                plain = tls.read()
                if plain is None or self.state == CONN_CLOSED or self.state == CONN_LINGER:
                    break
                opened = True
                self.received(PyBytes_AS_STRING(plain), PyBytes_GET_SIZE(plain))
        if tls.error is not None:
            self.loop.logger.debug("TLS from %s: %s; closing the connection",
                                   parser.remote_addr or "a UNIX socket peer", tls.error)
            tls.alert(self.fd)
            return self.close()
        if tls.peer_done:
            self.eof = True             # the client sent close_notify: answer what it sent, then close
        if self.h2 is not None:
            return self.h2.after_tls(opened)
        if opened or tls.peer_done:
            return self.step()
        self.flush()                    # nothing for the parser (the handshake, a partial record): send TLS's answer
        if self.state == CONN_CLOSED:
            return self.close()
        return 0

    cdef int received(self, const char *data, Py_ssize_t n) except -1:
        cdef Parser parser = self.parser
        if self.h2 is not None or (self.state == CONN_NEW and self.loop.h2c and h2_begins(self, data, n)):
            return self.h2.feed(data, n) + 1    # HTTP/2: its session steps (h2c: at the first bytes only)
        parser.feed(data, n)
        if parser.backlogged() and self.interest == EPOLLIN:
            self.set_interest(0)                # enough requests wait: read again once the rest is framed (step)
        if parser.upgraded:
            if self.loop.h2_upgrade and h2_upgrade(self):
                return 1                        # Upgrade: h2c: 101, then HTTP/2 (the request is its stream 1)
            self.closing = True                 # served as plain HTTP, then closed
        if self.state == CONN_BODY:
            self.rearm()                        # body_timeout between two reads, as nginx counts it
        elif (self.state == CONN_IDLE or self.state == CONN_NEW) and (parser.cur is not None or parser.queued()):
            self.set_state(CONN_HEAD)           # a request began: header_timeout from accept or the last answer
        return 0

    # -- serving --

    cdef int step(self) except -1:
        cdef Parser parser = self.parser
        cdef Request req
        while self.state != CONN_CLOSED:
            if self.active is not None:
                if self.in_thread:
                    return 0                   # its Job hands the answer over (from_job)
                if self.drive() == 0:
                    return 0                   # blocked on the socket: EPOLLOUT resumes us
                continue
            if not parser.queued():
                break
            req = parser.first()
            if req.handled:
                parser.pop()
                if self.closing:
                    parser.clear()
                    break
                if parser.backlogged() and parser.pending() <= QUEUE_REFILL:
                    parser.refill()             # (paused by received())
                    if parser.upgraded:
                        self.closing = True
                    if not parser.backlogged() and self.interest == 0 and not self.eof:
                        self.set_interest(EPOLLIN)
                continue
            if not req.complete:
                if parser.stopped:
                    # its body will never be whole (malformed, too large): the app is not called; the error is
                    # answered (without a body to a HEAD request)
                    parser.clear()
                    if parser.error_status and not self.closing:
                        self.append(error_response(parser.error_status, self.loop.date_line, req.is_head))
                        self.closing = True
                    break
                # the body is arriving: the loop reads it, the app runs once it is all here
                if req.expect_continue:
                    req.expect_continue = False
                    if not req.http10:
                        self.append(CONTINUE_100)   # RFC 9110 10.1.1: we are about to read the body
                self.set_state(CONN_BODY)
                break
            if self.wbuf.len - self.wpos > HIGH_WATER and self.flush() == 0:
                break                           # answers enough unsent: the next waits for the client to read
            self.serve(req)
        if self.state == CONN_CLOSED:
            return self.close()
        if parser.error_status and not self.closing and not parser.queued() and self.active is None:
            self.append(error_response(parser.error_status, self.loop.date_line, False))
            self.closing = True
        if not self.closing and self.active is None and self.defer():
            return 0
        return self.finish_step()

    cdef bint defer(self) except -1:
        """During a wakeup's events: hold back a small pending answer; the loop sends it with the others' when the
        events are handled, then calls resume(). False: send it now."""
        if not self.loop.batching or not (0 < self.wbuf.len - self.wpos <= DEFER_MAX):
            return False
        if not self.deferred:
            self.deferred = True
            self.loop.hold(self)
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
        cdef Parser parser = self.parser
        cdef Loop loop = self.loop
        cdef int r = self.flush()
        if self.state == CONN_CLOSED:
            return self.close()
        if r == 0:
            return 0
        if (self.closing or self.eof or parser.stopped) and not parser.queued() and self.active is None:
            if parser.error_status or parser.cur is not None or loop.stopping:
                return self.linger()        # the client may still be sending: let it read the answer
            return self.close()
        if parser.queued():
            return 0                        # a body is arriving (CONN_BODY)
        self.since = loop.now
        if parser.cur is not None:
            self.set_state(CONN_HEAD)
        else:
            self.set_state(CONN_IDLE)       # (while the loop stops, its keep-alive is short: Loop.stop)
            loop.became_idle()              # an idle connection can make room at worker_connections
        return 0

    cdef int serve(self, Request req) except -1:
        cdef Loop loop = self.loop
        cdef Exchange ex = self.ex
        cdef int step
        req.handled = True
        self.active = req
        self.set_state(CONN_APP)
        if not req.keep_alive or loop.stopping or loop.keepalive <= 0:
            self.closing = True
        if loop.pool is not None:
            # the call on a pool thread: no timeout of ours while the app runs (--timeout is the master's)
            ex.begin(req, not self.closing, loop.date_line, monotonic())
            if self.job is None:
                self.job = Job.new(self, ex, loop.pool, &self.wbuf, &self.wpos)
            self.job.finished = self.job.abort = self.job.gone = False
            self.in_thread = True
            return loop.pool.submit(self.job)
        # the start of the call: exact for post_request's timing, else the wakeup's clock (no syscall)
        ex.begin(req, not self.closing, loop.date_line, monotonic() if loop.post_request is not None else loop.now)
        loop.stats.started += 1
        step = ex.call(&self.wbuf)
        if step == EX_DONE or step == EX_ABORT:
            return self.end_exchange(step)
        return 0                            # EX_STREAM, EX_FILE: drive() sends it

    cdef int on_job(self, Job job) except -1:
        """Loop thread: take what the Job produced; once it is finished, the request is done and the next goes on."""
        cdef Loop loop = self.loop
        cdef Exchange ex = self.ex
        if job.obuf.len:
            if self.fd >= 0:
                cbuf_add(&self.wbuf, job.obuf.data, job.obuf.len)
            job.obuf.len = 0
        if not job.finished:
            if self.fd < 0:
                ex.file = None              # closed while the app ran: no wait of the Job may outlive the socket
                return job.wake()
            if ex.file is not None:         # the head is in wbuf; the file goes with sendfile, the thread waits
                return self.on_writable()
            if self.flush() == 1:
                self.read_again()
            if self.state == CONN_CLOSED:
                return self.close()
            return self.wake_job()
        # the app call is over: the request is done
        self.in_thread = False
        self.active = None
        if ex.resp.closes():
            self.closing = True
        loop.request_done(ex.resp, ex.started)
        if self.fd < 0:
            self.job = None                 # closed while the app ran: break conn <-> job, resp -> conn
            ex.resp.start_response_cb = ex.resp.early_hints_cb = None
            ex.resp.write_cb = ex.resp.hints_cb = None
            return 0
        if job.abort:
            self.flush()                    # what the app produced before it failed, as far as it goes now
            return self.close()
        return self.step()

    cdef int wake_job(self) except -1:
        if self.job is not None and self.job.waiting and self.wbuf.len - self.wpos <= self.job.wait_below:
            self.job.wake()
        return 0

    cdef int drive(self) except -1:
        """Move the active answer on: the file span with sendfile(2), or the app's iterator. 1: done, 0: blocked."""
        cdef Exchange ex = self.ex
        cdef int step = EX_DONE
        if ex.file is not None:
            if self.send_file() == 0:
                return 0
            self.end_exchange(EX_DONE)
            return 1
        while True:
            # PEP 3333: a yielded block goes out before the app is asked for the next one (a deferred block goes
            # out at the end of this wakeup; resume() then asks for the next)
            if self.wbuf.len > self.wpos:
                if self.defer():
                    return 0
                if self.flush() != 1:
                    if self.state != CONN_CLOSED:
                        return 0
                    step = EX_DONE          # the peer is gone: the call ends here
                    break
            step = ex.next_piece(&self.wbuf)
            if step != EX_STREAM:
                break
        self.end_exchange(step)
        return 1

    cdef int end_exchange(self, int step) except -1:
        """The answer is framed (EX_DONE) or must be aborted (EX_ABORT: what is framed goes as far as it can, then
        the connection closes): the Exchange's end, the request done."""
        cdef Exchange ex = self.ex
        self.active = None
        try:
            ex.end(NULL if self.state == CONN_CLOSED else &self.wbuf)
        finally:
            if ex.resp.closes() or step == EX_ABORT:
                self.closing = True
            self.loop.request_done(ex.resp, ex.started)
        if step == EX_ABORT and self.state != CONN_CLOSED:
            self.flush()
            self.set_state(CONN_CLOSED)     # the client has part of the answer: step() closes the connection
        return 0

    cdef int append(self, object data) except -1:
        cdef Py_ssize_t n = PyBytes_GET_SIZE(data)
        cbuf_add(&self.wbuf, PyBytes_AS_STRING(data), n)
        return 0

    def write(self, data):
        """PEP 3333 write(), returned by start_response: push a body piece out now (blocking while the client is
        slow)."""
        if self.in_thread:
            self.job.write(data)            # from the app thread: the loop sends it
            return
        if not self.ex.resp.ready():
            raise AssertionError("write() before start_response()")
        if self.state == CONN_CLOSED:
            raise IOError("client disconnected")
        self.ex.resp.body(&self.wbuf, data)
        self.flush_blocking(self.loop.send_timeout)

    def hint(self, bytes data):
        """A 103 Early Hints answer (Response.early_hints) goes out now, ahead of the answer being made: on an app
        thread through the Job, inline with one send (what the socket does not take goes with the answer)."""
        if self.in_thread:
            self.job.hint(data)
            return
        if self.state == CONN_CLOSED:
            return
        self.append(data)
        self.flush()

    # -- writing --

    cdef int on_writable(self) except -1:
        if self.h2 is not None:
            return self.h2.writable()
        if self.in_thread and self.ex.file is not None:
            if self.send_file() == 0:
                return 0
            if self.state == CONN_CLOSED:
                return self.close()
            self.read_again()
            return self.job.wake()          # the file is out: the thread closes it and ends the request
        if self.flush() != 1:
            self.wake_job()
            return 0
        self.read_again()
        self.wake_job()
        return self.step()

    cdef int flush(self) except -1:
        cdef ssize_t n
        if self.tls is not None and self.tls.seal(&self.wbuf):
            self.set_state(CONN_CLOSED)     # the TLS session failed: the caller closes
            self.closing = True
            return 0
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
                    if self.tls is not None:
                        self.tls.sealed -= self.wpos
                    self.wpos = 0
                return self.blocked()
            self.set_state(CONN_CLOSED)     # peer gone: the caller closes
            self.closing = True
            self.sent_all()
            return 0
        self.sent_all()
        return 1

    cdef int blocked(self) except -1:
        """The client reads slower than we send: wait for EPOLLOUT, for send_timeout at most. Returns 0."""
        self.deadline = self.loop.now + self.loop.send_timeout
        self.set_interest(EPOLLOUT)
        return 0

    cdef inline void sent_all(self) noexcept:
        cbuf_release(&self.wbuf, KEEP_WBUF)
        self.wpos = 0
        if self.tls is not None:
            self.tls.sealed = 0

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
                self.closing = True
                self.set_state(CONN_CLOSED)
                raise TimeoutError("timed out sending the response")
            if r < 0 and errno == EINTR:
                PyErr_CheckSignals()
        self.read_again()
        return 0

    cdef int send_file(self) except -1:
        """The head first, then the Exchange's file span with sendfile(2); 1: done (or the peer is gone), 0:
        blocked."""
        cdef Exchange ex = self.ex
        cdef ssize_t n
        cdef off_t off
        if self.flush() != 1:
            if self.state != CONN_CLOSED:
                return 0
            ex.file_left = 0
        while ex.file_left > 0:
            off = ex.file_offset
            n = sendfile(self.fd, ex.file_fd, &off, min(ex.file_left, 1 << 30))
            if n > 0:
                ex.file_sent(n)
            elif n == 0:
                self.closing = True            # file shorter than announced
                break
            elif errno == EAGAIN:
                return self.blocked()
            elif errno != EINTR:
                self.set_state(CONN_CLOSED)
                break
        ex.file = None
        return 1

    cdef int read_again(self) except -1:
        return self.set_interest(0 if self.parser.backlogged() else EPOLLIN)

    cdef int set_interest(self, unsigned int events) except -1:
        cdef epoll_event ev
        if self.interest != events and self.fd >= 0:
            ev.events = events
            ev.data.ptr = <void *>self
            epoll_ctl(self.loop.epfd, EPOLL_CTL_MOD, self.fd, &ev)
            self.interest = events
        return 0

    # -- ending --

    cdef int linger(self) except -1:
        """Close a connection whose client may still be sending (an error answer, an unread body) as nginx's
        lingering_close does: stop writing, read and drop for a while, then close. Closing at once with unread
        bytes would reset the connection and could destroy the answer before the client reads it."""
        if self.tls is not None:
            self.tls.goodbye(self.fd)
        shutdown(self.fd, SHUT_WR)
        self.set_state(CONN_LINGER)         # LINGER_TIME (Loop.timeouts)
        self.parser.release()
        return self.set_interest(EPOLLIN)

    cdef int expire(self) except -1:
        if self.h2 is not None and self.state != CONN_LINGER:
            return self.h2.expire()
        if self.state == CONN_BODY and self.active is None and self.wpos == self.wbuf.len:
            # a stalled body: the app was never called; answer 408 as nginx does for client_body_timeout
            self.parser.clear()
            self.parser.stop(408, "timed out reading the request body")
            self.append(error_response(408, self.loop.date_line, False))
            self.closing = True
            return self.finish_step()
        return self.close()

    cdef bint sheddable(self):
        return (self.state == CONN_NEW or self.state == CONN_HEAD or self.state == CONN_IDLE) and not self.deferred

    cdef int close(self) except -1:
        cdef int fd = self.fd
        if fd < 0:
            return 0
        self.set_state(CONN_CLOSED)
        self.fd = -1
        if self.in_thread:
            self.job.gone = True            # the app thread stops producing; on_job ends the request
            self.job.wake()
        elif self.active is not None:
            self.end_exchange(EX_DONE)
        if self.h2 is not None:
            self.h2.release()
        self.loop.forget(self, fd)
        if self.tls is not None and self.wpos == self.wbuf.len:
            self.tls.goodbye(fd)            # everything went out: end the session properly
        close(fd)
        # break the cycles parser <-> httptools parser, resp -> bound methods -> resp / conn, conn <-> job
        self.parser.release()
        if not self.in_thread:
            self.job = None
            self.ex.resp.start_response_cb = self.ex.resp.early_hints_cb = None
            self.ex.resp.write_cb = self.ex.resp.hints_cb = None
        return 0
