# One request's app call and its answer, whoever drives it: the loop thread inline, or an app thread (--threads).
# The Exchange frames into the buffer it is handed and never touches a socket; the sender asks what to do next from
# the value each step returns.

cdef enum ExStep:
    EX_DONE = 0             # the whole answer is framed (a list, an error answer...): end() next
    EX_STREAM = 1           # more to come: next_piece() frames one piece at a time
    # EX_FILE: the head is framed; the file span (file, file_fd, file_offset, file_left) goes out with sendfile(2),
    # counted with file_sent(); then end(). EX_ABORT: the app failed after its head went out: what is framed may
    # go, then the connection is aborted (end() frames nothing more)
    EX_FILE = 2
    EX_ABORT = 3


cdef class App:
    # the WSGI callable and what goes with every call of it (made once per Loop)
    cdef:
        object app
        object pre_request          # (environ) or None
        object post_request         # (environ, status, headers, body bytes, seconds) or None
        object logger               # tracebacks of the app, its iteration and its close()
        bint sendfile               # wsgi.file_wrapper files may go out with sendfile(2)

    @staticmethod
    cdef App new(object app, object pre_request, object post_request, object logger, bint sendfile)


cdef class Exchange:
    # the request being served on one connection (made once per connection, begun per request): its environ (in
    # req), its Response, the app's iterable and iterator, the file span, the timing, and the end of the call
    cdef:
        App app
        Request req
        Response resp
        object result               # the app's iterable
        object stream               # its iterator while it is drained, else None
        object file                 # the FileWrapper going out with sendfile(2), else None
        int file_fd
        long long file_offset
        long long file_left
        double started              # monotonic start of the call (post_request, the latency figures)
        bint aborted                # EX_ABORT was returned

    @staticmethod
    cdef Exchange new(App app, object write_cb, object hints_cb, const bint *stopping)
    cdef int begin(self, Request req, bint keep, bytes date_line, double started) except -1
    cdef int call(self, CBuf *out) except -1            # pre_request and the app call -> ExStep
    cdef int next_piece(self, CBuf *out) except -1      # one piece of the stream -> EX_STREAM, EX_DONE or EX_ABORT
    cdef int take_file(self, FileWrapper fw, CBuf *out) except -1   # the head, and the span to send: 0 if not a file
    cdef int file_sent(self, long long n) except -1     # n bytes of the span went out
    cdef int failed(self, CBuf *out, str where) except -1   # log the traceback; a 500 or EX_ABORT
    cdef int end(self, CBuf *out) except -1             # the answer's end, close(), wsgi.input released, post_request
