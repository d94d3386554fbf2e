# Environ building: the interned keys (module constants of environ.pyx), HTTP_* names, the target's parts.
# Byte-level only: nothing here knows about sockets.
from cpython.object cimport PyObject
from libc.stdint cimport uint64_t

cdef enum FieldKind:
    # what the parser does with a header field besides storing it (field_key() says which)
    FK_PLAIN = 0
    FK_DROPPED              # a name with '_': never in the environ
    FK_CONTENT_LENGTH
    FK_CONTENT_TYPE
    FK_HOST
    FK_TE
    FK_EXPECT
    FK_CONNECTION           # Connection or Proxy-Connection
    FK_COOKIE
    FK_XF_PROTO             # gunicorn's secure_scheme_headers
    FK_XF_PROTOCOL
    FK_XF_SSL

cdef enum:
    FIELD_KEYS_SIZE = 8192  # slots of the name table (a power of 2)
    FIELD_KEYS_MAX = 4096   # names cached at most
    FIELD_PROBES = 8        # slots looked at per lookup

cdef struct FieldKey:
    uint64_t hash           # 0: an empty slot
    PyObject *name          # bytes, as sent (a reference held by the table) ...
    const char *data        # ... its bytes
    Py_ssize_t len
    PyObject *key           # str: the environ key, or DROPPED
    FieldKind kind

cdef dict base_environ(dict options)             # the keys every request starts with (url_scheme, multiprocess)
cdef dict dict_with_room(dict d)                  # a copy whose table takes a request's keys without a resize
cdef str header_key_slow(bytes name)              # HTTP_* key of a header name (DROPPED for names with '_')
cdef const FieldKey *field_key(const char *name, Py_ssize_t n) except NULL   # cached key and kind of a name
cdef str method_str(const char *s, Py_ssize_t n)  # REQUEST_METHOD (interned for the common methods)
cdef str decode_path(const char *s, Py_ssize_t n)  # PATH_INFO: percent-decoded, as latin-1 str
cdef str set_target(dict env, const char *s, Py_ssize_t n)   # PATH_INFO, QUERY_STRING, RAW_URI, REQUEST_URI; RAW_URI
