# The worker's abort (the master's SIGABRT after --timeout): what a connection took but never started is answered
# 503, safe for a client or proxy to retry (nginx's proxy_next_upstream), before the worker exits.


cdef int refuse_unstarted(Connection conn, bint job_queued, double until) except -1:
    """The worker is aborted (--timeout, from Loop.refuse_unstarted): a request of this connection never started (its
    Job never ran: job_queued; else the first queued one, when no answer is in progress) gets 503 and Connection:
    close, sent by `until` (monotonic) at the latest, then the FIN. 1 if one was answered."""
    cdef Request req
    cdef bytes answer
    cdef char sink[4096]
    if conn.fd < 0 or conn.state == CONN_CLOSED:
        return 0
    if job_queued:
        req = conn.ex.req                   # behind the answers already framed, in order
    elif conn.active is None and not conn.in_thread and conn.parser.queued():
        req = conn.parser.first()
    else:
        return 0                            # idle, or an answer in progress (the stuck call's own connection)
    answer = error_response(503, conn.loop.date_line, req.is_head)
    cbuf_add(&conn.wbuf, PyBytes_AS_STRING(answer), PyBytes_GET_SIZE(answer))
    conn.closing = True
    try:
        if conn.flush() == 0 and conn.state != CONN_CLOSED and until > monotonic():
            conn.flush_blocking(until - monotonic())
    except IOError:
        return 1
    if conn.state != CONN_CLOSED and conn.wpos == conn.wbuf.len:
        shutdown(conn.fd, SHUT_WR)          # the FIN after the answer; what the client sent is dropped, so
        while recv(conn.fd, sink, sizeof(sink), MSG_DONTWAIT) > 0:     # the exit's close sends no RST over it
            pass
    return 1
