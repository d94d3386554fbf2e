"""The PROXY protocol (--proxy-protocol, --proxy-allow-from): the header parser through its test hook, fed whole and
in pieces, then on the wire: REMOTE_ADDR/REMOTE_PORT from v1 and v2 headers for every request of the connection, the
socket's addresses for v1 UNKNOWN and v2 LOCAL, and connections closed without an answer when the header is
malformed, missing, oversized or late; a header from a peer not allowed to send one is answered 403."""
import time

import pytest

from fastwsgi._core import parse_proxy_header
from fastwsgi.config import load_config
from fastwsgi.errors import ConfigError
from tests.support import client
from tests.support.client import PROXY_V2_SIGNATURE, closed_after, proxy_v1, proxy_v2, request
from tests.support.master import Master
from tests.support.server import ROUTER, checked_server

GET = request("GET", "/environ")
ECHO = "tests.support.apps:echo_environ"
TLVS = b"\x04\x00\x03abc" + b"\x20\x00\x05\x01\x00\x00\x00\x00"      # PP2_TYPE_NOOP, PP2_TYPE_SSL: skipped
CHUNKINGS = [None, [1], [2], [3, 5], [15], [16], [17]]

# (header, REMOTE_ADDR, REMOTE_PORT); None: the socket's addresses are kept
GOOD = [
    (proxy_v1(), "203.0.113.7", "4242"),
    (proxy_v1("2001:DB8:0:0::7", "2001:db8::1", 65535, 443), "2001:db8::7", "65535"),   # canonical, as accept()
    (proxy_v1("0.0.0.0", "0.0.0.0", 0, 0), "0.0.0.0", "0"),
    (proxy_v1(proto="UNKNOWN"), None, None),
    (b"PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n", None, None),
    (b"PROXY TCP6 " + b"1111:2222:3333:4444:5555:6666:7777:8888 " * 2 + b"65535 65535\r\n",    # 104 bytes
     "1111:2222:3333:4444:5555:6666:7777:8888", "65535"),
    (proxy_v2(), "203.0.113.7", "4242"),
    (proxy_v2("2001:db8::7", "2001:db8::1", 1, 443, tlvs=TLVS), "2001:db8::7", "1"),
    (proxy_v2("198.51.100.9", tlvs=b"\x04\xff\xf0" + b"x" * 0xfff0), "198.51.100.9", "4242"),   # 64 KB of TLVs
    (proxy_v2(command="LOCAL"), None, None),
    (proxy_v2(command="LOCAL", tlvs=TLVS), None, None),
    (PROXY_V2_SIGNATURE + b"\x21\x00\x00\x00", None, None),                       # PROXY, AF_UNSPEC
    (PROXY_V2_SIGNATURE + b"\x21\x31\x00\xd8" + b"\x00" * 216, None, None),       # PROXY, AF_UNIX
]

BAD = [
    (b"GET / HTTP/1.1\r\n", "no PROXY header"),
    (b"POST / HTTP/1.1\r\n", "no PROXY header"),
    (b"PROXY\r\n", "no PROXY header"),
    (b"proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n", "no PROXY header"),
    (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", "CRLF"),
    (b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", "SRC DST"),
    (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n", "SRC DST"),
    (b"PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n", "SRC DST"),
    (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n", "SRC DST"),
    (b"PROXY TCP4 1.2.3.4\t5.6.7.8 1 2\r\n", "control byte"),
    (b"PROXY TCP4 ::1 5.6.7.8 1 2\r\n", "source address"),
    (b"PROXY TCP6 ::1 5.6.7.8 1 2\r\n", "destination address"),
    (b"PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n", "source address"),
    (b"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n", "port"),
    (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 -2\r\n", "port"),
    (b"PROXY TCP4 1.2.3.4 5.6.7.8 123456 2\r\n", "port"),
    (b"PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n", "TCP4, TCP6 or UNKNOWN"),
    (b"PROXY UNKNOWNX\r\n", "TCP4, TCP6 or UNKNOWN"),
    (b"PROXY UNKNOWN " + b"x" * 100 + b"\r\n", "longer than 107"),            # oversized v1
    (b"PROXY TCP4 " + b"1" * 200, "longer than 107"),
    (PROXY_V2_SIGNATURE[:11] + b"\x00", "no PROXY header"),
    (PROXY_V2_SIGNATURE + b"\x11\x11\x00\x0c", "version/command"),             # version 1
    (PROXY_V2_SIGNATURE + b"\x22\x11\x00\x0c", "version/command"),             # command 2
    (PROXY_V2_SIGNATURE + b"\x21\x41\x00\x0c", "family/transport"),
    (PROXY_V2_SIGNATURE + b"\x21\x12\x00\x0c" + b"\x00" * 12, "not STREAM"),    # UDP over IPv4
    (PROXY_V2_SIGNATURE + b"\x21\x11\x00\x0b" + b"\x00" * 11, "too short"),
    (PROXY_V2_SIGNATURE + b"\x21\x21\x00\x0c" + b"\x00" * 12, "too short"),
]


# -- the parser, through its test hook --

@pytest.mark.parametrize("chunks", CHUNKINGS, ids=str)
@pytest.mark.parametrize("header,addr,port", GOOD, ids=lambda v: repr(v)[:40] if isinstance(v, bytes) else None)
def test_header_parsed_in_any_pieces(header, addr, port, chunks):
    rest = b"GET / HTTP/1.1\r\n\r\n"
    assert parse_proxy_header(header + rest, chunks) == (addr, port, rest)
    assert parse_proxy_header(header, chunks) == (addr, port, b"")
    assert parse_proxy_header(header[:-1], chunks) is None


@pytest.mark.parametrize("chunks", [None, [1]], ids=str)
@pytest.mark.parametrize("data,reason", BAD, ids=lambda v: repr(v)[:40] if isinstance(v, bytes) else None)
def test_bad_header_refused(data, reason, chunks):
    with pytest.raises(ValueError, match=reason):
        parse_proxy_header(data + b"GET / HTTP/1.1\r\n\r\n", chunks)


def test_refused_at_the_first_wrong_byte():
    """A request without a header is refused at once, not after buffering a line."""
    with pytest.raises(ValueError, match="no PROXY header"):
        parse_proxy_header(b"G")
    with pytest.raises(ValueError, match="no PROXY header"):
        parse_proxy_header(b"PROXX")
    assert parse_proxy_header(b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2") is None      # a v1 line still arriving
    assert parse_proxy_header(PROXY_V2_SIGNATURE + b"\x21\x11\x00\x0c") is None


@pytest.mark.parametrize("mode,header,ok", [
    ("v1", proxy_v1(), True), ("v1", proxy_v2(), False),
    ("v2", proxy_v1(), False), ("v2", proxy_v2(), True),
    ("auto", proxy_v1(), True), ("auto", proxy_v2(), True),
])
def test_modes(mode, header, ok):
    if ok:
        assert parse_proxy_header(header, mode=mode)[0] == "203.0.113.7"
    else:
        with pytest.raises(ValueError, match="no PROXY header"):
            parse_proxy_header(header, mode=mode)


def test_settings(tmp_path):
    def load(*argv):
        return load_config(list(argv), {}, config_default_dir=str(tmp_path))
    assert load().proxy_protocol == "off"
    assert load().proxy_allow_ips == ["127.0.0.1", "::1"]
    assert load("--proxy-protocol").proxy_protocol == "auto"             # gunicorn: the flag alone is auto
    with pytest.raises(ConfigError, match="invalid value 'app:app'"):
        load("--proxy-protocol", "app:app")                             # the app after a bare flag is its MODE
    assert load("app:app", "--proxy-protocol").proxy_protocol == "auto"
    (tmp_path / "fastwsgi.conf.py").write_text("proxy_protocol = True\n")
    assert load().proxy_protocol == "auto"                              # gunicorn's older boolean spelling


# -- on the wire --

@pytest.fixture(scope="module")
def pp(serve):
    yield from checked_server(serve, ROUTER, proxy_protocol="auto", header_timeout=1)


def _environ(conn, data):
    resp = conn.request(data)
    assert resp.status == 200
    return resp.json()


@pytest.mark.parametrize("header,addr,port", [
    (proxy_v1(), "203.0.113.7", "4242"),
    (proxy_v1("2001:db8::7", "2001:db8::1"), "2001:db8::7", "4242"),
    (proxy_v1(proto="UNKNOWN"), None, None),
    (proxy_v2(), "203.0.113.7", "4242"),
    (proxy_v2("2001:db8::7", "2001:db8::1", 1, 443, tlvs=TLVS), "2001:db8::7", "1"),
    (proxy_v2(command="LOCAL"), None, None),
], ids=["v1-tcp4", "v1-tcp6", "v1-unknown", "v2-ipv4", "v2-ipv6-tlvs", "v2-local"])
@pytest.mark.parametrize("split", ["one-send", "byte-by-byte", "header-alone"])
def test_remote_address_from_the_header(pp, header, addr, port, split):
    with client.Client(pp.port) as c:
        if split == "one-send":
            env = _environ(c, header + GET)
        else:
            for i in range(len(header)):
                c.send(header[i:i + 1])
                if split == "byte-by-byte":
                    time.sleep(0.002)
            if split == "header-alone":
                time.sleep(0.2)                 # the header is read alone; the request comes later
            env = _environ(c, GET)
        assert env["REMOTE_ADDR"] == (addr or "127.0.0.1")
        assert env["REMOTE_PORT"] == (port or str(c.local_port))


def test_keep_alive_requests_all_see_the_proxied_address(pp):
    with client.Client(pp.port) as c:
        first = _environ(c, proxy_v2("198.51.100.1", sport=1111) + GET)
        second = _environ(c, GET)
        c.send(GET + GET)                       # pipelined
        third, fourth = c.read_final().json(), c.read_final().json()
    for env in (first, second, third, fourth):
        assert (env["REMOTE_ADDR"], env["REMOTE_PORT"]) == ("198.51.100.1", "1111")


@pytest.mark.parametrize("data", [
    GET,                                                            # no header at all
    proxy_v1() + proxy_v1() + GET,                                  # a second header is not HTTP: 400, not a close
    b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n" + GET,
    b"PROXY TCP4 " + b"1" * 200 + b"\r\n" + GET,                    # oversized
    PROXY_V2_SIGNATURE + b"\x11\x11\x00\x0c" + b"\x00" * 12 + GET,  # v2, version 1
    PROXY_V2_SIGNATURE + b"\x21\x21\x00\x0c" + b"\x00" * 12 + GET,  # v2, IPv6 block too short
], ids=["missing", "second-header", "v1-short", "v1-oversized", "v2-version", "v2-short"])
def test_bad_or_missing_header_closes_without_an_answer(pp, data):
    with client.Client(pp.port) as c:
        c.send(data)
        took, received = closed_after(c)
    if data.startswith(proxy_v1() * 2):
        assert received.startswith(b"HTTP/1.1 400 ")                # the header was fine; what follows is HTTP
        return
    assert received == b""
    assert took < 0.9                                               # at once, not at the header timeout


def test_header_timeout_applies_to_the_header(pp):
    with client.Client(pp.port) as c:
        c.send(proxy_v1()[:10])
        took, received = closed_after(c)
    assert received == b"" and 0.4 < took < 3.0


def test_header_then_silence_keeps_the_header_deadline(pp):
    with client.Client(pp.port) as c:
        c.send(proxy_v2())
        took, received = closed_after(c)
    assert received == b"" and 0.4 < took < 3.0


def test_peer_not_allowed_gets_403(serve):
    # not the router: the pool's leak check at the end could not get past the 403 either
    srv = serve(ECHO, proxy_protocol="auto", proxy_allow_ips=("192.0.2.99",))
    for header in (proxy_v1(), proxy_v2(), proxy_v2(command="LOCAL")):
        mark = srv.mark()
        with client.Client(srv.port) as c:
            resp = c.request(header + GET)
            assert resp.status == 403
            assert c.is_closed()
        srv.wait_log("not in proxy_allow_ips", mark)
    with client.Client(srv.port) as c:                              # and no header: closed, as anywhere
        c.send(GET)
        assert closed_after(c)[1] == b""


def test_any_peer_allowed_with_star(serve):
    srv = serve(ECHO, proxy_protocol="v1", proxy_allow_ips=("*",))
    with client.Client(srv.port) as c:
        assert _environ(c, proxy_v1() + GET)["REMOTE_ADDR"] == "203.0.113.7"


def test_malformed_header_logged(pp):
    mark = pp.mark()
    with client.Client(pp.port) as c:
        c.send(GET)
        closed_after(c)
    pp.wait_log("PROXY protocol: no PROXY header from 127.0.0.1; closing the connection", mark)


def test_through_the_master(app_dir):
    """--proxy-protocol and --proxy-allow-from reach the workers: the access log names the proxied client."""
    master = Master(["--proxy-protocol", "v1", "--proxy-allow-from", "127.0.0.1", "--access-logfile", "-",
                     "--access-logformat", "%(h)s %(s)s", "pidapp:app"], app_dir, wait=False)
    try:
        port = int(master.wait_log(r"Listening at: http://127\.0\.0\.1:(\d+)")[0])
        deadline = time.monotonic() + 15
        while True:                             # the worker may not be accepting yet
            try:
                resp = client.fetch(port, preamble=proxy_v1("198.51.100.23"))
                break
            except (OSError, client.Closed):
                assert time.monotonic() < deadline, master.log()
                time.sleep(0.1)
        assert resp.status == 200
        master.wait_log(r"198\.51\.100\.23 200")
        with client.Client(port) as c:          # no header: closed by the worker
            c.send(GET)
            assert closed_after(c)[1] == b""
    finally:
        master.stop()
