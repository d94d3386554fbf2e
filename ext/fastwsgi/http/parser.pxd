# Request parsing: bytes in, Requests out. The Parser frames the byte stream itself (where each head ends, how long
# each body is), has llhttp (httptools, strict) validate exactly those bytes, and builds each environ from the
# validated head in one pass. It knows no socket and no loop: tests drive it with bytes alone.

cdef struct Limits:
    long long request_line           # 414 beyond (0: unlimited)
    long long request_fields         # 431 beyond
    long long request_field_size     # 431 beyond
    long long request_body           # 413 beyond (0: unlimited)
    long long body_buffer_size       # a request body beyond this is spooled to a temporary file
    long long head                   # the whole head, derived from the three above (0: unlimited)


cdef enum Phase:
    PH_HEAD = 0             # between messages (empty lines skipped) or in a head
    PH_LENGTH = 1           # a Content-Length body: body_left bytes to go
    PH_CHUNKED = 2          # a chunked body: chunk_state says where


cdef enum ChunkState:
    CK_SIZE = 0             # the hex digits of a chunk-size line
    CK_EXT = 1              # the rest of that line (extensions) up to its LF
    CK_DATA = 2             # body_left bytes of chunk data
    CK_DATA_END = 3         # the CRLF after them (body_left: bytes of it to go)
    CK_TRAILER = 4          # a trailer field line (collected in hbuf), or the empty line ending the message


cdef class ByteView:
    # the bytes of one part, as a buffer for httptools' feed_data() (valid during that call only)
    cdef:
        const char *ptr
        Py_ssize_t len


cdef class Request:
    # one parsed request: its environ and body state
    cdef:
        dict environ
        object input            # Input or the shared EmptyInput
        bint keep_alive
        bint is_head
        bint http10
        bint has_body
        bint complete           # the parser saw the end of the message
        bint handled            # the app was called
        bint expect_continue
        int secure              # a trusted proxy's scheme headers: 1 https, -1 not https, 0 none
        int nfields             # header fields, then trailer fields
        long long content_length

    @staticmethod
    cdef Request new()                  # its environ is made when its head is read (fields.pyx)


cdef class Parser:
    # one connection's request stream. feed() frames a piece of bytes (heads, bodies), has llhttp validate each part
    # exactly, and queues each Request whose head is complete. Errors are recorded (error_status/reason) and stop
    # parsing for good. After every part llhttp is fed, its count of begun and completed messages must equal ours.
    cdef:
        object feed_data            # the httptools parser's feed_data, bound once per connection
        ByteView view               # what feed_data() is handed
        Limits limits
        dict base_env               # the listener's environ (shared), copied per request
        str remote_addr             # REMOTE_ADDR and REMOTE_PORT set on that copy (None: a UNIX socket, kept "")
        str remote_port
        bint trusted_proxy          # the peer is in forwarded_allow_ips: its scheme headers count
        int uwsgi                   # UW_OFF: HTTP; else --protocol uwsgi, packets framed by uwsgi.pyx (set by the Loop)
        Request cur                 # the request whose head or body is arriving (None between requests)
        list queue                  # Requests whose head is complete, in arrival order: queue[qhead:qtail]
        Py_ssize_t qhead            # (slots outside hold None)
        Py_ssize_t qtail
        HeadTemplate template       # the fields of the last head, for the next (fields.pyx)
        bint stopped                # nothing more will be parsed: an error, an upgrade, or release()
        bint upgraded               # a request asking to upgrade was queued: served as plain HTTP, then closed
        bint ll_upgrade             # llhttp stopped after such a request's head (it skips its body)
        bint ll_closed              # the last head closes the connection (llhttp refuses any byte after it)
        int error_status            # the first error found (4xx/5xx), 0: none
        str error_reason
        # framing
        Phase phase
        ChunkState chunk_state
        CBuf hbuf                   # a head (or trailer line) that spans reads, from its first byte
        CBuf backlog                # bytes past a full queue (QUEUE_MAX requests wait): framed by refill() ...
        Py_ssize_t bpos             # ... from here on, once requests are answered (the connection reads no more)
        Py_ssize_t line_scan        # bytes of hbuf searched for the request line's end (-1: it has ended)
        long long body_left         # PH_LENGTH: body bytes to go; CK_DATA/CK_DATA_END: bytes of the chunk part
        long long chunk_size        # CK_SIZE: the size read so far
        long long begun             # messages begun and completed, as we frame them ...
        long long done
        long long ll_begun          # ... and as llhttp does (its on_message_begin/on_message_complete)
        long long ll_done

    @staticmethod
    cdef Parser new(dict base_env, str remote_addr, str remote_port, bint trusted_proxy, Limits limits)
    cdef int feed(self, const char *data, Py_ssize_t n) except -1     # errors are recorded, never raised
    # feed's work: the bytes taken (a full queue stops it before a head)
    cdef Py_ssize_t frame(self, const char *data, Py_ssize_t n) except -1
    cdef bint backlogged(self) noexcept     # bytes wait for room in the queue: read nothing more meanwhile
    cdef int refill(self) except -1         # frame the backlog as far as the queue has room
    cdef int fail(self, int status, str reason) except -1             # record an error (the first one wins)
    cdef bint queued(self)                   # a request is waiting in the queue
    cdef Py_ssize_t pending(self) noexcept   # how many are (the one being answered included)
    cdef Request first(self)                 # the oldest queued request (queued() must be true)
    cdef int enqueue(self, Request req) except -1   # queue a request whose head is complete
    cdef int pop(self) except -1             # drop the oldest queued request
    cdef int clear(self) except -1           # drop every queued request
    cdef int release(self) except -1         # stop for good and drop the httptools parser (breaks its cycle)
    cdef int set_peer(self, str addr, str port) except -1   # REMOTE_ADDR/REMOTE_PORT from a PROXY header
    # framing (feed's parts; each returns the bytes it consumed, all of them once the parser stopped)
    cdef Py_ssize_t feed_head(self, const char *p, Py_ssize_t n) except -1
    cdef Py_ssize_t feed_length(self, const char *p, Py_ssize_t n) except -1
    cdef Py_ssize_t feed_chunked(self, const char *p, Py_ssize_t n) except -1
    cdef bint llhttp(self, const char *p, Py_ssize_t n) except -1     # False: llhttp refused them (recorded)
    cdef bint llhttp_head(self, const char *h, Py_ssize_t n) except -1   # a whole head: its line alone if known
    cdef bint llhttp_spared(self) noexcept     # a plain head llhttp need not read: its counts as if it had
    cdef bint agree(self, int completing) except -1    # llhttp's counts are ours (+ completing); False: recorded
    cdef int stop(self, int status, str reason) except -1               # record the error and parse no more
    cdef int partial_head(self) except -1              # limits on a head still incomplete (in hbuf)
    # the environ from a validated head, in one pass
    cdef int head_complete(self, const char *h, Py_ssize_t n) except -1
    cdef int message_end(self) except -1
    cdef int request_whole(self) except -1   # (message_end's end, and a uwsgi packet's: uwsgi.pyx)
    cdef int restart_llhttp(self, bint chunked, long long length) except -1   # an upgrade request's body: plain HTTP
    cdef object trailer_line(self)                     # the trailer line in hbuf, counted: None or (status, reason)


cdef Limits make_limits(dict options)        # from the Loop options limit_request_*
