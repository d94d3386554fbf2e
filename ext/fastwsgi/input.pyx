# wsgi.input: a streaming reader over one request body. It never reads past the body: the parser hands it exactly
# the body bytes, and it asks the connection for more only while the body is incomplete.

from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_GET_SIZE
from cpython.bytes cimport PyBytes_FromStringAndSize

cdef Py_ssize_t COMPACT_AT = 65536


@cython.final
cdef class Input:

    @staticmethod
    cdef Input new(bint expect_continue):
        cdef Input self = Input.__new__(Input)
        self.buf = bytearray()
        self.pos = 0
        self.expect_continue = expect_continue
        return self

    cdef int feed(self, bytes data) except -1:
        self.received += len(data)
        if not self.discard:
            if self.pos and self.pos == PyByteArray_GET_SIZE(self.buf):
                del self.buf[:]
                self.pos = 0
            self.buf += data
        return 0

    cdef int fill(self) except -1:
        if self.error is not None:
            raise self.error
        if self.conn is None:
            raise IOError("client disconnected")
        self.conn.read_body()
        if self.error is not None:
            raise self.error
        return 0

    cdef bytes take(self, Py_ssize_t n):
        cdef bytes out = PyBytes_FromStringAndSize(PyByteArray_AS_STRING(self.buf) + self.pos, n)
        self.pos += n
        if self.pos == PyByteArray_GET_SIZE(self.buf):
            del self.buf[:]
            self.pos = 0
        elif self.pos >= COMPACT_AT:
            del self.buf[:self.pos]
            self.pos = 0
        return out

    cdef Py_ssize_t available(self):
        return PyByteArray_GET_SIZE(self.buf) - self.pos

    def read(self, size=-1):
        cdef Py_ssize_t n = -1 if size is None else size
        if n < 0:
            while not self.complete:
                self.fill()
            return self.take(self.available())
        while self.available() < n and not self.complete:
            self.fill()
        return self.take(min(n, self.available()))

    def readline(self, size=-1):
        cdef Py_ssize_t limit = -1 if size is None else size
        cdef Py_ssize_t scanned = 0, avail, upto
        cdef const char *base
        cdef const char *nl
        while True:
            avail = self.available()
            base = PyByteArray_AS_STRING(self.buf) + self.pos
            upto = avail if limit < 0 else min(avail, limit)
            nl = <const char *>memchr(base + scanned, b"\n", upto - scanned)
            if nl != NULL:
                return self.take(nl - base + 1)
            if (limit >= 0 and avail >= limit) or self.complete:
                return self.take(upto)
            scanned = upto
            self.fill()

    def readlines(self, hint=-1):
        cdef list lines = []
        cdef Py_ssize_t total = 0
        cdef Py_ssize_t h = -1 if hint is None else hint
        while True:
            line = self.readline()
            if not line:
                return lines
            lines.append(line)
            total += len(line)
            if 0 < h <= total:
                return lines

    def __iter__(self):
        return self

    def __next__(self):
        line = self.readline()
        if not line:
            raise StopIteration
        return line


@cython.final
cdef class EmptyInput:

    def read(self, size=-1):
        return b""

    def readline(self, size=-1):
        return b""

    def readlines(self, hint=-1):
        return []

    def __iter__(self):
        return self

    def __next__(self):
        raise StopIteration


cdef EmptyInput EMPTY_INPUT = EmptyInput()
