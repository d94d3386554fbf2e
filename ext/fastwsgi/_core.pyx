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

import logging
import os
import socket as _socket
import sys

from httptools import HttpRequestParser, HttpParserError, HttpParserUpgrade

from fastwsgi.settings import LOOP_SETTINGS as _LOOP_SETTINGS

include "environ.pyx"
include "strict.pyx"
include "input.pyx"
include "headscan.pyx"
include "parser.pyx"
include "fields.pyx"
include "response.pyx"
include "filewrapper.pyx"
include "stats.pyx"
include "pool.pyx"
include "connection.pyx"
include "proxy.pyx"
include "tls.pyx"
include "loop.pyx"
