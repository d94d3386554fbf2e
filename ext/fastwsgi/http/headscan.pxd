# Byte-level scanning of request heads (headscan.pyx), for the parser. Pure C over pointers: no Python objects.

cdef enum:
    CONN_CLOSE = 1              # connection_tokens(): the Connection field says close ...
    CONN_KEEP_ALIVE = 2         # ... or keep-alive

cdef inline char byte_at(const char *prev, Py_ssize_t np, const char *s, Py_ssize_t k) noexcept:
    # byte k of prev + s, k counted from the start of s (negative: in prev); 0 before prev
    if k >= 0:
        return s[k]
    if np + k >= 0:
        return prev[np + k]
    return 0

cdef inline bint is_ows(char c) noexcept:
    return c == b" " or c == b"\t"

cdef inline int hexdigit(char c) noexcept nogil:
    if b"0" <= c <= b"9":
        return c - 48
    if b"a" <= c <= b"f":
        return c - 87
    if b"A" <= c <= b"F":
        return c - 55
    return -1


cdef Py_ssize_t head_end(const char *prev, Py_ssize_t np, const char *s, Py_ssize_t n) noexcept
cdef int connection_tokens(const char *s, Py_ssize_t n) noexcept
cdef bint scheme_is_secure(FieldKind kind, const char *v, Py_ssize_t n) noexcept

# a field line (CRLF included) that llhttp would accept and reads nothing from (http11: after an HTTP/1.1 request
# line, `Connection: keep-alive` too): its checks are ours (stricter than llhttp's)
cdef bint plain_field_line(const char *p, Py_ssize_t size, bint http11) noexcept
# "GET " or "HEAD ", an origin-form target of VCHAR, " HTTP/1.1" (CRLF not included): llhttp accepts it
cdef bint plain_request_line(const char *p, Py_ssize_t n) noexcept
