# Request parsing: bytes in, Requests out. The Parser owns the httptools parser and its callbacks, the header-key
# cache, the limits and the strict checks. It knows no socket and no loop: tests drive it with bytes alone.

cdef struct Limits:
    long long request_line           # 414 beyond (0: unlimited)
    long long request_fields         # 431 beyond
    long long request_field_size     # 431 beyond
    long long request_body           # 413 beyond (0: unlimited)
    long long body_buffer_size       # a request body beyond this is spooled to a temporary file
    long long head                   # the whole head, derived from the three above (0: unlimited)


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
        int secure              # a trusted proxy's scheme header: 1 https, -1 not https, 0 none
        int nfields
        long long content_length

    @staticmethod
    cdef Request new(dict base)


cdef class Parser:
    # one connection's request stream. feed() runs llhttp over a piece of bytes; the callbacks build Requests and
    # queue each one whose head is complete. Errors are recorded (error_status/reason) and stop parsing for good.
    cdef:
        object feed_data            # bound methods of the httptools parser, bound once per connection
        object get_method
        object get_http_version
        object should_keep_alive
        Limits limits
        dict base_env               # the listener's environ (shared), copied per request
        str remote_addr             # REMOTE_ADDR and REMOTE_PORT set on that copy (None: a UNIX socket, kept "")
        str remote_port
        bint trusted_proxy          # the peer is in forwarded_allow_ips: its scheme headers count
        Request cur                 # being parsed (head or body)
        list queue                  # Requests whose head is complete, in arrival order: queue[qhead:]
        Py_ssize_t qhead
        list seen_names             # [name, environ key, ...] of the last request's header fields, in order
        bint stopped                # nothing more will be parsed: an error, an upgrade, or release()
        bint upgraded               # llhttp stopped after a request asking to upgrade (served as plain HTTP)
        int error_status            # the first error found (4xx/5xx), 0: none
        str error_reason
        str version_hint            # SERVER_PROTOCOL read off the request line by feed(), for the next head
        long long head_bytes        # bytes of the request head received so far (limit)

    @staticmethod
    cdef Parser new(dict base_env, str remote_addr, str remote_port, bint trusted_proxy, Limits limits)
    cdef int feed(self, const char *data, Py_ssize_t n) except -1     # errors are recorded, never raised
    cdef int fail(self, int status, str reason) except -1             # record an error (the first one wins)
    cdef str header_key(self, bytes name, Py_ssize_t i)
    cdef bint queued(self)                   # a request is waiting in the queue
    cdef Request first(self)                 # the oldest queued request (queued() must be true)
    cdef int pop(self) except -1             # drop the oldest queued request
    cdef int clear(self) except -1           # drop every queued request
    cdef int release(self) except -1         # stop for good and drop the httptools parser (breaks its cycle)


cdef Limits make_limits(dict options)        # from the Loop options limit_request_*
