# Batch (batch.pxd): the socket calls of one wakeup in one io_uring_enter. A system call costs ~220 ns on this kind of
# machine (return-stack mitigations, a virtual CPU) before any work is done; a wakeup with a few answers to send and a
# few requests to read pays it once per batch instead of once per call. Nothing waits in the ring: every entry is
# non-blocking and completes inside the enter.

# the batched reads of one wakeup: a slot each, for so many connections at most (the others read as before); a slot
# filled to the brim is read on from the socket with the loop's buffer (Loop.run)
cdef Py_ssize_t READ_SLOT = 16 * 1024
cdef int READ_SLOTS = 64
# calls made through the ring in this process, and the enters that carried them (uring_counters: tests, bench)
cdef long long ring_enters = 0, ring_sends = 0, ring_reads = 0


@cython.final
cdef class Batch:

    def __cinit__(self):
        fw_uring_init(&self.ring)

    def __dealloc__(self):
        fw_uring_close(&self.ring)
        free(self.res)
        free(self.buf)

    @staticmethod
    cdef Batch open(object logger):
        cdef Batch self = Batch.__new__(Batch)
        cdef int err = fw_uring_open(&self.ring, MAX_EVENTS)
        if err < 0:
            logger.debug("io_uring not available (%s): one system call each", strerror(-err).decode())
            return None
        self.logger = logger
        self.res = <long *>malloc(self.ring.entries * sizeof(long))
        if self.res == NULL:
            raise MemoryError()
        return self

    cdef int send(self, list pending) except -1:
        global ring_enters, ring_sends
        cdef Py_ssize_t n = PyList_GET_SIZE(pending), start = 0, i, k
        cdef Connection conn
        cdef long r
        cdef int err
        while start < n and self.ring.fd >= 0:
            k = 0
            while start + k < n and k < <Py_ssize_t>self.ring.entries:
                conn = <Connection>PyList_GET_ITEM(pending, start + k)
                self.res[k] = FW_NOT_RUN
                if conn.fd >= 0 and conn.tls is None and conn.wpos < conn.wbuf.len:
                    fw_uring_prep(&self.ring, 0, conn.fd, conn.wbuf.data + conn.wpos, conn.wbuf.len - conn.wpos, k)
                k += 1
            err = fw_uring_run(&self.ring, self.res, k)
            if err < 0:
                return self.failed(err)
            ring_enters += 1
            for i in range(k):
                r = self.res[i]
                if r != FW_NOT_RUN:
                    ring_sends += 1
                if r > 0:
                    conn = <Connection>PyList_GET_ITEM(pending, start + i)
                    conn.wpos += r
            start += k
        return 0

    cdef int read(self, epoll_event *events, int n, Watcher pool) except -1:
        global ring_enters, ring_reads
        cdef Watcher w
        cdef Connection conn
        cdef int i, k = 0, err
        if self.ring.fd < 0 or <unsigned>n > self.ring.entries:
            return 0
        for i in range(n):
            w = <Watcher>events[i].data.ptr
            if type(w) is Connection:
                if (<Connection>w).interest == EPOLLIN and k < READ_SLOTS:
                    k += 1
            elif w is pool:
                return 0
        if k < 2:
            return 0
        if self.buf == NULL:
            self.buf = <char *>malloc(READ_SLOT * READ_SLOTS)
            if self.buf == NULL:
                raise MemoryError()
        k = 0
        for i in range(n):
            self.res[i] = FW_NOT_RUN
            w = <Watcher>events[i].data.ptr
            if type(w) is Connection and k < READ_SLOTS:
                conn = <Connection>w
                if conn.interest == EPOLLIN and conn.fd >= 0:
                    fw_uring_prep(&self.ring, 1, conn.fd, self.buf + k * READ_SLOT, READ_SLOT, i)
                    k += 1
        err = fw_uring_run(&self.ring, self.res, n)
        if err < 0:
            self.failed(err)
            return 0
        ring_enters += 1
        ring_reads += k
        return 1

    cdef const char *slot(self, int k) noexcept:
        return self.buf + k * READ_SLOT

    cdef int failed(self, int err) except -1:
        self.logger.warning("io_uring failed (%s): this worker makes one system call each from now on",
                            strerror(-err).decode())
        fw_uring_close(&self.ring)
        return 0

    cdef int close(self) except -1:
        fw_uring_close(&self.ring)
        return 0


def uring_counters():
    """What went through this process's io_uring: enters, and the sends and reads they carried."""
    return {"enters": ring_enters, "sends": ring_sends, "reads": ring_reads}
