# Byte-level request checks that llhttp (strict mode) leaves to us; see docs/http-strictness.md.
# Each check returns None when the input is acceptable, else (status, reason). Nothing here knows about sockets.

cdef object check_transfer_encoding(str value, bint http10)   # TE list: chunked last and once, else 400/501
cdef object check_target(str method, bytes url)               # request-target form for the method (RFC 9112 3.2)
cdef str target_authority(bytes url)                          # host[:port] of an absolute-form target, else None
cdef object check_path_escapes(const char *s, Py_ssize_t n)    # no %00 in the part that becomes PATH_INFO
cdef object check_host(bytes value)                           # Host field value syntax (RFC 9110 7.2)
cdef object check_trailer(bytes name)                         # a trailer field that must not be sent as trailer
cdef bytes strip_ows(bytes value)                             # field value without trailing SP/HTAB
cdef long long parse_content_length(bytes value) except -2   # 1-18 digits, else -1
