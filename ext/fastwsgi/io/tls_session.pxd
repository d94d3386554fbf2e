# TLS in the worker: the ssl module's SSLObject over two memory BIOs, so the loop keeps its own non-blocking socket
# I/O. Ciphertext read from the socket is opened into plaintext for the Parser; the plaintext the Response framed
# into the connection's write buffer is sealed into ciphertext in place, just before it is sent.

cdef class TlsSession:
    # one connection's TLS session (made at accept when the worker has an SSLContext)
    cdef:
        object obj              # ssl.SSLObject, server side
        object rbio             # ssl.MemoryBIO: ciphertext from the client, not yet opened
        object wbio             # ssl.MemoryBIO: ciphertext for the client, not yet in the write buffer
        bint ready              # the handshake is done: application data flows
        bint started            # a byte arrived (the first one tells TLS from plain HTTP)
        bint said_goodbye       # close_notify was sent
        bint peer_done          # the client sent close_notify
        str error               # why the handshake or a record failed (the connection then closes), else None
        Py_ssize_t sealed       # the write buffer's first `sealed` bytes are ciphertext (the rest is plaintext)

    @staticmethod
    cdef TlsSession new(object context)
    cdef int feed(self, const char *data, Py_ssize_t n) except -1    # ciphertext in: 0, or 1 (error)
    cdef object read(self)          # the next plaintext (bytes), or None: no whole record, peer_done or error
    cdef int seal(self, CBuf *wbuf) except -1         # wbuf[sealed:] plaintext -> ciphertext, plus what TLS wants out
    cdef int alert(self, int fd) except -1            # best effort: a failed session's alert straight to the socket
    cdef int goodbye(self, int fd) except -1          # best effort: close_notify straight to the socket
