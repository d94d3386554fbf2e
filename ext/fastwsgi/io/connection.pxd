cdef enum ConnState:
    CONN_NEW = 0           # accepted, nothing received yet (a graceful stop waits a little for its request)
    CONN_IDLE = 1          # keep-alive, nothing received of the next request
    CONN_HEAD = 2          # a request head is arriving
    CONN_APP = 3           # serving: an app call, its response going out, or requests queued behind it
    CONN_BODY = 4          # the body of the next request to serve is arriving (the app runs once it is all here)
    CONN_LINGER = 5        # answered and half-closed: reading and dropping what the client still sends
    CONN_CLOSED = 6        # closed, or the peer is gone and the connection closes at the end of this step
    # docs/architecture.md draws the transitions; set_state() refuses any other


cdef class H2Session


cdef class Connection(Watcher):
    # one client socket: its bytes go to the Parser, whose queued Requests are served in order through the
    # connection's Exchange (the app call, its answer framed into one write buffer), and the buffer goes out with as
    # few syscalls as possible. It tells the loop of its close (Loop.forget), of an answer held for the end of the
    # wakeup (Loop.hold), of an idle keep-alive (Loop.became_idle) and of each request done (Loop.request_done)
    cdef:
        Loop loop
        Parser parser
        Exchange ex                 # the request being served (one at a time, in order)
        Job job                     # the Exchange on pool threads (--threads > 1), made on first use
        bint in_thread              # the active request's app call runs on a pool thread (the Job owns ex)
        ProxyHeader proxy           # the PROXY header still expected (proxy.pyx), else None
        TlsSession tls              # the TLS session (tls_session.pyx), else None: plain HTTP
        H2Session h2                # HTTP/2 (h2.pyx): the plaintext goes to its session, not the Parser; else None
        Request active              # whose answer is being produced (ex.req), else None
        CBuf wbuf                   # response bytes not yet sent: wbuf.data[wpos:wbuf.len]
        Py_ssize_t wpos
        unsigned int interest       # EPOLLIN or EPOLLOUT, as registered
        ConnState state             # written by set_state() only, which sets the state's deadline
        bint closing                # no request after the ones in progress: close once their answers are out
        bint eof                    # the client half-closed: answer what it sent, then close
        bint deferred               # held by the loop: its answers go out at the end of this wakeup
        long long linger_bytes      # read and dropped while lingering
        double deadline             # monotonic time at which the sweep calls expire() (0: none)
        double since                # monotonic time the connection was accepted or its last answer went out

    @staticmethod
    cdef Connection new(Loop loop, int fd, Parser parser)
    # the state and its deadline (Loop.timeouts: NEW and HEAD count from `since`, the others from now); raises on a
    # transition the diagram does not have
    cdef inline int set_state(self, ConnState state) except -1
    cdef inline int rearm(self) except -1          # the state's deadline again from now (a body's next read)
    # reading
    cdef int on_readable(self) except -1
    cdef int on_read(self, const char *data, ssize_t n, int err) except -1   # what a recv() gave (err: its errno)
    cdef int read_proxy(self, const char *data, Py_ssize_t n) except -1   # while the PROXY header is expected
    cdef int read_tls(self, const char *data, Py_ssize_t n) except -1     # ciphertext: opened, then received()
    # through the parser; follow its progress. 1: the bytes went to HTTP/2 (the session stepped; the caller does not)
    cdef int received(self, const char *data, Py_ssize_t n) except -1
    # serving
    cdef int step(self) except -1            # serve queued requests and flush, as far as possible without blocking
    cdef int finish_step(self) except -1     # step's end: flush, then keep alive, linger or close
    cdef bint defer(self) except -1          # hold a small answer until the wakeup's events are handled
    cdef int resume(self) except -1          # after the loop flushed a deferred answer: step() on
    cdef int serve(self, Request req) except -1    # begin the Exchange: inline, or handed to a pool thread
    cdef int wake_job(self) except -1              # end the Job's wait when enough was sent
    cdef int drive(self) except -1           # 1: the answer is done, 0: blocked on the socket
    cdef int end_exchange(self, int step) except -1   # EX_DONE/EX_ABORT: the Exchange's end, the request done
    cdef int append(self, object data) except -1
    # writing
    cdef int on_writable(self) except -1
    cdef int flush(self) except -1           # 1: all sent, 0: EAGAIN (EPOLLOUT armed) or peer gone (CONN_CLOSED)
    cdef int blocked(self) except -1         # the socket is full: EPOLLOUT and the send deadline
    cdef inline void sent_all(self) noexcept       # the write buffer is empty: drop what it holds beyond KEEP_WBUF
    cdef int flush_blocking(self, double timeout) except -1
    cdef int send_file(self) except -1       # the Exchange's file span with sendfile(2): 1 done, 0 EAGAIN
    cdef int set_interest(self, unsigned int events) except -1
    cdef int read_again(self) except -1      # after a flush: EPOLLIN, unless bytes wait for room in the queue
    # ending
    cdef int expire(self) except -1           # the deadline passed: 408 for a stalled body, else close
    cdef int linger(self) except -1           # half-close after the answer, drop input for a while, then close
    cdef bint sheddable(self)                 # may be closed to make room at worker_connections (no head yet, idle)


# the worker is aborted (--timeout): a request never started (its Job never ran: job_queued) gets 503 and
# Connection: close, sent by `until` (monotonic) at the latest; 1 if one was answered (io/abort.pyx)
cdef int refuse_unstarted(Connection conn, bint job_queued, double until) except -1
