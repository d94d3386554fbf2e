cdef class Batch:
    # one worker's io_uring (uring.h) as a batch of non-blocking socket calls: the answers held to the end of a wakeup
    # go out in one io_uring_enter, and the wakeup's readable connections are read in one, each into a slot of its
    # own. Every result is back when the enter returns; what the ring did not do, the connection does as ever (a
    # send of the rest, EAGAIN, errors: Connection.flush; a read: on_readable). Made by Loop.run where the io_uring
    # setting is on and the kernel lets the worker have a ring (else the loop has None, and one call each).
    cdef:
        fw_uring ring
        long *res                   # the results, by slot: bytes, -errno, or FW_NOT_RUN (no call made)
        char *buf                   # READ_SLOT bytes per read slot (allocated on the first batched read)
        object logger

    @staticmethod
    cdef Batch open(object logger)             # None where the kernel refuses io_uring (logged at debug level)
    cdef int send(self, list pending) except -1     # the Connections' unsent answers; wpos moved by what went out
    # the wakeup's events: 1 when two or more readable connections were read (res[i]: event i's result, its bytes in
    # the next slot), 0 when nothing was (too few, or the pool's event among them: a Job's answers come first)
    cdef int read(self, epoll_event *events, int n, Watcher pool) except -1
    cdef const char *slot(self, int k) noexcept
    cdef int failed(self, int err) except -1        # the ring failed: closed, one call each from now on (logged)
    cdef int close(self) except -1
