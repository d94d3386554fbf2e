# Environ building: the interned keys (module constants of environ.pyx), HTTP_* names, the target's parts.
# Byte-level only: nothing here knows about sockets.

cdef dict base_environ(dict options)             # the keys every request starts with (url_scheme, multiprocess)
cdef dict dict_with_room(dict d)                  # a copy whose table takes a request's keys without a resize
cdef str header_key_slow(bytes name)              # HTTP_* key of a header name (DROPPED for names with '_')
cdef str decode_path(const char *s, Py_ssize_t n)  # PATH_INFO: percent-decoded, as latin-1 str
cdef int set_target(dict env, bytes url) except -1   # PATH_INFO, QUERY_STRING, RAW_URI, REQUEST_URI
