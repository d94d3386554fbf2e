# fastwsgi._core: the table of contents of the request loop.
# One extension module built from per-concept files joined with `include` (as uvloop does), so calls between the
# cdef classes stay C calls. Each .pxd below declares one concept's fields and cdef methods with their contracts.

from fastwsgi.buffer cimport CBuf
from fastwsgi.system cimport sem_t, pollfd, timespec, epoll_event
from fastwsgi.nghttp2 cimport nghttp2_session
from fastwsgi.uring cimport (fw_uring, FW_NOT_RUN, fw_uring_init, fw_uring_close, fw_uring_open, fw_uring_prep,
                             fw_uring_run)

include "http/environ.pxd"
include "http/strict.pxd"
include "http/input.pxd"
include "http/headscan.pxd"
include "http/fields.pxd"
include "http/parser.pxd"
include "http/uwsgi.pxd"
include "http/response.pxd"
include "http/filewrapper.pxd"
include "http/exchange.pxd"
include "http/h2head.pxd"
include "io/stats.pxd"
include "io/watcher.pxd"
include "io/loop.pxd"
include "io/pool.pxd"
include "io/connection.pxd"
include "io/batch.pxd"
include "io/proxy.pxd"
include "io/tls_session.pxd"
include "io/h2.pxd"
