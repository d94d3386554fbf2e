# The header fields of a validated head into the environ (fields.pyx), with a connection's field template: the
# environ of its last head's fields, copied when the next head sends the same names in the same order.
from cpython.object cimport PyObject

cdef class Request
cdef class Parser

cdef enum:
    TMPL_FIELDS = 24        # fields a template holds at most (a head with more is built field by field)
    SAME_HEAD_MAX = 2048    # a head kept to compare the next one with is at most this long

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

cdef struct TmplField:
    # one field of the template: its name as sent and its value there
    const FieldKey *fk      # a slot of the name table (never the uncached one): its bytes, key and kind
    PyObject *value         # str, borrowed from the template dict (NULL: a dropped name)
    int line                # its line in the kept head (same_head), from the fields' start ...
    int llen                # ... through its CRLF
    int voff                # its value in that line (OWS trimmed)
    int vlen

# the fields p..end of the head at h (end: its empty line) into req.environ (the template's copy when it fits);
# 1: refused
cdef int read_fields(Parser self, Request req, HeadFlags *flags, const char *h, const char *p,
                     const char *end) except -1
cdef int keep_head(Parser self, const char *h, const char *p, const char *end) except -1   # the kept head: h..end
# REQUEST_METHOD, SERVER_PROTOCOL, the target's keys, wsgi.input: into req.environ and the template (a body's Input
# excepted), each only when it differs from the template's
cdef int set_request_keys(Parser self, Request req, str method, str proto, const char *t, Py_ssize_t tlen) except -1
cdef dict new_environ(Parser self)           # the base environ with the peer's address: a head's start
cdef dict leave_template(Parser self, Request req, Py_ssize_t upto)   # req.environ from the template's first fields
cdef int store_field(Parser self, Request req, const FieldKey *fk, Py_ssize_t i, const char *v, Py_ssize_t vlen,
                     bint *keep) except -1  # a field without template: duplicates joined or refused (1)
cdef int field_effect(Parser self, Request req, HeadFlags *flags, FieldKind kind, const char *v,
                      Py_ssize_t vlen) except -1   # what a field's kind does besides its key; 1: refused
