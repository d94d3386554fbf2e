# wsgi.input: the body of one request, complete before the app is called. It never holds more than the body: the
# parser hands it exactly the body bytes. In memory up to body_buffer_size, then in an anonymous temporary file.

from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_GET_SIZE
from cpython.bytes cimport PyBytes_FromStringAndSize

import tempfile as _tempfile

cdef Py_ssize_t COMPACT_AT = 65536


@cython.final
cdef class Input:

    @staticmethod
    cdef Input new(Py_ssize_t memory):
        cdef Input self = Input.__new__(Input)
        self.buf = bytearray()
        self.memory = memory
        return self

    cdef int feed(self, bytes data) except -1:
        self.received += len(data)
        if self.file is not None:
            self.file.write(data)
        elif PyByteArray_GET_SIZE(self.buf) + len(data) > self.memory:
            # too big for memory: spool what came so far and the rest to a file (nginx's client_body_buffer_size)
            self.file = _tempfile.TemporaryFile()
            self.file.write(self.buf)
            self.file.write(data)
            self.buf = None
        else:
            self.buf += data
        return 0

    cdef int finish(self) except -1:
        self.complete = True
        if self.file is not None:
            self.file.seek(0)
        return 0

    cdef int release(self) except -1:
        self.buf = None
        self.pos = 0
        if self.file is not None:
            self.file.close()
            self.file = None
        return 0

    cdef bytes take(self, Py_ssize_t n):
        cdef bytes out = PyBytes_FromStringAndSize(PyByteArray_AS_STRING(self.buf) + self.pos, n)
        self.pos += n
        if self.pos >= COMPACT_AT and self.pos * 2 >= PyByteArray_GET_SIZE(self.buf):
            del self.buf[:self.pos]
            self.pos = 0
        return out

    cdef Py_ssize_t available(self):
        return PyByteArray_GET_SIZE(self.buf) - self.pos if self.buf is not None else 0

    def read(self, size=-1):
        cdef Py_ssize_t n = -1 if size is None else size
        if self.buf is None:
            return self.spooled().read(n)
        if n < 0 or n > self.available():
            n = self.available()
        return self.take(n)

    def readline(self, size=-1):
        cdef Py_ssize_t limit = -1 if size is None else size
        cdef Py_ssize_t avail, upto
        cdef const char *base
        cdef const char *nl
        if self.buf is None:
            return self.spooled().readline(limit)
        avail = self.available()
        base = PyByteArray_AS_STRING(self.buf) + self.pos
        upto = avail if limit < 0 else min(avail, limit)
        nl = <const char *>memchr(base, b"\n", upto)
        if nl != NULL:
            return self.take(nl - base + 1)
        return self.take(upto)

    cdef object spooled(self):
        if self.file is None:
            raise ValueError("I/O operation on a request body the app is done with")
        return self.file

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
