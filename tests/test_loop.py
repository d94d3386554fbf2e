"""The Loop: its Python API in-process (stop hooks, how soon a stopping loop returns, lingering close), and
max_requests through fastwsgi.run()."""
import socket
import threading
import time

from fastwsgi._core import Loop
from tests.support import client
from tests.support.client import request
from tests.support.server import ROUTER


def _app(environ, start_response):
    start_response("200 OK", [("Content-Length", "2")])
    return [b"ok"]


def test_max_requests_stop_calls_on_stop_once_and_returns_promptly():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    stops = []
    loop = Loop(_app, [sock], max_requests=3, on_stop=lambda: stops.append(time.monotonic()))
    done = []

    def client():
        for _ in range(3):
            with socket.create_connection(sock.getsockname(), timeout=5) as c:
                c.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                data = b""
                while not data.endswith(b"ok"):
                    chunk = c.recv(1024)
                    assert chunk
                    data += chunk
        done.append(time.monotonic())

    t = threading.Thread(target=client)
    t.start()
    loop.run()
    returned = time.monotonic()
    t.join(5)
    sock.close()
    assert loop.requests == 3 and len(stops) == 1
    assert returned - done[0] < 0.5        # not at the next once-a-second sweep


def test_error_answer_reaches_a_client_that_is_still_uploading():
    """413 for a body over the limit, while the client keeps sending: the server half-closes and keeps reading
    for a while (lingering close) instead of resetting the connection under the answer."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    loop = Loop(_app, [sock], limit_request_body=1000)
    server = threading.Thread(target=loop.run)
    server.start()
    try:
        with socket.create_connection(sock.getsockname(), timeout=5) as c:
            c.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4000000\r\n\r\n")
            time.sleep(0.2)                       # the 413 is sent and the server closes its side
            for _ in range(30):                   # 3 MB more, sent after the server decided
                c.sendall(b"x" * 100_000)
            c.shutdown(socket.SHUT_WR)
            data = b""
            while True:
                chunk = c.recv(65536)
                if not chunk:
                    break
                data += chunk
        assert data.startswith(b"HTTP/1.1 413 ")
    finally:
        loop.stop(graceful=False)
        server.join(5)
        sock.close()


def test_max_requests_stops_the_loop_after_answering(serve):
    s = serve(ROUTER, fresh=True, max_requests=4)  # the fixture's readiness probe is request 1
    answered = 0
    with client.Client(s.port) as c:
        for i in range(2):
            assert c.request(request("GET", f"/qs?{i}")).body == str(i).encode()
            answered += 1
        assert c.request(request("GET", "/qs?last")).body == b"last"
        answered += 1
        assert c.is_closed(5.0)
    s.proc.wait(10)
    assert s.proc.returncode == 0, s.stderr[-3000:]
    s.stopped = True
    assert answered == 3
