cdef enum ConnState:
    CONN_IDLE = 0          # keep-alive, nothing received of the next request
    CONN_HEAD = 1          # a request head is arriving
    CONN_APP = 2           # the app is running or its response is being produced
    CONN_DRAIN = 3         # the app is done, the rest of its body is being read and dropped
    CONN_CLOSED = 4
    CONN_NEW = 5           # accepted, nothing received yet (a graceful stop waits a little for its request)
    CONN_LINGER = 6        # answered and half-closed: reading and dropping what the client still sends


cdef class Request:
    # one parsed request: its environ and body state
    cdef:
        dict environ
        bytes url
        object input            # Input or the shared EmptyInput
        bint keep_alive
        bint is_head
        bint http10
        bint has_body
        bint complete           # the parser saw the end of the message
        bint handled            # the app was called
        bint expect_continue
        int secure                  # a trusted proxy's scheme header: 1 https, -1 not https, 0 none
        int nfields
        long long content_length

    @staticmethod
    cdef Request new(dict base)


cdef class Watcher:
    # anything registered in the loop's epoll set; epoll_event.data.ptr points at it (the loop keeps it alive)
    cdef int fd
    cdef int on_event(self, unsigned int events) except -1


cdef class Connection(Watcher):
    # one client socket: parser callbacks, the queue of pipelined requests, the app call, buffered writes
    cdef:
        Loop loop
        object parser
        object feed_data            # bound parser.feed_data (and the three below: bound once per connection)
        object get_method
        object get_http_version
        object should_keep_alive
        Response resp
        dict base_env               # the listener's environ (shared), copied per request
        str remote_addr             # REMOTE_ADDR and REMOTE_PORT set on that copy (None: a UNIX socket, kept "")
        str remote_port
        Request cur                 # being parsed (head or body)
        list queue                  # Requests whose head is complete, in arrival order: queue[qhead:]
        Py_ssize_t qhead
        list seen_names             # [name, environ key, ...] of the last request's header fields, in order
        Request active              # whose response is being produced
        object result               # the app's iterable for `active`
        object stream               # iterator still being drained into the socket, or None
        object sf_file              # FileWrapper sent with sendfile(2), or None
        int sf_fd
        long long sf_off
        long long sf_left
        CBuf wbuf                   # response bytes not yet sent: wbuf.data[wpos:wbuf.len]
        Py_ssize_t wpos
        unsigned int interest       # EPOLLIN or EPOLLOUT, as registered
        ConnState state
        bint keep                   # False: close after the response in progress
        bint deferred               # in loop.deferred: its answers go out at the end of this wakeup
        bint trusted_proxy          # the peer is in forwarded_allow_ips: its scheme headers count
        int error_status            # a parse error to answer after the queued requests
        str error_reason
        str version_hint            # SERVER_PROTOCOL read off the request line by feed(), for the next head
        long long head_bytes        # bytes of the request head received so far (limit)
        double deadline             # monotonic time at which the sweep closes this connection (0: none)
        double started              # monotonic start of the active request (post_request timing)

    @staticmethod
    cdef Connection new(Loop loop, int fd, dict base_env, str remote_addr, str remote_port)
    cdef int on_readable(self) except -1
    cdef int on_writable(self) except -1
    cdef int feed(self, const char *data, Py_ssize_t n) except -1     # through the parser; errors recorded
    cdef int step(self) except -1            # serve queued requests and flush, as far as possible without blocking
    cdef int finish_step(self) except -1     # step's end: flush, then keep alive, linger or close
    cdef bint defer(self) except -1          # hold a small answer until the wakeup's events are handled
    cdef int resume(self) except -1          # after the loop flushed a deferred answer: step() on
    cdef int run_app(self, Request req) except -1
    cdef int drive(self) except -1           # 1: response done, 0: blocked on the socket
    cdef int end_response(self) except -1
    cdef int app_error(self, str where) except -1
    cdef int append(self, object data) except -1
    cdef int flush(self) except -1           # 1: all sent, 0: EAGAIN (EPOLLOUT armed), -1 on Python error
    cdef int flush_blocking(self, double timeout) except -1
    cdef int recv_blocking(self, double timeout) except -1     # read and feed one piece; for wsgi.input
    cdef int set_interest(self, unsigned int events) except -1
    cdef str header_key(self, bytes name, Py_ssize_t i)
    cdef int fail(self, int status, str reason) except -1    # record an error to answer, stop parsing
    cdef int linger(self) except -1           # half-close after the answer, drop input for a while, then close
    cdef int close(self) except -1
    cdef bint is_idle(self)
    cdef bint queued(self)                   # a request is waiting in the queue
    cdef int pop_request(self) except -1
    cdef int clear_queue(self) except -1
