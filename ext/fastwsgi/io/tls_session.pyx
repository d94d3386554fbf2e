# TLS in the worker (tls_session.pxd): an SSLObject over memory BIOs, never a blocking SSL socket. The Connection
# reads and writes its socket as always; ciphertext goes through TlsSession.feed()/read() on the way in and
# TlsSession.seal() on the way out.
# The handshake needs no state of ours: until it is done, feed() only feeds it and the connection sends what it
# answers. It happens in CONN_NEW, so header_timeout (counted from accept) bounds it as nginx's
# client_header_timeout does. The SSLContext (fastwsgi/tls.py) refuses renegotiation and offers ALPN http/1.1.

from cpython.memoryview cimport PyMemoryView_FromMemory
from cpython.buffer cimport PyBUF_READ

import ssl as _ssl

cdef object SSLWantReadError = _ssl.SSLWantReadError
cdef object SSLZeroReturnError = _ssl.SSLZeroReturnError
cdef object SSLError = _ssl.SSLError
cdef object MemoryBIO = _ssl.MemoryBIO
cdef Py_ssize_t TLS_READ = 64 * 1024           # plaintext taken from the session per read() call


@cython.final
cdef class TlsSession:

    @staticmethod
    cdef TlsSession new(object context):
        cdef TlsSession self = TlsSession.__new__(TlsSession)
        self.rbio = MemoryBIO()
        self.wbio = MemoryBIO()
        self.obj = context.wrap_bio(self.rbio, self.wbio, server_side=True)
        return self

    cdef int feed(self, const char *data, Py_ssize_t n) except -1:
        """Ciphertext from the client; the handshake goes on while it is not done. 0, or 1: it failed (error)."""
        self.started = True
        self.rbio.write(PyMemoryView_FromMemory(<char *>data, n, PyBUF_READ))
        if self.ready:
            return 0
        try:
            self.obj.do_handshake()
            self.ready = True
        except SSLWantReadError:
            pass                        # the handshake waits for the client
        except SSLError as exc:
            self.error = str(exc)
            return 1
        return 0

    cdef object read(self):
        """The plaintext of the next whole record(s), or None: none is whole (without the last read's
        SSLWantReadError when nothing is left), the client's close_notify (peer_done) or a bad record (error)."""
        if not self.ready or not (self.rbio.pending or self.obj.pending()):
            return None
        try:
            chunk = self.obj.read(TLS_READ)
        except SSLWantReadError:
            return None
        except SSLZeroReturnError:
            self.peer_done = True
            return None
        except SSLError as exc:
            self.error = str(exc)
            return None
        return chunk or None

    cdef int seal(self, CBuf *wbuf) except -1:
        cdef Py_ssize_t n = wbuf.len - self.sealed
        cdef bytes out
        if n > 0:
            if self.ready:
                try:
                    self.obj.write(PyMemoryView_FromMemory(wbuf.data + self.sealed, n, PyBUF_READ))
                except SSLError:
                    wbuf.len = self.sealed
                    return 1            # the session is broken (a fatal alert): the caller closes
            wbuf.len = self.sealed      # (plaintext before the handshake has nowhere to go: dropped)
        if self.wbio.pending:
            out = self.wbio.read()
            cbuf_add(wbuf, PyBytes_AS_STRING(out), PyBytes_GET_SIZE(out))
        self.sealed = wbuf.len
        return 0

    cdef int alert(self, int fd) except -1:
        # the alert OpenSSL wrote for a failed handshake or a bad record (handshake_failure, protocol_version,
        # decode_error...), best effort straight to the socket as nginx sends it: the client then says why it failed
        cdef bytes out
        if self.wbio.pending:
            out = self.wbio.read()
            send(fd, PyBytes_AS_STRING(out), PyBytes_GET_SIZE(out), MSG_NOSIGNAL | MSG_DONTWAIT)
        return 0

    cdef int goodbye(self, int fd) except -1:
        cdef bytes out
        if not self.ready or self.said_goodbye:
            return 0
        self.said_goodbye = True
        try:
            self.obj.unwrap()
        except (SSLError, ValueError):
            pass                        # SSLWantReadError: the client's close_notify is not awaited
        if self.wbio.pending:
            out = self.wbio.read()
            send(fd, PyBytes_AS_STRING(out), PyBytes_GET_SIZE(out), MSG_NOSIGNAL | MSG_DONTWAIT)
        return 0
