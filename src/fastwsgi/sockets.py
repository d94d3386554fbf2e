"""Listening sockets: parse bind addresses, bind in the master, adopt inherited fds, per-worker SO_REUSEPORT twins."""
from __future__ import annotations

import errno
import os
import socket
import stat
from collections.abc import Iterable
from dataclasses import dataclass

from fastwsgi.errors import BindError

INHERITED_FDS_ENV = "FASTWSGI_FD"   # comma-separated fds handed to a re-executed master (gunicorn's GUNICORN_FD)


@dataclass(frozen=True)
class Address:
    """A parsed bind address: kind is "tcp", "unix" or "fd"."""

    kind: str
    host: str = ""
    port: int = 0
    path: str = ""
    fd: int = -1

    @property
    def family(self) -> int:
        if self.kind == "unix":
            return socket.AF_UNIX
        return socket.AF_INET6 if ":" in self.host else socket.AF_INET


def parse_address(text: str, default_port: int = 8000) -> Address:
    """HOST:PORT, HOST, :PORT, [V6]:PORT, [V6], unix:PATH, unix://PATH or fd://N. Raises ValueError."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("expected an address such as 127.0.0.1:8000, unix:/path or fd://3")
    text = text.strip()
    if text.startswith("unix:"):
        path = text[len("unix://"):] if text.startswith("unix://") else text[len("unix:"):]
        if not path:
            raise ValueError(f"empty unix socket path in {text!r}")
        return Address("unix", path=path)
    if text.startswith("fd://"):
        number = text[len("fd://"):]
        if not number.isdigit():
            raise ValueError(f"expected fd://N with N a file descriptor number, got {text!r}")
        return Address("fd", fd=int(number))
    if text.startswith("tcp://"):
        text = text[len("tcp://"):]
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ValueError(f"bad IPv6 address {text!r}, expected [ADDR]:PORT")
        port_text = rest[1:] if rest else str(default_port)
    elif text.count(":") > 1:
        raise ValueError(f"IPv6 addresses need brackets: [{text}]:PORT")
    else:
        host, _, port_text = text.partition(":")
        port_text = port_text or str(default_port)
        host = host or "0.0.0.0"
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ValueError(f"bad port in {text!r}")
    return Address("tcp", host=host, port=int(port_text))


def describe(sock: socket.socket, scheme: str = "http") -> str:
    """http://HOST:PORT (https:// with TLS) or unix:PATH, for logs."""
    name = sock.getsockname()
    if sock.family == socket.AF_UNIX:
        return f"unix:{name.decode() if isinstance(name, bytes) else name}"
    if sock.family == socket.AF_INET6:
        return f"{scheme}://[{name[0]}]:{name[1]}"
    return f"{scheme}://{name[0]}:{name[1]}"


def _tcp_socket(address: Address, backlog: int, reuse_port: bool) -> socket.socket:
    try:
        infos = socket.getaddrinfo(address.host, address.port, 0, socket.SOCK_STREAM, 0, socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise BindError(f"cannot resolve {address.host!r}: {exc.strerror}") from None
    family, socktype, proto, _, sockaddr = infos[0]
    sock = socket.socket(family, socktype, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(sockaddr)
        sock.listen(backlog)
    except OSError as exc:
        sock.close()
        where = f"[{address.host}]:{address.port}" if family == socket.AF_INET6 else f"{address.host}:{address.port}"
        if exc.errno == errno.EADDRINUSE:
            raise BindError(f"address already in use: {where}") from None
        raise BindError(f"cannot bind {where}: {exc.strerror}") from None
    return sock


def _unix_socket(address: Address, backlog: int, umask: int) -> socket.socket:
    path = address.path
    try:
        if stat.S_ISSOCK(os.stat(path).st_mode):
            os.unlink(path)  # a stale socket from a previous run
        else:
            raise BindError(f"{path!r} exists and is not a socket")
    except FileNotFoundError:
        pass
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(umask)
    try:
        sock.bind(path)
        sock.listen(backlog)
    except OSError as exc:
        sock.close()
        raise BindError(f"cannot bind unix:{path}: {exc.strerror}") from None
    finally:
        os.umask(old_umask)
    return sock


def _adopt_fd(fd: int) -> socket.socket:
    try:
        sock = socket.socket(fileno=fd)
    except OSError as exc:
        raise BindError(f"fd://{fd} is not a usable socket: {exc.strerror}") from None
    if sock.type != socket.SOCK_STREAM:
        raise BindError(f"fd://{fd} is not a stream socket")
    if not is_listening(sock):
        sock.listen(128)
    return sock


def create_listeners(binds: Iterable[str], backlog: int, reuse_port: bool = False, umask: int = 0,
                     inherited: list | None = None) -> list:
    """Bind and listen on every address, or adopt `inherited` fds (re-exec, systemd) as they are.

    With reuse_port, TCP sockets get SO_REUSEPORT so that each worker can add its own socket on the same address
    (see `reuse_port_twins`); the master's stays in the group and is shared by all workers, so the address never
    refuses connections while workers restart.
    """
    if inherited:
        return [_adopt_fd(fd) for fd in inherited]
    listeners: list = []
    try:
        for text in binds:
            try:
                address = parse_address(text)
            except ValueError as exc:
                raise BindError(str(exc)) from None
            if address.kind == "unix":
                listeners.append(_unix_socket(address, backlog, umask))
            elif address.kind == "fd":
                listeners.append(_adopt_fd(address.fd))
            else:
                listeners.append(_tcp_socket(address, backlog, reuse_port))
    except BaseException:
        close_listeners(listeners, unlink=True)
        raise
    return listeners


def is_listening(sock: socket.socket) -> bool:
    return sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) != 0


def reuse_port_twins(listeners: list, backlog: int) -> list:
    """In a worker with --reuse-port: the master's sockets plus, for each TCP socket with SO_REUSEPORT, a fresh
    socket of this worker's own on the same address (the kernel spreads new connections over the group)."""
    out = list(listeners)
    for sock in listeners:
        if sock.family not in (socket.AF_INET, socket.AF_INET6):
            continue
        if not sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT):
            continue
        twin = socket.socket(sock.family, socket.SOCK_STREAM)
        twin.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        twin.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if sock.family == socket.AF_INET6:
            twin.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        twin.bind(sock.getsockname())
        twin.listen(backlog)
        out.insert(0, twin)
    return out


def close_listeners(listeners: list, unlink: bool = True) -> None:
    """Close sockets (never shutdown(): a re-executed master shares them); remove unix socket files if `unlink`."""
    for sock in listeners:
        path = None
        try:
            if unlink and sock.family == socket.AF_UNIX:
                path = sock.getsockname()
        except OSError:
            pass
        sock.close()
        if path:
            try:
                os.unlink(path)
            except OSError:
                pass


def inherited_fds(environ: dict) -> list:
    """Pop FASTWSGI_FD (set by the old master on SIGUSR2) and return the fds in it."""
    text = environ.pop(INHERITED_FDS_ENV, "")
    return [int(fd) for fd in text.split(",") if fd.strip().isdigit()]
