# A growable C byte buffer for response bytes: appends are a memcpy, growth doubles, nothing shrinks per request
# (a bytearray emptied and refilled for every response reallocates both ways).
from cpython.mem cimport PyMem_Realloc, PyMem_Free
from libc.string cimport memcpy, memmove

cdef struct CBuf:
    char *data
    Py_ssize_t len
    Py_ssize_t cap


cdef inline int cbuf_grow(CBuf *b, Py_ssize_t extra) except -1:
    cdef Py_ssize_t cap = b.cap * 2 if b.cap else 512
    cdef char *data
    if cap < b.len + extra:
        cap = b.len + extra
    data = <char *>PyMem_Realloc(b.data, cap)
    if data == NULL:
        raise MemoryError()
    b.data = data
    b.cap = cap
    return 0


cdef inline int cbuf_add(CBuf *b, const char *data, Py_ssize_t n) except -1:
    if b.len + n > b.cap:
        cbuf_grow(b, n)
    memcpy(b.data + b.len, data, n)
    b.len += n
    return 0


cdef inline void cbuf_consume(CBuf *b, Py_ssize_t n) noexcept:
    """Drop the first n bytes."""
    if n >= b.len:
        b.len = 0
    else:
        memmove(b.data, b.data + n, b.len - n)
        b.len -= n


cdef inline void cbuf_release(CBuf *b, Py_ssize_t keep) noexcept:
    """Empty the buffer; give the memory back if it grew past keep bytes (a big response must not stay)."""
    b.len = 0
    if b.cap > keep:
        PyMem_Free(b.data)
        b.data = NULL
        b.cap = 0
