# The uWSGI protocol (https://uwsgi-docs.readthedocs.io/en/latest/Protocol.html), as nginx's uwsgi_pass speaks it:
# each request is a packet, modifier1 (0: a WSGI request), datasize (16-bit little-endian), modifier2, then datasize
# bytes of vars (16-bit little-endian length + name, 16-bit little-endian length + value, over and over), then the
# body, CONTENT_LENGTH bytes. A Parser made with `uwsgi` set frames these instead of HTTP heads (its one branch, in
# frame()) and queues the same Requests: the vars are the environ, as uWSGI takes them (REMOTE_ADDR, SERVER_NAME,
# PATH_INFO... are nginx's, from the client's request), over the listener's base environ. The rest of the server
# does not change: the answer is an HTTP/1.1 status line, headers and body, which nginx's uwsgi module reads; its
# body is delimited by Content-Length or by the close (never chunked: nginx does not decode it on uwsgi), so
# Request.http10 is set for the framing (SERVER_PROTOCOL is what the packet says).
#
# The peer is a trusted front end (uwsgi_allow_ips; gunicorn's check): one outside the list gets 403 at its first
# bytes, as gunicorn refuses it. A malformed or oversize packet is not answered (uwsgi has no error answer; the
# front end reports the close): it is logged and the connection closes after the answers before it.

from cpython.bytes cimport PyBytes_FromStringAndSize
from cpython.dict cimport PyDict_SetDefault
from libc.string cimport strncasecmp

cdef extern from "Python.h":
    Py_ssize_t PyDict_GET_SIZE(dict d)

cdef object uwsgi_logger = None         # refused packets and peers are logged here (the Loop's; None: not logged)

cdef str K_HTTPS = sys.intern("HTTPS")
cdef str S_HTTP = sys.intern("http")
cdef str S_HTTPS = sys.intern("https")
cdef str ROOT_PATH = sys.intern("/")

# the names the environ's own keys come from, and what each does (any other: UK_HTTP for HTTP_*, UK_DROPPED for
# wsgi.*, else UK_PLAIN)
cdef dict UW_KNOWN = {
    b"REQUEST_METHOD": (K_METHOD, UK_METHOD),
    b"SERVER_PROTOCOL": (K_PROTOCOL, UK_PROTOCOL),
    b"CONTENT_LENGTH": (K_CONTENT_LENGTH, UK_CONTENT_LENGTH),
    b"CONTENT_TYPE": (K_CONTENT_TYPE, UK_CONTENT_TYPE),
    b"REQUEST_URI": (K_REQUEST_URI, UK_REQUEST_URI),
    b"PATH_INFO": (K_PATH_INFO, UK_PATH_INFO),
    b"QUERY_STRING": (K_QUERY_STRING, UK_QUERY_STRING),
    b"HTTPS": (K_HTTPS, UK_HTTPS),
    b"UWSGI_SCHEME": (sys.intern("UWSGI_SCHEME"), UK_SCHEME),
    b"wsgi.url_scheme": (K_URL_SCHEME, UK_SCHEME),
    b"HTTP_HOST": (K_HTTP_HOST, UK_HTTP),
    b"HTTP_COOKIE": (K_HTTP_COOKIE, UK_COOKIE),
    b"HTTP_CONNECTION": (K_HTTP_CONNECTION, UK_CONNECTION),
    b"HTTP_X_FORWARDED_PROTO": (K_HTTP_XF_PROTO, UK_XF_PROTO),
    b"HTTP_X_FORWARDED_PROTOCOL": (K_HTTP_XF_PROTOCOL, UK_XF_PROTOCOL),
    b"HTTP_X_FORWARDED_SSL": (K_HTTP_XF_SSL, UK_XF_SSL),
    b"SERVER_NAME": (K_SERVER_NAME, UK_PLAIN),
    b"SERVER_PORT": (K_SERVER_PORT, UK_PLAIN),
    b"REMOTE_ADDR": (K_REMOTE_ADDR, UK_PLAIN),
    b"REMOTE_PORT": (K_REMOTE_PORT, UK_PLAIN),
    b"SCRIPT_NAME": (K_SCRIPT_NAME, UK_PLAIN),
}

# var name -> environ key: a process-wide table in C, looked up with the name's bytes where they lie (as the header
# names of environ.pyx): nginx sends the same dozen CGI names and the client's header names on every request
cdef UwKey UW_KEYS[UW_KEYS_SIZE]
cdef Py_ssize_t uw_keys_used = 0
cdef UwKey UW_UNCACHED                  # the answer for a name the table has no room for


cdef frozenset uwsgi_setup(dict options, object logger):
    global uwsgi_logger
    protocol = options["protocol"]
    if protocol == "http":
        return None
    if protocol != "uwsgi":
        raise ValueError(f"protocol: expected http or uwsgi, got {protocol!r}")
    uwsgi_logger = logger
    return frozenset(options["uwsgi_allow_ips"] or ())


cdef int uwsgi_mode(frozenset allowed, str remote_addr) except -1:
    if allowed is None:
        return UW_OFF
    if remote_addr is None or "*" in allowed or remote_addr in allowed:
        return UW_ON                    # a UNIX socket peer always is (gunicorn's rule)
    return UW_FORBIDDEN


cdef const UwKey *uwsgi_key(const char *name, Py_ssize_t n) except NULL:
    global uw_keys_used
    cdef uint64_t h = name_hash(name, n)
    cdef Py_ssize_t i = <Py_ssize_t>(h & (UW_KEYS_SIZE - 1)), probe
    cdef UwKey *slot
    cdef UwKey *free_slot = NULL
    cdef bytes bname
    cdef str key
    cdef UwKind kind
    for probe in range(UW_PROBES):
        slot = &UW_KEYS[(i + probe) & (UW_KEYS_SIZE - 1)]
        if slot.hash == 0:
            free_slot = slot
            break
        if slot.hash == h and slot.len == n and memcmp(slot.data, name, n) == 0:
            return slot
    bname = PyBytes_FromStringAndSize(name, n)
    known = UW_KNOWN.get(bname)
    if known is not None:
        key, kind = known
    else:
        key = PyUnicode_DecodeLatin1(name, n, NULL)
        kind = UK_HTTP if n > 5 and memcmp(name, b"HTTP_", 5) == 0 else UK_DROPPED if (
            n >= 5 and memcmp(name, b"wsgi.", 5) == 0) else UK_PLAIN
    if free_slot == NULL or uw_keys_used >= UW_KEYS_MAX:
        free_slot = &UW_UNCACHED
        Py_XDECREF(free_slot.name)
        Py_XDECREF(free_slot.key)
    else:
        uw_keys_used += 1
        free_slot.hash = h
        key = sys.intern(key)
    Py_INCREF(bname)
    Py_INCREF(key)
    free_slot.name = <PyObject *>bname
    free_slot.data = PyBytes_AS_STRING(bname)
    free_slot.len = n
    free_slot.key = <PyObject *>key
    free_slot.kind = kind
    return free_slot


cdef int uwsgi_refuse(Parser self, str reason) except -1:
    if uwsgi_logger is not None:
        uwsgi_logger.warning("uwsgi: %s from %s; closing the connection", reason,
                             self.remote_addr or "a UNIX socket peer")
    self.fail(0, reason)                # no status: nothing is answered
    self.stopped = True
    self.cur = None
    return 0


cdef inline Py_ssize_t u16(const char *p) noexcept:
    return (<const unsigned char *>p)[0] | ((<const unsigned char *>p)[1] << 8)


cdef Py_ssize_t uwsgi_feed(Parser self, const char *p, Py_ssize_t n) except -1:
    """Packets and bodies: the bytes of p taken (all of them once the parser stopped). A packet whole in p is read
    where it lies; one split across reads is gathered in hbuf, bounded by its header's datasize."""
    cdef Py_ssize_t take, got = 0, total
    cdef const char *h
    cdef bint inplace
    if self.phase == PH_LENGTH:
        take = <Py_ssize_t>min(<long long>n, self.body_left)
        uwsgi_body(self, p, take)
        return n if self.stopped else take
    if self.uwsgi == UW_FORBIDDEN:
        if uwsgi_logger is not None:
            uwsgi_logger.warning("uwsgi: a request from %s, which is not in uwsgi_allow_ips; answering 403",
                                 self.remote_addr)
        self.stop(403, "uwsgi request from a peer not in uwsgi_allow_ips")
        return n
    if self.hbuf.len < UW_HEADER:
        inplace = self.hbuf.len == 0 and n >= UW_HEADER       # the header where it lies
        if inplace:
            h = p
        else:
            got = min(UW_HEADER - self.hbuf.len, n)
            cbuf_add(&self.hbuf, p, got)
            if self.hbuf.len < UW_HEADER:
                return n
            h = self.hbuf.data
        if h[0] != 0:
            uwsgi_refuse(self, "modifier1 %d is not 0 (a WSGI request)" % <unsigned char>h[0])
            return n
        total = UW_HEADER + u16(h + 1)
        if 0 < self.limits.head < total - UW_HEADER:
            uwsgi_refuse(self, "packet of %d bytes, larger than the request limits" % (total - UW_HEADER))
            return n
        if inplace:
            if n >= total:
                # the common case: the whole packet in this piece
                self.begun += 1
                uwsgi_packet(self, p + UW_HEADER, total - UW_HEADER)
                return n if self.stopped else total
            got = UW_HEADER
            cbuf_add(&self.hbuf, p, UW_HEADER)
    total = UW_HEADER + u16(self.hbuf.data + 1)
    take = min(total - self.hbuf.len, n - got)
    cbuf_add(&self.hbuf, p + got, take)
    got += take
    if self.hbuf.len == total:
        self.begun += 1
        uwsgi_packet(self, self.hbuf.data + UW_HEADER, total - UW_HEADER)
        cbuf_release(&self.hbuf, HBUF_KEEP)
    return n if self.stopped else got


cdef int uwsgi_packet(Parser self, const char *v, Py_ssize_t n) except -1:
    """The vars v..v+n of a whole packet into a Request's environ; the Request is queued (its body to come)."""
    cdef Request req = Request.new()
    cdef dict env = new_environ(self)
    cdef Py_ssize_t pos = 0, klen, vlen, count = 0, nfields = 0, size
    cdef const char *k
    cdef const char *val
    cdef const char *uri = NULL
    cdef Py_ssize_t ulen = 0
    cdef const UwKey *uk
    cdef UwKind kind
    cdef int conn = 0, secure
    cdef bint https = False, has_path = False, has_query = False, has_proto = False
    cdef str key, sval, old, method = None, scheme = None, raw
    cdef long long length = -1
    while pos < n:
        if n - pos < 2:
            return uwsgi_refuse(self, "truncated var name size")
        klen = u16(v + pos)
        k = v + pos + 2
        pos += 2 + klen
        if pos + 2 > n:
            return uwsgi_refuse(self, "truncated var")
        vlen = u16(v + pos)
        val = v + pos + 2
        pos += 2 + vlen
        if pos > n:
            return uwsgi_refuse(self, "truncated var value")
        count += 1
        if count > UW_VARS_MAX:
            return uwsgi_refuse(self, "more than %d vars" % UW_VARS_MAX)
        if klen == 0:
            return uwsgi_refuse(self, "a var without a name")
        uk = uwsgi_key(k, klen)
        kind = uk.kind
        key = <str>uk.key
        if kind == UK_DROPPED:
            continue
        if kind == UK_METHOD:
            if vlen == 0:
                return uwsgi_refuse(self, "empty REQUEST_METHOD")
            method = method_str(val, vlen)
            env[K_METHOD] = method
            continue
        if kind == UK_PROTOCOL:
            has_proto = True
            sval = (PROTO_11 if vlen == 8 and memcmp(val, b"HTTP/1.1", 8) == 0
                    else PROTO_10 if vlen == 8 and memcmp(val, b"HTTP/1.0", 8) == 0
                    else PyUnicode_DecodeLatin1(val, vlen, NULL))
            env[K_PROTOCOL] = sval
            continue
        if kind == UK_CONTENT_LENGTH or kind == UK_CONTENT_TYPE:
            if vlen == 0:
                continue                    # nginx's uwsgi_params send them empty for a request without a body
            if kind == UK_CONTENT_LENGTH:
                if length >= 0:
                    return uwsgi_refuse(self, "CONTENT_LENGTH sent twice")
                length = parse_digits(val, vlen)
                if length < 0:
                    return uwsgi_refuse(self, "CONTENT_LENGTH is not a number")
        sval = self.template.value_str(count - 1, val, vlen)
        if kind >= UK_HTTP and kind <= UK_XF_SSL:
            # a header field: counted, sized, and repeats joined as RFC 9110 5.3 does (nginx before 1.23.0 sends
            # each line of a repeated field)
            nfields += 1
            if 0 < self.limits.request_fields < nfields:
                return uwsgi_refuse(self, "more header fields than limit_request_fields")
            if 0 < self.limits.request_field_size < klen - 5 + vlen + 2:
                return uwsgi_refuse(self, "header field larger than limit_request_field_size")
            size = PyDict_GET_SIZE(env)
            old = <str>PyDict_SetDefault(env, key, sval)
            if PyDict_GET_SIZE(env) == size:
                env[key] = old + ("; " if kind == UK_COOKIE else ", ") + sval
            if kind == UK_CONNECTION:
                conn |= connection_tokens(val, vlen)
            elif kind != UK_HTTP and kind != UK_COOKIE and self.trusted_proxy:
                secure = 1 if scheme_is_secure(
                    FK_XF_PROTO if kind == UK_XF_PROTO else FK_XF_PROTOCOL if kind == UK_XF_PROTOCOL else FK_XF_SSL,
                    val, vlen) else -1
                if req.secure != 0 and req.secure != secure:
                    return uwsgi_refuse(self, "contradictory scheme headers")
                req.secure = secure
            continue
        if kind == UK_SCHEME:
            if sval == S_HTTP or sval == S_HTTPS:
                scheme = S_HTTPS if sval == S_HTTPS else S_HTTP
            if key is K_URL_SCHEME:
                continue                    # set below, from what is allowed
        elif kind == UK_HTTPS:
            https = ((vlen == 2 and strncasecmp(val, "on", 2) == 0) or (vlen == 1 and val[0] == b"1")
                     or (vlen == 4 and strncasecmp(val, "true", 4) == 0))
        elif kind == UK_REQUEST_URI:
            uri = val
            ulen = vlen
        elif kind == UK_PATH_INFO:
            has_path = True
        elif kind == UK_QUERY_STRING:
            has_query = True
        env[key] = sval
    if method is None:
        method = M_GET                      # gunicorn's default
        env[K_METHOD] = method
    if not has_proto:
        env[K_PROTOCOL] = PROTO_11
    # the target: REQUEST_URI is the raw one (nginx's $request_uri), PATH_INFO nginx's decoded path
    if uri != NULL:
        if 0 < self.limits.request_line < ulen:
            return uwsgi_refuse(self, "REQUEST_URI longer than limit_request_line")
        if not has_path or not has_query:
            sval = env[K_QUERY_STRING] if has_query else None
            raw = env[K_PATH_INFO] if has_path else None
            set_target(env, uri, ulen)      # the parts not sent, from the raw target
            if sval is not None:
                env[K_QUERY_STRING] = sval
            if raw is not None:
                env[K_PATH_INFO] = raw
        env[K_RAW_URI] = env[K_REQUEST_URI]
    else:
        if not has_path:
            env[K_PATH_INFO] = ROOT_PATH    # gunicorn's default
        if not has_query:
            env[K_QUERY_STRING] = EMPTY_STR
        sval = env[K_QUERY_STRING]
        raw = env[K_PATH_INFO] + "?" + sval if sval else env[K_PATH_INFO]
        if 0 < self.limits.request_line < len(raw):
            return uwsgi_refuse(self, "PATH_INFO and QUERY_STRING longer than limit_request_line")
        env[K_RAW_URI] = raw
        env[K_REQUEST_URI] = raw
    if scheme is not None:
        env[K_URL_SCHEME] = scheme
    elif https or req.secure > 0:
        env[K_URL_SCHEME] = S_HTTPS
    req.environ = env
    req.nfields = <int>nfields
    req.is_head = method is M_HEAD
    req.http10 = True                       # the answer's framing: never chunked, no 1xx (see the top)
    req.keep_alive = (conn & CONN_CLOSE) == 0
    req.content_length = length
    req.has_body = length > 0
    if req.has_body:
        if 0 < self.limits.request_body < length:
            return self.stop(413, "body larger than limit_request_body")
        req.input = Input.new(self.limits.body_buffer_size, length)
    else:
        req.input = EMPTY_INPUT
    env[K_INPUT] = req.input
    self.cur = req
    self.enqueue(req)
    if req.has_body:
        self.phase = PH_LENGTH
        self.body_left = length
    else:
        self.request_whole()
    return 0


cdef int uwsgi_body(Parser self, const char *p, Py_ssize_t n) except -1:
    cdef Input inp = <Input>self.cur.input
    cdef int status
    if n > 0:
        status = inp.feed(PyBytes_FromStringAndSize(p, n))
        if status:
            return self.stop(status, "request body refused by the spool (see the log)")
    self.body_left -= n
    if self.body_left == 0:
        self.request_whole()
    return 0
