# fastwsgi._core: the table of contents of the request loop.
# One extension module built from per-concept files joined with `include` (as uvloop does), so calls between the
# cdef classes stay C calls. Each .pxd below declares one concept's fields and cdef methods with their contracts.

from fastwsgi.buffer cimport CBuf
from fastwsgi.system cimport sem_t, pollfd, timespec

include "http/environ.pxd"
include "http/strict.pxd"
include "http/input.pxd"
include "http/headscan.pxd"
include "http/fields.pxd"
include "http/parser.pxd"
include "http/response.pxd"
include "http/filewrapper.pxd"
include "http/exchange.pxd"
include "io/stats.pxd"
include "io/watcher.pxd"
include "io/loop.pxd"
include "io/pool.pxd"
include "io/connection.pxd"
include "io/proxy.pxd"
include "io/tls_session.pxd"
