# Byte-level scanning of request heads for the parser: where a head ends (across reads), OWS, hex digits, the
# Connection field's tokens, the secure-scheme values. Pure C over pointers: no Python objects.

from libc.string cimport strncasecmp

cdef extern from *:
    """
    #if defined(__SSE2__)
    #include <emmintrin.h>
    #endif
    /* how many of s[0:n]'s leading 16-byte blocks hold only VCHAR, SP and HTAB, in bytes: a value's bulk checked 16
       bytes at a time (signed, 0x80-0xff are below 0x20 too); the caller checks the rest byte by byte */
    static inline Py_ssize_t fw_plain_run(const unsigned char *s, Py_ssize_t n) {
        Py_ssize_t i = 0;
    #if defined(__SSE2__)
        const __m128i space = _mm_set1_epi8(0x20), del = _mm_set1_epi8(0x7f), tab = _mm_set1_epi8(0x09);
        for (; i + 16 <= n; i += 16) {
            __m128i v = _mm_loadu_si128((const __m128i *)(s + i));
            __m128i bad = _mm_or_si128(_mm_cmplt_epi8(v, space), _mm_cmpeq_epi8(v, del));
            bad = _mm_andnot_si128(_mm_cmpeq_epi8(v, tab), bad);
            if (_mm_movemask_epi8(bad))
                break;
        }
    #endif
        (void)s; (void)n;
        return i;
    }
    """
    Py_ssize_t fw_plain_run(const unsigned char *s, Py_ssize_t n) noexcept

# token characters of RFC 9110 5.6.2 (field names, and the names a response's head may carry)
cdef bytes TCHAR = (b"!#$%&'*+-.^_`|~0123456789"
                    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
cdef bint IS_TCHAR[256]
# what plain_field_line lets through in a value: VCHAR, SP and HTAB (obs-text and every control byte go to llhttp)
cdef bint IS_PLAIN_VALUE[256]
# what plain_request_line lets through in a target after its '/': VCHAR (llhttp's strict mode takes every one)
cdef bint IS_PLAIN_TARGET[256]
for _i in range(256):
    IS_TCHAR[_i] = bytes([_i]) in TCHAR
    IS_PLAIN_VALUE[_i] = 0x21 <= _i <= 0x7e or _i == 0x20 or _i == 0x09
    IS_PLAIN_TARGET[_i] = 0x21 <= _i <= 0x7e

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


cdef bint plain_field_line(const char *p, Py_ssize_t size, bint http11) noexcept:
    """p[0:size] (its CRLF included) is a field line llhttp would accept and read nothing from: a token name, ':',
    then only VCHAR, SP and HTAB, and a name other than the five llhttp reads for framing (Content-Length,
    Transfer-Encoding, Connection, Proxy-Connection, Upgrade) -- or, after an HTTP/1.1 request line (http11),
    `Connection: keep-alive`, which tells llhttp what HTTP/1.1 means anyway. Stricter than llhttp (no obs-text): a
    line it does not pass goes to llhttp, which accepts or refuses it as ever (Parser.llhttp_head)."""
    cdef const unsigned char *s = <const unsigned char *>p
    cdef Py_ssize_t i = 0, end = size - 2
    while i < end and IS_TCHAR[s[i]]:
        i += 1
    if i == 0 or i >= end or s[i] != b":":
        return False
    if i == 10 and strncasecmp(p, "connection", 10) == 0:
        return http11 and ((size == 24 and strncasecmp(p + 11, " keep-alive", 11) == 0)
                           or (size == 23 and strncasecmp(p + 11, "keep-alive", 10) == 0))
    if ((i == 7 and strncasecmp(p, "upgrade", 7) == 0)
            or (i == 14 and strncasecmp(p, "content-length", 14) == 0)
            or (i == 16 and strncasecmp(p, "proxy-connection", 16) == 0)
            or (i == 17 and strncasecmp(p, "transfer-encoding", 17) == 0)):
        return False
    i += 1
    i += fw_plain_run(s + i, end - i)
    while i < end and IS_PLAIN_VALUE[s[i]]:
        i += 1
    return i == end and s[end] == b"\r" and s[end + 1] == b"\n"


cdef bint plain_request_line(const char *p, Py_ssize_t n) noexcept:
    """p[0:n] (its CRLF not included) is "GET " or "HEAD ", an origin-form target of VCHAR only, " HTTP/1.1": a line
    llhttp's strict mode accepts, which begins a message llhttp frames as we do when no field says otherwise (no
    body, keep-alive). Parser.llhttp_head spares llhttp such a head when it has no line llhttp reads."""
    cdef const unsigned char *s = <const unsigned char *>p
    cdef Py_ssize_t i, end = n - 9
    if n < 14 or memcmp(p + end, b" HTTP/1.1", 9) != 0:
        return False
    if memcmp(p, b"GET /", 5) == 0:
        i = 5
    elif memcmp(p, b"HEAD /", 6) == 0:
        i = 6
    else:
        return False
    while i < end and IS_PLAIN_TARGET[s[i]]:
        i += 1
    return i == end
