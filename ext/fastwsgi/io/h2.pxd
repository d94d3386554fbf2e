# HTTP/2 (io/h2.pyx), with libnghttp2: a Connection whose client spoke the connection preface (h2c, prior
# knowledge) or chose h2 by ALPN hands its plaintext to an H2Session instead of its Parser. Each stream is a Request
# (http/h2head.pyx) served by an Exchange of its own, inline or on a Job; its answer goes out as DATA frames read
# from the stream's buffer, as flow control allows. The Connection keeps the socket, TLS, the write buffer and the
# deadlines.

cdef class H2Stream(Watcher):
    # one stream: its head being read (head), its Request, then its Exchange (inline, or on its Job with --threads);
    # the answer's body bytes wait in out[pos:] for nghttp2's data callback
    cdef:
        H2Session session
        int id
        H2Head head
        Request req
        Exchange ex                 # made when the request is whole
        Job job                     # --threads: made when the request is whole
        CBuf out                    # body bytes framed, not yet taken by nghttp2: out.data[pos:out.len]
        Py_ssize_t pos
        int status                  # an error to answer instead of calling the app (400, 413, 431...), 0: none
        bint complete               # END_STREAM received: the request is whole
        bint started                # the app was called (or the error answered)
        bint in_thread              # its Job runs on a pool thread
        bint streaming              # inline: the app's iterator is being drained (next_piece)
        bint submitted              # the response HEADERS are submitted to nghttp2
        bint ended                  # every body byte is in out: EOF once it is taken
        bint deferred               # the data callback found out empty: resume_data once it is not
        bint closed                 # nghttp2 closed the stream (answered, or reset)
        bint counted                # request_done was told

    cdef int deliver(self, const char *data, Py_ssize_t n) except -1   # request body bytes (DATA)
    cdef int on_job(self, Job job) except -1


cdef class H2Session:
    # one HTTP/2 connection: nghttp2's session, the streams by id, those whole and waiting for the app
    cdef:
        Connection conn
        nghttp2_session *ng
        dict streams                # id -> H2Stream, from its HEADERS until nghttp2 closes it
        list ready                  # H2Streams whose request is whole, in order, not yet started
        H2Stream upgraded           # Upgrade: h2c's stream 1, until the client's preface arrives (then ready)
        App site                    # the loop's app, without sendfile(2) (bodies go out as DATA frames)
        object error                # an exception raised in a callback (logged; the connection closes)
        bint pumping                # in pump(): a call from a callback only marks more work
        bint notice                 # the graceful stop's shutdown notice was sent ...
        bint goaway                 # ... then GOAWAY: no stream after the last one processed
        bint progress               # nghttp2 took body bytes since the last settle() (flow control moves)
        int answering               # streams whose app was called and whose answer is not all taken

    @staticmethod
    cdef H2Session new(Connection conn)
    cdef int feed(self, const char *data, Py_ssize_t n) except -1     # bytes from the client (plaintext)
    cdef int pump(self) except -1           # run what is ready, frame, send; close when the session is over
    cdef int serve(self, H2Stream s) except -1
    cdef int drive(self, H2Stream s) except -1          # inline: the stream's next pieces, up to its buffer's room
    cdef int finished(self, H2Stream s, int step, bint end) except -1   # the answer is over (end: Exchange.end)
    cdef int submit(self, H2Stream s) except -1         # the head to nghttp2 once it is framed
    cdef int answer_error(self, H2Stream s) except -1   # s.status answered without calling the app
    cdef int send(self) except -1           # nghttp2's frames into the write buffer (bounded); 1 if any
    cdef int writable(self) except -1       # EPOLLOUT: the write buffer out, then more frames
    cdef int after_tls(self, bint opened) except -1     # read_tls fed what it opened: the handshake's answer out
    # the connection's state (and deadline) from the streams': a client whose windows stay shut while answers wait
    # (a zero-window reader) gets send_timeout, as one that does not read its socket
    cdef int settle(self) except -1
    cdef int window_wait(self) except -1    # (settle) the send deadline while the windows stay shut
    cdef int shutdown(self) except -1       # graceful stop: the shutdown notice, then (next call) GOAWAY
    cdef int expire(self) except -1         # the connection's deadline passed: GOAWAY and close
    cdef int fatal(self, int code) except -1     # a connection error: GOAWAY with code, then close
    cdef double busy_since(self, double oldest)     # the oldest start of its streams' calls on app threads
    cdef int release(self) except -1        # the connection closed: running streams told, nghttp2 freed, conn.h2 None


# the http2_* Loop options into cfg; the h2c mode (http2_cleartext) when http_protocols has h2, else None
cdef object http2_options(dict opts, H2Config *cfg)
# a plain connection's first bytes: the client preface of a trusted peer (h2c with prior knowledge) makes conn.h2
cdef bint h2_begins(Connection conn, const char *data, Py_ssize_t n) except -1
# a plain connection's request asked for Upgrade: h2c (trusted peer, HTTP2-Settings, nothing before it): 101 and
# conn.h2, with the request as stream 1; False: served as HTTP/1.1
cdef bint h2_upgrade(Connection conn) except -1
