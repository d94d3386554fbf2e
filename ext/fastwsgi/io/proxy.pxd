# The PROXY protocol header (haproxy's proxy-protocol.txt, v1 text and v2 binary) that a proxy sends once, before
# the first request of a connection, to tell the client's address. ProxyHeader is the byte-level parser (no socket);
# Connection.read_proxy() feeds it what the socket read while the header is expected.

cdef enum:
    PP_V1 = 1                    # accept the v1 text header ("PROXY TCP4 ...\r\n")
    PP_V2 = 2                    # accept the v2 binary header
    PP_V1_MAX = 107              # the longest v1 line, CRLF included
    PP_V2_FIXED = 16             # the v2 signature, version/command, family/transport, length
    PP_KEEP = 16 + 36            # v2 bytes kept: the fixed part and the largest address block we read (IPv6)


cdef class ProxyHeader:
    # one connection's PROXY header, fed in pieces split anywhere. Memory is fixed: the v1 line and the start of a
    # v2 header are kept in `buf`, v2 TLVs and AF_UNIX addresses are counted past, not stored.
    cdef:
        int modes                # PP_V1 | PP_V2: the versions accepted
        bint allowed             # the peer may send a header (proxy_allow_ips); checked by Connection.read_proxy()
        Py_ssize_t got           # header bytes read so far
        Py_ssize_t total         # v2: the header's whole length once its fixed part is in (0: not known yet)
        unsigned char buf[108]   # the header's first bytes: the whole v1 line, or v2's first PP_KEEP
        str addr                 # REMOTE_ADDR and REMOTE_PORT from the header, or None (LOCAL, UNKNOWN, AF_UNSPEC)
        str port
        str error                # why the header was refused (feed returned -2)

    @staticmethod
    cdef ProxyHeader new(int modes, bint allowed)
    # -1: all of data belongs to the header, more is needed; -2: malformed, missing or oversized (see error);
    # n >= 0: the header ended after n bytes of data (the rest is the first request)
    cdef Py_ssize_t feed(self, const char *data, Py_ssize_t n) except -3
    cdef int finish_v1(self) except -1      # parse the complete line in buf: 0 or -2
    cdef int finish_v2(self) except -1      # read the addresses of the complete header: 0 or -2
    cdef int bad(self, str reason) except -1   # record the error; returns -2


cdef int proxy_modes(object mode) except -1       # "off"/"v1"/"v2"/"auto" (or a bool) -> PP_* bits
cdef bint proxy_allowed(frozenset allow, str remote_addr)   # a UNIX socket peer (None) is always allowed
