"""Hold idle keep-alive connections open against a server: `python holder.py HOST PORT COUNT`.

Protocol on stdin/stdout, one JSON line per command:
  OPEN   open COUNT connections, send one keep-alive GET / on each and read its response; a connection counts as
         held once its response arrived. -> {"held": n, "failed": m, "seconds": s}
  CHECK  -> {"open": n} connections the server has not closed since
  EOF    close everything and exit.
Bounded: at most 512 connections in flight at once, 60 s for the whole OPEN.
"""
import json
import selectors
import socket
import sys
import time

IN_FLIGHT = 512
OPEN_TIMEOUT = 60.0


def _response_complete(buf):
    head_end = buf.find(b"\r\n\r\n")
    if head_end < 0:
        return False
    length = 0
    for line in buf[:head_end].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip() or 0)
    return len(buf) >= head_end + 4 + length


def open_all(host, port, count):
    request = f"GET / HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
    sel = selectors.DefaultSelector()
    held, failed, started = [], 0, 0
    pending = {}  # sock -> [sent, buffer]
    t0 = time.monotonic()
    deadline = t0 + OPEN_TIMEOUT
    while (started < count or pending) and time.monotonic() < deadline:
        while started < count and len(pending) < IN_FLIGHT:
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex((host, port))
            pending[s] = [False, b""]
            sel.register(s, selectors.EVENT_WRITE)
            started += 1
        for key, _events in sel.select(timeout=0.5):
            s = key.fileobj
            state = pending[s]
            try:
                if not state[0]:
                    err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if err:
                        raise OSError(err, "connect")
                    s.send(request)
                    state[0] = True
                    sel.modify(s, selectors.EVENT_READ)
                    continue
                data = s.recv(65536)
                if not data:
                    raise OSError("closed before the response")
                state[1] += data
                if _response_complete(state[1]):
                    sel.unregister(s)
                    del pending[s]
                    held.append(s)
            except OSError:
                sel.unregister(s)
                del pending[s]
                s.close()
                failed += 1
    for s in pending:
        sel.unregister(s)
        s.close()
        failed += 1
    failed += count - started
    return held, {"held": len(held), "failed": failed, "seconds": round(time.monotonic() - t0, 3)}


def still_open(socks):
    n = 0
    for s in socks:
        try:
            data = s.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
            if data:
                n += 1  # unexpected bytes, but the connection is alive
        except BlockingIOError:
            n += 1
        except OSError:
            pass
    return n


def main():
    host, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    held = []
    for line in sys.stdin:
        word = line.strip()
        if word == "OPEN":
            held, answer = open_all(host, port, count)
        elif word == "CHECK":
            answer = {"open": still_open(held)}
        else:
            answer = {"error": f"unknown command {word!r}"}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()
    for s in held:
        s.close()


if __name__ == "__main__":
    main()
