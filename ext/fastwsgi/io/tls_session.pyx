# TLS in the worker (tls_session.pxd): an SSLObject over memory BIOs, never a blocking SSL socket. The Connection reads and
# writes its socket as always; ciphertext goes through TlsSession.open() on the way in and TlsSession.seal() on the way out.
# The handshake needs no state of ours: until it is done, open() only feeds it and the connection sends what it
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

cdef enum:
    TLS_PLAIN = 2               # open(): plaintext went to the connection
    TLS_CLOSE_NOTIFY = 1        # open(): the client ended the session


@cython.final
cdef class TlsSession:

    @staticmethod
    cdef TlsSession new(object context):
        cdef TlsSession self = TlsSession.__new__(TlsSession)
        self.rbio = MemoryBIO()
        self.wbio = MemoryBIO()
        self.obj = context.wrap_bio(self.rbio, self.wbio, server_side=True)
        return self

    cdef int open(self, Connection conn, const char *data, Py_ssize_t n) except -2:
        cdef Parser parser = conn.parser
        cdef bytes chunk
        cdef int r = 0
        self.started = True
        self.rbio.write(PyMemoryView_FromMemory(<char *>data, n, PyBUF_READ))
        try:
            if not self.ready:
                self.obj.do_handshake()
                self.ready = True
            # every whole record read: without the last read's SSLWantReadError when nothing is left
            while not parser.stopped and (self.rbio.pending or self.obj.pending()):
                chunk = self.obj.read(TLS_READ)
                if not chunk:
                    break
                r |= TLS_PLAIN
                conn.received(PyBytes_AS_STRING(chunk), PyBytes_GET_SIZE(chunk))
        except SSLWantReadError:
            pass                        # a record is not whole yet (or the handshake waits for the client)
        except SSLZeroReturnError:
            r |= TLS_CLOSE_NOTIFY
        except SSLError as exc:
            conn.loop.logger.debug("TLS from %s: %s; closing the connection",
                                   conn.parser.remote_addr or "a UNIX socket peer", exc)
            self.alert(conn.fd)
            return -1
        return r

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


cdef int tls_received(Connection conn, const char *data, Py_ssize_t n) except -1:
    cdef TlsSession tls = conn.tls
    cdef int r
    cdef unsigned char first = <unsigned char>data[0]
    if not tls.started and first != 0x16 and 65 <= first <= 90:
        # not a TLS handshake record but (very likely) an HTTP method: answer in plain text, as nginx does
        conn.tls = None
        conn.loop.logger.debug("plain HTTP from %s on a TLS port; answering 400",
                               conn.parser.remote_addr or "a UNIX socket peer")
        conn.parser.fail(400, "plain HTTP request sent to a TLS port")
        conn.parser.stopped = True
        return conn.step()
    r = tls.open(conn, data, n)
    if r < 0:
        return conn.close()
    if r & TLS_CLOSE_NOTIFY:
        conn.eof = True                 # answer what it sent, then close
    if r:
        return conn.step()
    # nothing for the parser (the handshake, a partial record): send what TLS has to say
    conn.flush()
    if conn.state == CONN_CLOSED:
        return conn.close()
    return 0
