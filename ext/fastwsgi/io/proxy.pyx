# The PROXY protocol (https://www.haproxy.org/download/1.8/doc/proxy-protocol.txt). With proxy_protocol on, every
# connection must begin with one header, v1 ("PROXY TCP4 1.2.3.4 5.6.7.8 1234 80\r\n", at most 107 bytes) or v2 (a
# 12-byte signature, version/command, family/transport, a 16-bit length, the addresses, TLVs). As the spec asks, the
# receiver does not guess: a connection without a valid header is closed without an answer (its peer is not
# speaking the protocol, an HTTP answer would be misread). A valid header from a peer outside proxy_allow_ips gets
# gunicorn's answer, 403, then the connection closes: that peer does speak the protocol, so the proxy relays a
# clear refusal instead of a dropped connection. The header is scanned here byte by byte, once per connection;
# REMOTE_ADDR/REMOTE_PORT of every request on the connection come from it (the Parser's remote_addr/remote_port).

from libc.string cimport memcpy

cdef const char *V1_PREFIX = b"PROXY "
cdef const char *V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"     # 12 bytes, the NUL included
cdef dict PROXY_MODES = {"off": 0, "v1": PP_V1, "v2": PP_V2, "auto": PP_V1 | PP_V2}


cdef int proxy_modes(object mode) except -1:
    if mode is None or mode is False:
        return 0
    if mode is True:
        return PP_V1 | PP_V2
    bits = PROXY_MODES.get(mode)
    if bits is None:
        raise ValueError(f"proxy_protocol: expected off, v1, v2 or auto, got {mode!r}")
    return bits


cdef bint proxy_allowed(frozenset allow, str remote_addr):
    return remote_addr is None or "*" in allow or remote_addr in allow


cdef str addr_text(int family, const void *packed):
    cdef char text[INET6_ADDRSTRLEN]
    inet_ntop(family, packed, text, sizeof(text))
    return PyUnicode_DecodeLatin1(text, strlen(text), NULL)


cdef long v1_port(const unsigned char *s, Py_ssize_t n) noexcept:
    """A v1 port: 1 to 5 decimal digits, at most 65535; -1 if not."""
    cdef long value = 0
    cdef Py_ssize_t i
    if n < 1 or n > 5:
        return -1
    for i in range(n):
        if s[i] < b"0" or s[i] > b"9":
            return -1
        value = value * 10 + (s[i] - 48)
    return value if value <= 65535 else -1


cdef bint v1_addr(int family, const unsigned char *s, Py_ssize_t n, void *packed) noexcept:
    """Parse a v1 address of that family into packed (in6_addr-sized); False if it is not one."""
    cdef char tmp[INET6_ADDRSTRLEN]
    if n >= INET6_ADDRSTRLEN:
        return False
    memcpy(tmp, s, n)
    tmp[n] = 0
    return inet_pton(family, tmp, packed) == 1


@cython.final
cdef class ProxyHeader:

    @staticmethod
    cdef ProxyHeader new(int modes, bint allowed):
        cdef ProxyHeader self = ProxyHeader.__new__(ProxyHeader)
        self.modes = modes
        self.allowed = allowed
        return self

    cdef int bad(self, str reason) except -1:
        self.error = reason
        return -2

    cdef Py_ssize_t feed(self, const char *data, Py_ssize_t n) except -3:
        cdef Py_ssize_t i = 0, take
        cdef unsigned char c, fam, cmd
        while i < n:
            if self.total:
                # v2, its length known: keep the address block, count past the rest (TLVs)
                take = min(self.total - self.got, n - i)
                if self.got < PP_KEEP:
                    memcpy(self.buf + self.got, data + i, min(take, PP_KEEP - self.got))
                self.got += take
                i += take
                if self.got == self.total:
                    return i if self.finish_v2() == 0 else -2
                continue
            c = <unsigned char>data[i]
            i += 1
            self.buf[self.got] = c
            self.got += 1
            if self.got == 1 and not ((c == b"P" and self.modes & PP_V1) or (c == b"\r" and self.modes & PP_V2)):
                return self.bad("no PROXY header")
            if self.buf[0] == b"P":
                if self.got <= 6:
                    if c != <unsigned char>V1_PREFIX[self.got - 1]:
                        return self.bad("no PROXY header")
                elif c == b"\n":
                    if self.buf[self.got - 2] != b"\r":
                        return self.bad("v1 line not ended by CRLF")
                    return i if self.finish_v1() == 0 else -2
                elif self.got == PP_V1_MAX:
                    return self.bad("v1 line longer than 107 bytes")
            elif self.got <= 12:
                if c != <unsigned char>V2_SIGNATURE[self.got - 1]:
                    return self.bad("no PROXY header")
            elif self.got == 13:
                if c >> 4 != 2 or (c & 0xF) > 1:
                    return self.bad("v2 version/command 0x%02x" % c)
            elif self.got == 14:
                if c >> 4 > 3 or (c & 0xF) > 2:
                    return self.bad("v2 family/transport 0x%02x" % c)
            elif self.got == PP_V2_FIXED:
                self.total = PP_V2_FIXED + ((<Py_ssize_t>self.buf[14] << 8) | self.buf[15])
                cmd = self.buf[12] & 0xF
                fam = self.buf[13] >> 4
                if cmd == 1 and fam != 0:
                    if (self.buf[13] & 0xF) != 1:
                        return self.bad("v2 transport is not STREAM")
                    if self.total - PP_V2_FIXED < (12 if fam == 1 else 36 if fam == 2 else 216):
                        return self.bad("v2 address block too short")
                if self.got == self.total:
                    return i if self.finish_v2() == 0 else -2
        return -1

    cdef int finish_v1(self) except -1:
        # buf[:got] is "PROXY " + line + CRLF; line: "UNKNOWN[ anything]" or "TCP4|TCP6 SRC DST SPORT DPORT"
        cdef const unsigned char *line = self.buf + 6
        cdef Py_ssize_t size = self.got - 8, k = 0, start = 5, j
        cdef Py_ssize_t starts[4]
        cdef Py_ssize_t ends[4]
        cdef int family
        cdef long sport
        cdef unsigned char packed[16]
        cdef unsigned char other[16]
        if size >= 7 and memcmp(line, b"UNKNOWN", 7) == 0 and (size == 7 or line[7] == b" "):
            return 0            # the proxy does not know the client: keep the socket's addresses
        if size < 5 or memcmp(line, b"TCP", 3) != 0 or line[4] != b" " or (line[3] != b"4" and line[3] != b"6"):
            return self.bad("v1 protocol is not TCP4, TCP6 or UNKNOWN")
        family = AF_INET if line[3] == b"4" else AF_INET6
        for j in range(5, size + 1):
            if j == size or line[j] == b" ":
                if k == 4 or j == start:
                    return self.bad("v1 line is not PROTO SRC DST SPORT DPORT")
                starts[k] = start
                ends[k] = j
                k += 1
                start = j + 1
            elif line[j] < 0x21 or line[j] > 0x7e:
                return self.bad("v1 line holds a control byte")
        if k != 4:
            return self.bad("v1 line is not PROTO SRC DST SPORT DPORT")
        if not v1_addr(family, line + starts[0], ends[0] - starts[0], packed):
            return self.bad("v1 source address")
        if not v1_addr(family, line + starts[1], ends[1] - starts[1], other):
            return self.bad("v1 destination address")
        sport = v1_port(line + starts[2], ends[2] - starts[2])
        if sport < 0 or v1_port(line + starts[3], ends[3] - starts[3]) < 0:
            return self.bad("v1 port")
        self.addr = addr_text(family, packed)      # canonical, as accept() would give it
        self.port = str(sport)
        return 0

    cdef int finish_v2(self) except -1:
        cdef unsigned char fam = self.buf[13] >> 4
        if (self.buf[12] & 0xF) == 0 or fam == 0 or fam == 3:
            return 0            # LOCAL (the proxy's own connection, e.g. a health check), AF_UNSPEC or AF_UNIX
        if fam == 1:
            self.addr = addr_text(AF_INET, self.buf + 16)
            self.port = str((self.buf[24] << 8) | self.buf[25])
        else:
            self.addr = addr_text(AF_INET6, self.buf + 16)
            self.port = str((self.buf[48] << 8) | self.buf[49])
        return 0


def parse_proxy_header(data, chunks=None, mode="auto"):
    """Test hook: feed a PROXY header (and what follows it) as a connection does, whole or in pieces of the given
    sizes. Returns (addr, port, rest): addr and port None when the socket's addresses are kept, rest the bytes after
    the header; None if the header is incomplete; raises ValueError(reason) if it is refused."""
    cdef ProxyHeader ph = ProxyHeader.new(proxy_modes(mode), True)
    cdef const char *p = data
    cdef Py_ssize_t pos = 0, size, used, n = len(data)
    sizes = list(chunks) if chunks else [max(n, 1)]
    if min(sizes) < 1:
        raise ValueError("piece sizes must be at least 1")
    i = 0
    while pos < n:
        size = min(sizes[i % len(sizes)], n - pos)
        used = ph.feed(p + pos, size)
        if used == -2:
            raise ValueError(ph.error)
        if used >= 0:
            return ph.addr, ph.port, data[pos + used:]
        pos += size
        i += 1
    return None
