# cython: language_level=3
# fastwsgi._core: the request loop. Concepts live in their own files, joined here with `include` so that calls
# between the cdef classes stay C calls; _core.pxd is the table of contents, docs/architecture.md the map.

cimport cython
from cpython.exc cimport PyErr_CheckSignals
from cpython.dict cimport PyDict_Copy
from cpython.unicode cimport PyUnicode_DecodeLatin1
from libc.string cimport strlen
from fastwsgi.system cimport *
from fastwsgi.buffer cimport CBuf, cbuf_add, cbuf_consume, cbuf_release
from fastwsgi.iterate cimport iter_next
from fastwsgi.nghttp2 cimport *

import logging
import os
import socket as _socket
import sys

from httptools import HttpRequestParser, HttpParserError, HttpParserUpgrade


include "http/environ.pyx"
include "http/strict.pyx"
include "http/input.pyx"
include "http/headscan.pyx"
include "http/parser.pyx"
include "http/fields.pyx"
include "http/uwsgi.pyx"
include "http/response.pyx"
include "http/response_h2.pyx"
include "http/filewrapper.pyx"
include "http/exchange.pyx"
include "http/h2head.pyx"
include "io/stats.pyx"
include "io/watcher.pyx"
include "io/pool.pyx"
include "io/connection.pyx"
include "io/abort.pyx"
include "io/proxy.pyx"
include "io/tls_session.pyx"
include "io/h2.pyx"
include "io/h2_session.pyx"
include "io/batch.pyx"
include "io/loop.pyx"
include "probes.pyx"
