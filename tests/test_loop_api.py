"""The Loop's Python API in-process: stop hooks and how soon a stopping loop returns."""
import socket
import threading
import time

from fastwsgi._core import Loop


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
