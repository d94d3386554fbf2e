# App threads: a Job runs the app (pre_request, the call, the iteration, close(), post_request) on a pool thread and
# frames the answer into its own buffer; the loop thread moves that buffer into the connection's write buffer and
# sends it (Connection.from_job). Everything the two threads share is touched with the GIL held and without a Python
# call in between, so each hand-over is atomic; the GIL is released only around the waits (a thread waiting for a
# Job, or for the loop to send). A thread wakes the loop once per burst: only the Job that makes the done list
# non-empty writes the eventfd. The loop wakes threads one at a time (Pool.kick): one awake thread drains a burst
# of fast Jobs in one GIL hold; another is woken only when Jobs wait and the awake ones stall (blocked in the app).

from collections import deque as _deque
import signal as _signal
import threading as _threading

cdef Py_ssize_t JOB_HIGH_WATER = 256 * 1024    # a streaming app thread waits while more than this is unsent ...
cdef Py_ssize_t JOB_LOW_WATER = 64 * 1024      # ... until at most this is left
# Jobs wait while the awake threads took none for this long before another thread is woken (an app blocked in I/O)
cdef double POOL_STALL = 0.0002
cdef int POOL_STALL_MS = 1
# An idle pool's first Jobs wait this long for the requests arriving right behind them (fewer than POOL_GATHER_ENOUGH
# queued): one wakeup then carries them all. Two gathers in a row that brought nothing turn it off for
# POOL_GATHER_BACKOFF, so a lone client is not delayed
cdef double POOL_GATHER = 0.00003
cdef Py_ssize_t POOL_GATHER_ENOUGH = 8
cdef int POOL_GATHER_MISSES = 2
cdef double POOL_GATHER_BACKOFF = 0.1
# Gathering and settling only while the host is short of CPU: tasks waited for a CPU at least POOL_CONTENDED of the
# time (PSI's "some" line) over the last POOL_PRESSURE_EVERY. With CPU to spare, a sleep of the loop leaves its core
# idle (a wakeup of an idle vCPU costs tens of µs): one worker on its own core served 16 connections at half the rate
cdef double POOL_CONTENDED = 0.3
cdef double POOL_PRESSURE_EVERY = 0.1

# what the pool did, for tests and tuning (pool_counters())
cdef long long pool_jobs = 0, pool_wakes = 0, pool_gathers = 0, pool_gathered = 0


def pool_counters():
    """This process's app-thread pool: Jobs run, threads woken, gathers, and gathers that brought more Jobs."""
    return {"jobs": pool_jobs, "wakes": pool_wakes, "gathers": pool_gathers, "gathered": pool_gathered}


@cython.final
cdef class Job:

    def __dealloc__(self):
        cbuf_release(&self.obuf, 0)
        sem_destroy(&self.drained)

    @staticmethod
    cdef Job new(Watcher owner, Exchange ex, Pool pool, const CBuf *sink, const Py_ssize_t *sink_pos):
        cdef Job self = Job.__new__(Job)
        self.owner = owner
        self.ex = ex
        self.pool = pool
        self.sink = sink
        self.sink_pos = sink_pos
        sem_init(&self.drained, 0, 0)
        return self

    cdef int run(self) except -1:
        """The Exchange's call on this thread: a file waits here while the loop sends it with sendfile(2); a
        stream's blocks go to the loop one by one (PEP 3333: each is out before the next is asked for)."""
        cdef Exchange ex = self.ex
        cdef int step = EX_DONE
        try:
            step = ex.call(&self.obuf)
            if step == EX_FILE and not self.gone:
                self.wait_below = 0
                self.waiting = True         # until the loop has sent the file (Connection.on_job, on_writable)
                self.emit(False)
            while step == EX_STREAM and not self.gone:
                step = ex.next_piece(&self.obuf)
                if step == EX_STREAM and ex.resp.committed() and type(ex.result) is not list:
                    self.emit(False)
            self.abort = step == EX_ABORT
            ex.end(NULL if self.gone else &self.obuf)
        finally:
            self.finished = True
            self.emit(True)
        return 0

    cdef int emit(self, bint final) except -1:
        cdef bint wait
        if not final and self.obuf.len + self.unsent() > JOB_HIGH_WATER:
            # backpressure: the client reads slower than the app produces; wait (set before the loop can look)
            self.wait_below = JOB_LOW_WATER
            self.waiting = True
        if self.gone:
            self.waiting = False            # closed: close() has already woken whatever was waiting, never again
        wait = self.waiting                 # the loop may end the wait (one post) before this thread waits
        if not self.notified:
            self.notified = True
            self.pool.notify(self)          # the eventfd write, with the GIL held
        if wait:
            with nogil:
                while sem_wait(&self.drained) != 0:
                    pass
        return 0

    cdef int write(self, object data) except -1:
        if self.gone:
            raise IOError("client disconnected")
        self.ex.resp.body(&self.obuf, data)
        self.wait_below = 0
        self.waiting = True
        self.emit(False)
        if self.gone:
            raise IOError("client disconnected")
        return 0

    cdef int hint(self, bytes data) except -1:
        if self.gone:
            return 0
        cbuf_add(&self.obuf, PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data))
        return self.emit(False)

    cdef int wake(self) except -1:
        if self.waiting:
            self.waiting = False
            sem_post(&self.drained)
        return 0


@cython.final
cdef class Pool(Watcher):

    def __dealloc__(self):
        sem_destroy(&self.ready)
        if self.fd >= 0:
            close(self.fd)
        if self.psi_fd >= 0:
            close(self.psi_fd)

    @staticmethod
    cdef Pool new(int nthreads, object pressure, WorkerStats *stats, object logger):
        cdef Pool self = Pool.__new__(Pool)
        self.psi_fd = -1
        if pressure is True:
            self.contended = True
        elif pressure:
            try:
                self.psi_fd = os.open(pressure, os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                pass                        # no PSI (an old kernel, psi=0, a container): hand over at once
        self.stats = stats
        self.logger = logger
        self.nthreads = nthreads
        self.jobs = _deque()
        self.done = []
        self.threads = []
        self.idle = nthreads
        sem_init(&self.ready, 0, 0)
        self.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)
        if self.fd < 0:
            raise OSError(errno, strerror(errno).decode())
        return self

    cdef int start(self) except -1:
        cdef int i
        for i in range(self.nthreads):
            thread = _threading.Thread(target=self._serve, name=f"fastwsgi-app-{i}", daemon=True)
            thread.start()
            self.threads.append(thread)
        return 0

    def _serve(self):
        """A pool thread: sleep until kick() wakes it, then take Jobs until none is left. Signals stay with the loop
        thread (it is the one that waits in epoll_wait and runs their handlers)."""
        cdef Job job
        _signal.pthread_sigmask(_signal.SIG_BLOCK, _signal.valid_signals())
        while True:
            with nogil:
                while sem_wait(&self.ready) != 0:
                    pass
            if self.stopping and not self.jobs:
                return
            if not self.jobs:
                self.spinning -= 1          # another thread took them meanwhile
                self.idle += 1
                continue
            self.spinning -= 1
            self.running += 1
            while self.jobs:
                job = self.jobs.popleft()
                self.progress_at = monotonic()
                self.stats.started += 1
                try:
                    job.run()
                except BaseException:
                    self.logger.exception("internal error on an app thread")
                job = None                  # an idle thread holds no connection
            self.running -= 1
            self.idle += 1

    cdef int submit(self, Job job) except -1:
        global pool_jobs
        pool_jobs += 1
        self.jobs.append(job)
        return 0

    cdef int before_wait(self, double now, bint relisten, PoolWait *w, int *timeout) except -1:
        """Loop thread, before its wait: fill w with what pool_wait_first() does once the GIL is released (wake a
        thread, or first let a burst gather, or settle), and shorten the timeout so that stalled threads are kicked
        again and a listener taken out of the epoll set comes back soon."""
        cdef bint gather
        self.watch_cpu(now)
        gather = self.gather(now)
        w.post = &self.ready if not gather and self.kick(now) else NULL
        if (relisten or (self.jobs and self.idle)) and timeout[0] > POOL_STALL_MS:
            timeout[0] = POOL_STALL_MS
        w.gather = gather
        w.settle = not gather and self.settling(now)
        w.settle_fd.fd = self.fd
        w.settle_fd.events = POLLIN
        w.settle_time.tv_sec = 0
        w.settle_time.tv_nsec = <long>(POOL_STALL * 1e9)
        w.gather_time.tv_sec = 0
        w.gather_time.tv_nsec = <long>(POOL_GATHER * 1e9)
        return 0

    cdef int after_wait(self, PoolWait *w) except -1:
        """Loop thread, back from its wait: a settling's owed answers are taken, and a signal that ended the short
        wait is handled."""
        if w.settle:
            try:
                self.settled_end()
            except Exception:
                self.logger.exception("internal error taking the app threads' answers")
        if w.gather or w.settle:
            PyErr_CheckSignals()
        return 0

    cdef int watch_cpu(self, double now) except -1:
        """Loop thread, every POOL_PRESSURE_EVERY: contended when tasks waited for a CPU at least POOL_CONTENDED of
        the time since the last look (the cumulative stall time of PSI's "some" line, in µs)."""
        if self.psi_fd < 0 or now < self.psi_next:
            return 0
        self.psi_next = now + POOL_PRESSURE_EVERY
        try:
            data = os.pread(self.psi_fd, 256, 0)
            start = data.index(b"total=") + 6
            end = data.find(b"\n", start)
            total = float(data[start:end if end >= 0 else len(data)])
        except (OSError, ValueError):
            os.close(self.psi_fd)           # unreadable: stop looking, hand over at once
            self.psi_fd = -1
            self.contended = False
            return 0
        if self.psi_at > 0:
            self.contended = (total - self.psi_total) >= POOL_CONTENDED * (now - self.psi_at) * 1e6
        self.psi_total = total
        self.psi_at = now
        return 0

    cdef bint gather(self, double now) except -1:
        """Loop thread, before it waits: True to hold the kick for POOL_GATHER, when no thread is awake and fewer
        than POOL_GATHER_ENOUGH Jobs wait. Under load the requests of other connections arrive microseconds apart;
        without it each wakes the loop and a thread for itself. Back from a gather (the next call), the kick goes
        ahead, and the gather is scored: POOL_GATHER_MISSES in a row that brought nothing stop gathering for
        POOL_GATHER_BACKOFF."""
        global pool_gathers, pool_gathered
        cdef Py_ssize_t queued = len(self.jobs)
        if self.gathering:
            if queued > self.gathering:
                pool_gathered += 1
                self.gather_misses = 0
            else:
                self.gather_misses += 1
                if self.gather_misses >= POOL_GATHER_MISSES:
                    self.gather_misses = 0
                    self.gather_off_until = now + POOL_GATHER_BACKOFF
            self.gathering = 0
            return False
        if (self.contended and 0 < queued < POOL_GATHER_ENOUGH and self.running == 0 and self.spinning == 0
                and now >= self.gather_off_until and not self.stopping):
            pool_gathers += 1
            self.gathering = queued
            return True
        return False

    cdef bint kick(self, double woke) except -1:
        """Loop thread, before it waits: True when a thread is to be woken; the loop posts `ready` once it has
        released the GIL (in its nogil block, just before epoll_wait), so that the thread finds the GIL free and
        every Job of the wakeup waiting. A thread is woken when Jobs wait and no thread is awake, or when the awake
        ones took no Job for POOL_STALL before this wakeup began (blocked in the app: waking more threads while one
        drains Jobs fast only makes them fight over the GIL)."""
        global pool_wakes
        if self.jobs and self.idle and self.spinning == 0 and (
                self.running == 0 or woke - self.progress_at >= POOL_STALL):
            pool_wakes += 1
            self.idle -= 1
            self.spinning += 1
            self.progress_at = woke
            return True
        return False

    cdef bint settling(self, double now) except -1:
        """Loop thread, before it waits: True while a thread is awake on Jobs, has taken one within POOL_STALL and
        has handed nothing back yet. The loop then waits on the eventfd alone for up to POOL_STALL before it looks at
        the sockets: requests that arrive meanwhile gather into the next burst, as they would behind an inline app
        call, instead of waking the loop (and a thread) one by one. A thread blocked in the app stops the settling
        after POOL_STALL, so a request still never waits behind another connection's call while a thread is free."""
        self.settled = (self.contended and (self.running or self.spinning) and not PyList_GET_SIZE(self.done)
                        and now - self.progress_at < POOL_STALL)
        return self.settled

    cdef int settled_end(self) except -1:
        self.settled = False
        if self.owed:                       # the settling ended before the burst did: take what is finished
            self.on_event(EPOLLIN)
        return 0

    cdef int notify(self, Job job) except -1:
        cdef unsigned long long one = 1
        self.done.append(job)
        if PyList_GET_SIZE(self.done) == 1:
            self.owed = True
        # while the loop settles, the answers wait for the end of this burst's Jobs (one wakeup, the GIL free then);
        # a Job that blocks meanwhile releases the GIL, and the loop, back from its short wait, takes them itself
        if self.owed and not (self.settled and self.jobs):
            self.owed = False
            write(self.fd, &one, 8)         # with the GIL held: the loop takes it when this thread lets go
        return 0

    cdef int on_event(self, unsigned int events) except -1:
        """Loop thread: the eventfd fired; take every Job with output, in order."""
        cdef unsigned long long count
        cdef list done = self.done
        cdef Job job
        read(self.fd, &count, 8)
        self.done = []
        self.owed = False
        for job in done:
            job.notified = False
            try:
                job.owner.on_job(job)
            except Exception:
                self.logger.exception("internal error on fd %d; closing it", job.owner.fd)
                job.owner.close()
        return 0

    cdef int stop(self) except -1:
        cdef int _
        self.stopping = True
        for _ in range(self.nthreads):
            sem_post(&self.ready)
        return 0


cdef bint pool_wait_first(PoolWait *w) noexcept nogil:
    """With the GIL released, just before epoll_wait: wake the thread kick() chose (it finds the GIL free), or first
    sleep so that a burst gathers (gather) or the awake thread's answers arrive (settle). True if it slept: the
    epoll_wait that follows then only looks (timeout 0)."""
    if w.post != NULL:
        sem_post(w.post)
    if w.gather:
        ppoll(NULL, 0, &w.gather_time, NULL)
        return True
    if w.settle:
        ppoll(&w.settle_fd, 1, &w.settle_time, NULL)
        return True
    return False
