# wsgi.input: the body of one request, complete before the app is called. It never holds more than the body: the
# parser hands it exactly the body bytes. In memory up to body_buffer_size, then in an anonymous temporary file.

from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_GET_SIZE
from cpython.bytes cimport PyBytes_FromStringAndSize

import errno as _errno
import tempfile as _tempfile

cdef Py_ssize_t COMPACT_AT = 65536

# The spool budget (issue 25.2): the bytes this worker's spooled bodies may take at once. spool_limit > 0: that many;
# 0: no limit; -1 (auto): a body is spooled only if the spool's filesystem keeps SPOOL_RESERVE of its size (at most
# SPOOL_RESERVE_MAX) free once it is all there, as measured when it starts and every SPOOL_STEP it grows. Beyond:
# 503 with Retry-After (413 when the body could never fit), before its bytes are written; a failed write is a 507.
cdef long long spool_limit = -1
cdef object spool_dir = None            # tmp_upload_dir, or None: $TMPDIR
cdef object spool_logger = None
cdef long long spool_held = 0           # bytes counted for this worker's spooled bodies now ...
cdef long long spool_written = 0        # ... and how many of them are on disk already
cdef dict spool_logged = {}             # status -> [when last logged, refused since]: once a second per status
cdef long long SPOOL_STEP = 1 << 20
cdef double SPOOL_RESERVE = 0.1
cdef long long SPOOL_RESERVE_MAX = 1 << 30
cdef frozenset DISK_FULL = frozenset([_errno.ENOSPC, _errno.EDQUOT, _errno.EFBIG])


cdef int spool_setup(long long limit, object directory, object logger) except -1:
    """Once per Loop: the budget (-1: auto), the directory (None: $TMPDIR) and where refusals are logged."""
    global spool_limit, spool_dir, spool_logger
    spool_limit, spool_dir, spool_logger = limit, directory, logger
    return 0


cdef int spool_refuse(int status, str why) except -1:
    cdef double now = monotonic()
    cdef list seen = spool_logged.setdefault(status, [-1.0, 0])
    seen[1] += 1
    if spool_logger is not None and now >= seen[0] + 1.0:
        spool_logger.warning("Request body refused with %d: %s (%d refused in the last second; spool_limit, "
                             "tmp_upload_dir)", status, why, seen[1])
        seen[0] = now
        seen[1] = 0
    return status


cdef int disk_refused(object exc) except -1:
    """A spool write (or its flush) failed: a full disk or quota is a 507 and a warning naming the directory."""
    if exc.errno not in DISK_FULL:
        raise exc
    return spool_refuse(507, f"spooling to {spool_dir or _tempfile.gettempdir()} failed: {exc.strerror}")


cdef int spool_admit(long long need, long long total) except -1:
    """May `need` more bytes go to the spool for a body of `total` bytes (so far)? 0, or the status refusing them."""
    cdef long long free, size, reserve
    if spool_limit > 0:
        if total > spool_limit:
            return spool_refuse(413, f"a body of {total} bytes is larger than spool_limit ({spool_limit})")
        if spool_held + need > spool_limit:
            return spool_refuse(503, f"spool_limit ({spool_limit} bytes) is taken by the bodies being received")
        return 0
    if spool_limit == 0:
        return 0
    directory = spool_dir or _tempfile.gettempdir()
    try:
        st = os.statvfs(directory)
    except OSError:
        return 0                        # the write will tell
    size = st.f_blocks * st.f_frsize
    free = st.f_bavail * st.f_frsize
    reserve = min(<long long>(size * SPOOL_RESERVE), SPOOL_RESERVE_MAX)
    if total > size - reserve:
        return spool_refuse(413, f"a body of {total} bytes can never fit {directory}")
    free -= spool_held - spool_written      # what this worker's admitted bodies will still write
    if free - need < reserve:
        return spool_refuse(503, f"{directory} would have less than {reserve} bytes free ({free} now)")
    return 0


@cython.final
cdef class Input:

    @staticmethod
    cdef Input new(Py_ssize_t memory, long long expected):
        cdef Input self = Input.__new__(Input)
        self.buf = bytearray()
        self.memory = memory
        self.expected = expected
        return self

    def __dealloc__(self):
        global spool_held, spool_written
        spool_held -= self.held             # (a body dropped unread: its connection closed)
        spool_written -= self.written

    cdef int feed(self, bytes data) except -1:
        global spool_written
        cdef int status
        self.received += len(data)
        if self.file is None and PyByteArray_GET_SIZE(self.buf) + len(data) <= self.memory:
            self.buf += data
            return 0
        if self.received > self.held:
            # the body spools (or grows past what was counted): its declared length, else (chunked) a step more
            status = self.spool()
            if status:
                return status
        try:
            if self.file is None:
                # too big for memory: spool what came so far and the rest to a file (nginx's client_body_buffer_size)
                self.file = _tempfile.TemporaryFile(dir=spool_dir)
                self.file.write(self.buf)
                self.written = len(self.buf)
                spool_written += self.written
                self.buf = None
            self.file.write(data)
            self.written += len(data)
            spool_written += len(data)
        except OSError as exc:
            return disk_refused(exc)
        return 0

    cdef int spool(self) except -1:
        global spool_held
        cdef long long need, total
        cdef int status
        if self.expected >= 0:
            total = self.expected
            need = total - self.held
        else:
            total = self.received
            need = self.received + SPOOL_STEP - self.held
            if spool_limit > 0:             # a step may not take what the others need: grow as far as the budget
                need = max(min(need, spool_limit - spool_held), self.received - self.held)
        status = spool_admit(need, total)
        if status == 0:
            self.held += need
            spool_held += need
        return status

    cdef int finish(self) except -1:
        if self.file is not None:
            try:
                self.file.flush()           # the buffered tail: the disk may refuse it only now
            except OSError as exc:
                return disk_refused(exc)
            self.file.seek(0)
        self.complete = True
        return 0

    cdef int release(self) except -1:
        global spool_held, spool_written
        self.buf = None
        self.pos = 0
        if self.file is not None:
            self.file.close()
            self.file = None
        spool_held -= self.held
        spool_written -= self.written
        self.held = self.written = 0
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
