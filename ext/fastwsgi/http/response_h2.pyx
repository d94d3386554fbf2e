# The head of an HTTP/2 answer (Response.h2): the same start_response and framing decisions as HTTP/1.1, recorded as
# the (name, value) list nghttp2_submit_response takes (lower-case names, :status first) instead of serialised.
# The body is framed by the stream (DATA frames, END_STREAM), so no chunking and no Connection header: a length known
# beforehand is still announced in content-length.

cdef dict H2_NAMES = {}                 # the app's header name (str) -> its lower-case bytes


cdef bytes h2_name(str name):
    cdef bytes low = H2_NAMES.get(name)
    if low is None:
        low = name.lower().encode("latin-1")
        if len(H2_NAMES) < CACHE_MAX:
            H2_NAMES[name] = low
    return low


cdef list h2_fields(int code, list headers, bint has_server, bint has_date, bytes date_line):
    cdef list fields = [(b":status", b"%d" % code)]
    if headers:
        for name, value in headers:
            if header_name(name)[1] == H_CONNECTION:
                continue                    # connection-specific: never sent over HTTP/2 (RFC 9113 8.2.2)
            fields.append((h2_name(name), (<str>value).encode("latin-1")))
    if not has_server:
        fields.append((b"server", b"fastwsgi"))
    if not has_date and date_line:
        fields.append((b"date", date_line[6:len(date_line) - 2]))      # b"Date: ...\r\n"
    return fields


cdef list h2_hints(list headers):
    """A 103 answer's fields as nghttp2_submit_headers takes them, validated as start_response validates headers."""
    cdef list fields = [(b":status", b"103")]
    cdef tuple entry
    for item in headers:
        if type(item) is not tuple or len(<tuple>item) != 2:
            raise TypeError(f"header must be a (name, value) tuple, not {item!r}")
        entry = header_line(<tuple>item)
        if entry[1] != H_PLAIN:
            raise ValueError(f"header {item[0]!r} does not belong in a 103 answer")
        fields.append((h2_name(item[0]), (<str>item[1]).encode("latin-1")))
    return fields


cdef int response_h2_head(Response self, long long known_length) except -1:
    cdef list fields = h2_fields(self.code, self.headers, self.has_server, self.has_date, self.date_line)
    if self.frame(known_length, False):     # (no chunking: a body of unknown length runs up to END_STREAM)
        fields.append((b"content-length", b"%d" % known_length))
    self.h2_fields = fields
    self.head_sent = True
    return 0


cdef int response_h2_fail(Response self, CBuf *out, int status, str reason) except -1:
    cdef bytes body = reason.encode()
    self.h2_fields = h2_fields(status, [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))],
                               False, False, self.date_line)
    if self.is_head:
        self.framing = FRAME_NONE
    else:
        self.framing = FRAME_LENGTH
        buf_add_bytes(out, body)
    self.content_length = self.sent = len(body)
    self.code = status
    self.started = False
    self.head_sent = True
    self.status = "%d %s" % (status, reason)
    self.headers = []
    return 0
