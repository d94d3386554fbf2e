# fastwsgi._core: the table of contents of the request loop.
# One extension module built from per-concept files joined with `include` (as uvloop does), so calls between the
# cdef classes stay C calls. Each .pxd below declares one concept's fields and cdef methods with their contracts.

from fastwsgi.buffer cimport CBuf
from fastwsgi.system cimport sem_t

include "environ.pxd"
include "strict.pxd"
include "input.pxd"
include "headscan.pxd"
include "fields.pxd"
include "parser.pxd"
include "response.pxd"
include "filewrapper.pxd"
include "stats.pxd"
include "loop.pxd"
include "pool.pxd"
include "connection.pxd"
include "proxy.pxd"
include "tls.pxd"
