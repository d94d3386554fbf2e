# Environ building: interned keys, cached HTTP_* names, latin-1 native strings, percent-decoding of PATH_INFO.
# Byte-level only: nothing here knows about sockets.

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from cpython.object cimport PyObject
from cpython.ref cimport Py_INCREF, Py_XDECREF
from cpython.unicode cimport PyUnicode_DecodeLatin1
from libc.stdint cimport uint64_t
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
cdef str K_EARLY_HINTS = sys.intern("wsgi.early_hints")

# gunicorn's default secure_scheme_headers (the values meaning https: parser.pyx, scheme_is_secure)
cdef str K_HTTP_XF_PROTO = sys.intern("HTTP_X_FORWARDED_PROTO")
cdef str K_HTTP_XF_PROTOCOL = sys.intern("HTTP_X_FORWARDED_PROTOCOL")
cdef str K_HTTP_XF_SSL = sys.intern("HTTP_X_FORWARDED_SSL")

cdef str K_HTTP_CONNECTION = sys.intern("HTTP_CONNECTION")
cdef str K_HTTP_PROXY_CONNECTION = sys.intern("HTTP_PROXY_CONNECTION")

cdef str PROTO_11 = sys.intern("HTTP/1.1")
cdef str PROTO_10 = sys.intern("HTTP/1.0")
cdef str EMPTY_STR = sys.intern("")
cdef str DROPPED = sys.intern("<dropped>")   # a header name we never put in environ (it holds '_')

# request methods llhttp knows by name (bytes) -> interned str; the common ones are matched without a lookup
cdef str M_GET = sys.intern("GET")
cdef str M_POST = sys.intern("POST")
cdef str M_HEAD = sys.intern("HEAD")
cdef str M_PUT = sys.intern("PUT")
cdef dict METHODS = {}
for _m in ("GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT", "TRACE"):
    METHODS[_m.encode()] = sys.intern(_m)

# -- header name -> environ key: a process-wide table in C, looked up with the name's bytes where they lie ----------
# Open addressing, FIELD_KEYS_SIZE slots, at most FIELD_KEYS_MAX names (a client sending random names cannot grow it
# forever) and FIELD_PROBES probes per lookup (nor make lookups slow): past either bound a name is mapped without
# being cached. Names are kept as sent (case and all): a client spells a name the same way on every request.

cdef extern from *:
    """
    #include <stdint.h>
    /* a hash of a header name read 8 bytes at a time (the last word overlapping the one before it: no byte-sized
       tail); seeded per process (fw_name_seed) */
    static uint64_t fw_name_seed = 0x9E3779B97F4A7C15ULL;
    static inline uint64_t fw_name_hash(const char *s, Py_ssize_t n) {
        uint64_t h = fw_name_seed ^ ((uint64_t)n * 0xff51afd7ed558ccdULL), w = 0;
        Py_ssize_t i;
        if (n < 8) {
            for (i = 0; i < n; i++)
                w = (w << 8) | (unsigned char)s[i];
            h = (h ^ w) * 0xc4ceb9fe1a85ec53ULL;
            return (h ^ (h >> 29)) | 1;
        }
        for (i = 0; i + 8 < n; i += 8) {
            memcpy(&w, s + i, 8);
            h = (h ^ w) * 0xc4ceb9fe1a85ec53ULL;
            h ^= h >> 29;
        }
        memcpy(&w, s + n - 8, 8);
        h = (h ^ w) * 0xc4ceb9fe1a85ec53ULL;
        return (h ^ (h >> 29)) | 1;     /* never 0: 0 marks an empty slot */
    }
    """
    uint64_t fw_name_seed
    uint64_t name_hash "fw_name_hash" (const char *s, Py_ssize_t n) noexcept nogil

fw_name_seed = int.from_bytes(os.urandom(8), "little") | 1

cdef FieldKey FIELD_KEYS[FIELD_KEYS_SIZE]
cdef Py_ssize_t field_keys_used = 0
cdef FieldKey UNCACHED_KEY              # the answer for a name the table has no room for


cdef FieldKind key_kind(str key):
    if key is DROPPED:
        return FK_DROPPED
    if key is K_CONTENT_LENGTH:
        return FK_CONTENT_LENGTH
    if key is K_CONTENT_TYPE:
        return FK_CONTENT_TYPE
    if key is K_HTTP_HOST:
        return FK_HOST
    if key is K_HTTP_TE:
        return FK_TE
    if key is K_HTTP_EXPECT:
        return FK_EXPECT
    if key is K_HTTP_CONNECTION or key is K_HTTP_PROXY_CONNECTION:
        return FK_CONNECTION        # llhttp reads both for close/keep-alive/upgrade
    if key is K_HTTP_COOKIE:
        return FK_COOKIE
    if key is K_HTTP_XF_PROTO:
        return FK_XF_PROTO
    if key is K_HTTP_XF_PROTOCOL:
        return FK_XF_PROTOCOL
    if key is K_HTTP_XF_SSL:
        return FK_XF_SSL
    return FK_PLAIN


cdef const FieldKey *field_key(const char *name, Py_ssize_t n) except NULL:
    """The environ key (and kind) of a header name, from the table; a new name is mapped and, room permitting,
    cached. The answer is valid until the next call (an uncached name's entry is reused)."""
    global field_keys_used
    cdef uint64_t h = name_hash(name, n)
    cdef Py_ssize_t i = <Py_ssize_t>(h & (FIELD_KEYS_SIZE - 1)), probe
    cdef FieldKey *slot
    cdef FieldKey *free_slot = NULL
    cdef bytes bname
    cdef str key
    for probe in range(FIELD_PROBES):
        slot = &FIELD_KEYS[(i + probe) & (FIELD_KEYS_SIZE - 1)]
        if slot.hash == 0:
            free_slot = slot
            break
        if slot.hash == h and slot.len == n and memcmp(slot.data, name, n) == 0:
            return slot
    bname = PyBytes_FromStringAndSize(name, n)
    key = header_key_slow(bname)
    if free_slot == NULL or field_keys_used >= FIELD_KEYS_MAX:
        free_slot = &UNCACHED_KEY
        Py_XDECREF(free_slot.name)
        Py_XDECREF(free_slot.key)
    else:
        field_keys_used += 1
        free_slot.hash = h
    Py_INCREF(bname)
    Py_INCREF(key)
    free_slot.name = <PyObject *>bname
    free_slot.data = PyBytes_AS_STRING(bname)
    free_slot.len = n
    free_slot.key = <PyObject *>key
    free_slot.kind = key_kind(key)
    return free_slot


cdef str method_str(const char *s, Py_ssize_t n):
    """REQUEST_METHOD of a method token llhttp accepted: an interned str for the common ones."""
    if n == 3 and s[0] == b"G" and s[1] == b"E" and s[2] == b"T":
        return M_GET
    if n == 4 and memcmp(s, b"POST", 4) == 0:
        return M_POST
    if n == 4 and memcmp(s, b"HEAD", 4) == 0:
        return M_HEAD
    m = METHODS.get(PyBytes_FromStringAndSize(s, n))
    if m is None:
        return PyUnicode_DecodeLatin1(s, n, NULL)
    return <str>m


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
        K_EARLY_HINTS: None,        # (the connection's callable: Exchange.begin)
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
    """HTTP_* key of a header name (field_key() caches it). Names with '_' are dropped (they could pose as '-')."""
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
    return key


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
                hi = hexdigit(s[i + 1])
                lo = hexdigit(s[i + 2])
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


cdef str set_target(dict env, const char *s, Py_ssize_t n):
    """PATH_INFO, QUERY_STRING, RAW_URI and REQUEST_URI from the request-target; returns RAW_URI."""
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
        if start == 0 and end == n and memchr(s, b"%", n) == NULL:
            env[K_PATH_INFO] = raw          # the whole target, nothing to decode: the same str
        else:
            env[K_PATH_INFO] = decode_path(s + start, end - start)
        env[K_QUERY_STRING] = EMPTY_STR
    return raw
