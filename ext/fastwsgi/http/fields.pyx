# The header fields of a validated head into the environ. A client sends the same field names, in the same order,
# on every request of a connection (a browser's User-Agent, Accept..., Cookie; a load generator's Host), and most
# values again: the Parser keeps the environ of its last head up to the fields (its template, with the peer's
# address) and, while a head sends the template's names in order, copies it and sets only the values that changed.
# A name is matched against the template's bytes where it lies and a value against the template's str: no hash, no
# dict probe, no memchr for a line sent again. A head that departs from the template is built field by field (each
# key probed once: a repeated name is joined or refused) and becomes the next template. Either way every field pays
# the same limits and the same checks of its kind (field_effect).

from cpython.dict cimport PyDict_Copy, PyDict_SetDefault
from libc.string cimport strncasecmp

cdef extern from "Python.h":
    Py_ssize_t PyDict_GET_SIZE(dict d)


cdef int read_fields(Parser self, Request req, HeadFlags *flags, const char *h, const char *p,
                     const char *end) except -1:
    """The fields p..end of the head at h, which llhttp has accepted (end: its empty line): name ":" OWS value OWS
    CRLF each, counted against the limits, checked, and put in req.environ. 1: refused (recorded, the environ is
    partial). Fields byte for byte those of the kept head (same_head) are the template's as they are and say what
    they said then."""
    cdef FieldsSaid *said = &self.said
    cdef const char *fields = p
    cdef const char *kept = self.same_head.data + self.same_fields if self.same_head.data != NULL else NULL
    cdef Py_ssize_t kept_len = self.same_head.len - 2 - self.same_fields   # its fields (-2: none kept)
    cdef Py_ssize_t nf = 0, tn = self.tmpl_n if self.tmpl is not None else -1, vlen
    cdef const FieldKey *fk
    cdef TmplField *tf = NULL
    cdef const char *colon
    cdef const char *v
    cdef const char *ve
    cdef const char *le
    cdef dict env
    cdef str sval
    cdef bint same, keep = True     # keep: these fields can be the next template
    if tn >= 0 and kept_len == end - p and memcmp(kept, p, end - p) == 0:
        req.environ = PyDict_Copy(self.tmpl)
        flags[0] = said.flags
        req.content_length = said.content_length
        req.expect_continue = said.expect_continue
        req.secure = said.secure
        req.nfields = said.nfields
        if p - h != self.same_fields or memcmp(self.same_head.data, h, p - h) != 0:
            keep_head(self, h, p, end)      # another request line: the next head may repeat this one whole
        return 0
    self.same_head.len = 0              # kept again once these fields are read whole (its bytes stay until then)
    if tn >= 0:
        env = PyDict_Copy(self.tmpl)
        req.environ = env
    else:
        env = new_environ(self)
        req.environ = env
    while p < end:
        same = False
        fk = NULL
        if tn >= 0:
            if nf < tn:
                tf = &self.tmpl_f[nf]
                fk = tf.fk
                if (tf.line + tf.llen <= kept_len and p + tf.llen <= end
                        and memcmp(p, kept + tf.line, tf.llen) == 0):
                    # the kept head's line, CRLF and all (no CR within): the same name and value
                    colon = p + fk.len
                    v = p + tf.voff
                    ve = v + tf.vlen
                    le = p + tf.llen - 2
                    same = True
                elif not (p + fk.len < end and p[fk.len] == b":" and memcmp(p, fk.data, fk.len) == 0):
                    fk = NULL
            if fk == NULL:
                # the names depart from the template here: the rest is built field by field
                env = leave_template(self, req, nf)
                tn = -1
            elif not same:
                colon = p + fk.len
                v = colon + 1
                while is_ows(v[0]):         # the line's CR stops it
                    v += 1
                if tf.value != NULL:
                    # the template's values are latin-1 str (1 byte a character), made from bytes without CR
                    vlen = PyUnicode_GET_LENGTH(<object>tf.value)
                    if v + vlen < end and memcmp(v, PyUnicode_DATA(<object>tf.value), vlen) == 0:
                        ve = le = v + vlen
                        while is_ows(le[0]):
                            le += 1
                        same = le[0] == b"\r"
                if not same:
                    le = <const char *>memchr(v, b"\r", end - v)
                    ve = le
        if fk == NULL:
            le = <const char *>memchr(p, b"\r", end - p)
            colon = <const char *>memchr(p, b":", le - p) if le != NULL else NULL
            if colon == NULL:
                return self.stop(400, "malformed header field") + 1
            v = colon + 1
            while v < le and is_ows(v[0]):
                v += 1
            ve = le
        if not same:
            while ve > v and is_ows((ve - 1)[0]):
                ve -= 1
        nf += 1
        if 0 < self.limits.request_fields < nf:
            return self.stop(431, "too many header fields") + 1
        if 0 < self.limits.request_field_size < (colon - p) + (ve - v) + 2:
            return self.stop(431, "header field too large") + 1
        if tn >= 0:
            if not same and fk.kind != FK_DROPPED:
                sval = self.value_str(nf - 1, v, ve - v)
                env[<str>fk.key] = sval
                self.tmpl[<str>fk.key] = sval
                tf.value = <PyObject *>sval
        else:
            fk = field_key(p, colon - p)
            if store_field(self, req, fk, nf - 1, v, ve - v, &keep):
                return 1
        if fk.kind != FK_PLAIN and field_effect(self, req, flags, fk.kind, v, ve - v):
            return 1
        if nf <= TMPL_FIELDS:
            tf = &self.tmpl_f[nf - 1]
            tf.line = <int>(p - fields)     # (used only while the head is kept: at most SAME_HEAD_MAX bytes)
            tf.llen = <int>(le + 2 - p)
            tf.voff = <int>(v - p)
            tf.vlen = <int>(ve - v)
        p = le + 2
    if tn > nf:
        leave_template(self, req, nf)       # fewer fields than the template
        tn = -1
    if tn < 0:
        if keep and nf <= TMPL_FIELDS:
            self.tmpl = PyDict_Copy(req.environ)
            self.tmpl_n = nf
            self.tmpl_method = self.tmpl_proto = self.tmpl_target = self.tmpl_input = NULL
        else:
            self.tmpl = None
    req.nfields = <int>nf
    if self.tmpl is not None and end + 2 - h <= SAME_HEAD_MAX:
        keep_head(self, h, fields, end)
        said.flags = flags[0]
        said.content_length = req.content_length
        said.expect_continue = req.expect_continue
        said.secure = req.secure
        said.nfields = <int>nf
    return 0


cdef int keep_head(Parser self, const char *h, const char *p, const char *end) except -1:
    self.same_head.len = 0
    cbuf_add(&self.same_head, h, end + 2 - h)
    self.same_fields = p - h
    return 0


cdef int set_request_keys(Parser self, Request req, str method, str proto, const char *t, Py_ssize_t tlen) except -1:
    cdef dict env = req.environ
    cdef dict tmpl = self.tmpl
    cdef PyObject *raw = self.tmpl_target
    cdef str key
    if tmpl is None:
        env[K_METHOD] = method
        env[K_PROTOCOL] = proto
        set_target(env, t, tlen)
        env[K_INPUT] = req.input
        return 0
    if <PyObject *>method != self.tmpl_method:
        env[K_METHOD] = method
        tmpl[K_METHOD] = method
        self.tmpl_method = <PyObject *>method
    if <PyObject *>proto != self.tmpl_proto:
        env[K_PROTOCOL] = proto
        tmpl[K_PROTOCOL] = proto
        self.tmpl_proto = <PyObject *>proto
    # the template's RAW_URI is a latin-1 str of its target's bytes: the same bytes give the same four keys
    if raw == NULL or PyUnicode_GET_LENGTH(<object>raw) != tlen or memcmp(PyUnicode_DATA(<object>raw), t, tlen) != 0:
        set_target(env, t, tlen)
        for key in (K_RAW_URI, K_REQUEST_URI, K_PATH_INFO, K_QUERY_STRING):
            tmpl[key] = env[key]
        self.tmpl_target = <PyObject *>env[K_RAW_URI]
    if req.input is not EMPTY_INPUT:
        env[K_INPUT] = req.input            # a body's Input: this request's alone
    elif self.tmpl_input != <PyObject *>EMPTY_INPUT:
        env[K_INPUT] = EMPTY_INPUT
        tmpl[K_INPUT] = EMPTY_INPUT
        self.tmpl_input = <PyObject *>EMPTY_INPUT
    return 0


cdef dict new_environ(Parser self):
    cdef dict env = PyDict_Copy(self.base_env)
    if self.remote_addr is not None:
        env[K_REMOTE_ADDR] = self.remote_addr
        env[K_REMOTE_PORT] = self.remote_port
    return env


cdef dict leave_template(Parser self, Request req, Py_ssize_t upto):
    """The head's first `upto` fields were the template's: req.environ becomes the base environ with those (their
    values as this head sent them), and the template is dropped (its entries up to `upto` stay valid for the next
    one: their values are in req.environ)."""
    cdef dict env = new_environ(self)
    cdef TmplField *tf
    cdef Py_ssize_t j
    for j in range(upto):
        tf = &self.tmpl_f[j]
        if tf.value != NULL:
            env[<str>tf.fk.key] = <object>tf.value
    req.environ = env
    self.tmpl = None
    return env


cdef int store_field(Parser self, Request req, const FieldKey *fk, Py_ssize_t i, const char *v, Py_ssize_t vlen,
                     bint *keep) except -1:
    """Field i (not in a template) into req.environ, its key probed once. A repeated name is one line per RFC 9110
    5.3 (cookies joined with "; "), or refused where a second value would change how the message is handled."""
    cdef FieldKind kind = fk.kind
    cdef dict env = req.environ
    cdef TmplField *tf = &self.tmpl_f[i] if i < TMPL_FIELDS else NULL
    cdef str key, sval, old
    cdef Py_ssize_t size
    if fk == &UNCACHED_KEY:
        keep[0] = False             # its entry is reused by the next uncached name
    if kind == FK_DROPPED:
        if tf != NULL:
            tf.fk = fk
            tf.value = NULL
        return 0
    key = <str>fk.key
    sval = self.value_str(i, v, vlen)
    size = PyDict_GET_SIZE(env)
    old = <str>PyDict_SetDefault(env, key, sval)     # one lookup; the size tells whether the name is new
    if PyDict_GET_SIZE(env) == size:
        keep[0] = False
        if kind == FK_HOST or kind == FK_CONTENT_LENGTH or kind == FK_CONTENT_TYPE:
            self.stop(400, "duplicate " + key)
            return 1
        env[key] = old + ("; " if kind == FK_COOKIE else ", ") + sval
    elif tf != NULL:
        tf.fk = fk
        tf.value = <PyObject *>sval
    return 0


cdef int field_effect(Parser self, Request req, HeadFlags *flags, FieldKind kind, const char *v,
                      Py_ssize_t vlen) except -1:
    cdef int secure
    cdef object bad
    if kind == FK_PLAIN or kind == FK_COOKIE or kind == FK_CONTENT_TYPE or kind == FK_DROPPED:
        return 0
    if kind == FK_CONTENT_LENGTH:
        req.content_length = parse_digits(v, vlen)
        if req.content_length < 0:
            # llhttp reads up to 2**64-1 (and leading zeros); ours stops at 18 digits: never frame differently
            self.stop(400, "Content-Length out of range")
            return 1
    elif kind == FK_HOST:
        flags.host = True
        bad = check_host(v, vlen)
        if bad is not None:
            self.stop(bad[0], bad[1])
            return 1
    elif kind == FK_CONNECTION:
        flags.connection |= connection_tokens(v, vlen)
    elif kind == FK_TE:
        flags.te = True
    elif kind == FK_EXPECT:
        if vlen == 12 and strncasecmp(v, "100-continue", 12) == 0:
            req.expect_continue = True
        else:
            self.stop(417, "unsupported Expect")
            return 1
    elif self.trusted_proxy:
        # gunicorn's secure_scheme_headers from a trusted proxy decide wsgi.url_scheme; two that disagree are
        # refused, as gunicorn does
        secure = 1 if scheme_is_secure(kind, v, vlen) else -1
        if req.secure != 0 and req.secure != secure:
            self.stop(400, "Contradictory scheme headers")
            return 1
        req.secure = secure
    return 0
