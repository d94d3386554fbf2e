# An HTTP/2 request's header fields into a Request (h2head.pxd). nghttp2 has already refused what RFC 9113 makes a
# stream error (upper-case names, connection-specific fields, TE other than trailers, bad or missing
# pseudo-headers, CR/LF/NUL in values); what remains is the HTTP/1.1 path's own policy: the name table (names with
# '_' dropped, cookies joined with "; ", other repeats with ", ", a second Host/Content-Length/Content-Type refused),
# limit_request_fields/_field_size, the target's checks, the trusted proxy's scheme headers, limit_request_body.

cdef str PROTO_2 = sys.intern("HTTP/2")


cdef Request h2_request(Parser parser):
    cdef Request req = Request.new()
    req.environ = new_environ(parser)
    req.environ[K_PROTOCOL] = PROTO_2
    req.keep_alive = True
    req.input = EMPTY_INPUT
    return req


cdef inline bint pseudo(const char *name, Py_ssize_t nlen, const char *what) noexcept:
    cdef Py_ssize_t n = strlen(what)
    return nlen == n and memcmp(name, what, n) == 0


cdef int h2_field(Parser parser, Request req, H2Head *head, const char *name, Py_ssize_t nlen, const char *value,
                  Py_ssize_t vlen) except -1:
    cdef dict env = req.environ
    cdef const FieldKey *fk
    cdef FieldKind kind
    cdef str key, sval
    cdef int secure
    cdef object old
    if head.status:
        return 0
    if nlen > 0 and name[0] == b":":
        if pseudo(name, nlen, ":method"):
            env[K_METHOD] = method_str(value, vlen)
        elif pseudo(name, nlen, ":path"):
            if 0 < parser.limits.request_line < vlen:
                head.status = 414
                return 0
            set_target(env, value, vlen)
        elif pseudo(name, nlen, ":authority"):
            if check_host(value, vlen) is not None:
                head.status = 400
                return 0
            env[K_HTTP_HOST] = PyUnicode_DecodeLatin1(value, vlen, NULL)
            head.authority = True
        return 0                            # :scheme: wsgi.url_scheme comes from the transport (as gunicorn's)
    req.nfields += 1
    if 0 < parser.limits.request_fields < req.nfields:
        head.status = 431
        return 0
    if 0 < parser.limits.request_field_size < nlen + vlen + 2:
        head.status = 431
        return 0
    fk = field_key(name, nlen)
    kind = fk.kind
    if kind == FK_DROPPED:
        return 0
    key = <str>fk.key
    if kind == FK_HOST:
        if head.host or check_host(value, vlen) is not None:
            head.status = 400
            return 0
        head.host = True
        if head.authority:
            return 0                        # RFC 9113 8.3.1: :authority wins
    elif kind == FK_CONTENT_LENGTH:
        req.content_length = parse_digits(value, vlen)
        if req.content_length < 0:
            head.status = 400
            return 0
    elif kind == FK_EXPECT:
        return 0                            # 100-continue has no meaning here: the body comes as DATA frames
    elif parser.trusted_proxy and (kind == FK_XF_PROTO or kind == FK_XF_PROTOCOL or kind == FK_XF_SSL):
        secure = 1 if scheme_is_secure(kind, value, vlen) else -1
        if req.secure != 0 and req.secure != secure:
            head.status = 400
            return 0
        req.secure = secure
    sval = PyUnicode_DecodeLatin1(value, vlen, NULL)
    old = env.get(key)
    if old is None:
        env[key] = sval
    elif kind == FK_HOST or kind == FK_CONTENT_LENGTH or kind == FK_CONTENT_TYPE:
        head.status = 400                   # a second one would change how the message is read
    else:
        env[key] = <str>old + ("; " if kind == FK_COOKIE else ", ") + sval     # RFC 9113 8.2.3: cookies with "; "
    return 0


cdef int h2_head_done(Parser parser, Request req, H2Head *head, bint has_body) except -1:
    cdef dict env = req.environ
    cdef str method = env.get(K_METHOD)
    cdef bytes target
    cdef object bad
    if head.status:
        return head.status
    if method is None or env.get(K_RAW_URI) is None:
        return 400                          # (nghttp2 refuses these first)
    req.is_head = method is M_HEAD
    target = (<str>env[K_RAW_URI]).encode("latin-1")
    bad = check_target(method, target, len(target))
    if bad is not None:
        return bad[0]
    if req.secure > 0:
        env[K_URL_SCHEME] = "https"
    if not head.authority and not head.host and method is not M_CONNECT:
        return 400                          # RFC 9113 8.3.1: a request must say whom it is for
    if has_body:
        if 0 < parser.limits.request_body < req.content_length:
            return 413
        req.has_body = True
        req.input = Input.new(parser.limits.body_buffer_size, req.content_length)
    elif req.content_length > 0:
        return 400                          # a length announced, no body to come
    env[K_INPUT] = req.input
    return 0
