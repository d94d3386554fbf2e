# One request's app call and its answer (exchange.pxd): the same object is driven by the loop thread (inline) and
# by an app thread (--threads), so the list fast path, the file span, the error answer and the end of the call exist
# once. Every step returns an ExStep; an exception of the app is logged here and never reaches the caller.

cdef object PIECE_END = object()


@cython.final
cdef class App:

    @staticmethod
    cdef App new(object app, object pre_request, object post_request, object logger, bint sendfile):
        cdef App self = App.__new__(App)
        self.app = app
        self.pre_request = pre_request
        self.post_request = post_request
        self.logger = logger
        self.sendfile = sendfile
        return self


@cython.final
cdef class Exchange:

    @staticmethod
    cdef Exchange new(App app, object write_cb, object hints_cb, const bint *stopping):
        cdef Exchange self = Exchange.__new__(Exchange)
        self.app = app
        self.resp = Response.new(write_cb, hints_cb, app.logger, stopping)
        self.file_fd = -1
        return self

    cdef int begin(self, Request req, bint keep, bytes date_line, double started) except -1:
        self.req = req
        self.started = started
        self.aborted = False
        self.resp.begin(req.is_head, req.http10, keep, date_line)
        req.environ[K_EARLY_HINTS] = self.resp.early_hints_cb
        return 0

    cdef int call(self, CBuf *out) except -1:
        """pre_request and app(environ, start_response). A list of bytes is framed whole (EX_DONE), a file handed
        to sendfile(2) where it can be (EX_FILE), anything else is iterated piece by piece (EX_STREAM)."""
        cdef App app = self.app
        cdef Response resp = self.resp
        cdef Request req = self.req
        cdef Py_ssize_t total
        try:
            if app.pre_request is not None:
                app.pre_request(req.environ)
            result = app.app(req.environ, resp.start_response_cb)
        except Exception:
            return self.failed(out, "calling the app")
        self.result = result
        try:
            if type(result) is list and resp.started and not resp.head_sent:
                total = list_body_length(<list>result)
                if total >= 0:
                    resp.send_head(out, total)
                    for item in <list>result:
                        resp.body(out, item)
                    return EX_DONE
            if type(result) is FileWrapper:
                if app.sendfile and resp.started and resp.wants_body() and self.take_file(<FileWrapper>result, out):
                    return EX_FILE
                resp.clip = True            # read and sent up to its Content-Length
            self.stream = iter(result)
        except Exception:
            return self.failed(out, "reading the app's response")
        return EX_STREAM

    cdef int next_piece(self, CBuf *out) except -1:
        """The stream's next piece framed into out (PEP 3333: the caller sends it before asking for the next)."""
        if self.stream is None:
            return EX_DONE
        try:
            if self.resp.length_reached():
                piece = PIECE_END           # the file's announced part is out: the rest is not read
            else:
                piece = iter_next(self.stream, PIECE_END)
            if piece is PIECE_END:
                self.stream = None
                return EX_DONE
            self.resp.body(out, piece)
        except Exception:
            return self.failed(out, "iterating the app's response")
        return EX_STREAM

    cdef int take_file(self, FileWrapper fw, CBuf *out) except -1:
        cdef int fd
        cdef long long offset, size
        if not fw.sendfile_span(&fd, &offset, &size):
            return 0
        self.file_left = self.resp.file_span(size)
        self.resp.send_head(out, size)
        self.resp.sent = 0
        self.file_fd = fd
        self.file_offset = offset
        self.file = fw
        return 1

    cdef int file_sent(self, long long n) except -1:
        self.file_offset += n
        self.file_left -= n
        self.resp.count_sent(n)
        return 0

    cdef int failed(self, CBuf *out, str where) except -1:
        """The app raised: the traceback is logged; a 500 replaces the answer if its head is not out yet, else the
        connection must be aborted (the client has part of an answer)."""
        self.app.logger.exception("Error handling request %s (%s)", self.req.environ.get(K_RAW_URI), where)
        self.stream = None
        self.file = None
        if self.resp.head_sent:
            self.aborted = True
            self.resp.must_close = True
            return EX_ABORT
        self.resp.fail(out, 500)
        return EX_DONE

    cdef int end(self, CBuf *out) except -1:
        """The end of the call: the answer's last chunk and length check into out (NULL, or aborted: nothing more is
        framed), the iterable's close() (PEP 3333), wsgi.input's memory and file released, then post_request."""
        cdef App app = self.app
        cdef Request req = self.req
        cdef Response resp = self.resp
        result = self.result
        self.result = None
        self.stream = None
        self.file = None
        self.file_fd = -1
        try:
            if out != NULL and not self.aborted:
                resp.end(out, req.environ.get(K_RAW_URI))
        finally:
            if result is not None and type(result) is not list:
                close = getattr(result, "close", None)
                if close is not None:
                    try:
                        close()
                    except Exception:
                        app.logger.exception("Error closing the app's response")
            if type(req.input) is Input:
                (<Input>req.input).release()
            if app.post_request is not None:
                try:
                    app.post_request(req.environ, resp.status, resp.headers, resp.sent, monotonic() - self.started)
                except Exception:
                    app.logger.exception("Error in post_request")
        return 0
