# The uWSGI protocol (--protocol uwsgi: nginx's uwsgi_pass): a Parser in this mode frames packets instead of HTTP
# heads, and builds each Request's environ from the packet's vars. Byte-level only: nothing here knows about sockets.
from cpython.object cimport PyObject
from libc.stdint cimport uint64_t

cdef enum:
    UW_OFF = 0              # Parser.uwsgi: the connection speaks HTTP
    UW_ON = 1               # uwsgi packets, from a peer in uwsgi_allow_ips
    UW_FORBIDDEN = 2        # uwsgi packets, from a peer outside uwsgi_allow_ips: its first bytes get 403
    UW_HEADER = 4           # modifier1, datasize (16-bit little-endian), modifier2
    UW_VARS_MAX = 1000      # vars per packet at most (gunicorn's MAX_UWSGI_VARS)
    UW_KEYS_SIZE = 512      # slots of the var-name table (a power of 2) ...
    UW_KEYS_MAX = 256       # ... names cached at most ...
    UW_PROBES = 8           # ... slots looked at per lookup

cdef enum UwKind:
    # what a var does besides going into the environ under its name
    UK_PLAIN = 0            # a CGI var (SERVER_NAME, REMOTE_ADDR, DOCUMENT_ROOT...): as sent, the last one wins
    UK_HTTP                 # HTTP_*: a header field (counted against the field limits; repeats joined with ", ")
    UK_COOKIE               # HTTP_COOKIE (repeats joined with "; ")
    UK_CONNECTION           # HTTP_CONNECTION: "close" ends the connection after the answer
    UK_XF_PROTO             # gunicorn's secure_scheme_headers, from a peer in forwarded_allow_ips
    UK_XF_PROTOCOL
    UK_XF_SSL
    UK_METHOD               # REQUEST_METHOD
    UK_PROTOCOL             # SERVER_PROTOCOL
    UK_CONTENT_LENGTH       # the body's length (empty: none)
    UK_CONTENT_TYPE         # (empty: none)
    UK_REQUEST_URI          # the raw target: RAW_URI too
    UK_PATH_INFO
    UK_QUERY_STRING
    UK_HTTPS                # on/1/true: wsgi.url_scheme https
    UK_SCHEME               # UWSGI_SCHEME, wsgi.url_scheme: http or https
    UK_DROPPED              # another wsgi.* name: the server's own keys are never set by the peer

cdef struct UwKey:
    uint64_t hash           # 0: an empty slot
    PyObject *name          # bytes, as sent (a reference held by the table) ...
    const char *data        # ... its bytes
    Py_ssize_t len
    PyObject *key           # str: the environ key
    UwKind kind

# the Parser's framing in uwsgi mode (its one branch): packets and their bodies; returns the bytes taken
cdef Py_ssize_t uwsgi_feed(Parser self, const char *p, Py_ssize_t n) except -1
cdef int uwsgi_packet(Parser self, const char *v, Py_ssize_t n) except -1   # a whole packet's vars: a Request queued
cdef int uwsgi_body(Parser self, const char *p, Py_ssize_t n) except -1     # body bytes of the current request
# a packet refused: logged (with the peer), parsing stops, and the connection closes once the answers before it are
# out, without one for it (uwsgi has no error answer of its own: nginx reports the close as a 502)
cdef int uwsgi_refuse(Parser self, str reason) except -1
cdef const UwKey *uwsgi_key(const char *name, Py_ssize_t n) except NULL   # a var name's key and kind (cached)
cdef frozenset uwsgi_setup(dict options, object logger)   # Loop: the peers allowed (None: HTTP), the log for refusals
cdef int uwsgi_mode(frozenset allowed, str remote_addr) except -1          # Parser.uwsgi for a peer (UW_OFF: HTTP)
