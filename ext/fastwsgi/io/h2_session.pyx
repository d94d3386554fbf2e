# The HTTP/2 session and its streams (h2.pxd): whole requests served by Exchanges, answers handed to nghttp2, its
# frames into the connection's write buffer, the connection's state from its streams', graceful GOAWAY.

cdef nghttp2_nv *nv_array(list fields) except NULL:
    """The (name, value) bytes pairs as nghttp2 takes them (pointing into the bytes: keep `fields` alive); the
    caller frees the array."""
    cdef Py_ssize_t i, n = len(fields)
    cdef nghttp2_nv *nva = <nghttp2_nv *>malloc(max(n, 1) * sizeof(nghttp2_nv))
    if nva == NULL:
        raise MemoryError()
    for i in range(n):
        name, value = fields[i]
        nva[i].name = <uint8_t *>PyBytes_AS_STRING(name)
        nva[i].namelen = PyBytes_GET_SIZE(name)
        nva[i].value = <uint8_t *>PyBytes_AS_STRING(value)
        nva[i].valuelen = PyBytes_GET_SIZE(value)
        nva[i].flags = NGHTTP2_NV_FLAG_NONE
    return nva


cdef int unlink(H2Stream s) except -1:
    """A closed stream whose app call is over: break stream -> Exchange -> Response -> bound methods -> stream and
    stream <-> Job, so that its buffers go at once rather than at the next full collection."""
    if not s.in_thread:
        if s.ex is not None:
            s.ex.resp.write_cb = s.ex.resp.hints_cb = None
            s.ex.resp.start_response_cb = s.ex.resp.early_hints_cb = None
        s.job = None
    return 0


@cython.final
cdef class H2Stream(Watcher):

    def __dealloc__(self):
        cbuf_release(&self.out, 0)

    cdef int deliver(self, const char *data, Py_ssize_t n) except -1:
        cdef Input inp
        cdef Parser parser = self.session.conn.parser
        if self.status or not self.req.has_body:
            return 0
        inp = <Input>self.req.input
        self.status = inp.feed(PyBytes_FromStringAndSize(data, n))
        if not self.status and 0 < parser.limits.request_body < inp.received:
            self.status = 413
        if self.status:
            self.complete = True                # answered now; what follows is dropped
            self.session.ready.append(self)
        return 0

    def write(self, data):
        """PEP 3333 write(): the piece joins the stream's buffer (an app thread hands it to the loop and waits)."""
        if self.in_thread:
            self.job.write(data)
            return
        if self.closed:
            raise IOError("client disconnected")
        self.ex.resp.body(&self.out, data)

    def hint(self, list fields):
        """A 103 Early Hints answer (Response.early_hints): a non-final HEADERS frame ahead of the answer, sent now
        (from an app thread: through the Job, submitted by on_job on the loop thread)."""
        cdef nghttp2_nv *nva
        cdef Py_ssize_t n = len(fields)
        cdef H2Session session = self.session
        if self.in_thread and self.job is not None and not self.job.finished:
            self.job.hint(fields)
            return
        if self.closed or self.submitted:
            return
        nva = nv_array(fields)
        try:
            nghttp2_submit_headers(session.ng, NGHTTP2_FLAG_NONE, self.id, NULL, nva, n, NULL)
        finally:
            free(nva)
        if session.send():
            session.conn.flush()

    cdef int on_job(self, Job job) except -1:
        """Loop thread: what the stream's Job framed joins its buffer; once the Job is finished, the answer ends."""
        cdef H2Session session = self.session
        if job.hints is not None:
            hints, job.hints = job.hints, None
            in_thread, self.in_thread = self.in_thread, False
            try:
                for fields in hints:
                    self.hint(fields)       # (before the answer's HEADERS: submit() below)
            finally:
                self.in_thread = in_thread
        if job.obuf.len:
            if not self.closed:
                cbuf_add(&self.out, job.obuf.data, job.obuf.len)
            job.obuf.len = 0
        if job.finished:
            self.in_thread = False
            session.finished(self, EX_ABORT if job.abort else EX_DONE, False)   # (the Job ended the Exchange)
        else:
            if self.closed:
                return job.wake()
            session.submit(self)
            if job.waiting and self.out.len - self.pos <= job.wait_below:
                job.wake()
        return session.pump()


@cython.final
cdef class H2Session:

    def __dealloc__(self):
        if self.ng != NULL:
            nghttp2_session_del(self.ng)
            self.ng = NULL

    @staticmethod
    cdef H2Session new(Connection conn):
        cdef H2Session self = H2Session.__new__(H2Session)
        cdef Loop loop = conn.loop
        cdef nghttp2_settings_entry iv[4]
        cdef int rv
        h2_setup()
        self.conn = conn
        self.streams = {}
        self.ready = []
        self.site = App.new(loop.app, loop.pre_request, loop.post_request, loop.logger, False)
        if nghttp2_session_server_new2(&self.ng, H2_CALLBACKS, <void *>self, H2_OPTIONS) != 0:
            raise MemoryError()
        iv[0].settings_id = NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS
        iv[0].value = loop.h2cfg.max_concurrent_streams
        iv[1].settings_id = NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE
        iv[1].value = loop.h2cfg.initial_window_size
        iv[2].settings_id = NGHTTP2_SETTINGS_MAX_FRAME_SIZE
        iv[2].value = loop.h2cfg.max_frame_size
        iv[3].settings_id = NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE
        iv[3].value = loop.h2cfg.max_header_list_size
        rv = nghttp2_submit_settings(self.ng, NGHTTP2_FLAG_NONE, iv, 4)
        if rv != 0:
            raise ValueError(f"HTTP/2 settings: {nghttp2_strerror(rv).decode()}")
        return self

    cdef int feed(self, const char *data, Py_ssize_t n) except -1:
        cdef Connection conn = self.conn
        cdef ssize_t rv
        if self.ng == NULL:
            return 0
        rv = nghttp2_session_mem_recv(self.ng, <const uint8_t *>data, n)
        if self.error is not None:
            return self.fatal(NGHTTP2_INTERNAL_ERROR)
        if rv < 0:
            conn.loop.logger.debug("HTTP/2 from %s: %s; closing the connection",
                                   conn.parser.remote_addr or "a UNIX socket peer", nghttp2_strerror(rv).decode())
            return self.fatal(NGHTTP2_PROTOCOL_ERROR)
        if conn.state == CONN_BODY:
            conn.rearm()                        # a body's next read: body_timeout again
        if self.upgraded is not None:
            if not self.upgraded.closed:
                self.ready.append(self.upgraded)
            self.upgraded = None
        return self.pump()

    cdef int pump(self) except -1:
        cdef Connection conn = self.conn
        cdef H2Stream s
        cdef bint more = True
        if self.pumping or self.ng == NULL:
            return 0
        self.pumping = True
        try:
            while more and conn.fd >= 0 and conn.state != CONN_CLOSED and conn.state != CONN_LINGER:
                more = False
                while self.ready:
                    s = self.ready.pop(0)
                    if not s.closed:
                        self.serve(s)
                for s in list(self.streams.values()):
                    if s.streaming and s.out.len - s.pos < H2_STREAM_BUFFER:
                        self.drive(s)
                    elif s.in_thread and s.job.waiting and s.out.len - s.pos <= s.job.wait_below:
                        s.job.wake()
                    if s.deferred and (s.out.len > s.pos or s.ended):
                        s.deferred = False
                        nghttp2_session_resume_data(self.ng, s.id)
                if self.send():
                    more = conn.wbuf.len - conn.wpos < H2_SEND_MAX or conn.flush() == 1
                if self.error is not None:
                    return self.fatal(NGHTTP2_INTERNAL_ERROR)
        finally:
            self.pumping = False
        if conn.state == CONN_CLOSED:
            return conn.close()
        if conn.fd < 0 or conn.state == CONN_LINGER:
            return 0
        if conn.flush() != 1:
            if conn.state == CONN_CLOSED:
                return conn.close()
            return 0                            # EPOLLOUT: writable() goes on
        if not nghttp2_session_want_read(self.ng) and not nghttp2_session_want_write(self.ng):
            return conn.linger()                # GOAWAY sent (ours or the client's) and every stream done
        if self.goaway and not self.streams:
            return conn.linger()
        return self.settle()

    cdef int serve(self, H2Stream s) except -1:
        cdef Loop loop = self.conn.loop
        cdef Exchange ex
        cdef int step
        s.started = True
        if s.status:
            return self.answer_error(s)
        ex = s.ex = Exchange.new(self.site, s.write, s.hint, &loop.stopping)
        ex.resp.h2 = True
        self.answering += 1
        if loop.pool is not None:
            ex.begin(s.req, True, loop.date_line, monotonic())
            s.job = Job.new(s, ex, loop.pool, &s.out, &s.pos)
            s.in_thread = True
            return loop.pool.submit(s.job)
        ex.begin(s.req, True, loop.date_line, monotonic() if loop.post_request is not None else loop.now)
        loop.stats.started += 1
        step = ex.call(&s.out)
        if step == EX_STREAM:
            s.streaming = True
            return self.drive(s)
        return self.finished(s, step, True)

    cdef int drive(self, H2Stream s) except -1:
        cdef int step = EX_STREAM
        while s.out.len - s.pos < H2_STREAM_BUFFER:
            step = s.ex.next_piece(&s.out)
            if step != EX_STREAM:
                s.streaming = False
                return self.finished(s, step, True)
        return self.submit(s)

    cdef int finished(self, H2Stream s, int step, bint end) except -1:
        cdef Exchange ex = s.ex
        if s.counted:
            return 0
        s.counted = True
        s.streaming = False
        if ex is not None:
            self.answering -= 1
            try:
                if end:
                    ex.end(NULL if (s.closed or step == EX_ABORT) else &s.out)
            finally:
                self.conn.loop.request_done(ex.resp, ex.started)
        if s.closed:
            return unlink(s)
        if step == EX_ABORT:
            # the app failed after its head was framed: the client has part of an answer, the stream is reset
            nghttp2_submit_rst_stream(self.ng, NGHTTP2_FLAG_NONE, s.id, NGHTTP2_INTERNAL_ERROR)
            return 0
        s.ended = True
        return self.submit(s)

    cdef int submit(self, H2Stream s) except -1:
        cdef Response resp
        cdef list fields
        cdef nghttp2_nv *nva
        cdef nghttp2_data_provider prd
        cdef Py_ssize_t n
        cdef int rv
        if s.submitted or s.closed or s.ex is None or not s.ex.resp.committed():
            return 0
        resp = s.ex.resp
        fields = resp.h2_fields
        n = len(fields)
        nva = nv_array(fields)
        try:
            prd.source.ptr = <void *>s
            prd.read_callback = read_body
            rv = nghttp2_submit_response(self.ng, s.id, nva, n, NULL if resp.framing == FRAME_NONE else &prd)
        finally:
            free(nva)
        s.submitted = True
        if rv != 0:
            nghttp2_submit_rst_stream(self.ng, NGHTTP2_FLAG_NONE, s.id, NGHTTP2_INTERNAL_ERROR)
        return 0

    cdef int answer_error(self, H2Stream s) except -1:
        cdef Loop loop = self.conn.loop
        s.ex = Exchange.new(self.site, None, None, &loop.stopping)
        s.ex.resp.h2 = True
        s.ex.resp.begin(s.req.is_head, False, True, loop.date_line)
        s.ex.resp.fail(&s.out, s.status)
        s.ended = True
        s.counted = True
        return self.submit(s)      # (the rest of a refused body is read and dropped)

    cdef int send(self) except -1:
        cdef Connection conn = self.conn
        cdef const uint8_t *data
        cdef ssize_t n
        cdef int sent = 0
        while conn.wbuf.len - conn.wpos < H2_SEND_MAX:
            n = nghttp2_session_mem_send(self.ng, &data)
            if n < 0:
                self.fatal(NGHTTP2_INTERNAL_ERROR)
                return 0
            if n == 0:
                break
            cbuf_add(&conn.wbuf, <const char *>data, n)
            sent = 1
        return sent

    cdef int writable(self) except -1:
        cdef Connection conn = self.conn
        if conn.flush() != 1:
            if conn.state == CONN_CLOSED:
                return conn.close()
            return 0
        conn.set_interest(EPOLLIN)
        return self.pump()

    cdef int after_tls(self, bint opened) except -1:
        cdef Connection conn = self.conn
        if conn.fd < 0:
            return 0
        if conn.tls.peer_done:
            return conn.close()                 # close_notify: the client is gone
        if not opened and conn.state != CONN_LINGER:
            conn.flush()                        # the handshake's answer
            if conn.state == CONN_CLOSED:
                return conn.close()
        return 0

    cdef int settle(self) except -1:
        """IDLE (keepalive) without streams; APP while an answer is produced; BODY (body_timeout between reads)
        while streams are only arriving."""
        cdef Connection conn = self.conn
        cdef ConnState want
        if not self.streams:
            want = CONN_IDLE
        elif self.answering or any([(<H2Stream>s).started for s in self.streams.values()]):
            want = CONN_APP
        else:
            want = CONN_BODY
        if want != conn.state:
            if want == CONN_IDLE:
                if conn.state == CONN_HEAD or conn.state == CONN_BODY:
                    conn.set_state(CONN_APP)
                conn.since = conn.loop.now
                conn.set_state(CONN_IDLE)
                conn.loop.became_idle()
            else:
                if conn.state == CONN_NEW or conn.state == CONN_IDLE:
                    conn.since = conn.loop.now
                    conn.set_state(CONN_HEAD)
                conn.set_state(want)
        elif want != CONN_APP and conn.wpos == conn.wbuf.len and conn.interest == EPOLLIN:
            conn.rearm()                        # (a send deadline of blocked() ends with the flush)
        if want == CONN_APP and conn.wpos == conn.wbuf.len:
            self.window_wait()
        return 0

    cdef int window_wait(self) except -1:
        """All sent, yet answers wait in stream buffers: the client's flow-control windows are shut. The send
        deadline runs while nghttp2 takes nothing; any progress starts it again."""
        cdef Connection conn = self.conn
        cdef bint waiting = False
        for s in self.streams.values():
            if (<H2Stream>s).submitted and (<H2Stream>s).out.len > (<H2Stream>s).pos:
                waiting = True
                break
        if not waiting:
            conn.deadline = 0
        elif self.progress or conn.deadline == 0:
            conn.deadline = conn.loop.now + conn.loop.send_timeout
        self.progress = False
        return 0

    cdef int shutdown(self) except -1:
        if self.ng == NULL:
            return 0
        if not self.notice:
            self.notice = True
            nghttp2_submit_shutdown_notice(self.ng)
        elif not self.goaway:
            self.goaway = True
            nghttp2_submit_goaway(self.ng, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(self.ng),
                                  NGHTTP2_NO_ERROR, NULL, 0)
        return self.pump()

    cdef int expire(self) except -1:
        if self.ng != NULL and not self.goaway:
            self.goaway = True
            nghttp2_submit_goaway(self.ng, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(self.ng),
                                  NGHTTP2_NO_ERROR, NULL, 0)
            self.send()
            self.conn.flush()
        return self.conn.close()

    cdef int fatal(self, int code) except -1:
        cdef Connection conn = self.conn
        cdef const uint8_t *data
        cdef ssize_t n
        if self.error is not None:
            conn.loop.logger.error("internal error in an HTTP/2 callback: %r", self.error)
            self.error = None
        if self.ng != NULL and conn.fd >= 0:
            nghttp2_submit_goaway(self.ng, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(self.ng),
                                  code, NULL, 0)
            while conn.wbuf.len - conn.wpos < H2_SEND_MAX:
                n = nghttp2_session_mem_send(self.ng, &data)
                if n <= 0:
                    break
                cbuf_add(&conn.wbuf, <const char *>data, n)
            conn.flush()
        self.goaway = True
        if conn.fd >= 0 and conn.state != CONN_CLOSED:
            return conn.linger()
        return conn.close()

    cdef double busy_since(self, double oldest):
        cdef H2Stream s
        for s in self.streams.values():
            if s.in_thread and (oldest == 0 or s.ex.started < oldest):
                oldest = s.ex.started
        return oldest

    cdef int release(self) except -1:
        cdef H2Stream s
        for s in list(self.streams.values()):
            s.closed = True
            if s.in_thread:
                s.job.gone = True
                s.job.wake()
            elif s.started and not s.counted:
                self.finished(s, EX_ABORT, True)
        self.streams.clear()
        del self.ready[:]
        self.upgraded = None
        self.conn.h2 = None                     # (conn <-> session: the session keeps its conn while it unwinds)
        if self.ng != NULL:
            nghttp2_session_del(self.ng)
            self.ng = NULL
        return 0
