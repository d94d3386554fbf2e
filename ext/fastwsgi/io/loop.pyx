# The worker's event loop: epoll over the listening sockets and the connections, a coarse once-a-second sweep for
# timeouts, the cached Date header, graceful stop. The loop releases the GIL around epoll_wait, its only wait (an
# app blocked on wsgi.input or write() releases it around that connection's poll(): connection.pyx).
# The small answers produced while one wakeup's events are handled are sent together at its end (or after 1 ms):
# a client that reads them is woken once per burst instead of once per answer, which on a VM is the larger cost.

from libc.stdlib cimport malloc, free
from libc.time cimport time as c_time

cdef int MAX_EVENTS = 256
# connections accepted per listener wakeup: a lone worker takes a burst at once; workers sharing a listener take
# one each (nginx's multi_accept off), so a burst spreads over the idle ones (EPOLLEXCLUSIVE wakes a waiting one)
cdef int ACCEPT_BATCH = 64
cdef Py_ssize_t READ_BUFFER = 64 * 1024
cdef double NEW_CONN_GRACE = 1.0        # seconds a graceful stop waits for the first request of a new connection

# The Loop's options: the worker's wiring, below, and the settings that reach the loop (Setting.loop), whose
# defaults the settings registry hands in once per process (fastwsgi/__init__.py: set_loop_defaults), so that no
# file of ext/ imports from the package above it.
cdef dict LOOP_DEFAULTS = {}
LOOP_DEFAULTS.update({
    "multiprocess": False,      # wsgi.multiprocess; workers share a listener (accept one connection per wakeup)
    "url_scheme": "http",
    "ssl_context": None,        # an ssl.SSLContext (fastwsgi/tls.py): every connection speaks TLS
    "on_tick": None,            # called about once a second (the worker's heartbeat)
    "on_stop": None,            # called once when a stop begins
    "pre_request": None,        # (environ)
    "post_request": None,       # (environ, status, headers, body bytes, seconds)
    "logger": None,             # app tracebacks and wire errors (default: the "fastwsgi.error" logger)
    "stats": None,              # a writable buffer for the live figures (stats.pxd; the heartbeat's page), else own
    # with app threads: where the CPU's pressure stall information is read (Pool.watch_cpu); True: always
    # contended, None: never (tests and tuning)
    "cpu_pressure": "/proc/pressure/cpu",
})


def set_loop_defaults(dict defaults):
    """The settings registry's defaults for the Loop options it declares (once per process, on import)."""
    LOOP_DEFAULTS.update(defaults)


cdef dict loop_options(dict options):
    unknown = set(options) - set(LOOP_DEFAULTS)
    if unknown:
        raise TypeError(f"unknown Loop option(s): {', '.join(sorted(unknown))}")
    opts = dict(LOOP_DEFAULTS)
    opts.update(options)
    return opts


cdef bytes http_date(long long sec):
    cdef time_t t = <time_t>sec
    cdef char out[64]
    cdef tm parts
    gmtime_r(&t, &parts)
    cdef size_t n = strftime(out, sizeof(out), "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &parts)
    return out[:n]


cdef dict listener_environ(object sock):
    cdef dict env = {}
    addr = sock.getsockname()
    if sock.family in (_socket.AF_INET, _socket.AF_INET6):
        env[K_SERVER_NAME] = str(addr[0])
        env[K_SERVER_PORT] = str(addr[1])
    else:
        env[K_SERVER_NAME] = addr if isinstance(addr, str) else addr.decode("latin-1", "replace")
        env[K_SERVER_PORT] = ""
    return env


@cython.final
cdef class Listener(Watcher):

    cdef int on_event(self, unsigned int events) except -1:
        return self.loop.accept_from(self)


cdef int spare_descriptor():
    """A descriptor held in reserve, given up when accept() runs out (Loop.make_room); -1 if none can be had."""
    try:
        return os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return -1


@cython.final
cdef class Loop:

    def __cinit__(self):
        self.epfd = -1                  # before __init__ can fail: __dealloc__ closes it when >= 0
        self.spare_fd = -1

    def __init__(self, app, sockets, **options):
        cdef dict opts = loop_options(options)
        self.app = app
        self.accept_batch = 1 if opts["multiprocess"] else ACCEPT_BATCH
        self.ssl_context = opts["ssl_context"]
        mode = http2_options(opts, &self.h2cfg)     # (over TLS, ALPN decides: no h2c)
        if self.ssl_context is not None:
            mode = None
        self.h2c = mode in ("prior-knowledge", "both")
        self.h2_upgrade = mode in ("upgrade", "both")
        self.sendfile = bool(opts["sendfile"]) and self.ssl_context is None    # TLS: files are read and sealed
        self.use_uring = bool(opts["io_uring"])
        self.keepalive = opts["keepalive"]
        self.header_timeout = opts["header_timeout"]
        self.body_timeout = opts["body_timeout"]
        self.send_timeout = opts["send_timeout"]
        self.timeouts[<int>CONN_NEW] = self.timeouts[<int>CONN_HEAD] = self.header_timeout
        self.timeouts[<int>CONN_IDLE] = self.keepalive
        self.timeouts[<int>CONN_BODY] = self.body_timeout
        self.timeouts[<int>CONN_LINGER] = LINGER_TIME
        self.timeouts[<int>CONN_APP] = self.timeouts[<int>CONN_CLOSED] = 0     # (the send deadline: blocked())
        self.worker_connections = max(1, opts["worker_connections"])
        self.threads = max(1, opts["threads"])
        self.cpu_pressure = opts["cpu_pressure"]
        self.max_requests = opts["max_requests"]
        self.limits = make_limits(opts)
        self.on_tick = opts["on_tick"]
        self.on_stop = opts["on_stop"]
        allowed = opts["forwarded_allow_ips"]
        self.forwarded_allow_ips = frozenset(allowed) if allowed else None
        self.proxy_protocol = proxy_modes(opts["proxy_protocol"])
        self.proxy_allow_ips = frozenset(opts["proxy_allow_ips"] or ())
        self.pre_request = opts["pre_request"]
        self.post_request = opts["post_request"]
        self.logger = opts["logger"] or logging.getLogger("fastwsgi.error")
        self.site = App.new(app, self.pre_request, self.post_request, self.logger, self.sendfile)
        spool_setup(opts["spool_limit"], opts["tmp_upload_dir"], self.logger)
        self.uwsgi_allow_ips = uwsgi_setup(opts, self.logger)
        self.base_env = base_environ(opts)
        self.listeners = []
        for sock in sockets:
            sock.setblocking(False)
            lst = Listener()
            lst.loop = self
            lst.sock = sock
            lst.fd = sock.fileno()
            lst.base_env = dict(self.base_env)
            lst.base_env.update(listener_environ(sock))
            lst.base_env = dict_with_room(lst.base_env)
            self.listeners.append(lst)
        self.conns = {}
        self.deferred = []
        self.closed = []
        self.spare_fd = spare_descriptor()
        self.rbuf_size = READ_BUFFER
        self.rbuf = <char *>malloc(self.rbuf_size)
        if self.rbuf == NULL:
            raise MemoryError()
        self.set_stats(opts["stats"])
        self.update_clock()

    cdef int set_stats(self, object buffer) except -1:
        cdef unsigned char[::1] view
        if buffer is None:
            buffer = bytearray(sizeof(WorkerStats))
        view = memoryview(buffer).cast("B")
        if view.shape[0] < <Py_ssize_t>sizeof(WorkerStats):
            raise ValueError(f"the stats buffer needs {sizeof(WorkerStats)} bytes")
        self.stats_owner = view
        self.stats = <WorkerStats *>&view[0]
        return 0

    def stats_words(self):
        """The live figures (stats.pxd) as a list of integers, in field order."""
        cdef long long *words = <long long *>self.stats
        return [words[i] for i in range(sizeof(WorkerStats) // sizeof(long long))]

    def __dealloc__(self):
        if self.spare_fd >= 0:
            close(self.spare_fd)
        if self.rbuf != NULL:
            free(self.rbuf)
        if self.epfd >= 0:
            close(self.epfd)

    @property
    def connections(self):
        return len(self.conns)

    cdef int update_clock(self) except -1:
        cdef long long sec = c_time(NULL)
        self.now = self.clock = monotonic()
        if sec != self.cur_sec:
            self.cur_sec = sec
            self.date_line = http_date(sec)
        return 0

    cdef int register(self, Watcher w, unsigned int events) except -1:
        cdef epoll_event ev
        ev.events = events
        ev.data.ptr = <void *>w
        if epoll_ctl(self.epfd, EPOLL_CTL_ADD, w.fd, &ev) < 0:
            raise OSError(errno, strerror(errno).decode())
        return 0

    cdef int set_accepting(self, bint on) except -1:
        cdef Listener lst
        self.accepting = on
        if self.epfd < 0:
            return 0
        for lst in self.listeners:
            if on and not lst.registered:
                self.register(lst, EPOLLIN | EPOLLEXCLUSIVE)
                lst.registered = True
            elif not on and lst.registered:
                epoll_ctl(self.epfd, EPOLL_CTL_DEL, lst.fd, NULL)
                lst.registered = False
        return 0

    cdef int accept_from(self, Listener lst) except -1:
        cdef int _
        cdef Connection victim
        for _ in range(self.accept_batch):
            if not self.accepting:
                return 0
            victim = None
            if len(self.conns) >= self.worker_connections:
                victim = self.victim()
                if victim is None:
                    self.set_accepting(False)   # every connection is busy: new clients wait in the backlog
                    return 0
            if self.accept_one(lst) == 0:
                return 0
            if victim is not None:
                victim.close()
            if self.pool is not None and self.accept_batch == 1 and lst.registered:
                # workers sharing a listener, app threads: the listener leaves our epoll set until the next wakeup
                # (at most 1 ms away), then comes back at the end of its queue of waiting workers. EPOLLEXCLUSIVE
                # wakes the first one waiting, and a threaded worker's loop waits while its threads work: it would
                # take every connection of a burst (all 64 wrk connections in one of two workers)
                epoll_ctl(self.epfd, EPOLL_CTL_DEL, lst.fd, NULL)
                lst.registered = False
                self.relisten = True
        return 0

    cdef Connection victim(self):
        """The connection to close to make room at worker_connections, as nginx does: the oldest that has not sent
        a whole head yet (a slow client), else the oldest idle keep-alive one; None when every one is busy."""
        cdef Connection conn, idle = None
        for conn in self.conns.values():            # in accept order: the oldest first
            if conn.sheddable():
                if conn.state != CONN_IDLE:
                    return conn
                if idle is None:
                    idle = conn
        return idle

    cdef int make_room(self) except -1:
        """accept() ran out of descriptors and, on the spare's slot, took a client (issue 25.3): shed as at
        worker_connections, so it is served now rather than once idle connections time out, and take the spare
        back. No victim (every connection busy): it is served anyway, and the sweep takes the spare back later."""
        cdef Connection victim = self.victim()
        if victim is None:
            return 0
        if self.now >= self.shed_logged + 1.0:
            self.shed_logged = self.now
            self.logger.warning("accept(): out of file descriptors; closed the oldest connection without a request "
                                "(else the oldest idle one) to serve a new client (logged at most once a second)")
        victim.close()
        self.spare_fd = spare_descriptor()
        return 0

    cdef int accept_one(self, Listener lst) except -1:
        """Accept one connection from lst and watch it; 1, or 0 when none is queued (or accept() failed)."""
        cdef sockaddr_storage addr
        cdef socklen_t addrlen
        cdef int fd, err, one = 1
        cdef char host[64]
        cdef str remote_addr, remote_port
        cdef bint trusted = False
        cdef Connection conn
        while True:
            addrlen = sizeof(addr)
            fd = accept4(lst.fd, <sockaddr *>&addr, &addrlen, SOCK_NONBLOCK | SOCK_CLOEXEC)
            if fd >= 0:
                break
            if errno == EINTR or errno == ECONNABORTED:
                continue
            err = errno
            if (err == EMFILE or err == ENFILE) and self.spare_fd >= 0:
                # accept() fails before it looks at the queue: give up the spare descriptor to see if a client
                # waits (nginx's and libuv's reserve), then make room for it
                close(self.spare_fd)
                self.spare_fd = -1
                addrlen = sizeof(addr)
                fd = accept4(lst.fd, <sockaddr *>&addr, &addrlen, SOCK_NONBLOCK | SOCK_CLOEXEC)
                err = errno
                if fd >= 0:
                    self.make_room()
                    break
                self.spare_fd = spare_descriptor()
                if err == EAGAIN:
                    return 0                # nobody was waiting
            if err == EMFILE or err == ENFILE or err == ENOBUFS or err == ENOMEM:
                self.logger.error("accept(): %s; pausing accepts for a second", strerror(err).decode())
                self.set_accepting(False)
            return 0
        remote_addr = remote_port = None
        if addr.ss_family == AF_INET:
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one))
            inet_ntop(AF_INET, &(<sockaddr_in *>&addr).sin_addr, host, sizeof(host))
            remote_addr = PyUnicode_DecodeLatin1(host, strlen(host), NULL)
            remote_port = str(ntohs((<sockaddr_in *>&addr).sin_port))
        elif addr.ss_family == AF_INET6:
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one))
            inet_ntop(AF_INET6, &(<sockaddr_in6 *>&addr).sin6_addr, host, sizeof(host))
            remote_addr = PyUnicode_DecodeLatin1(host, strlen(host), NULL)
            remote_port = str(ntohs((<sockaddr_in6 *>&addr).sin6_port))
        if self.forwarded_allow_ips is not None:
            trusted = (not remote_addr or "*" in self.forwarded_allow_ips or remote_addr in self.forwarded_allow_ips)
        # no environ per connection (an idle one costs memory): each request's copy gets the peer address
        conn = Connection.new(self, fd, Parser.new(lst.base_env, remote_addr, remote_port, trusted, self.limits))
        conn.parser.uwsgi = uwsgi_mode(self.uwsgi_allow_ips, remote_addr)
        if self.proxy_protocol:
            conn.proxy = ProxyHeader.new(self.proxy_protocol, proxy_allowed(self.proxy_allow_ips, remote_addr))
        if self.ssl_context is not None:
            conn.tls = TlsSession.new(self.ssl_context)
        self.conns[fd] = conn
        self.register(conn, EPOLLIN)
        return 1

    def busy_since(self):
        """The monotonic start of the oldest app call running on an app thread, or None: a worker's heartbeat
        reports no later than that, so a hung call gets the worker replaced after --timeout as in a sync worker."""
        cdef Connection conn
        cdef double oldest = 0
        for conn in self.conns.values():
            if conn.in_thread and (oldest == 0 or conn.ex.started < oldest):
                oldest = conn.ex.started
            elif conn.h2 is not None:
                oldest = conn.h2.busy_since(oldest)     # its streams' calls on app threads
        return oldest or None

    def refuse_unstarted(self, double within=0.5):
        """The master's --timeout abort (SIGABRT), from the worker's handler before it exits: every request this
        worker took but never started (a Job no app thread has taken, a request queued on a connection with no
        answer in progress) is answered 503 with Connection: close, safe for the client or proxy to retry (nginx's
        proxy_next_upstream). At most `within` seconds in all. Returns how many were answered."""
        cdef Connection conn
        cdef Job job
        cdef double until = monotonic() + within
        cdef int answered = 0
        queued = set()
        if self.pool is not None:
            while self.pool.jobs:
                job = self.pool.jobs.popleft()      # no thread may start it now
                queued.add(job.owner)
        for conn in list(self.conns.values()):
            answered += refuse_unstarted(conn, conn in queued, until)
        return answered

    def leave(self, sock):
        """Stop taking connections on the listening socket `sock` (one of ours, in a SO_REUSEPORT group): accept
        and serve every connection already queued on it, then shut it down at once (the fd stays valid), so that the
        kernel sends new connections to the other sockets of the group (or, when no socket is left, refuses them).
        Shutting down a TCP socket resets what is queued, so only a handshake that completes between the last accept
        and the shutdown (a syscall apart) is lost. Returns the number of connections taken off the queue."""
        cdef Listener lst
        cdef int n = 0
        for lst in self.listeners:
            if lst.sock is sock:
                while self.accept_one(lst):
                    n += 1
                if shutdown(lst.fd, SHUT_RD) < 0:
                    raise OSError(errno, strerror(errno).decode())
                while self.accept_one(lst):     # a UNIX socket keeps its queue (a TCP one has none left: EINVAL)
                    n += 1
        return n

    def stop(self, graceful=True, timeout=30.0):
        """Stop serving: gracefully (finish in-flight requests, close idle keep-alive connections, give up after
        timeout seconds) or at once. Safe to call from a signal handler: it only sets flags."""
        if not self.stopping or not graceful:
            self.stop_deadline = self.now + (float(timeout) if graceful else 0.0)
        self.stopping = True
        # an idle connection stays a little: a request it sends is answered (and told Connection: close) instead of
        # meeting a closed socket
        self.timeouts[<int>CONN_IDLE] = min(self.keepalive, STOP_IDLE_GRACE)
        if not graceful:
            self.running = False
        self.next_tick = 0

    cdef int hold(self, Connection conn) except -1:
        if not PyList_GET_SIZE(self.deferred):
            self.defer_until = self.clock + DEFER_TIME
        self.deferred.append(conn)
        return 0

    cdef int forget(self, Connection conn, int fd) except -1:
        self.conns.pop(fd, None)
        self.closed.append(conn)            # an event of this wakeup may still point at it (Loop.run)
        if self.stopping and not self.conns:
            self.next_tick = 0              # the last one: the sweep ends a stopping loop now, not in a second
        if not self.stopping and not self.accepting and len(self.conns) < self.worker_connections:
            self.set_accepting(True)
        return 0

    cdef int became_idle(self) except -1:
        if not self.accepting and not self.stopping:
            self.set_accepting(True)
        return 0

    cdef int request_done(self, Response resp, double started) except -1:
        self.requests += 1
        self.clock = monotonic()            # (the held answers' clock: no read of its own per event)
        stats_answer(self.stats, resp.status, self.clock - started)
        if 0 < self.max_requests <= self.requests and not self.stopping:
            self.stop(True, self.send_timeout)
        return 0

    cdef int flush_deferred(self) except -1:
        """Send the answers that waited for the end of the wakeup, then let each connection go on. Sent one after
        the other, they reach a client still awake from the first: far fewer cross-CPU wakeups than one send per
        app call (bjoern's write-on-writable has the same effect). With io_uring, sent in one system call."""
        cdef list pending = self.deferred
        cdef Connection conn
        self.deferred = []
        if self.batch is not None and PyList_GET_SIZE(pending) > 1:
            self.batch.send(pending)
        for conn in pending:
            conn.deferred = False
            if conn.fd >= 0:
                try:
                    conn.flush()
                except Exception:
                    self.logger.exception("internal error on fd %d; closing it", conn.fd)
                    conn.close()
        # every answer is out before any app runs again (the rest of a stream, a pipelined request)
        for conn in pending:
            try:
                conn.resume()
            except Exception:
                self.logger.exception("internal error on fd %d; closing it", conn.fd)
                conn.close()
        return 0

    cdef int sweep(self) except -1:
        cdef Connection conn
        cdef double now
        self.update_clock()     # the wakeup's clock is late by its app calls: a grace given here must start now
        now = self.now
        self.next_tick = now + 1.0
        if self.spare_fd < 0:
            self.spare_fd = spare_descriptor()     # given up to a client while every connection was busy
        if self.stopping:
            if self.accepting:
                self.set_accepting(False)
            if self.on_stop is not None:
                on_stop, self.on_stop = self.on_stop, None
                on_stop()
            for conn in list(self.conns.values()):
                if now >= self.stop_deadline:
                    conn.close()
                elif conn.h2 is not None:
                    conn.h2.shutdown()      # a shutdown notice, a second later GOAWAY: in-flight streams finish
                elif conn.state == CONN_NEW and conn.deadline > now + NEW_CONN_GRACE:
                    # accepted just before the stop: its request is probably on the way; serve it if it comes soon
                    conn.deadline = now + NEW_CONN_GRACE
                elif conn.state == CONN_IDLE and conn.deadline > now + STOP_IDLE_GRACE:
                    # kept-alive: its client may be sending the next request; answer it (Connection: close)
                    conn.deadline = now + STOP_IDLE_GRACE
            if not self.conns:
                self.running = False
        else:
            if not self.accepting and len(self.conns) < self.worker_connections:
                self.set_accepting(True)
        for conn in [c for c in self.conns.values() if 0 < (<Connection>c).deadline < now]:
            try:
                conn.expire()
            except Exception:
                self.logger.exception("internal error on fd %d; closing it", conn.fd)
                conn.close()
        self.sample_stats()
        if self.on_tick is not None:
            self.on_tick()
        return 0

    cdef int sample_stats(self) except -1:
        cdef WorkerStats *st = self.stats
        cdef Connection conn
        cdef long long head = 0, body = 0, app = 0, idle = 0, closing = 0
        cdef long long queued = len(self.pool.jobs) if self.pool is not None else 0
        for conn in self.conns.values():
            if conn.state == CONN_NEW or conn.state == CONN_HEAD:
                head += 1
            elif conn.state == CONN_BODY:
                body += 1
            elif conn.state == CONN_APP:
                app += 1
            elif conn.state == CONN_IDLE:
                idle += 1
            else:
                closing += 1
            queued += conn.parser.pending() - (1 if conn.active is not None else 0)
        st.conns_head, st.conns_body, st.conns_app, st.conns_idle, st.conns_closing = head, body, app, idle, closing
        st.queued = queued
        st.spooled = spool_written
        st.sampled_at_ms = <long long>(monotonic() * 1000)
        return 0

    def run(self):
        """Serve until stop(). Returns after the last connection is closed."""
        cdef epoll_event *events
        cdef int n, i, timeout
        cdef PoolWait pw
        cdef Pool pool
        cdef Watcher w
        cdef Connection conn
        cdef bint reading
        cdef int slot
        cdef long got
        cdef const char *data
        if self.epfd >= 0:
            raise RuntimeError("Loop.run() is already running")
        self.epfd = epoll_create1(EPOLL_CLOEXEC)
        if self.epfd < 0:
            raise OSError(errno, strerror(errno).decode())
        events = <epoll_event *>malloc(MAX_EVENTS * sizeof(epoll_event))
        if events == NULL:
            raise MemoryError()
        if self.threads > 1:
            self.pool = Pool.new(self.threads, self.cpu_pressure, self.stats, self.logger)
            self.register(self.pool, EPOLLIN)
            self.pool.start()
        pool = self.pool
        self.batch = Batch.open(self.logger) if self.use_uring else None
        self.running = True
        self.update_clock()
        self.next_tick = self.now + 1.0
        try:
            if not self.stopping:
                self.set_accepting(True)
            while self.running:
                timeout = <int>((self.next_tick - self.now) * 1000) + 1
                if timeout < 0:
                    timeout = 0
                elif timeout > 1000:
                    timeout = 1000
                if PyList_GET_SIZE(self.closed):
                    del self.closed[:]              # no event of this wakeup points at them any more
                if pool is not None:
                    pool.before_wait(self.now, self.relisten, &pw, &timeout)
                with nogil:
                    if pool is not None and pool_wait_first(&pw):
                        timeout = 0
                    n = epoll_wait(self.epfd, events, MAX_EVENTS, timeout)
                if pool is not None:
                    pool.after_wait(&pw)
                if n < 0:
                    if errno != EINTR:
                        raise OSError(errno, strerror(errno).decode())
                    PyErr_CheckSignals()
                    n = 0
                self.update_clock()
                if self.relisten:
                    self.relisten = False
                    if self.accepting:
                        self.set_accepting(True)
                self.batching = n > 1
                reading = n > 1 and self.batch is not None and self.batch.read(events, n, self.pool)
                slot = 0
                for i in range(n):
                    w = <Watcher>events[i].data.ptr
                    try:
                        if reading and self.batch.res[i] != FW_NOT_RUN:
                            got = self.batch.res[i]         # read in the batch, into its next slot
                            data = self.batch.slot(slot)
                            slot += 1
                            if w.fd >= 0:
                                (<Connection>w).on_read(data, got if got >= 0 else -1, <int>-got if got < 0 else 0)
                                if got == READ_SLOT and w.fd >= 0 and (<Connection>w).interest == EPOLLIN:
                                    (<Connection>w).on_readable()     # a full slot: more may wait, read as ever
                        else:
                            w.on_event(events[i].events)
                    except Exception:
                        self.logger.exception("internal error on fd %d; closing it", w.fd)
                        w.close()
                    if (i & 15) == 15:
                        self.clock = monotonic()    # (request_done reads it after each answer; this, after others)
                    if PyList_GET_SIZE(self.deferred) and self.clock >= self.defer_until:
                        self.flush_deferred()       # slow apps: a held answer waits DEFER_TIME at most
                self.batching = False
                if PyList_GET_SIZE(self.deferred):
                    self.flush_deferred()
                if self.now >= self.next_tick:
                    self.sweep()
        finally:
            free(events)
            for conn in list(self.conns.values()):
                try:
                    conn.close()
                except Exception:
                    self.logger.exception("error closing a connection")
            self.set_accepting(False)
            if self.pool is not None:
                self.pool.stop()
                self.pool = None
            close(self.epfd)
            self.epfd = -1
            if self.batch is not None:
                self.batch.close()
                self.batch = None
            self.running = False


def loop_defaults():
    """Every Loop option with its default."""
    return dict(LOOP_DEFAULTS)


def debug_counters():
    """Live objects of the request loop; tests check they return to zero."""
    return {"connections": live_connections, "requests": live_requests}
