# App threads (--threads N > 1): the loop thread keeps every socket, the parser and body buffering; a request whose
# body is whole becomes a Job, run on one of N threads. The Job frames the app's answer into a buffer of its own;
# the loop moves it into the connection's write buffer and sends it. One eventfd wakes the loop per burst of Jobs.

cdef struct PoolWait:
    # what the loop does, with the GIL released, just before its epoll_wait (Pool.before_wait fills it)
    sem_t *post                 # wake a thread (NULL: none): it then finds the GIL free and the wakeup's Jobs queued
    bint gather                 # first sleep POOL_GATHER: let a burst of Jobs gather before a thread wakes
    bint settle                 # first wait up to POOL_STALL on the eventfd: the awake thread's answers come first
    pollfd settle_fd
    timespec settle_time
    timespec gather_time


cdef class Job:
    # one Watcher's app calls on pool threads (made once per connection, reset per request). The Job drives the
    # connection's Exchange; the loop thread moves obuf into the connection's write buffer and sends it.
    cdef:
        Watcher owner               # the connection that submitted it: its on_job() takes the output (loop thread)
        Exchange ex                 # the request being served (its environ, Response, iterator, file span)
        Pool pool
        CBuf obuf                   # answer bytes framed on the app thread, not yet taken by the loop
        const CBuf *sink            # the owner's write buffer and how much of it is sent: the app thread waits
        const Py_ssize_t *sink_pos  # ... while too much is unsent (read with the GIL held)
        bint finished               # the answer is complete (obuf holds its end); the loop takes the Job back
        bint abort                  # the app failed after its head was out: the loop closes the connection
        bint notified               # in the pool's done list, not yet seen by the loop
        bint waiting                # the app thread waits for the loop to send what is pending (write(), backpressure)
        bint gone                   # the connection closed: stop producing, write() raises
        Py_ssize_t wait_below       # ... until at most this much is pending
        sem_t drained               # posted by the loop when the wait is over

    @staticmethod
    cdef Job new(Watcher owner, Exchange ex, Pool pool, const CBuf *sink, const Py_ssize_t *sink_pos)
    cdef int run(self) except -1                      # on a pool thread: the Exchange's whole call and iteration
    cdef int emit(self, bint final) except -1         # hand obuf to the loop; wait if too much is pending
    cdef int write(self, object data) except -1       # PEP 3333 write() from the app thread: wait until sent
    cdef int hint(self, bytes data) except -1         # a 103 answer from the app thread: to the loop, no wait
    cdef int wake(self) except -1                     # loop thread: end a wait (sent enough, or the connection closed)
    cdef inline Py_ssize_t unsent(self):              # the owner's bytes not yet sent
        return self.sink.len - self.sink_pos[0]


cdef class Pool(Watcher):
    # the N threads, the Jobs waiting for one, and the eventfd (this Watcher's fd) through which they wake the loop.
    # Threads are woken one at a time (kick): one awake thread drains the Jobs while the app is fast; another wakes
    # only when none is awake or the awake ones took no Job for POOL_STALL (an app blocked in I/O, a long call).
    # Each hand-over between the loop and a thread is a wakeup, so when the host is short of CPU (tasks wait for one:
    # PSI) the loop makes bursts of them: it lets a burst gather for POOL_GATHER before it wakes an idle pool
    # (gather), and waits for the awake thread's answers before it looks at the sockets again (settling). With CPU
    # to spare both would only leave it idle, so the hand-overs go at once
    cdef:
        WorkerStats *stats          # app calls begun are counted here
        object logger
        object jobs                 # collections.deque of Jobs waiting for a thread
        list done                   # Jobs with output for the loop (or finished), in order of completion
        list threads
        int nthreads
        sem_t ready                 # one post per thread woken (or per thread to stop)
        bint stopping
        int idle                    # threads asleep on `ready`, not posted
        int spinning                # threads posted that have not taken a Job yet
        int running                 # threads in a Job (fast, or blocked outside the GIL: kick cannot tell)
        double progress_at          # monotonic time a thread last took a Job (or was woken)
        bint settled                # the loop waits on the eventfd alone (settling): Jobs left to run go first
        bint owed                   # `done` has Jobs the eventfd has not been written for (settled: the loop looks)
        Py_ssize_t gathering        # Jobs queued when the loop began to gather (0: not gathering)
        int gather_misses           # gathers in a row that brought no Job
        double gather_off_until     # no gathering before this (a lone client: a gather only delays it)
        bint contended              # tasks wait for a CPU (PSI): gather and settle; else hand over at once
        int psi_fd                  # /proc/pressure/cpu (or the loop's cpu_pressure file); -1: none
        double psi_next             # when to read it again
        double psi_at               # when it was last read
        double psi_total            # its cumulative stall time then (µs)

    @staticmethod
    cdef Pool new(int nthreads, object pressure, WorkerStats *stats, object logger)
    cdef int start(self) except -1
    cdef int submit(self, Job job) except -1          # loop thread: queue it (kick wakes a thread if needed)
    # the loop's wait, around its epoll_wait: whether to wake a thread, let a burst gather, or settle first
    cdef int before_wait(self, double now, bint relisten, PoolWait *w, int *timeout) except -1
    cdef int after_wait(self, PoolWait *w) except -1
    cdef int watch_cpu(self, double now) except -1    # is the host short of CPU (every 0.1 s)?
    cdef bint gather(self, double now) except -1      # let a burst gather first?
    cdef bint kick(self, double woke) except -1       # post `ready` (nogil)?
    cdef bint settling(self, double now) except -1    # wait for the awake thread's answers first?
    cdef int settled_end(self) except -1              # back from settling: take what is owed
    cdef int notify(self, Job job) except -1          # app thread: the Job has output or is finished
    cdef int stop(self) except -1                     # the threads end once idle


cdef bint pool_wait_first(PoolWait *w) noexcept nogil     # the post and the short sleep; True if it slept
