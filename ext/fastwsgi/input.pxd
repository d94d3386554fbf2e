cdef class Input:
    # wsgi.input of one request with a body. Bytes arrive through feed() (the parser's on_body); when the app wants
    # more than is buffered, fill() asks the connection serving it to read the socket (blocking up to body_timeout).
    cdef:
        Connection conn        # the connection serving the request (set when its app is called); None once done
        bytearray buf          # received, not yet read by the app: buf[pos:]
        Py_ssize_t pos
        bint complete          # the parser saw the end of this body
        bint discard           # the app is done: drop what still arrives (draining)
        bint expect_continue   # send "100 Continue" before the first socket read
        long long received     # body bytes seen so far
        object error           # exception to raise to the app (client gone, malformed body, timeout)

    @staticmethod
    cdef Input new(bint expect_continue)
    cdef int feed(self, bytes data) except -1
    cdef int fill(self) except -1          # one more piece of body from the socket; raises on error
    cdef bytes take(self, Py_ssize_t n)    # n bytes from buf (n <= available)
    cdef Py_ssize_t available(self)        # bytes buffered, not yet read


cdef class EmptyInput:
    # the shared wsgi.input of every bodyless request: always at EOF
    pass
