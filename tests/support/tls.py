"""TLS for the tests: the test-only certificates in certs/ (see certs/README), the server's SSLContext built as a
worker builds it (fastwsgi.tls.default_context), client contexts, and Wire: a TLS client over a raw socket whose
ciphertext the test sends itself, whole or in pieces split anywhere (records, the handshake)."""
import os
import socket
import ssl
from types import SimpleNamespace

CERTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "certs")


def cert(name):
    return os.path.join(CERTS, name)


def settings(**overrides):
    """The SSL settings of a Config, as fastwsgi.tls reads them: the test server certificate, nothing else."""
    values = dict(certfile=cert("server.pem"), keyfile=cert("server.key"), ca_certs=None, cert_reqs=0,
                  ssl_version="TLS", ciphers=None, sources={"ssl_context": "default"})
    values.update(overrides)
    return SimpleNamespace(**values)


def server_context(mode="on"):
    """mode "on": the server certificate; "client-cert": client certificates signed by the test CA required; "h2":
    the server certificate, ALPN h2 offered first (--http-protocols h2,h1)."""
    from fastwsgi.tls import default_context

    if mode == "h2":
        return default_context(settings(http_protocols="h2,h1"))
    if mode == "client-cert":
        return default_context(settings(ca_certs=cert("ca.pem"), cert_reqs=2))
    return default_context(settings())


def client_context(cert=False, alpn=("http/1.1",), maximum=None):
    """A client that trusts the test CA (and checks the name localhost); cert=True presents the client certificate."""
    ctx = ssl.create_default_context(cafile=os.path.join(CERTS, "ca.pem"))
    if cert:
        ctx.load_cert_chain(os.path.join(CERTS, "client.pem"), os.path.join(CERTS, "client.key"))
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    if maximum is not None:
        ctx.maximum_version = maximum
    return ctx


class Wire:
    """A TLS client whose bytes on the wire the test controls: an SSLObject over memory BIOs on a raw socket.
    send_raw() sends ciphertext in the given pieces; handshake() and request helpers build on it."""

    def __init__(self, port, ctx=None, timeout=5.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.rbio = ssl.MemoryBIO()
        self.wbio = ssl.MemoryBIO()
        self.obj = (ctx or client_context()).wrap_bio(self.rbio, self.wbio, server_hostname="localhost")
        self.plain = bytearray()
        self.closed_cleanly = False     # the server's close_notify arrived
        self.eof = False

    def close(self):
        self.sock.close()

    def send_raw(self, data, pieces=None):
        """Send ciphertext; pieces: sizes to split it into (cycled), e.g. [1] for byte by byte."""
        if not pieces:
            self.sock.sendall(data)
            return
        pos, i = 0, 0
        while pos < len(data):
            size = pieces[i % len(pieces)]
            self.sock.sendall(data[pos:pos + size])
            pos += size
            i += 1

    def pump(self):
        """One recv into the session: False at EOF."""
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            data = b""
        if not data:
            self.eof = True
            self.rbio.write_eof()
            return False
        self.rbio.write(data)
        return True

    def handshake(self, pieces=None):
        while True:
            try:
                self.obj.do_handshake()
                break
            except ssl.SSLWantReadError:
                self.send_raw(self.wbio.read(), pieces)
                if not self.pump():
                    raise ConnectionError("closed during the handshake") from None
        if self.wbio.pending:
            self.send_raw(self.wbio.read(), pieces)

    def send(self, plaintext, pieces=None):
        self.obj.write(plaintext)
        self.send_raw(self.wbio.read(), pieces)

    def read_plain(self, until):
        """Read and decrypt until `until(bytes so far)` holds or the session ends; returns the plaintext."""
        while not until(bytes(self.plain)):
            try:
                data = self.obj.read(65536)
            except ssl.SSLWantReadError:
                if self.eof:
                    break
                self.pump()
                continue
            except ssl.SSLError:            # a ragged EOF (no close_notify) included
                break
            if not data:
                self.closed_cleanly = True      # the ssl module's read() gives b"" after a close_notify
                break
            self.plain += data
        return bytes(self.plain)
