# Strict request checks on top of llhttp's strict mode: the places where llhttp is lenient or leaves the decision
# to the application (Transfer-Encoding lists, request-target forms, Host syntax, trailer fields, trailing OWS).
# Every check is a C-level scan or a dict lookup; the common request (origin-form target, no Transfer-Encoding)
# pays one memchr and a short Host scan. docs/http-strictness.md lists each rule with its RFC and status.

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE, PyBytes_FromStringAndSize
from cpython.unicode cimport PyUnicode_DecodeLatin1
from libc.string cimport memchr, strncasecmp

cdef str M_CONNECT = sys.intern("CONNECT")
cdef str M_OPTIONS = sys.intern("OPTIONS")

# Host = uri-host [ ":" port ] (RFC 9110 7.2, RFC 3986 3.2.2): unreserved, pct-encoded, sub-delims, ':' and the
# brackets of an IP-literal
cdef bint IS_HOSTCHAR[256]
for _i in range(256):
    IS_HOSTCHAR[_i] = bytes([_i]) in (b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                                      b"-._~!$&'()*+,;=%:[]")

# trailer fields that would change how the message is framed, routed or how the connection is managed
# (RFC 9110 6.5.1: framing and routing fields cannot be processed outside the header section): a request that
# sends them as trailers is refused with 400. Every other trailer field is read and dropped (WSGI has no place for
# trailers, and nothing may reach the environ of a request the app is already handling).
cdef dict FORBIDDEN_TRAILERS = dict.fromkeys([
    b"content-length", b"transfer-encoding", b"host", b"trailer", b"te", b"connection", b"keep-alive",
    b"proxy-connection", b"upgrade", b"content-encoding", b"content-range", b"expect", b"max-forwards",
], True)


cdef object check_transfer_encoding(str value, bint http10):
    """RFC 9112 6.1/6.3: chunked must be the final coding and appear once; any other coding is one we do not
    implement (501); any Transfer-Encoding on HTTP/1.0 is refused (RFC 9112 6.1: the framing is unreliable)."""
    cdef list codings
    cdef str c
    cdef int chunked = 0
    if http10:
        return (400, "Transfer-Encoding in an HTTP/1.0 request")
    codings = [c.strip(" \t").lower() for c in value.split(",")]
    for c in codings:
        if not c:
            return (400, "empty element in Transfer-Encoding")
        if c == "chunked":
            chunked += 1
    if codings[len(codings) - 1] != "chunked":
        return (400, "Transfer-Encoding does not end with chunked")
    if chunked > 1:
        return (400, "chunked applied more than once")
    if len(codings) > 1:
        return (501, "unsupported transfer coding")
    return None


cdef object check_target(str method, const char *s, Py_ssize_t n):
    """RFC 9112 3.2: origin-form for every method but CONNECT (authority-form) and OPTIONS (also '*'); absolute-form
    (http/https, no userinfo) for any method but CONNECT. No fragment anywhere. (Control bytes never get here: llhttp
    refuses them in the target, and the request line ends at its first LF, after a CR: head_complete.)"""
    cdef Py_ssize_t skip, i
    cdef char c
    if n == 0:
        return (400, "empty request-target")
    if memchr(s, b"#", n) != NULL:
        return (400, "fragment in the request-target")
    if s[0] == b"/":
        if method is M_CONNECT:
            return (400, "CONNECT needs an authority-form target")
        return check_path_escapes(s, n)
    if n == 1 and s[0] == b"*":
        if method is M_OPTIONS:
            return None
        return (400, "'*' target on a method other than OPTIONS")
    if method is M_CONNECT:
        # authority-form: host:port, nothing else
        if memchr(s, b":", n) == NULL:
            return (400, "CONNECT target without a port")
        for i in range(n):
            if not IS_HOSTCHAR[<unsigned char>s[i]]:
                return (400, "invalid character in the CONNECT target")
        return None
    if n > 7 and strncasecmp(s, "http://", 7) == 0:
        skip = 7
    elif n > 8 and strncasecmp(s, "https://", 8) == 0:
        skip = 8
    else:
        return (400, "request-target is not origin-form or absolute-form with http(s)")
    i = skip
    while i < n:
        c = s[i]
        if c == b"/" or c == b"?":
            break
        if c == b"@":
            return (400, "userinfo in an absolute-form target")
        if not IS_HOSTCHAR[<unsigned char>c]:
            return (400, "invalid character in the target's authority")
        i += 1
    if i == skip:
        return (400, "absolute-form target without a host")
    return check_path_escapes(s + i, n - i)


cdef str target_authority(const char *s, Py_ssize_t n):
    """The authority of an absolute-form target (already checked), else None. RFC 9112 3.2.2: a server MUST use it
    instead of the Host field, so the application builds its URLs from the host the proxy routed on."""
    cdef Py_ssize_t start, i
    cdef const char *p
    if n == 0 or s[0] == b"/" or s[0] == b"*":
        return None
    p = <const char *>memchr(s, b":", n)
    if p == NULL or p + 2 >= s + n or p[1] != b"/" or p[2] != b"/":
        return None                         # authority-form (CONNECT): the Host field stays
    start = p + 3 - s
    i = start
    while i < n and s[i] != b"/" and s[i] != b"?":
        i += 1
    return PyUnicode_DecodeLatin1(s + start, i - start, NULL)


cdef object check_path_escapes(const char *s, Py_ssize_t n):
    """PATH_INFO is percent-decoded: a %00 there would hand the app a NUL (path truncation in C-level file APIs).
    The query string is not decoded by the server and may hold any escape."""
    cdef const char *p = <const char *>memchr(s, b"%", n)
    cdef const char *end
    if p == NULL:
        return None
    end = <const char *>memchr(s, b"?", n)
    if end == NULL:
        end = s + n
    while p != NULL and p + 2 < end:
        if p[1] == b"0" and p[2] == b"0":
            return (400, "%00 in the request path")
        p = <const char *>memchr(p + 1, b"%", end - p - 1)
    return None


cdef object check_host(const char *value, Py_ssize_t n):
    """RFC 9112 3.2 / RFC 9110 7.2: a Host field value that is not uri-host[:port] is answered with 400."""
    cdef const unsigned char *s = <const unsigned char *>value
    cdef Py_ssize_t i
    if n == 0:
        return (400, "empty Host")
    for i in range(n):
        if not IS_HOSTCHAR[s[i]]:
            return (400, "invalid character in Host")
    return None


cdef object check_trailer(const char *name, Py_ssize_t n):
    """A field of the trailer section (rare: a bytes object is fine here)."""
    if PyBytes_FromStringAndSize(name, n).lower() in FORBIDDEN_TRAILERS:
        return (400, "forbidden field in the trailer section")
    return None


cdef long long parse_digits(const char *s, Py_ssize_t n) noexcept:
    """A Content-Length value: 1 to 18 digits, else -1 (no sign, no blanks, no list)."""
    cdef long long v = 0
    cdef Py_ssize_t i
    cdef char c
    if n == 0 or n > 18:
        return -1
    for i in range(n):
        c = s[i]
        if c < b"0" or c > b"9":
            return -1
        v = v * 10 + (c - 48)
    return v


cdef long long parse_content_length(bytes value) except -2:
    return parse_digits(PyBytes_AS_STRING(value), PyBytes_GET_SIZE(value))
