# Byte-level request checks that llhttp (strict mode) leaves to us; see docs/http-strictness.md.
# Each check returns None when the input is acceptable, else (status, reason). Nothing here knows about sockets.

cdef object check_transfer_encoding(str value, bint http10)   # TE list: chunked last and once, else 400/501
cdef object check_target(str method, const char *s, Py_ssize_t n)   # request-target form for the method (RFC 9112 3.2)
cdef str target_authority(const char *s, Py_ssize_t n)        # host[:port] of an absolute-form target, else None
cdef object check_path_escapes(const char *s, Py_ssize_t n)    # no %00 in the part that becomes PATH_INFO
cdef object check_host(const char *value, Py_ssize_t n)       # Host field value syntax (RFC 9110 7.2)
cdef object check_trailer(const char *name, Py_ssize_t n)    # a trailer field that must not be sent as trailer
cdef long long parse_digits(const char *s, Py_ssize_t n) noexcept   # Content-Length: 1-18 digits, else -1
cdef long long parse_content_length(bytes value) except -2   # parse_digits of a bytes object
