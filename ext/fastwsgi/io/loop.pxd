cdef struct H2Config:
    # the http2_* settings, as nghttp2 takes them
    unsigned int max_concurrent_streams
    unsigned int initial_window_size
    unsigned int max_frame_size
    unsigned int max_header_list_size


cdef class Batch


cdef class Listener(Watcher):
    # one listening socket: accept in batches
    cdef Loop loop
    cdef object sock
    cdef dict base_env          # constant environ keys for connections accepted here
    cdef bint registered


cdef class Loop:
    # one worker's epoll loop. The GIL is released around its one wait (epoll_wait); an app's blocking calls on
    # wsgi.input and write() release it around their own poll() (connection.pyx)
    cdef:
        int epfd
        object app
        App site                      # the app with its hooks, as every Exchange calls it
        list listeners
        dict conns                   # fd -> Connection
        char *rbuf                   # shared read buffer (single-threaded)
        Py_ssize_t rbuf_size
        Batch batch                  # the wakeup's sends and reads in one io_uring_enter each; None: one call each
        bint use_uring               # the io_uring setting
        bint running
        bint stopping
        bint accepting
        bint relisten                 # a listener left the epoll set after an accept; back at the next wakeup
        bint batching                # handling the events of one wakeup: small answers wait in `deferred`
        list deferred                # Connections whose answers go out when the wakeup's events are handled
        list closed                  # Connections closed since the wakeup: alive until its events are handled
        double defer_until           # ... or at this monotonic time, whichever comes first
        double stop_deadline
        double now                   # monotonic, updated once per wakeup
        double clock                 # monotonic at the last answer's end (request_done), else the wakeup's
        long long cur_sec
        bytes date_line              # b"Date: ...\r\n", recomputed at most once a second
        double next_tick
        double shed_logged            # when running out of descriptors last made room (logged once a second)
        int spare_fd                  # /dev/null held in reserve: given up to see if a client waits (make_room)
        public long long requests
        WorkerStats *stats            # live figures (stats.pxd): in the heartbeat's shared page, else stats_owner
        object stats_owner            # the writable buffer holding *stats (kept alive with the loop)
        # options
        double keepalive
        double header_timeout
        double body_timeout
        double send_timeout
        double timeouts[7]            # by ConnState: how long a connection may stay in it (0: no deadline)
        int worker_connections
        int threads                   # app threads (1: the app runs on the loop thread)
        object cpu_pressure           # PSI file the pool reads to tell a busy host (True: always busy; None: never)
        Pool pool                     # the app threads while run() runs, when threads > 1
        int accept_batch              # connections accepted per listener wakeup
        bint sendfile                 # wsgi.file_wrapper files go out with sendfile(2) (else read() and send())
        object ssl_context            # ssl.SSLContext: connections speak TLS (tls_session.pyx), else None
        bint h2c                      # HTTP/2 with prior knowledge on plain connections (a trusted peer's preface)
        bint h2_upgrade               # ... and by a trusted peer's Upgrade: h2c request (101, then HTTP/2)
        H2Config h2cfg                # the http2_* settings every HTTP/2 session announces
        long long max_requests
        Limits limits                 # limit_request_*: handed to each connection's Parser
        object on_tick
        object on_stop               # called once when a stop begins (from the sweep, not a signal handler)
        frozenset forwarded_allow_ips  # peers whose X-Forwarded-Proto/-Protocol/-Ssl set wsgi.url_scheme
        int proxy_protocol            # PP_V1 | PP_V2: every connection begins with a PROXY header (0: off)
        frozenset proxy_allow_ips     # peers allowed to send one ("*": any; a UNIX socket peer always is)
        frozenset uwsgi_allow_ips     # --protocol uwsgi: peers that may send packets (uwsgi.pyx); None: HTTP
        object pre_request
        object post_request
        object logger
        dict base_env

    cdef int update_clock(self) except -1
    cdef int set_stats(self, object buffer) except -1    # *stats in this writable buffer (None: one of its own)
    cdef int accept_from(self, Listener lst) except -1   # up to accept_batch, while accepting
    cdef int accept_one(self, Listener lst) except -1    # 1 if a connection was accepted and registered
    cdef int make_room(self) except -1                  # out of fds, a client taken on the spare slot: shed
    cdef Connection victim(self)                         # the one to close to make room (None: every one is busy)
    cdef int register(self, Watcher w, unsigned int events) except -1
    cdef int set_accepting(self, bint on) except -1
    # told by connections (the only calls up to the loop)
    cdef int hold(self, Connection conn) except -1     # its answer waits for the end of the wakeup (flush_deferred)
    cdef int forget(self, Connection conn, int fd) except -1   # it closed (fd: the one it had)
    cdef int became_idle(self) except -1               # a keep-alive connection is idle: it can make room
    cdef int request_done(self, Response resp, double started) except -1   # count (stats too); max_requests
    cdef int flush_deferred(self) except -1   # send the answers held back during a wakeup, in one burst
    cdef int sweep(self) except -1            # once a second: timeouts, graceful stop, on_tick
    cdef int sample_stats(self) except -1     # the sweep: connections by state, queued requests, spooled bytes


cdef dict loop_options(dict options)          # every Loop option: the defaults updated with options (unknown: error)
