# A worker's live figures (issue 22): counters the loop keeps in a block of the heartbeat's shared page, which the
# master reads for `fastwsgi ctl` and /metrics. Only plain stores on the request path: one answer counted in
# Loop.request_done (served, status class, latency bucket), one app call begun in run_app / Pool._serve; the
# connection gauges are sampled by the once-a-second sweep. Every field is a long long, in this order: the Python
# side (fastwsgi/heartbeat.py, STATS_FIELDS) reads the block as an array of int64.

cdef enum:
    LATENCY_BUCKETS = 16        # the last one is +Inf (LATENCY_BOUNDS_US holds the 15 finite upper bounds)

cdef struct WorkerStats:
    long long served            # answers to app requests, finished (the loop's `requests`)
    long long started           # app calls begun: in flight = started - served
    long long status[6]         # answers by class: [0] no status (the client left first), [1..5] 1xx..5xx
    long long latency_sum_us    # microseconds, from the start of the app call to the end of the answer
    long long latency[LATENCY_BUCKETS]   # answers per latency bucket (not cumulative)
    # sampled by the sweep, about once a second
    long long sampled_at_ms     # CLOCK_MONOTONIC milliseconds of the sample
    long long conns_head        # connections reading a head (NEW, HEAD)
    long long conns_body        # ... reading a body
    long long conns_app         # ... with a request in the app or its answer going out
    long long conns_idle        # ... kept alive between requests
    long long conns_closing     # ... lingering after an error or a stop
    long long queued            # requests read and not begun: waiting for an app thread, or pipelined behind one
    long long spooled           # bytes of request bodies spooled to disk now

cdef long long LATENCY_BOUNDS_US[LATENCY_BUCKETS]

cdef void stats_answer(WorkerStats *st, object status, double seconds) noexcept   # one answer: counted
