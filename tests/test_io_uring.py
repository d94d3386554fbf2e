"""The wakeup's socket calls in one io_uring_enter (io/uring.h, Loop.send_batch/read_batch): the same answers, byte
for byte, with the ring and without it (--no-io-uring), under loads that make a wakeup hold many connections at once:
many keep-alive clients, pipelined bursts, bodies larger than a read slot (16 KiB) sent in pieces, answers larger
than a socket buffer (a batched send that goes out in part), and clients that reset in the middle. The worker's
io_uring shows in /proc as an `anon_inode:[io_uring]` descriptor; where the kernel refuses io_uring
(kernel.io_uring_disabled, a seccomp profile) the worker serves without it."""
import ctypes
import os
import random
import socket
import threading
import time

import pytest

from tests.support import client
from tests.support.server import _tree, checked_server

CLIENTS = 24
ROUNDS = 12


def kernel_has_io_uring():
    """Whether this process may create an io_uring (io_uring_setup(2), syscall 425 on x86_64 and aarch64)."""
    libc = ctypes.CDLL(None, use_errno=True)
    params = ctypes.create_string_buffer(120)
    fd = libc.syscall(425, 4, params)
    if fd < 0:
        return False
    os.close(fd)
    return True


def ring_fds(srv):
    """The io_uring descriptors the server's processes hold."""
    found = []
    for pid in _tree(srv.proc.pid):
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                try:
                    if os.readlink(f"/proc/{pid}/fd/{fd}") == "anon_inode:[io_uring]":
                        found.append((pid, fd))
                except OSError:
                    pass
        except OSError:
            pass
    return found


@pytest.fixture(scope="module", params=[(True, 1), (False, 1), (True, 4)], ids=["ring", "no-ring", "ring-threads4"])
def srv(request, serve):
    ring, threads = request.param
    yield from checked_server(serve, io_uring=ring, threads=threads, keepalive=5)


def one_client(port, seed, problems):
    """A keep-alive connection sending a seeded mix: single GETs, pipelined bursts, echoed bodies above a read
    slot sent in pieces, and /big answers above a socket buffer; every answer checked."""
    rnd = random.Random(seed)
    try:
        with client.Client(port, timeout=20) as c:
            for r in range(ROUNDS):
                kind = rnd.choice(["qs", "burst", "echo", "big"])
                if kind == "qs":
                    tag = f"{seed}-{r}"
                    resp = c.request(client.request("GET", f"/qs?t={tag}"))
                    assert (resp.status, resp.body) == (200, f"t={tag}".encode()), resp.head
                elif kind == "burst":
                    tags = [f"{seed}-{r}-{i}" for i in range(rnd.randint(2, 20))]
                    c.send(b"".join(client.request("GET", f"/qs?t={t}") for t in tags))
                    for t in tags:
                        resp = c.read_response()
                        assert (resp.status, resp.body) == (200, f"t={t}".encode()), resp.head
                elif kind == "echo":
                    body = rnd.randbytes(rnd.choice([100, 17_000, 70_000, 200_000]))
                    data = client.request("POST", "/echo", body=body)
                    pos = 0
                    while pos < len(data):          # in pieces: the server's reads land across wakeups
                        step = rnd.randint(1, 40_000)
                        c.send(data[pos:pos + step])
                        pos += step
                    resp = c.read_response()
                    assert resp.status == 200 and resp.body == body, (resp.head, len(resp.body), len(body))
                else:
                    size = rnd.choice([300_000, 1_500_000])
                    resp = c.request(client.request("GET", f"/big?size={size}"))
                    assert resp.status == 200 and resp.body == client.pattern(size), (resp.head, len(resp.body))
    except Exception as exc:        # reported by the test, with the seed that found it
        problems.append(f"client {seed}: {exc!r}")


def test_concurrent_mix_same_answers(srv):
    problems = []
    threads = [threading.Thread(target=one_client, args=(srv.port, seed, problems)) for seed in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads), "clients still running after 120 s"
    assert not problems, "\n".join(problems[:10])
    assert srv.alive


def test_one_wakeup_of_many(srv):
    """The loop is held in an app call (inline: /sleep) while 60 connections send pipelined requests and 6 send
    bodies above a read slot: the next wakeup holds them all, read and answered in batches (with the ring, counted by
    uring_counters), and every answer is the right one, byte for byte."""
    before = client.fetch(srv.port, "GET", "/uring").json()
    sleeper = client.Client(srv.port, timeout=20)
    sleeper.send(client.request("GET", "/sleep?s=0.4"))
    time.sleep(0.1)
    conns = [client.Client(srv.port, timeout=20) for _ in range(66)]
    bodies = {}
    for i, c in enumerate(conns):
        if i < 6:
            bodies[i] = os.urandom(40_000 + i)
            c.send(client.request("POST", "/echo", body=bodies[i]))
        else:
            c.send(b"".join(client.request("GET", f"/qs?t={i}-{k}") for k in range(3)))
    assert sleeper.read_response().body == b"slept"
    for i, c in enumerate(conns):
        if i < 6:
            resp = c.read_response()
            assert resp.status == 200 and resp.body == bodies[i], (i, resp.head, len(resp.body))
        else:
            for k in range(3):
                resp = c.read_response()
                assert (resp.status, resp.body) == (200, f"t={i}-{k}".encode()), (i, k, resp.head, resp.body)
        resp = c.request(client.request("GET", f"/qs?t={i}-end"))      # nothing more, nothing less came before
        assert (resp.status, resp.body) == (200, f"t={i}-end".encode()), (i, resp.head, resp.body)
        c.close()
    sleeper.close()
    after = client.fetch(srv.port, "GET", "/uring").json()
    if not srv.options["io_uring"] or not kernel_has_io_uring():
        assert after == before
    elif srv.options["threads"] == 1:
        assert after["reads"] - before["reads"] >= 20 and after["sends"] - before["sends"] >= 20, (before, after)


def test_batched_sends_that_go_out_in_part(srv):
    """Held answers larger than what the clients' sockets take at once (a 4 KiB receive buffer, 60 pipelined answers
    of ~1 KiB each per connection), sent in one batch while the loop was held: the ring sends part, each connection's
    flush() waits for EPOLLOUT and sends the rest, in order."""
    sleeper = client.Client(srv.port, timeout=20)
    sleeper.send(client.request("GET", "/sleep?s=0.3"))
    time.sleep(0.1)
    conns = [client.Client(srv.port, timeout=20, rcvbuf=4096) for _ in range(12)]
    for i, c in enumerate(conns):
        c.send(b"".join(client.request("GET", f"/big?size={900 + i * 60 + k}") for k in range(60)))
    assert sleeper.read_response().body == b"slept"
    time.sleep(0.2)                 # the answers wait in the sockets, the receivers full
    for i, c in enumerate(conns):
        for k in range(60):
            size = 900 + i * 60 + k
            resp = c.read_response()
            assert resp.status == 200 and resp.body == client.pattern(size), (i, k, resp.head, len(resp.body))
        resp = c.request(client.request("GET", f"/qs?t={i}-end"))
        assert resp.body == f"t={i}-end".encode()
        c.close()
    sleeper.close()


def test_resets_in_a_batch(srv):
    """Clients that send and reset at once, many in one wakeup, beside ones that read their answers: the ring's
    results for the gone ones are errors, the others are answered, and nothing stays live (checked_server)."""
    socks = []
    for _ in range(60):
        s = socket.create_connection(("127.0.0.1", srv.port))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        socks.append(s)
    for i, s in enumerate(socks):
        s.sendall(client.request("GET", f"/big?size={400_000 if i % 2 else 100}"))
    time.sleep(0.05)
    for s in socks[::2]:
        s.close()                   # reset (SO_LINGER 0), the answer unread
    for s in socks[1::2]:
        c = client.Client.__new__(client.Client)
        c.sock, c.timeout, c.buf, c.received, c.eof = s, 20, bytearray(), bytearray(), False
        s.settimeout(20)
        resp = c.read_response()
        assert resp.status == 200 and resp.body == client.pattern(400_000)
        s.close()
    with client.Client(srv.port) as c:
        assert c.request(client.request("GET", "/qs?t=after")).body == b"t=after"


def test_ring_only_when_asked(srv):
    if not kernel_has_io_uring():
        pytest.skip("LOUD: this kernel (or a seccomp profile) refuses io_uring here: the ring cannot be seen")
    fds = ring_fds(srv)
    if srv.options["io_uring"]:
        assert fds, "the worker holds no io_uring descriptor"
    else:
        assert not fds, f"--no-io-uring, yet io_uring descriptors: {fds}"


def test_serves_where_io_uring_is_refused(serve):
    """kernel.io_uring_disabled = 2 (Linux 6.6+): io_uring_setup fails with EPERM, as under Docker's seccomp
    profile; the worker makes its calls one by one and serves the same."""
    knob = "/proc/sys/kernel/io_uring_disabled"
    if not os.path.exists(knob) or not os.access(knob, os.W_OK):
        pytest.skip(f"LOUD: {knob} is absent or not writable here: the refusal cannot be staged")
    with open(knob) as f:
        before = f.read().strip()
    try:
        with open(knob, "w") as f:
            f.write("2")
        srv = serve("tests.support.apps:app", fresh=True, io_uring=True)
        try:
            assert not ring_fds(srv)
            problems = []
            threads = [threading.Thread(target=one_client, args=(srv.port, seed, problems)) for seed in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(120)
            assert not problems, "\n".join(problems[:10])
        finally:
            assert srv.stop() is None
    finally:
        with open(knob, "w") as f:
            f.write(before)
