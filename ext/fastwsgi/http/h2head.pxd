# An HTTP/2 request's header fields into a Request (h2head.pyx): the environ built as for HTTP/1.1 (the Parser's
# base environ and peer, the name table, the target, the limits and checks), from fields nghttp2 has validated
# (lower-case names, no connection-specific fields, TE trailers only, pseudo-headers well formed). No sockets.

cdef struct H2Head:
    # what an HTTP/2 head has said so far, for the checks made once it is whole
    int status              # the first refusal (400, 431...), 0: none
    bint authority          # :authority was sent (it wins over Host)
    bint host
    long long size          # bytes of fields counted against the limits

cdef Request h2_request(Parser parser)     # a Request with the peer's environ, SERVER_PROTOCOL HTTP/2, no body yet
# one field (pseudo-headers included): into the environ, or a refusal recorded in head.status
cdef int h2_field(Parser parser, Request req, H2Head *head, const char *name, Py_ssize_t nlen, const char *value,
                  Py_ssize_t vlen) except -1
# the head is whole (has_body: DATA frames follow): the checks, and wsgi.input. 0, or the status to answer
cdef int h2_head_done(Parser parser, Request req, H2Head *head, bint has_body) except -1
