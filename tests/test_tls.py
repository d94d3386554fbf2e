"""TLS (--certfile/--keyfile, gunicorn's SSL settings): requests over TLS on one kept-alive connection with
wsgi.url_scheme https and ALPN http/1.1; pipelining; the handshake and the requests' records split anywhere (byte by
byte, seeded random pieces); large bodies both ways with a slow reader; files without sendfile; close_notify both ways;
plain HTTP answered 400, garbage and failed handshakes closed after OpenSSL's alert, a stalled handshake closed at
header_timeout; client certificates; the master's flags, its one-line errors and the ssl_context hook."""
import hashlib
import random
import socket
import ssl
import time

import pytest

from fastwsgi.settings import cert_reqs, ssl_version
from tests.support import client
from tests.support.client import closed_after, pattern, request
from tests.support.master import Master, run_cli
from tests.support.server import ROUTER, checked_server
from tests.support.tls import Wire, cert, client_context

GET = request("GET", "/environ")


@pytest.fixture(scope="module")
def tls_server(serve):
    yield from checked_server(serve, ROUTER, tls="on", header_timeout=1.0)


@pytest.fixture(scope="module")
def ctx():
    return client_context()


def _get_json(c, target="/environ"):
    resp = c.request(request("GET", target))
    assert resp.status == 200, resp
    return resp.json()


def test_two_requests_on_one_connection(tls_server, ctx):
    with client.Client(tls_server.port, tls=ctx) as c:
        first = _get_json(c)
        second = _get_json(c, "/environ?again=1")
        assert c.sock.selected_alpn_protocol() == "http/1.1"
        assert c.sock.version() in ("TLSv1.2", "TLSv1.3")
    assert first["wsgi.url_scheme"] == second["wsgi.url_scheme"] == "https"
    assert second["QUERY_STRING"] == "again=1"
    assert first["REMOTE_ADDR"] == "127.0.0.1"


def test_alpn_h2_only_client_gets_no_protocol(tls_server):
    # a client offering only h2 is not refused: ALPN is left unselected and it speaks HTTP/1.1 or leaves
    with client.Client(tls_server.port, tls=client_context(alpn=("h2",))) as c:
        assert c.sock.selected_alpn_protocol() is None
        assert _get_json(c)["wsgi.url_scheme"] == "https"


def test_tls12_client(tls_server):
    with client.Client(tls_server.port, tls=client_context(maximum=ssl.TLSVersion.TLSv1_2)) as c:
        assert c.sock.version() == "TLSv1.2"
        assert _get_json(c)["SERVER_PROTOCOL"] == "HTTP/1.1"


def test_pipelined_requests_answer_in_order(tls_server, ctx):
    with client.Client(tls_server.port, tls=ctx) as c:
        c.send(b"".join(request("GET", f"/qs?n={i}") for i in range(40)))
        bodies = [c.read_final().body for _ in range(40)]
    assert bodies == [f"n={i}".encode() for i in range(40)]


@pytest.mark.parametrize("pieces", [None, [1], [2, 7], "random"], ids=["whole", "bytewise", "2-7", "random"])
def test_handshake_and_records_split_anywhere(tls_server, pieces):
    if pieces == "random":
        rng = random.Random(1812)
        pieces = [rng.randint(1, 40) for _ in range(200)]
    w = Wire(tls_server.port)
    try:
        w.handshake(pieces)
        w.send(request("POST", "/echo", body=b"x" * 3000) + request("GET", "/qs?last=1"), pieces)
        out = w.read_plain(lambda b: b.endswith(b"last=1"))
    finally:
        w.close()
    assert out.startswith(b"HTTP/1.1 200 OK\r\n")
    assert out.count(b"HTTP/1.1 200 OK\r\n") == 2
    assert b"x" * 3000 in out


def test_large_upload_and_download(tls_server, ctx):
    body = pattern(3 * 1024 * 1024 + 17)          # beyond body_buffer_size: spooled to a temporary file
    with client.Client(tls_server.port, tls=ctx, timeout=20) as c:
        resp = c.request(request("POST", "/echo", body=body))
        assert resp.status == 200 and hashlib.sha256(resp.body).digest() == hashlib.sha256(body).digest()
        resp = c.request(request("GET", f"/big?size={5 * 1024 * 1024 + 3}"))
        assert resp.body == pattern(5 * 1024 * 1024 + 3)


def test_slow_reader_gets_every_byte(tls_server, ctx):
    # the answer outgrows the socket buffers: the write buffer keeps ciphertext, compacted while the client lags
    size = 8 * 1024 * 1024
    with client.Client(tls_server.port, tls=ctx, timeout=20, rcvbuf=16384) as c:
        c.send(request("GET", f"/big?size={size}") + request("GET", "/qs?after=1"))
        time.sleep(0.5)
        first = c.read_final()
        second = c.read_final()
    assert first.body == pattern(size)
    assert second.body == b"after=1"


def test_file_wrapper_is_read_not_sendfile(tls_server, ctx, tmp_path):
    path = tmp_path / "payload.bin"
    path.write_bytes(pattern(700_001))
    with client.Client(tls_server.port, tls=ctx) as c:
        before = int(c.request(request("GET", "/file_reads")).body)
        resp = c.request(request("GET", f"/file?path={path}&counted=1"))
        after = int(c.request(request("GET", "/file_reads")).body)
    assert resp.body == pattern(700_001)
    assert after > before       # the worker read the file itself (sendfile would bypass TLS)


def test_server_sends_close_notify_after_connection_close(tls_server):
    w = Wire(tls_server.port)
    try:
        w.handshake()
        w.send(request("GET", "/qs?bye=1", headers=[("Connection", "close")]))
        out = w.read_plain(lambda b: False)     # until the session ends
    finally:
        w.close()
    assert out.endswith(b"bye=1")
    assert w.closed_cleanly, "no close_notify before the FIN"


def test_client_close_notify_after_its_request_is_answered(tls_server):
    w = Wire(tls_server.port)
    try:
        w.handshake()
        w.obj.write(request("GET", "/qs?last=1"))
        try:
            w.obj.unwrap()
        except ssl.SSLWantReadError:
            pass
        w.send_raw(w.wbio.read())               # the request and close_notify in one flight
        out = w.read_plain(lambda b: False)
    finally:
        w.close()
    assert out.startswith(b"HTTP/1.1 200 OK") and out.endswith(b"last=1")


def test_plain_http_on_the_tls_port_gets_400(tls_server):
    with client.Client(tls_server.port) as c:
        c.send(request("GET", "/hello"))
        resp = c.read_final()
        assert resp.status == 400
        assert c.is_closed()


@pytest.mark.parametrize("garbage, alert", [
    (b"\x00\x01\x02\x03" * 64, b""), (b"\x80" * 300, b""),     # not TLS: OpenSSL has nothing to say
    (b"\x16\x03\x01\x00\x05hello", b"\x15\x03\x03\x00\x02\x02\x0a"),   # a handshake record, malformed: fatal alert
])
def test_garbage_is_closed_with_the_alert_openssl_wrote(tls_server, garbage, alert):
    # issue 25.6: as nginx and gunicorn, the alert goes out before the close (10: unexpected_message)
    with client.Client(tls_server.port) as c:
        c.send(garbage)
        elapsed, data = closed_after(c)
    assert data == alert
    assert elapsed < 0.9          # at once, not at header_timeout


def test_a_failed_handshake_tells_the_client_why(tls_server):
    # issue 25.6: no shared cipher (an ECDSA-only TLS 1.2 client, an RSA server): the client reads the
    # handshake_failure alert, not an unexpected EOF; the worker serves the next client
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers("ECDHE-ECDSA-AES128-GCM-SHA256")
    with pytest.raises(ssl.SSLError, match="HANDSHAKE_FAILURE"):
        client.Client(tls_server.port, tls=ctx)
    with client.Client(tls_server.port, tls=client_context()) as c:
        assert _get_json(c)["wsgi.url_scheme"] == "https"


@pytest.mark.parametrize("partial", [0, 10], ids=["nothing", "part-of-client-hello"])
def test_stalled_handshake_closed_at_header_timeout(tls_server, partial):
    w = Wire(tls_server.port)
    try:
        try:
            w.obj.do_handshake()
        except ssl.SSLWantReadError:
            pass
        hello = w.wbio.read()
        w.send_raw(hello[:partial])
        start = time.monotonic()
        w.sock.settimeout(4)
        assert w.sock.recv(100) == b""
        assert 0.4 < time.monotonic() - start < 3.0     # header_timeout 1 s, swept once a second
    finally:
        w.close()


def test_untrusted_client_certificate_check_fails_cleanly(tls_server):
    # the client does not trust our CA: its handshake fails; the worker closes and serves the next one
    bad = ssl.create_default_context()
    with pytest.raises(ssl.SSLCertVerificationError):
        client.Client(tls_server.port, tls=bad)
    with client.Client(tls_server.port, tls=client_context()) as c:
        assert _get_json(c)["wsgi.url_scheme"] == "https"


def test_threads_over_tls(serve, ctx):
    srv = serve(ROUTER, tls="on", threads=4)
    with client.Client(srv.port, tls=ctx, timeout=20) as c:
        c.send(request("GET", "/big?size=3000000&nocl=1") + request("GET", "/qs?t=1"))
        assert c.read_final().body == pattern(3_000_000)
        assert c.read_final().body == b"t=1"


def test_client_certificate_required(serve):
    srv = serve(ROUTER, tls="client-cert")
    with client.Client(srv.port, tls=client_context(cert=True)) as c:
        assert _get_json(c)["wsgi.url_scheme"] == "https"
    with pytest.raises((ssl.SSLError, ConnectionError, client.Closed)):
        # TLS 1.3: the refusal arrives after the client's handshake ends, with the first read
        with client.Client(srv.port, tls=client_context()) as c:
            c.request(request("GET", "/hello"))


# -- settings and the master --

@pytest.mark.parametrize("raw, expected", [
    ("TLS", "TLS"), ("TLSv1_2", "TLSv1_2"), ("tlsv1.3", "TLSv1_3"), ("PROTOCOL_TLS_SERVER", "TLS"), ("SSLv23", "TLS"),
    (5, "TLSv1_2"), ("2", "TLS"), (17, "TLS"),
])
def test_ssl_version_spellings(raw, expected):
    assert ssl_version(raw) == expected


@pytest.mark.parametrize("raw", ["SSLv3", 99, "", True])
def test_ssl_version_refused(raw):
    with pytest.raises(ValueError):
        ssl_version(raw)


@pytest.mark.parametrize("raw, expected", [(0, 0), ("2", 2), ("CERT_OPTIONAL", 1), ("required", 2)])
def test_cert_reqs_spellings(raw, expected):
    assert cert_reqs(raw) == expected


def test_certfile_reaches_the_loop(tmp_path):
    from fastwsgi.config import load_config
    from fastwsgi.logs import Logs
    from fastwsgi.worker import Worker

    cfg = load_config(["--certfile", cert("server.pem"), "--keyfile", cert("server.key"), "--cert-reqs", "1",
                       "--ca-certs", cert("ca.pem"), "--ciphers", "ECDHE+AESGCM", "x:app"])
    options = Worker(1, 0, [], None, cfg, Logs("-", "info", None, cfg.access_log_format)).loop_options()
    ctx = options["ssl_context"]
    assert isinstance(ctx, ssl.SSLContext) and options["url_scheme"] == "https"
    assert ctx.verify_mode == ssl.CERT_OPTIONAL
    assert ctx.options & ssl.OP_NO_RENEGOTIATION
    assert {c["name"] for c in ctx.get_ciphers() if c["protocol"] == "TLSv1.2"} <= {
        c["name"] for c in ctx.get_ciphers() if "GCM" in c["name"]}


def _wait_https(master):
    port = int(master.wait_log(r"Listening at: https://127\.0\.0\.1:(\d+)")[0])
    deadline = time.monotonic() + 15
    while True:                                 # the worker may not be accepting yet
        try:
            return port, client.fetch(port, "GET", "/", tls=client_context())
        except (OSError, client.Closed):
            assert time.monotonic() < deadline, master.log()
            time.sleep(0.1)


def test_through_the_master(app_dir):
    master = Master(["--certfile", cert("server.pem"), "--keyfile", cert("server.key"), "--ssl-version", "TLSv1_3",
                     "pidapp:app"], app_dir, wait=False)
    try:
        port, resp = _wait_https(master)
        assert resp.status == 200
        with pytest.raises(ssl.SSLError):       # below --ssl-version
            client.fetch(port, "GET", "/", tls=client_context(maximum=ssl.TLSVersion.TLSv1_2))
    finally:
        master.stop()


def test_ssl_context_hook(app_dir):
    (app_dir / "tlsconf.py").write_text(
        "def ssl_context(config, factory):\n"
        "    ctx = factory()\n"
        "    ctx.set_alpn_protocols(['hooked', 'http/1.1'])\n"
        "    return ctx\n")
    master = Master(["-c", "tlsconf.py", "--certfile", cert("server.pem"), "--keyfile", cert("server.key"),
                     "pidapp:app"], app_dir, wait=False)
    try:
        port, resp = _wait_https(master)
        with client.Client(port, tls=client_context(alpn=("hooked",))) as c:
            assert c.sock.selected_alpn_protocol() == "hooked"
    finally:
        master.stop()


@pytest.mark.parametrize("args, message", [
    (["--certfile", "missing.pem"], "certfile missing.pem: No such file or directory"),
    (["--certfile", cert("server.pem"), "--keyfile", cert("client.key")], "key values mismatch"),
    (["--certfile", cert("server.pem"), "--keyfile", cert("server.key"), "--ciphers", "NOPE"],
     "ciphers 'NOPE': No cipher can be selected"),
    (["--certfile", cert("server.pem"), "--keyfile", cert("server.key"), "--ca-certs", "nope.pem"], "ca_certs"),
    (["--certfile", cert("server.pem"), "--ssl-version", "SSLv2"], "--ssl-version: invalid value 'SSLv2'"),
])
def test_bad_tls_settings_are_one_error_line(app_dir, args, message):
    done = run_cli([*args, "-b", "127.0.0.1:0", "pidapp:app"], app_dir)
    assert done.returncode == 2, done
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fastwsgi: error: ") and message in lines[0], done.stderr


def test_a_bad_certificate_on_hup_keeps_the_workers(app_dir, tmp_path):
    pem, key = tmp_path / "s.pem", tmp_path / "s.key"
    pem.write_bytes(open(cert("server.pem"), "rb").read())
    key.write_bytes(open(cert("server.key"), "rb").read())
    master = Master(["--certfile", str(pem), "--keyfile", str(key), "pidapp:app"], app_dir, wait=False)
    try:
        port, _ = _wait_https(master)
        pids = master.workers()
        key.write_bytes(open(cert("client.key"), "rb").read())      # a key that does not match
        master.signal(__import__("signal").SIGHUP)
        master.wait_log(r"Reload failed, keeping the current settings: certfile .*key values mismatch")
        assert master.workers() == pids
        assert client.fetch(port, "GET", "/", tls=client_context()).status == 200
    finally:
        master.stop()


def test_sockets_stay_plain_without_certfile(server):
    with socket.create_connection(("127.0.0.1", server.port)) as s:
        s.sendall(request("GET", "/environ"))
        assert s.recv(12) == b"HTTP/1.1 200"
