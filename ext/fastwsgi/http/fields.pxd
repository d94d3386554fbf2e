# The header fields of a validated head into the environ (fields.pyx), with a connection's HeadTemplate: the
# environ of its last head's fields, copied when the next head sends the same names in the same order.
from cpython.object cimport PyObject

cdef class Request
cdef class Parser

cdef enum:
    TEMPLATE_FIELDS = 24    # fields a template holds at most (a head with more is built field by field)
    KEPT_HEAD_MAX = 2048    # a head kept to compare the next one with is at most this long
    # field orders a template keeps besides its current one (a browser's page, its stylesheets and images, its
    # XHRs, its revalidations each send their own)
    SAVED_LAYOUTS = 6

cdef struct HeadFlags:
    # what the fields of one head said, for the checks made once all are read
    bint host
    bint te
    int connection          # CONN_CLOSE / CONN_KEEP_ALIVE bits from Connection and Proxy-Connection

cdef struct FieldsSaid:
    # what the fields of the kept head said (the same bytes say the same)
    HeadFlags flags
    long long content_length
    bint expect_continue
    int secure
    int nfields

cdef struct FieldLine:
    # one field line of a head as read: name ":" OWS value OWS CR LF
    const char *name
    const char *colon
    const char *value       # OWS trimmed ...
    const char *value_end
    const char *cr          # ... and the line's CR

cdef struct TemplateField:
    # one field of the template: its name as sent and its value there
    const FieldKey *key     # a slot of the name table (never the uncached one): its bytes, environ key and kind
    PyObject *value         # str, borrowed from the template's environ (NULL: a dropped name)
    int line                # its line in the kept head, from the fields' start ...
    int line_len            # ... through its CRLF
    int value_at            # its value in that line (OWS trimmed)
    int value_len

cdef struct Layout:
    # a saved field order: what HeadTemplate holds for its current one (environ ... input), kept for a later head
    PyObject *environ       # dict, a reference of its own (NULL: an empty slot)
    Py_ssize_t count
    PyObject *method
    PyObject *protocol
    PyObject *target
    PyObject *input
    unsigned long used      # when it was saved (the oldest is replaced)
    TemplateField fields[TEMPLATE_FIELDS]

cdef enum FieldMatch:
    # how a field line compares with the template's field in its place
    FM_OTHER_NAME = 0       # another name: the head departs from the template here
    FM_SAME                 # the template's name and value
    FM_CHANGED              # the template's name with another value


cdef class HeadTemplate:
    # One connection's field template. A client sends the same field names in the same order on every request of a
    # connection, and most values again: the template is the environ of the last head up to its fields (with the
    # peer's address, the request line's keys), copied for a head that sends its names in order, with only the
    # changed values set. It also keeps that head's bytes: a head whose fields are byte for byte the kept ones takes
    # the template whole, with what those fields said.
    cdef:
        dict environ                # the template (None: none; the next head is built field by field and learnt)
        Py_ssize_t count            # its fields, in order ...
        TemplateField fields[TEMPLATE_FIELDS]
        PyObject *method            # its REQUEST_METHOD, SERVER_PROTOCOL, RAW_URI (the target its keys come
        PyObject *protocol          # from) and wsgi.input (borrowed from it; NULL: not set since it was learnt)
        PyObject *target
        PyObject *input
        CBuf kept                   # the last head read with the template, byte for byte (len 0: none) ...
        Py_ssize_t kept_fields      # ... where its fields start
        FieldsSaid said             # ... and what they said
        bint plain                  # ... and that they frame a plain message after an HTTP/1.1 line (parser.pyx)
        int kept_line_at[TEMPLATE_FIELDS]      # ... its field lines, from the fields' start (index_kept) ...
        int kept_line_len[TEMPLATE_FIELDS]     # ... with their CRLF (-1: a line llhttp reads for framing)
        Py_ssize_t kept_lines
        list values                 # the last head's field values (str) by position: reused when sent again
        # the last target that was not the template's (RAW_URI): sent twice in a row, it becomes the template's
        str recent
        Layout *saved                   # the other field orders seen (SAVED_LAYOUTS; NULL until the first)
        unsigned long clock             # (Layout.used)

    @staticmethod
    cdef HeadTemplate new()
    # the kept head's length if the n bytes at p start with it, else 0
    cdef Py_ssize_t kept_head(self, const char *p, Py_ssize_t n) noexcept
    # the request line's length (CRLF included) if the head at h (n bytes, whole) has the kept head's fields, which
    # frame a plain message, after an HTTP/1.1 line: llhttp need only read that line (Parser.llhttp_head); else 0
    cdef Py_ssize_t known_fields(self, const char *h, Py_ssize_t n) noexcept
    # what llhttp needs to read of the whole head at h (n bytes) into out: its request line, its field lines that are
    # not the kept head's (which llhttp accepted, a framing line excepted: Content-Length, Transfer-Encoding,
    # Connection, Proxy-Connection, Upgrade), the empty line; False (out empty): the whole head (none is known, or
    # a line is not a plain CRLF-ended field line)
    cdef bint known_lines(self, const char *h, Py_ssize_t n, CBuf *out) except -1
    cdef int index_kept(self, Py_ssize_t n) except -1   # the kept head's n field lines (its fields changed)
    # the fields p..end of the head at h (end: its empty line) into req.environ, the template's copy when it fits;
    # 1: refused (recorded on the parser)
    cdef int read_fields(self, Parser parser, Request req, HeadFlags *flags, const char *h, const char *p,
                         const char *end) except -1
    # the fields from *p on while they send a layout's names in order (the current one, else a saved one), into
    # req.environ; kept_len: the kept head's fields (< 0: none); *n: fields read, *p: where the first that departs
    # from every layout begins (end: none did; else the template is saved and None); 1: refused
    cdef int match(self, Parser parser, Request req, HeadFlags *flags, const char **p, const char *end,
                   Py_ssize_t kept_len, Py_ssize_t *n) except -1
    cdef FieldMatch same_value(self, Py_ssize_t i, FieldLine *line) noexcept    # the line's value is field i's?
    # the n fields matched into req.environ: the layout's copy (whole: it has no others) or the base environ
    cdef int apply(self, Parser parser, Request req, HeadFlags *flags, const char *fields, FieldLine *lines,
                   FieldMatch *found, Py_ssize_t n, bint whole) except -1
    cdef FieldMatch match_field(self, Py_ssize_t i, const char *p, const char *end, Py_ssize_t kept_len,
                                FieldLine *line) noexcept     # the line at p against the template's field i
    # the fields from p on, one by one (each key probed once); *n: fields read; *learnable: False if they cannot
    # be a template (a repeated or uncached name); 1: refused
    cdef int read_each(self, Parser parser, Request req, HeadFlags *flags, const char *fields, const char *p,
                       const char *end, Py_ssize_t *n, bint *learnable) except -1
    cdef int store_field(self, Parser parser, Request req, const FieldKey *key, Py_ssize_t i, FieldLine *line,
                         bint *learnable) except -1    # a field without template: duplicates joined or refused (1)
    cdef int note_line(self, Py_ssize_t i, const char *fields, FieldLine *line) noexcept   # where field i lies
    # a saved layout whose first n names are the current one's and whose next is the field at p (p == end: which
    # has n fields), or -1
    cdef Py_ssize_t find_saved(self, Py_ssize_t n, const char *p, const char *end) noexcept
    cdef int swap(self, Py_ssize_t j) except -1     # saved layout j becomes the current one, which is saved there
    cdef int save(self) except -1                   # the current layout into the oldest slot (None: nothing)
    cdef int drop_saved(self) except -1
    cdef int learn(self, Request req, Py_ssize_t count) except -1    # req.environ becomes the template
    cdef int forget(self) except -1                                  # no template: the next head is learnt
    cdef int keep(self, const char *h, const char *fields, const char *end) except -1   # the kept head: h..end
    cdef int take_kept(self, Request req, HeadFlags *flags, const char *h, const char *p, const char *end) except -1
    # REQUEST_METHOD, SERVER_PROTOCOL, the target's keys, wsgi.input: into req.environ and the template (a body's
    # Input excepted), each only when it differs from the template's
    cdef int set_request_keys(self, Request req, str method, str proto, const char *t, Py_ssize_t tlen) except -1
    cdef str value_str(self, Py_ssize_t i, const char *v, Py_ssize_t n)   # field i's value (the last one's if same)
    cdef int release(self) except -1                                 # drop everything (the connection ends)


cdef dict new_environ(Parser parser)            # the base environ with the peer's address: a head's start
cdef bint read_line(const char *p, const char *end, FieldLine *line) noexcept   # False: no colon (malformed)
cdef int check_size(Parser parser, Py_ssize_t n, FieldLine *line) except -1   # the n-th field's limits; 1: refused
# what a field's kind does besides its key; 1: refused
cdef int field_effect(Parser parser, Request req, HeadFlags *flags, FieldKind kind, const char *v,
                      Py_ssize_t vlen) except -1
