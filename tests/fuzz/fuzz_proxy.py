"""Fuzz target: the PROXY protocol header (fastwsgi._core.parse_proxy_header) fed in fuzzer-chosen pieces.

Input: a flags byte (bits 0-1: the mode, v1, v2 or auto; bits 2-4: the number k of piece sizes, 0 for byte by byte),
k bytes of piece sizes (1 to 256), then the bytes a connection begins with. Properties: the pieces do not change the
outcome (the same addresses and rest, still incomplete, or refused), and an accepted header gives an IP address as
accept() gives it (inet_ntop) or the socket's (None), a port from 0 to 65535 as text, and a rest that ends the input.
"""
import socket

from common import main, pieces, sizes_prefix

from fastwsgi._core import parse_proxy_header
from tests.support import corpus
from tests.support.client import PROXY_V2_SIGNATURE, proxy_v1, proxy_v2

MODES = ["v1", "v2", "auto", "auto"]


def outcome(raw, sizes, mode):
    try:
        return parse_proxy_header(raw, sizes, mode)
    except ValueError:
        return "refused"


def test_one_input(data):
    if not data:
        return
    flags = data[0]
    mode = MODES[flags & 3]
    sizes, raw = pieces(data, 1, flags >> 2 & 7)
    whole = outcome(raw, None, mode)
    split = outcome(raw, sizes or [1], mode)
    if split != whole:
        raise AssertionError(f"{mode}, fed in pieces {sizes or [1]}, {raw!r} gives {split!r}, fed whole {whole!r}")
    if isinstance(whole, tuple):
        addr, port, rest = whole
        if (addr is None) != (port is None):
            raise AssertionError(f"{raw!r}: address {addr!r} with port {port!r}")
        if addr is not None:
            family = socket.AF_INET6 if ":" in addr else socket.AF_INET
            if socket.inet_ntop(family, socket.inet_pton(family, addr)) != addr:      # as accept() gives it
                raise AssertionError(f"{raw!r}: address {addr!r} not in canonical form")
            if not (port.isdigit() and port.isascii() and 0 <= int(port) <= 65535 and str(int(port)) == port):
                raise AssertionError(f"{raw!r}: port {port!r}")
        if not raw.endswith(rest) or len(rest) >= len(raw):
            raise AssertionError(f"{raw!r}: rest {rest!r}")


def seeds():
    tlvs = b"\x04\x00\x03abc" + b"\x20\x00\x05\x01\x00\x00\x00\x00"
    headers = [
        proxy_v1(), proxy_v1("2001:db8::7", "2001:db8::1", 65535, 443), proxy_v1(proto="UNKNOWN"),
        b"PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n", b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
        proxy_v2(), proxy_v2("2001:db8::7", "2001:db8::1", 1, 443, tlvs=tlvs), proxy_v2(command="LOCAL"),
        proxy_v2(command="LOCAL", tlvs=tlvs), PROXY_V2_SIGNATURE + b"\x21\x00\x00\x00",
        PROXY_V2_SIGNATURE + b"\x21\x31\x00\xd8" + b"\x00" * 216,
        PROXY_V2_SIGNATURE + b"\x21\x12\x00\x0c" + b"\x01" * 12,
    ]
    requests = corpus.seeds()[:4]
    out = []
    for i, header in enumerate(headers):
        for mode in range(3):
            out.append(bytes([mode]) + header + requests[i % len(requests)])
            out.append(bytes([mode | 2 << 2]) + sizes_prefix([5, 16]) + header)
    return out


if __name__ == "__main__":
    main("proxy", test_one_input, seeds())
