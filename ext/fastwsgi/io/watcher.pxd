# The floor of io/: what the loop's epoll set holds. The pool knows Watchers, not Connections: it hands each Job back
# to the Watcher that submitted it (on_job), so no call of the pool goes up to the connection's code.

cdef class Job


cdef class Watcher:
    # anything registered in the loop's epoll set; epoll_event.data.ptr points at it (the loop keeps it alive)
    cdef int fd
    cdef int on_event(self, unsigned int events) except -1
    cdef int on_job(self, Job job) except -1          # loop thread: its Job has output, or is finished
    cdef int close(self) except -1
