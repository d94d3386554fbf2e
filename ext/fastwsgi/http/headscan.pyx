# Byte-level scanning of request heads for the parser: where a head ends (across reads), OWS, hex digits, the
# Connection field's tokens, the secure-scheme values. Pure C over pointers: no Python objects.

from libc.string cimport strncasecmp

cdef Py_ssize_t head_end(const char *prev, Py_ssize_t np, const char *s, Py_ssize_t n) noexcept:
    """Bytes of s up to and including the first CRLF CRLF of prev + s, else -1 (prev: the head so far, which holds
    none)."""
    cdef const char *p = <const char *>memchr(s, b"\n", n)
    cdef Py_ssize_t i
    while p != NULL:
        i = p - s
        if i >= 3:
            if (p - 1)[0] == b"\r" and (p - 2)[0] == b"\n" and (p - 3)[0] == b"\r":
                return i + 1
        elif (byte_at(prev, np, s, i - 1) == b"\r" and byte_at(prev, np, s, i - 2) == b"\n"
              and byte_at(prev, np, s, i - 3) == b"\r"):
            return i + 1
        p = <const char *>memchr(p + 1, b"\n", n - i - 1)
    return -1


cdef int connection_tokens(const char *s, Py_ssize_t n) noexcept:
    """CONN_CLOSE / CONN_KEEP_ALIVE for the tokens of a Connection value (case-insensitive, as llhttp reads them)."""
    cdef int flags = 0
    cdef Py_ssize_t i = 0, start, end
    while i < n:
        while i < n and (s[i] == b"," or is_ows(s[i])):
            i += 1
        start = i
        while i < n and s[i] != b",":
            i += 1
        end = i
        while end > start and is_ows(s[end - 1]):
            end -= 1
        if end - start == 5 and strncasecmp(s + start, "close", 5) == 0:
            flags |= CONN_CLOSE
        elif end - start == 10 and strncasecmp(s + start, "keep-alive", 10) == 0:
            flags |= CONN_KEEP_ALIVE
    return flags


cdef bint scheme_is_secure(FieldKind kind, const char *v, Py_ssize_t n) noexcept:
    # gunicorn's secure_scheme_headers values (compared case-insensitively)
    if kind == FK_XF_PROTO:
        return n == 5 and strncasecmp(v, "https", 5) == 0
    if kind == FK_XF_PROTOCOL:
        return n == 3 and strncasecmp(v, "ssl", 3) == 0
    return n == 2 and strncasecmp(v, "on", 2) == 0
