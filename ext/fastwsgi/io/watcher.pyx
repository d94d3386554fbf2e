# Watcher (watcher.pxd): the base of everything the loop's epoll set holds.


cdef class Watcher:

    cdef int on_event(self, unsigned int events) except -1:
        return 0

    cdef int on_job(self, Job job) except -1:
        return 0

    cdef int close(self) except -1:
        return 0
