# Test hooks: the request loop's pieces driven without a running loop (tests/, tests/fuzz/). They sit above both
# layers, as the Loop does: they may use http/ and io/ alike.


def parse_request_bytes(data, chunks=None, **options):
    """Test hook: parse raw request bytes (fed whole, or in pieces of the given sizes) as a connection does and
    return the environ of each complete request head (without wsgi.input and the socket-derived keys), then
    {"error": status, "reason": str} if parsing failed."""
    cdef dict opts = loop_options(options)
    # no peer address: trusted when any proxy is (as a connection over a UNIX socket)
    cdef Parser parser = Parser.new(dict_with_room(base_environ(opts)), None, None,
                                    bool(opts["forwarded_allow_ips"]), make_limits(opts))
    cdef const char *p = data
    cdef Py_ssize_t pos = 0, size, n = len(data)
    cdef list out = []
    cdef Request req
    sizes = list(chunks) if chunks else [max(n, 1)]
    if min(sizes) < 1:
        raise ValueError("piece sizes must be at least 1")
    i = 0
    while pos < n and not parser.stopped:
        size = min(sizes[i % len(sizes)], n - pos)
        parser.feed(p + pos, size)
        pos += size
        i += 1
        while parser.queued():
            req = parser.first()
            parser.pop()
            env = dict(req.environ)
            env.pop("wsgi.input", None)
            out.append(env)
            if not parser.queued():
                parser.refill()             # what waited for room in the queue
    if parser.error_status:
        out.append({"error": parser.error_status, "reason": parser.error_reason})
    parser.release()
    return out
