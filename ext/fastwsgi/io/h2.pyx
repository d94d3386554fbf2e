# HTTP/2 with libnghttp2 (h2.pxd). nghttp2 owns the protocol: frames, HPACK, flow control, the stream states and
# RFC 9113's checks of a request's fields; it reads from and writes to memory (mem_recv, mem_send), never a socket.
# Here: its callbacks build each stream's Request (http/h2head.pyx), a whole request is served by an Exchange of its
# own (inline, or on its Job with --threads: the streams of one connection then run concurrently), and the answer's
# body waits in the stream's buffer for nghttp2's data callback, which takes what the peer's flow-control window
# allows. A stream whose window is closed just waits (the callback defers it); the loop never blocks.
# Callbacks never raise: an exception is kept on the session (logged, the connection closed) and the callback
# returns NGHTTP2_ERR_CALLBACK_FAILURE.
#
# Hardening: nghttp2 bounds what one connection may cost (max_concurrent_streams, the header list size, SETTINGS
# entries, queued control-frame answers such as PING/SETTINGS ACKs, and, where the library has them, the
# stream-reset rate (CVE-2023-44487) and CONTINUATION frames per head (CVE-2024-27316)); each stream's unsent answer
# is bounded (H2_STREAM_BUFFER inline, the Job's high water on threads), and so is the write buffer (H2_SEND_MAX).

from libc.stdint cimport uint8_t, uint32_t, int32_t

import base64 as _base64

cdef bint HTTP2 = FASTWSGI_HTTP2
cdef Py_ssize_t H2_STREAM_BUFFER = 64 * 1024    # inline: a stream's unsent body before its app is asked for more
cdef Py_ssize_t H2_SEND_MAX = 256 * 1024        # frames framed into the write buffer before it must go out
cdef bytes H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
cdef size_t H2_MAX_SETTINGS = 32                # entries in one SETTINGS frame (nghttp2's default)
cdef size_t H2_MAX_OUTBOUND_ACK = 1000          # queued PING/SETTINGS ACKs before the connection is dropped
cdef unsigned long long H2_RESET_BURST = 1000   # stream resets accepted in a burst, then per second (nghttp2's)
cdef unsigned long long H2_RESET_RATE = 33
cdef size_t H2_MAX_CONTINUATIONS = 8            # CONTINUATION frames per head (nghttp2's default)

cdef nghttp2_session_callbacks *H2_CALLBACKS = NULL
cdef nghttp2_option *H2_OPTIONS = NULL


def http2_available():
    """(True, nghttp2's version) when this build speaks HTTP/2, else (False, why)."""
    if HTTP2:
        return True, FW_NGHTTP2_VERSION.decode()
    return False, "this fastwsgi was built without libnghttp2 (install libnghttp2-dev, then reinstall fastwsgi)"


cdef object http2_options(dict opts, H2Config *cfg):
    """The http2_* settings into cfg; the h2c mode (http2_cleartext) when http_protocols has h2, else None. HTTP/2
    asked of a build without libnghttp2 is an error."""
    protocols = [p.strip() for p in str(opts["http_protocols"] or "").split(",") if p.strip()]
    cfg.max_concurrent_streams = opts["http2_max_concurrent_streams"]
    cfg.initial_window_size = opts["http2_initial_window_size"]
    cfg.max_frame_size = opts["http2_max_frame_size"]
    cfg.max_header_list_size = opts["http2_max_header_list_size"]
    if "h2" not in protocols:
        return None
    if not HTTP2:
        raise ValueError("http_protocols h2: " + http2_available()[1])
    return str(opts["http2_cleartext"]).strip().lower()


def http2_hardening():
    """Which of nghttp2's flood bounds this build sets: the stream-reset rate and the CONTINUATION cap."""
    return {"reset_rate": bool(FW_HAVE_RESET_RATE), "max_continuations": bool(FW_HAVE_MAX_CONTINUATIONS)}


cdef bint h2_begins(Connection conn, const char *data, Py_ssize_t n) except -1:
    """gunicorn's rule: only a peer in forwarded_allow_ips is considered; others are served HTTP/1.x."""
    cdef Py_ssize_t k = n if n < 24 else 24
    if data[0] != b"P" or not conn.parser.trusted_proxy or memcmp(data, PyBytes_AS_STRING(H2_PREFACE), k) != 0:
        return False
    conn.h2 = H2Session.new(conn)
    return True


cdef bint h2_upgrade(Connection conn) except -1:
    """RFC 7540 3.2 (gunicorn's http2_cleartext upgrade): a request with Upgrade: h2c, Connection: Upgrade,
    HTTP2-Settings, whole (its body read), with nothing queued before it, from a peer in forwarded_allow_ips."""
    cdef Parser parser = conn.parser
    cdef H2Session session
    cdef H2Stream s
    cdef Request req
    cdef bytes payload
    cdef dict env
    if (conn.tls is not None or not parser.trusted_proxy or conn.active is not None or conn.in_thread
            or parser.pending() != 1):
        return False
    req = parser.first()
    env = req.environ
    if not req.complete or "h2c" not in [t.strip().lower() for t in env.get("HTTP_UPGRADE", "").split(",")]:
        return False
    if "http2-settings" not in env.get("HTTP_CONNECTION", "").lower():
        return False
    try:
        settings = env["HTTP_HTTP2_SETTINGS"].strip()
        payload = _base64.urlsafe_b64decode(settings + "=" * (-len(settings) % 4))
    except (KeyError, ValueError):
        return False                            # (no or bad HTTP2-Settings: served as HTTP/1.1, as RFC 7540 allows)
    parser.clear()
    cbuf_add(&conn.wbuf, b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n", 71)
    session = conn.h2 = H2Session.new(conn)
    if nghttp2_session_upgrade2(session.ng, <const uint8_t *>PyBytes_AS_STRING(payload), len(payload), req.is_head,
                                NULL) != 0:
        session.fatal(NGHTTP2_PROTOCOL_ERROR)   # (a bad SETTINGS payload)
        return True
    for key in ("HTTP_UPGRADE", "HTTP_HTTP2_SETTINGS", "HTTP_CONNECTION"):
        env.pop(key, None)
    env[K_PROTOCOL] = PROTO_2
    s = H2Stream.__new__(H2Stream)
    s.fd = -1
    s.session = session
    s.id = 1
    s.req = req
    s.complete = True
    session.streams[1] = s
    session.upgraded = s            # served once the client's preface is in: it reads the 101 (and our SETTINGS)
    session.pump()                  # first, as an HTTP/1.1 client (curl takes at most 32 KiB after the 101)
    return True


cdef int h2_setup() except -1:
    """nghttp2's callbacks and options, once per process."""
    global H2_CALLBACKS, H2_OPTIONS
    if H2_CALLBACKS != NULL:
        return 0
    if not HTTP2:
        raise RuntimeError(http2_available()[1])
    if nghttp2_session_callbacks_new(&H2_CALLBACKS) != 0 or nghttp2_option_new(&H2_OPTIONS) != 0:
        raise MemoryError()
    nghttp2_session_callbacks_set_on_begin_headers_callback(H2_CALLBACKS, on_begin_headers)
    nghttp2_session_callbacks_set_on_header_callback(H2_CALLBACKS, on_header)
    nghttp2_session_callbacks_set_on_frame_recv_callback(H2_CALLBACKS, on_frame_recv)
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(H2_CALLBACKS, on_data_chunk_recv)
    nghttp2_session_callbacks_set_on_stream_close_callback(H2_CALLBACKS, on_stream_close)
    nghttp2_option_set_max_settings(H2_OPTIONS, H2_MAX_SETTINGS)
    nghttp2_option_set_max_outbound_ack(H2_OPTIONS, H2_MAX_OUTBOUND_ACK)
    nghttp2_option_set_stream_reset_rate_limit(H2_OPTIONS, H2_RESET_BURST, H2_RESET_RATE)
    nghttp2_option_set_max_continuations(H2_OPTIONS, H2_MAX_CONTINUATIONS)
    return 0


# -- nghttp2's callbacks (user_data: the H2Session) --

cdef int callback_failed(H2Session session) noexcept:
    try:
        session.error = sys.exc_info()[1]
    except BaseException:
        pass
    return NGHTTP2_ERR_CALLBACK_FAILURE


cdef int on_begin_headers(nghttp2_session *ng, const nghttp2_frame *frame, void *user_data) noexcept:
    cdef H2Session session = <H2Session>user_data
    cdef H2Stream s
    if frame.hd.type != NGHTTP2_HEADERS or frame.headers.cat != NGHTTP2_HCAT_REQUEST:
        return 0
    try:
        s = H2Stream.__new__(H2Stream)
        s.fd = -1
        s.session = session
        s.id = frame.hd.stream_id
        s.req = h2_request(session.conn.parser)
        session.streams[s.id] = s
    except BaseException:
        return callback_failed(session)
    return 0


cdef int on_header(nghttp2_session *ng, const nghttp2_frame *frame, const uint8_t *name, size_t namelen,
                   const uint8_t *value, size_t valuelen, uint8_t flags, void *user_data) noexcept:
    cdef H2Session session = <H2Session>user_data
    cdef H2Stream s
    if frame.hd.type != NGHTTP2_HEADERS or frame.headers.cat != NGHTTP2_HCAT_REQUEST:
        return 0                            # trailers: ignored (the app may be reading the body already)
    try:
        s = session.streams.get(frame.hd.stream_id)
        if s is not None:
            s.head.size += namelen + valuelen + 32          # (RFC 9113 6.5.2's count)
            if s.head.size > session.conn.loop.h2cfg.max_header_list_size and not s.head.status:
                s.head.status = 431                         # http2_max_header_list_size: an HPACK bomb stops here
            h2_field(session.conn.parser, s.req, &s.head, <const char *>name, namelen, <const char *>value, valuelen)
    except BaseException:
        return callback_failed(session)
    return 0


cdef int on_frame_recv(nghttp2_session *ng, const nghttp2_frame *frame, void *user_data) noexcept:
    cdef H2Session session = <H2Session>user_data
    cdef H2Stream s
    cdef bint end = (frame.hd.flags & NGHTTP2_FLAG_END_STREAM) != 0
    if frame.hd.type != NGHTTP2_HEADERS and frame.hd.type != NGHTTP2_DATA:
        return 0
    try:
        s = session.streams.get(frame.hd.stream_id)
        if s is None or s.complete:
            return 0
        if frame.hd.type == NGHTTP2_HEADERS and frame.headers.cat == NGHTTP2_HCAT_REQUEST:
            s.status = h2_head_done(session.conn.parser, s.req, &s.head, not end)
            if s.status:
                s.complete = True           # answered now; the rest of its body is dropped
                session.ready.append(s)
                return 0
        if end and not s.status:
            if s.req.has_body:
                s.status = (<Input>s.req.input).finish()
            s.req.complete = True
            s.complete = True
            session.ready.append(s)
    except BaseException:
        return callback_failed(session)
    return 0


cdef int on_data_chunk_recv(nghttp2_session *ng, uint8_t flags, int32_t stream_id, const uint8_t *data, size_t n,
                            void *user_data) noexcept:
    cdef H2Session session = <H2Session>user_data
    cdef H2Stream s
    try:
        s = session.streams.get(stream_id)
        if s is not None and not s.complete:
            s.deliver(<const char *>data, n)
    except BaseException:
        return callback_failed(session)
    return 0


cdef int on_stream_close(nghttp2_session *ng, int32_t stream_id, uint32_t error_code, void *user_data) noexcept:
    cdef H2Session session = <H2Session>user_data
    cdef H2Stream s
    try:
        s = session.streams.pop(stream_id, None)
        if s is not None:
            s.closed = True
            if s.in_thread:
                s.job.gone = True           # reset by the client: the app thread stops producing
                s.job.wake()
            elif s.started and not s.counted:
                session.finished(s, EX_DONE if s.ex is None else EX_ABORT, True)
            else:
                unlink(s)
            cbuf_release(&s.out, 0)
            s.pos = 0
    except BaseException:
        return callback_failed(session)
    return 0


cdef ssize_t read_body(nghttp2_session *ng, int32_t stream_id, uint8_t *buf, size_t length, uint32_t *data_flags,
                       nghttp2_data_source *source, void *user_data) noexcept:
    """nghttp2 asks for up to `length` body bytes of a stream (as its window allows): from its buffer; none there
    yet: deferred until resume_data."""
    cdef H2Stream s = <H2Stream>source.ptr
    cdef Py_ssize_t n = s.out.len - s.pos
    if <Py_ssize_t>length < n:
        n = length
    if n > 0:
        s.session.progress = True
        memcpy(buf, s.out.data + s.pos, n)
        s.pos += n
        if s.pos == s.out.len:
            s.out.len = s.pos = 0
    if s.pos == s.out.len and s.ended:
        data_flags[0] |= NGHTTP2_DATA_FLAG_EOF
        return n
    if n == 0:
        s.deferred = True
        return NGHTTP2_ERR_DEFERRED
    return n
