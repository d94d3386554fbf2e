# The header fields of a validated head into the environ. A client sends the same field names, in the same order,
# on every request of a connection (a browser's User-Agent, Accept..., Cookie; a load generator's Host), and most
# values again: each connection's HeadTemplate keeps the environ of its last head up to the fields (with the peer's
# address) and, while a head sends the template's names in order, copies it and sets only the values that changed.
# A name is matched against the template's bytes where it lies and a value against the template's str: no hash, no
# dict probe, no memchr for a line sent again. A head that departs from the template is built field by field from
# there (each key probed once: a repeated name is joined or refused) and becomes the next template. Either way every
# field pays the same limits and the same checks of its kind (field_effect).

from cpython.dict cimport PyDict_Copy, PyDict_SetDefault
from cpython.mem cimport PyMem_Malloc, PyMem_Free
from cpython.ref cimport Py_INCREF, Py_XDECREF
from cpython.list cimport PyList_GET_SIZE, PyList_GET_ITEM
from cpython.unicode cimport PyUnicode_GET_LENGTH, PyUnicode_KIND, PyUnicode_DATA, PyUnicode_1BYTE_KIND
from libc.string cimport memset, strncasecmp

cdef extern from "Python.h":
    Py_ssize_t PyDict_GET_SIZE(dict d)

cdef str K_HTTP_UPGRADE = sys.intern("HTTP_UPGRADE")    # (llhttp reads Upgrade for framing: index_kept)
cdef Py_ssize_t VALUES_MAX = 24             # field values remembered per connection (value_str) ...
cdef Py_ssize_t VALUE_MAX = 1024            # ... each at most this long


@cython.final
cdef class HeadTemplate:

    @staticmethod
    cdef HeadTemplate new():
        cdef HeadTemplate self = HeadTemplate.__new__(HeadTemplate)
        self.values = []
        return self

    def __dealloc__(self):
        cdef Py_ssize_t j
        cbuf_release(&self.kept, 0)
        if self.saved != NULL:
            for j in range(SAVED_LAYOUTS):
                Py_XDECREF(self.saved[j].environ)
            PyMem_Free(self.saved)
            self.saved = NULL

    cdef Py_ssize_t kept_head(self, const char *p, Py_ssize_t n) noexcept:
        cdef Py_ssize_t size = self.kept.len
        if 0 < size <= n and memcmp(p, self.kept.data, size) == 0:
            return size
        return 0

    cdef Py_ssize_t known_fields(self, const char *h, Py_ssize_t n) noexcept:
        cdef Py_ssize_t fields = self.kept.len - self.kept_fields   # the kept head's fields and empty line
        cdef Py_ssize_t line = n - fields
        if not self.plain or self.kept.len == 0 or line < 16:
            return 0
        if h[line - 1] != b"\n" or h[line - 2] != b"\r" or memcmp(h + line - 11, b" HTTP/1.1", 9) != 0:
            return 0
        if memcmp(h + line, self.kept.data + self.kept_fields, fields) != 0:
            return 0
        if memchr(h, b"\n", line - 1) != NULL:
            return 0                    # (one line: no LF before its end)
        return line

    cdef int read_fields(self, Parser parser, Request req, HeadFlags *flags, const char *h, const char *p,
                         const char *end) except -1:
        """The fields p..end of the head at h, which llhttp has accepted (end: its empty line): name ":" OWS value
        OWS CRLF each, counted against the limits, checked, and put in req.environ. 1: refused (recorded, the
        environ is partial). Fields byte for byte those of the kept head are the template's as they are and say what
        they said then."""
        cdef const char *fields = p
        cdef Py_ssize_t kept_len = self.kept.len - 2 - self.kept_fields    # the kept head's fields (< 0: none)
        cdef Py_ssize_t n = 0
        cdef bint learnable = True      # these fields can be the next template
        if self.environ is not None:
            if kept_len == end - p and memcmp(self.kept.data + self.kept_fields, p, end - p) == 0:
                return self.take_kept(req, flags, h, p, end)
            self.kept.len = 0           # kept again once these fields are read whole (its bytes stay until then)
            if self.match(parser, req, flags, &p, end, kept_len, &n):
                return 1
        else:
            self.kept.len = 0
            req.environ = new_environ(parser)
        if p < end and self.read_each(parser, req, flags, fields, p, end, &n, &learnable):
            return 1
        if self.environ is None and learnable and n <= TEMPLATE_FIELDS:
            self.learn(req, n)
        req.nfields = <int>n
        if self.environ is not None and end + 2 - h <= KEPT_HEAD_MAX:
            self.keep(h, fields, end)
            self.index_kept(n)
            self.said.flags = flags[0]
            self.said.content_length = req.content_length
            self.said.expect_continue = req.expect_continue
            self.said.secure = req.secure
            self.said.nfields = <int>n
        return 0

    cdef int take_kept(self, Request req, HeadFlags *flags, const char *h, const char *p, const char *end) except -1:
        """The head's fields are the kept head's, byte for byte: the template as it is, and what they said."""
        req.environ = PyDict_Copy(self.environ)
        flags[0] = self.said.flags
        req.content_length = self.said.content_length
        req.expect_continue = self.said.expect_continue
        req.secure = self.said.secure
        req.nfields = self.said.nfields
        if p - h != self.kept_fields or memcmp(self.kept.data, h, p - h) != 0:
            self.keep(h, p, end)        # another request line: the next head may repeat this one whole
        return 0

    cdef int match(self, Parser parser, Request req, HeadFlags *flags, const char **p, const char *end,
                   Py_ssize_t kept_len, Py_ssize_t *n) except -1:
        """The head's fields while they send the names of a layout in order: the current one, else a saved one that
        goes on as the head does (taken up from where the other departs). Only then are they put in req.environ:
        the layout's copy with the values that changed set (in the layout too), or, if the head departs from every
        layout, the base environ with the fields read so far (the layout is saved, and the head read on by
        read_each)."""
        cdef FieldLine lines[TEMPLATE_FIELDS]
        cdef FieldMatch found[TEMPLATE_FIELDS]
        cdef const char *at = p[0]
        cdef Py_ssize_t i = 0, j, m
        while True:
            while at < end and i < self.count:
                found[i] = self.match_field(i, at, end, kept_len, &lines[i])
                if found[i] == FM_OTHER_NAME:
                    break
                at = lines[i].cr + 2
                i += 1
            if at == end and i == self.count:
                break
            j = self.find_saved(i, at, end)
            if j < 0:
                break
            self.swap(j)
            kept_len = -1               # the kept head's lines are the other layout's
            for m in range(i):
                found[m] = self.same_value(m, &lines[m])
        n[0] = i
        if self.apply(parser, req, flags, p[0], lines, found, i, at == end and i == self.count):
            return 1
        p[0] = at
        return 0

    cdef FieldMatch same_value(self, Py_ssize_t i, FieldLine *line) noexcept:
        cdef PyObject *value = self.fields[i].value
        cdef Py_ssize_t vlen = line.value_end - line.value
        if (value != NULL and PyUnicode_GET_LENGTH(<object>value) == vlen
                and memcmp(PyUnicode_DATA(<object>value), line.value, vlen) == 0):
            return FM_SAME
        return FM_CHANGED

    cdef int apply(self, Parser parser, Request req, HeadFlags *flags, const char *fields, FieldLine *lines,
                   FieldMatch *found, Py_ssize_t n, bint whole) except -1:
        cdef dict env = PyDict_Copy(self.environ) if whole else new_environ(parser)
        cdef TemplateField *field
        cdef FieldKind kind
        cdef Py_ssize_t i
        cdef str value
        req.environ = env
        for i in range(n):
            field = &self.fields[i]
            kind = field.key.kind
            if check_size(parser, i + 1, &lines[i]):
                return 1
            if kind == FK_DROPPED:
                pass
            elif found[i] == FM_CHANGED:
                value = self.value_str(i, lines[i].value, lines[i].value_end - lines[i].value)
                env[<str>field.key.key] = value
                self.environ[<str>field.key.key] = value
                field.value = <PyObject *>value
            elif not whole:
                env[<str>field.key.key] = <object>field.value
            if kind == FK_HOST and found[i] == FM_SAME:
                flags.host = True       # the layout's value, checked when it was read (a refusal ends parsing)
            elif kind != FK_PLAIN and field_effect(parser, req, flags, kind, lines[i].value,
                                                   lines[i].value_end - lines[i].value):
                return 1
            self.note_line(i, fields, &lines[i])
        if not whole:
            self.save()                 # the fields that follow depart from every layout: they are read one by one
            self.environ = None
        return 0

    cdef FieldMatch match_field(self, Py_ssize_t i, const char *p, const char *end, Py_ssize_t kept_len,
                                FieldLine *line) noexcept:
        """The field line at p against the template's field i: the kept head's line (CRLF and all: no CR within),
        else its name and the value read, compared with the template's."""
        cdef TemplateField *field = &self.fields[i]
        cdef const FieldKey *key = field.key
        cdef const char *v
        cdef const char *le
        cdef Py_ssize_t vlen
        if (field.line + field.line_len <= kept_len and p + field.line_len <= end
                and memcmp(p, self.kept.data + self.kept_fields + field.line, field.line_len) == 0):
            line.name = p
            line.colon = p + key.len
            line.value = p + field.value_at
            line.value_end = line.value + field.value_len
            line.cr = p + field.line_len - 2
            return FM_SAME
        if not (p + key.len < end and p[key.len] == b":" and memcmp(p, key.data, key.len) == 0):
            return FM_OTHER_NAME
        line.name = p
        line.colon = p + key.len
        v = line.colon + 1
        while is_ows(v[0]):             # the line's CR stops it
            v += 1
        line.value = v
        if field.value != NULL:
            # the template's values are latin-1 str (1 byte a character), made from bytes without CR
            vlen = PyUnicode_GET_LENGTH(<object>field.value)
            if v + vlen < end and memcmp(v, PyUnicode_DATA(<object>field.value), vlen) == 0:
                le = v + vlen
                while is_ows(le[0]):
                    le += 1
                if le[0] == b"\r":
                    line.value_end = v + vlen
                    line.cr = le
                    return FM_SAME
        le = <const char *>memchr(v, b"\r", end - v)
        line.cr = le
        while le > v and is_ows((le - 1)[0]):
            le -= 1
        line.value_end = le
        return FM_CHANGED

    cdef int read_each(self, Parser parser, Request req, HeadFlags *flags, const char *fields, const char *p,
                       const char *end, Py_ssize_t *n, bint *learnable) except -1:
        """The fields from p on without template: each name's key from the name table, each value stored."""
        cdef Py_ssize_t i = n[0]
        cdef const FieldKey *key
        cdef FieldLine line
        while p < end:
            if not read_line(p, end, &line):
                return parser.stop(400, "malformed header field") + 1
            i += 1
            if check_size(parser, i, &line):
                return 1
            key = field_key(p, line.colon - p)
            if self.store_field(parser, req, key, i - 1, &line, learnable):
                return 1
            if key.kind != FK_PLAIN and field_effect(parser, req, flags, key.kind, line.value,
                                                     line.value_end - line.value):
                return 1
            if i <= TEMPLATE_FIELDS:
                self.note_line(i - 1, fields, &line)
            p = line.cr + 2
        n[0] = i
        return 0

    cdef int store_field(self, Parser parser, Request req, const FieldKey *key, Py_ssize_t i, FieldLine *line,
                         bint *learnable) except -1:
        """Field i (not in a template) into req.environ, its key probed once. A repeated name is one line per RFC
        9110 5.3 (cookies joined with "; "), or refused where a second value would change how the message is
        handled."""
        cdef FieldKind kind = key.kind
        cdef dict env = req.environ
        cdef TemplateField *field = &self.fields[i] if i < TEMPLATE_FIELDS else NULL
        cdef str name, value, old
        cdef Py_ssize_t size
        if key == &UNCACHED_KEY:
            learnable[0] = False        # its entry is reused by the next uncached name
        if kind == FK_DROPPED:
            if field != NULL:
                field.key = key
                field.value = NULL
            return 0
        name = <str>key.key
        value = self.value_str(i, line.value, line.value_end - line.value)
        size = PyDict_GET_SIZE(env)
        old = <str>PyDict_SetDefault(env, name, value)    # one lookup; the size tells whether the name is new
        if PyDict_GET_SIZE(env) == size:
            learnable[0] = False
            if kind == FK_HOST or kind == FK_CONTENT_LENGTH or kind == FK_CONTENT_TYPE:
                parser.stop(400, "duplicate " + name)
                return 1
            env[name] = old + ("; " if kind == FK_COOKIE else ", ") + value
        elif field != NULL:
            field.key = key
            field.value = <PyObject *>value
        return 0

    cdef int note_line(self, Py_ssize_t i, const char *fields, FieldLine *line) noexcept:
        """Where field i lies in the head, for comparing the next head with it (used only while the head is kept:
        at most KEPT_HEAD_MAX bytes)."""
        cdef TemplateField *field = &self.fields[i]
        field.line = <int>(line.name - fields)
        field.line_len = <int>(line.cr + 2 - line.name)
        field.value_at = <int>(line.value - line.name)
        field.value_len = <int>(line.value_end - line.value)
        return 0

    cdef Py_ssize_t find_saved(self, Py_ssize_t n, const char *p, const char *end) noexcept:
        cdef Layout *layout
        cdef const FieldKey *key
        cdef Py_ssize_t j, i
        if self.saved == NULL:
            return -1
        for j in range(SAVED_LAYOUTS):
            layout = &self.saved[j]
            if layout.environ == NULL or layout.count < n or (p == end) != (layout.count == n):
                continue
            if p < end:
                key = layout.fields[n].key
                if not (p + key.len < end and p[key.len] == b":" and memcmp(p, key.data, key.len) == 0):
                    continue
            for i in range(n):
                if layout.fields[i].key != self.fields[i].key:
                    break
            else:
                return j
        return -1

    cdef int swap(self, Py_ssize_t j) except -1:
        cdef Layout *slot = &self.saved[j]
        cdef Layout mine
        cdef object held = self.environ         # the current layout's environ, alive until the slot holds it
        mine.environ = <PyObject *>held
        mine.count = self.count
        mine.method, mine.protocol, mine.target, mine.input = self.method, self.protocol, self.target, self.input
        memcpy(mine.fields, self.fields, sizeof(self.fields))
        self.environ = <dict>slot.environ
        Py_XDECREF(slot.environ)                # (the slot's reference: self.environ holds its own)
        self.count = slot.count
        self.method, self.protocol, self.target, self.input = slot.method, slot.protocol, slot.target, slot.input
        memcpy(self.fields, slot.fields, sizeof(self.fields))
        slot[0] = mine
        Py_INCREF(held)
        self.clock += 1
        slot.used = self.clock
        return 0

    cdef int save(self) except -1:
        cdef Layout *slot
        cdef Py_ssize_t j
        if self.environ is None:
            return 0
        if self.saved == NULL:
            # (at a connection's first change of field order: most never change it, and keep none)
            self.saved = <Layout *>PyMem_Malloc(SAVED_LAYOUTS * sizeof(Layout))
            if self.saved == NULL:
                raise MemoryError()
            memset(self.saved, 0, SAVED_LAYOUTS * sizeof(Layout))
        slot = &self.saved[0]
        for j in range(SAVED_LAYOUTS):
            if self.saved[j].environ == NULL:
                slot = &self.saved[j]
                break
            if self.saved[j].used < slot.used:
                slot = &self.saved[j]
        Py_XDECREF(slot.environ)
        slot.environ = <PyObject *>self.environ
        Py_INCREF(self.environ)
        slot.count = self.count
        slot.method, slot.protocol, slot.target, slot.input = self.method, self.protocol, self.target, self.input
        memcpy(slot.fields, self.fields, sizeof(self.fields))
        self.clock += 1
        slot.used = self.clock
        return 0

    cdef int drop_saved(self) except -1:
        cdef Py_ssize_t j
        if self.saved != NULL:
            for j in range(SAVED_LAYOUTS):
                Py_XDECREF(self.saved[j].environ)
                self.saved[j].environ = NULL
        return 0

    cdef int learn(self, Request req, Py_ssize_t count) except -1:
        self.environ = PyDict_Copy(req.environ)
        self.count = count
        self.method = self.protocol = self.target = self.input = NULL
        return 0

    cdef int forget(self) except -1:
        self.environ = None
        self.plain = False
        self.kept.len = 0
        self.recent = None
        return self.drop_saved()

    cdef int keep(self, const char *h, const char *fields, const char *end) except -1:
        self.plain = False              # until the parser has read this head whole (head_complete)
        self.kept.len = 0
        cbuf_add(&self.kept, h, end + 2 - h)
        self.kept_fields = fields - h
        return 0

    cdef int index_kept(self, Py_ssize_t n) except -1:
        """Where the kept head's n field lines lie (its fields changed; the template's fields say, note_line). A line
        llhttp reads for framing (Content-Length, Transfer-Encoding, Connection, Proxy-Connection, Upgrade) is never
        known: it is always fed."""
        cdef TemplateField *field
        cdef FieldKind kind
        cdef Py_ssize_t i
        for i in range(n):
            field = &self.fields[i]
            kind = field.key.kind
            self.kept_line_at[i] = field.line
            if (kind == FK_CONTENT_LENGTH or kind == FK_TE or kind == FK_CONNECTION
                    or field.key.key == <PyObject *>K_HTTP_UPGRADE):
                self.kept_line_len[i] = -1
            else:
                self.kept_line_len[i] = field.line_len
        self.kept_lines = n
        return 0

    cdef bint known_lines(self, const char *h, Py_ssize_t n, CBuf *out) except -1:
        """The head at h into out as llhttp is to read it: the request line, the field lines it has to see, the empty
        line. Left out: a line llhttp would accept and read nothing from (plain_field_line: a token name that is not
        one of the five it reads for framing, then only VCHAR, SP and HTAB), and a line of the kept head it accepted
        before (index_kept). False: nothing left out, or not plain field lines; llhttp reads the head whole."""
        cdef const char *kept = self.kept.data + self.kept_fields
        cdef const char *end = h + n - 2            # the empty line
        cdef const char *p = <const char *>memchr(h, b"\n", n)
        cdef const char *lf
        cdef Py_ssize_t i = 0, j, size, known = 0, lines = self.kept_lines if self.kept.len else 0
        cdef bint found, http11
        if p == NULL or p == h or (p - 1)[0] != b"\r":
            return False
        http11 = p - h >= 10 and memcmp(p - 9, b"HTTP/1.1", 8) == 0 and (p - 10)[0] == b" "
        p += 1
        out.len = 0
        cbuf_add(out, h, p - h)                     # the request line
        while p < end:
            lf = <const char *>memchr(p, b"\n", end + 2 - p)
            size = lf + 1 - p
            if size < 3 or (lf - 1)[0] != b"\r" or p[0] == b" " or p[0] == b"\t":
                out.len = 0
                return False                        # not a plain field line: llhttp reads the head whole
            found = (i < lines and self.kept_line_len[i] == size
                     and memcmp(p, kept + self.kept_line_at[i], size) == 0) or plain_field_line(p, size, http11)
            if not found:
                j = 0
                while not found and j < lines:
                    found = (self.kept_line_len[j] == size and memcmp(p, kept + self.kept_line_at[j], size) == 0)
                    j += 1
            if found:
                known += 1
            else:
                cbuf_add(out, p, size)
            p = lf + 1
            i += 1
        if known == 0:
            out.len = 0
            return False
        cbuf_add(out, b"\r\n", 2)
        return True

    cdef int set_request_keys(self, Request req, str method, str proto, const char *t, Py_ssize_t tlen) except -1:
        cdef dict env = req.environ
        cdef dict tmpl = self.environ
        cdef PyObject *raw = self.target
        cdef str uri
        if tmpl is None:
            env[K_METHOD] = method
            env[K_PROTOCOL] = proto
            set_target(env, t, tlen)
            env[K_INPUT] = req.input
            return 0
        if <PyObject *>method != self.method:
            env[K_METHOD] = method
            tmpl[K_METHOD] = method
            self.method = <PyObject *>method
        if <PyObject *>proto != self.protocol:
            env[K_PROTOCOL] = proto
            tmpl[K_PROTOCOL] = proto
            self.protocol = <PyObject *>proto
        # the template's RAW_URI is a latin-1 str of its target's bytes: the same bytes give the same four keys
        if (raw == NULL or PyUnicode_GET_LENGTH(<object>raw) != tlen
                or memcmp(PyUnicode_DATA(<object>raw), t, tlen) != 0):
            uri = set_target(env, t, tlen)
            if raw == NULL or (self.recent is not None and PyUnicode_GET_LENGTH(self.recent) == tlen
                               and memcmp(PyUnicode_DATA(self.recent), t, tlen) == 0):
                tmpl[K_RAW_URI] = uri
                tmpl[K_REQUEST_URI] = uri
                tmpl[K_PATH_INFO] = env[K_PATH_INFO]
                tmpl[K_QUERY_STRING] = env[K_QUERY_STRING]
                self.target = <PyObject *>uri
                self.recent = None
            else:
                self.recent = uri       # a target sent once (a browser's next resource) is this request's alone
        if req.input is not EMPTY_INPUT:
            env[K_INPUT] = req.input            # a body's Input: this request's alone
        elif self.input != <PyObject *>EMPTY_INPUT:
            env[K_INPUT] = EMPTY_INPUT
            tmpl[K_INPUT] = EMPTY_INPUT
            self.input = <PyObject *>EMPTY_INPUT
        return 0

    cdef str value_str(self, Py_ssize_t i, const char *v, Py_ssize_t n):
        """The i-th field's value as a latin-1 str. A client sends the same values on every request of a connection
        (User-Agent, Accept, Cookie...): the str made for the last request is reused when the bytes are the same."""
        cdef list values = self.values
        cdef object prev
        cdef str s
        if i < PyList_GET_SIZE(values):
            prev = <object>PyList_GET_ITEM(values, i)
            if (PyUnicode_GET_LENGTH(prev) == n and PyUnicode_KIND(prev) == PyUnicode_1BYTE_KIND
                    and memcmp(PyUnicode_DATA(prev), v, n) == 0):
                return <str>prev
        s = PyUnicode_DecodeLatin1(v, n, NULL)
        if n <= VALUE_MAX:
            if i < PyList_GET_SIZE(values):
                values[i] = s
            elif i == PyList_GET_SIZE(values) and i < VALUES_MAX:
                values.append(s)
        return s

    cdef int release(self) except -1:
        self.environ = None
        self.plain = False
        self.values = []
        self.recent = None
        cbuf_release(&self.kept, 0)
        self.drop_saved()
        PyMem_Free(self.saved)
        self.saved = NULL
        return 0


cdef dict new_environ(Parser parser):
    cdef dict env = PyDict_Copy(parser.base_env)
    if parser.remote_addr is not None:
        env[K_REMOTE_ADDR] = parser.remote_addr
        env[K_REMOTE_PORT] = parser.remote_port
    return env


cdef bint read_line(const char *p, const char *end, FieldLine *line) noexcept:
    cdef const char *le = <const char *>memchr(p, b"\r", end - p)
    cdef const char *colon = <const char *>memchr(p, b":", le - p) if le != NULL else NULL
    cdef const char *v
    cdef const char *ve = le
    if colon == NULL:
        return False
    v = colon + 1
    while v < le and is_ows(v[0]):
        v += 1
    while ve > v and is_ows((ve - 1)[0]):
        ve -= 1
    line.name = p
    line.colon = colon
    line.value = v
    line.value_end = ve
    line.cr = le
    return True


cdef int check_size(Parser parser, Py_ssize_t n, FieldLine *line) except -1:
    """The head's n-th field against the limits; 1: refused."""
    if 0 < parser.limits.request_fields < n:
        return parser.stop(431, "too many header fields") + 1
    if 0 < parser.limits.request_field_size < (line.colon - line.name) + (line.value_end - line.value) + 2:
        return parser.stop(431, "header field too large") + 1
    return 0


cdef int field_effect(Parser parser, Request req, HeadFlags *flags, FieldKind kind, const char *v,
                      Py_ssize_t vlen) except -1:
    cdef int secure
    cdef object bad
    if kind == FK_PLAIN or kind == FK_COOKIE or kind == FK_CONTENT_TYPE or kind == FK_DROPPED:
        return 0
    if kind == FK_CONTENT_LENGTH:
        req.content_length = parse_digits(v, vlen)
        if req.content_length < 0:
            # llhttp reads up to 2**64-1 (and leading zeros); ours stops at 18 digits: never frame differently
            parser.stop(400, "Content-Length out of range")
            return 1
    elif kind == FK_HOST:
        flags.host = True
        bad = check_host(v, vlen)
        if bad is not None:
            parser.stop(bad[0], bad[1])
            return 1
    elif kind == FK_CONNECTION:
        flags.connection |= connection_tokens(v, vlen)
    elif kind == FK_TE:
        flags.te = True
    elif kind == FK_EXPECT:
        if vlen == 12 and strncasecmp(v, "100-continue", 12) == 0:
            req.expect_continue = True
        else:
            parser.stop(417, "unsupported Expect")
            return 1
    elif parser.trusted_proxy:
        # gunicorn's secure_scheme_headers from a trusted proxy decide wsgi.url_scheme; two that disagree are
        # refused, as gunicorn does
        secure = 1 if scheme_is_secure(kind, v, vlen) else -1
        if req.secure != 0 and req.secure != secure:
            parser.stop(400, "Contradictory scheme headers")
            return 1
        req.secure = secure
    return 0
