# Environ building: interned keys, cached HTTP_* names, latin-1 native strings, percent-decoding of PATH_INFO.
# Byte-level only: nothing here knows about sockets.

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.unicode cimport PyUnicode_DecodeLatin1
from libc.stdlib cimport malloc, free

cdef str K_METHOD = sys.intern("REQUEST_METHOD")
cdef str K_SCRIPT_NAME = sys.intern("SCRIPT_NAME")
cdef str K_PATH_INFO = sys.intern("PATH_INFO")
cdef str K_QUERY_STRING = sys.intern("QUERY_STRING")
cdef str K_PROTOCOL = sys.intern("SERVER_PROTOCOL")
cdef str K_SERVER_NAME = sys.intern("SERVER_NAME")
cdef str K_SERVER_PORT = sys.intern("SERVER_PORT")
cdef str K_REMOTE_ADDR = sys.intern("REMOTE_ADDR")
cdef str K_REMOTE_PORT = sys.intern("REMOTE_PORT")
cdef str K_RAW_URI = sys.intern("RAW_URI")
cdef str K_REQUEST_URI = sys.intern("REQUEST_URI")
cdef str K_CONTENT_TYPE = sys.intern("CONTENT_TYPE")
cdef str K_CONTENT_LENGTH = sys.intern("CONTENT_LENGTH")
cdef str K_HTTP_HOST = sys.intern("HTTP_HOST")
cdef str K_HTTP_COOKIE = sys.intern("HTTP_COOKIE")
cdef str K_HTTP_EXPECT = sys.intern("HTTP_EXPECT")
cdef str K_HTTP_TE = sys.intern("HTTP_TRANSFER_ENCODING")
cdef str K_INPUT = sys.intern("wsgi.input")
cdef str K_URL_SCHEME = sys.intern("wsgi.url_scheme")

# gunicorn's default secure_scheme_headers: environ key -> the value meaning https (compared lower-cased)
cdef str K_HTTP_XF_PROTO = sys.intern("HTTP_X_FORWARDED_PROTO")
cdef str K_HTTP_XF_PROTOCOL = sys.intern("HTTP_X_FORWARDED_PROTOCOL")
cdef str K_HTTP_XF_SSL = sys.intern("HTTP_X_FORWARDED_SSL")
cdef dict SECURE_SCHEME_VALUES = {K_HTTP_XF_PROTO: b"https", K_HTTP_XF_PROTOCOL: b"ssl", K_HTTP_XF_SSL: b"on"}

cdef str PROTO_11 = sys.intern("HTTP/1.1")
cdef str PROTO_10 = sys.intern("HTTP/1.0")
cdef str EMPTY_STR = sys.intern("")
cdef str DROPPED = sys.intern("<dropped>")   # marker in the header-key cache: a name we never put in environ

# header name bytes (as sent) -> environ key, or DROPPED; bounded so random names cannot grow it forever
cdef dict HEADER_KEYS = {}
cdef Py_ssize_t HEADER_KEYS_MAX = 4096

# request method bytes -> interned str
cdef dict METHODS = {}
for _m in ("GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT", "TRACE"):
    METHODS[_m.encode()] = sys.intern(_m)


cdef dict base_environ(dict options):
    """The keys every request's environ starts with, for a loop with these options (listener keys apart)."""
    return {
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": options["url_scheme"],
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": options["threads"] > 1,
        "wsgi.multiprocess": bool(options["multiprocess"]),
        "wsgi.run_once": False,
        "wsgi.input_terminated": True,
        "wsgi.file_wrapper": FileWrapper,
        K_SCRIPT_NAME: "",
        K_SERVER_NAME: "",
        K_SERVER_PORT: "",
        K_REMOTE_ADDR: "",
        K_REMOTE_PORT: "",
        # set for every request: present from the start, the per-request copy replaces them in place
        K_METHOD: None,
        K_PROTOCOL: None,
        K_RAW_URI: None,
        K_REQUEST_URI: None,
        K_PATH_INFO: None,
        K_QUERY_STRING: None,
        K_INPUT: None,
    }


cdef dict dict_with_room(dict d):
    """A copy of d whose hash table has grown once. dict.copy() keeps the table, so the per-request copies of a
    base environ take the request's keys (a typical head's fields among them) without a resize each."""
    cdef dict out = d.copy()
    cdef Py_ssize_t size = sys.getsizeof(out)
    cdef list pads = []
    cdef str pad
    while sys.getsizeof(out) == size:
        pad = " pad %d" % len(pads)
        pads.append(pad)
        out[pad] = None
    for key in pads:
        del out[key]
    return out


cdef str header_key_slow(bytes name):
    """HTTP_* key for a header name not cached yet. Names with '_' are dropped (they could pose as '-')."""
    cdef str key
    if b"_" in name:
        key = DROPPED
    else:
        key = name.decode("latin-1").upper().replace("-", "_")
        if key == "CONTENT_TYPE":
            key = K_CONTENT_TYPE
        elif key == "CONTENT_LENGTH":
            key = K_CONTENT_LENGTH
        else:
            key = sys.intern("HTTP_" + key)
    if len(HEADER_KEYS) < HEADER_KEYS_MAX:
        HEADER_KEYS[name] = key
    return key


cdef inline int hexval(char c) noexcept nogil:
    if b"0" <= c <= b"9":
        return c - 48
    if b"a" <= c <= b"f":
        return c - 87
    if b"A" <= c <= b"F":
        return c - 55
    return -1


cdef str decode_path(const char *s, Py_ssize_t n):
    """PATH_INFO from the raw path: percent-decoded bytes as a latin-1 str (PEP 3333). A '%' not followed by two
    hex digits stays as it is."""
    cdef Py_ssize_t i, j = 0
    cdef int hi, lo
    cdef char *out
    if memchr(s, b"%", n) == NULL:
        return PyUnicode_DecodeLatin1(s, n, NULL)
    out = <char *>malloc(n)
    if out == NULL:
        raise MemoryError()
    try:
        i = 0
        while i < n:
            if s[i] == b"%" and i + 2 < n:
                hi = hexval(s[i + 1])
                lo = hexval(s[i + 2])
                if hi >= 0 and lo >= 0:
                    out[j] = <char>(hi * 16 + lo)
                    j += 1
                    i += 3
                    continue
            out[j] = s[i]
            j += 1
            i += 1
        return PyUnicode_DecodeLatin1(out, j, NULL)
    finally:
        free(out)


cdef int set_target(dict env, bytes url) except -1:
    """PATH_INFO, QUERY_STRING, RAW_URI and REQUEST_URI from the request-target."""
    cdef const char *s = PyBytes_AS_STRING(url)
    cdef Py_ssize_t n = PyBytes_GET_SIZE(url)
    cdef Py_ssize_t start = 0, q, end
    cdef const char *p
    cdef str raw = PyUnicode_DecodeLatin1(s, n, NULL)
    env[K_RAW_URI] = raw
    env[K_REQUEST_URI] = raw
    if n > 0 and s[0] != b"/":
        # absolute-form (http://host/path?q): PATH_INFO starts at the path
        p = <const char *>memchr(s, b":", n)
        if p != NULL and p + 2 < s + n and p[1] == b"/" and p[2] == b"/":
            p = <const char *>memchr(p + 3, b"/", n - (p + 3 - s))
            start = (p - s) if p != NULL else n
    end = n
    p = <const char *>memchr(s + start, b"#", n - start)
    if p != NULL:
        end = p - s
    p = <const char *>memchr(s + start, b"?", end - start)
    if p != NULL:
        q = p - s
        env[K_PATH_INFO] = decode_path(s + start, q - start)
        env[K_QUERY_STRING] = PyUnicode_DecodeLatin1(s + q + 1, end - q - 1, NULL)
    else:
        env[K_PATH_INFO] = decode_path(s + start, end - start)
        env[K_QUERY_STRING] = EMPTY_STR
    return 0
