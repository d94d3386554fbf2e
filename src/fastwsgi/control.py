"""The master's control socket (gunicorn's, issue 22) and its /metrics port, served inside the master's select loop.

Nothing here blocks or runs in a thread: the master's `wait_for_signals` selects on `watched()` as well as its
signal pipe, then calls `serve()`, which accepts, reads what is there and answers what is whole. A client that
stalls is dropped after CLIENT_TIMEOUT; one that sends too much is dropped at MAX_REQUEST bytes.

Protocol (a UNIX stream socket, mode --control-socket-mode): one JSON request per line, `{"id": 1, "command": "show
workers"}` (a bare command line such as `show workers` works too), answered by one JSON line, `{"id": 1, "status":
"ok", "data": {...}}` or `{"id": 1, "status": "error", "error": "..."}`. A request that begins with gunicorn's
4-byte big-endian length prefix is answered in that framing, so gunicorn's `gunicornc -s PATH` works as well.
Commands are gunicornc's (`help` lists them); those that act as a signal would (reload, reopen, shutdown) enqueue
that signal, so the master handles them exactly as the signal.
"""
from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import stat
import struct
import time
from typing import Any

from fastwsgi import prometheus
from fastwsgi.errors import BindError
from fastwsgi.figures import Figures, listen_queue

CLIENT_TIMEOUT = 10.0       # seconds a client may take to send a whole request
MAX_REQUEST = 64 * 1024     # bytes of one request at most
MAX_CLIENTS = 64            # clients at once; more wait in the listen queue
_LENGTH = struct.Struct(">I")

HELP = {
    "show all": "The master and its workers",
    "show workers": "Workers with their live figures",
    "show config": "The settings in effect",
    "show stats": "Server figures: requests, rates, latency, workers",
    "show listeners": "Listening sockets and their queues",
    "worker add [N]": "Start N more workers (default 1)",
    "worker remove [N]": "Retire the N oldest workers (default 1; at least one stays)",
    "worker kill PID": "Retire this worker gracefully; a new one replaces it",
    "reload": "Graceful reload (HUP)",
    "reopen": "Reopen log files (USR1)",
    "shutdown [graceful|quick]": "Stop the server (TERM / INT)",
    "help": "This list",
}


class CommandError(ValueError):
    """A command that cannot be run as given (answered with status "error")."""


class Client:
    """One accepted connection: bytes in, answers out, a deadline for the next whole request."""

    def __init__(self, sock: socket.socket, handler: Any) -> None:
        self.sock = sock
        self.handler = handler          # handler(client, data) -> bytes consumed (answers with client.send)
        self.inbuf = b""
        self.outbuf = b""
        self.deadline = time.monotonic() + CLIENT_TIMEOUT
        self.closing = False            # close once outbuf is sent

    def send(self, data: bytes) -> None:
        self.outbuf += data
        self.flush()

    def flush(self) -> None:
        while self.outbuf:
            try:
                sent = self.sock.send(self.outbuf)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                self.outbuf = b""
                self.closing = True
                return
            self.outbuf = self.outbuf[sent:]


class Servers:
    """The master's listening sockets for control and metrics, and their clients."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.figures = Figures()
        self.listeners: dict = {}       # fd -> (socket, handler)
        self.clients: dict = {}         # fd -> Client
        self.control_path: str | None = None
        self.control_ino = 0
        self.metrics_address: str | None = None

    # ----------------------------------------------------------------------------------------------- setting up
    def open(self, cfg: Any, log: Any, takeover: bool = False) -> None:
        """The control socket (unless --no-control-socket) and the metrics port (--metrics-bind). A control socket
        another live server answers on is left to it (a warning), unless `takeover` (a master started by USR2)."""
        if not cfg.control_socket_disable:
            try:
                self._open_control(cfg, takeover)
                log.info("Control socket listening at %s", self.control_path)
            except OSError as exc:
                log.warning("Control socket %s not opened: %s", cfg.control_socket, exc.strerror or exc)
        if cfg.metrics_bind:
            try:
                sock = prometheus.listen(cfg.metrics_bind)
            except OSError as exc:
                raise BindError(f"cannot listen on --metrics-bind {cfg.metrics_bind}: {exc.strerror or exc}") from None
            self.metrics_address = cfg.metrics_bind
            self.listeners[sock.fileno()] = (sock, self._metrics_request)
            log.info("Metrics at: http://%s/metrics", cfg.metrics_bind)

    def _open_control(self, cfg: Any, takeover: bool) -> None:
        path = os.path.abspath(os.path.expanduser(cfg.control_socket))
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        if os.path.exists(path):
            if not takeover and _answers(path):
                raise OSError(0, "another server answers on it (--control-socket PATH to choose another)")
            os.unlink(path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            old_umask = os.umask(0o177)     # never reachable with wider rights, not even between bind and chmod
            try:
                sock.bind(path)
            finally:
                os.umask(old_umask)
            os.chmod(path, cfg.control_socket_mode)
            sock.listen(16)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        self.control_path = path
        self.control_ino = os.stat(path).st_ino
        self.listeners[sock.fileno()] = (sock, self._control_request)

    def backlog_metric(self, client: Any) -> None:
        """--enable-backlog-metric: gunicorn.backlog to statsd, at most once a second (the master's loop calls this
        at each turn; its statsd flush is once a second too)."""
        now = time.monotonic()
        if now < getattr(self, "_backlog_next", 0.0):
            return
        self._backlog_next = now + 1.0
        queues = [listen_queue(sock)[0] for sock in self.server.listeners]
        if any(q is not None for q in queues):
            client.histogram("gunicorn.backlog", sum(q for q in queues if q is not None))

    def fds(self) -> list:
        """Descriptors a forked worker closes."""
        return list(self.listeners) + list(self.clients)

    def forget(self) -> None:
        """In a forked worker: close the master's sockets, remove nothing."""
        for client in self.clients.values():
            client.sock.close()
        for sock, _ in self.listeners.values():
            sock.close()
        self.clients, self.listeners, self.control_path = {}, {}, None

    def close(self) -> None:
        for client in list(self.clients.values()):
            client.flush()
            client.sock.close()
        self.clients.clear()
        for sock, _ in self.listeners.values():
            sock.close()
        self.listeners.clear()
        if self.control_path:
            try:        # only our own socket: a new master (USR2) may have bound the path since
                if os.stat(self.control_path).st_ino == self.control_ino:
                    os.unlink(self.control_path)
            except OSError:
                pass
            self.control_path = None

    # ---------------------------------------------------------------------------------------------------- serving
    def watched(self) -> tuple:
        """(readable, writable) descriptors for the master's select()."""
        readers = list(self.clients)
        if len(self.clients) < MAX_CLIENTS:
            readers += list(self.listeners)
        writers = [fd for fd, client in self.clients.items() if client.outbuf]
        return readers, writers

    def serve(self, readable: list, writable: list) -> None:
        """After the master's select(): accept, read, answer, drop the stalled. Never raises."""
        try:
            self.figures.sample(self.server)
            for fd in readable:
                if fd in self.listeners:
                    self._accept(*self.listeners[fd])
                elif fd in self.clients:
                    self._read(self.clients[fd])
            for fd in writable:
                client = self.clients.get(fd)
                if client is not None:
                    client.flush()
            now = time.monotonic()
            for fd, client in list(self.clients.items()):
                if (client.closing and not client.outbuf) or now > client.deadline:
                    self._drop(fd)
        except Exception:
            self.server.log.exception("Control socket error")

    def _accept(self, sock: socket.socket, handler: Any) -> None:
        for _ in range(16):
            try:
                conn, _ = sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            conn.setblocking(False)
            self.clients[conn.fileno()] = Client(conn, handler)

    def _read(self, client: Client) -> None:
        try:
            data = client.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            client.closing = True
            client.inbuf = b""
            return
        client.inbuf += data
        while client.inbuf and not client.closing:
            used = client.handler(client, client.inbuf)
            if not used:
                break
            client.inbuf = client.inbuf[used:]
            client.deadline = time.monotonic() + CLIENT_TIMEOUT
        if len(client.inbuf) > MAX_REQUEST:
            client.closing = True

    def _drop(self, fd: int) -> None:
        client = self.clients.pop(fd)
        try:
            client.sock.close()
        except OSError:
            pass

    # ----------------------------------------------------------------------------------------------- the protocol
    def _control_request(self, client: Client, data: bytes) -> int:
        """One whole request from `data`: answered; returns the bytes it took (0: not whole yet)."""
        if data[:1] == b"\0":               # gunicornc: a 4-byte length, then the JSON
            if len(data) < 4:
                return 0
            size = _LENGTH.unpack_from(data)[0]
            if size > MAX_REQUEST:
                client.closing = True
                return 0
            if len(data) < 4 + size:
                return 0
            answer = self.answer(data[4:4 + size])
            payload = json.dumps(answer, default=str).encode()
            client.send(_LENGTH.pack(len(payload)) + payload)
            return 4 + size
        end = data.find(b"\n")
        if end < 0:
            return 0
        line = data[:end].strip()
        if line:
            client.send(json.dumps(self.answer(line), default=str).encode() + b"\n")
        return end + 1

    def answer(self, raw: bytes) -> dict:
        request_id: Any = 0
        try:
            text = raw.decode("utf-8").strip()
            if text.startswith("{"):
                message = json.loads(text)
                if not isinstance(message, dict):
                    raise CommandError("a request is a JSON object")
                request_id = message.get("id", 0)
                command = str(message.get("command", ""))
                args = [str(arg) for arg in message.get("args") or []]
            else:
                command, args = text, []
            parts = shlex.split(command) + args
            if not parts:
                raise CommandError("Empty command")
            data = Commands(self.server, self.figures).run(parts)
        except (CommandError, ValueError, UnicodeDecodeError) as exc:
            return {"id": request_id, "status": "error", "error": str(exc)}
        except Exception as exc:
            self.server.log.exception("Control command failed")
            return {"id": request_id, "status": "error", "error": f"Command failed: {exc}"}
        return {"id": request_id, "status": "ok", "data": data}

    def _metrics_request(self, client: Client, data: bytes) -> int:
        end = data.find(b"\r\n\r\n")
        if end < 0:
            end = data.find(b"\n\n")
            if end < 0:
                return 0
        line = data.split(b"\n", 1)[0].strip().split()
        target = line[1].split(b"?", 1)[0] if len(line) >= 2 else b""
        head = len(line) >= 1 and line[0] == b"HEAD"
        if len(line) == 3 and line[0] in (b"GET", b"HEAD") and target == b"/metrics":
            body = prometheus.render(self.server, self.figures).encode()
            client.send(prometheus.http_answer(200, body, prometheus.CONTENT_TYPE, head))
        else:
            client.send(prometheus.http_answer(404, b"Not Found: only /metrics is served here\n", "text/plain",
                                               head))
        client.closing = True
        return len(data)


def _answers(path: str) -> bool:
    """Whether a server listens on the UNIX socket at `path` (a stale file from a killed server does not)."""
    try:
        if not stat.S_ISSOCK(os.stat(path).st_mode):
            return True                     # not a socket: never removed for us
    except OSError:
        return False
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(1.0)
    try:
        probe.connect(path)
        return True
    except OSError:
        return False
    finally:
        probe.close()


class Commands:
    """gunicornc's commands over the master (`server`): each returns the answer's data."""

    def __init__(self, server: Any, figures: Figures) -> None:
        self.server = server
        self.figures = figures

    def run(self, parts: list) -> dict:
        cmd, rest = parts[0].lower(), parts[1:]
        if cmd == "show":
            if not rest:
                raise CommandError("Missing show target (all|workers|config|stats|listeners)")
            method = getattr(self, f"show_{rest[0].lower()}", None)
            if method is None:
                raise CommandError(f"Unknown show target: {rest[0]}")
            return method()
        if cmd == "worker":
            if not rest:
                raise CommandError("Missing worker action (add|remove|kill)")
            action, args = rest[0].lower(), rest[1:]
            if action == "kill":
                if not args:
                    raise CommandError("Missing PID for worker kill")
                return self.worker_kill(_number(args[0], "PID"))
            if action in ("add", "remove"):
                count = _number(args[0], "count") if args else 1
                return self.worker_add(count) if action == "add" else self.worker_remove(count)
            raise CommandError(f"Unknown worker action: {action}")
        if cmd in ("reload", "reopen"):
            self.server.signal(signal.SIGHUP if cmd == "reload" else signal.SIGUSR1, None)
            return {"status": "reloading" if cmd == "reload" else "reopening"}
        if cmd == "shutdown":
            mode = rest[0].lower() if rest else "graceful"
            if mode not in ("graceful", "quick"):
                raise CommandError(f"Unknown shutdown mode: {mode} (graceful|quick)")
            self.server.signal(signal.SIGTERM if mode == "graceful" else signal.SIGINT, None)
            return {"status": "shutting_down", "mode": mode}
        if cmd == "help":
            return {"commands": dict(HELP)}
        raise CommandError(f"Unknown command: {cmd}")

    # -------------------------------------------------------------------------------------------------------- show
    def show_workers(self) -> dict:
        workers = self.figures.workers(self.server)
        return {"workers": workers, "count": len(workers)}

    def show_stats(self) -> dict:
        server = self.server
        out = {
            "uptime": round(time.time() - self.figures.started_at, 2),
            "pid": server.pid,
            "workers_current": len(server.workers),
            "workers_target": server.num_workers,
            "workers_spawned": server.worker_age,
            "workers_killed": getattr(server, "workers_killed", 0),
            "reloads": getattr(server, "reloads", 0),
            "dirty_arbiter_pid": None,
        }
        out.update(self.figures.totals(server))
        return out

    def show_config(self) -> dict:
        config = {}
        for name, value in self.server.cfg.items():
            if callable(value):
                continue
            config[name] = value if isinstance(value, (str, int, float, bool, list, dict, type(None))) else str(value)
        return config

    def show_listeners(self) -> dict:
        from fastwsgi.sockets import describe

        listeners = []
        for sock in self.server.listeners:
            queued, length = listen_queue(sock)
            kind = {socket.AF_UNIX: "unix", socket.AF_INET: "tcp", socket.AF_INET6: "tcp6"}.get(sock.family, "?")
            listeners.append({"address": describe(sock), "fd": sock.fileno(), "type": kind, "queued": queued,
                              "backlog": length})
        return {"listeners": listeners, "count": len(listeners)}

    def show_all(self) -> dict:
        workers = [{"pid": row["pid"], "type": "web", "age": row["age"], "booted": row["booted"],
                    "last_heartbeat": row["last_heartbeat"], "state": row["state"]}
                   for row in self.figures.workers(self.server)]
        return {"arbiter": {"pid": self.server.pid, "type": "arbiter", "role": "master"},
                "web_workers": workers, "web_worker_count": len(workers),
                "dirty_arbiter": None, "dirty_workers": [], "dirty_worker_count": 0}

    # ------------------------------------------------------------------------------------------------------ worker
    def worker_add(self, count: int) -> dict:
        count = max(1, count)
        old = self.server.num_workers
        self.server.set_num_workers(old + count)    # the master's loop starts them right after this answer
        return {"added": count, "previous": old, "total": self.server.num_workers}

    def worker_remove(self, count: int) -> dict:
        old = self.server.num_workers
        new = max(1, old - max(1, count))
        self.server.set_num_workers(new)            # the master's loop retires the oldest
        return {"removed": old - new, "previous": old, "total": new}

    def worker_kill(self, pid: int) -> dict:
        worker = self.server.workers.get(pid)
        if worker is None:
            return {"success": False, "error": f"Worker {pid} not found"}
        self.server.retire(worker)      # TERM: it finishes what it serves; a replacement starts at once
        self.server.workers_killed = getattr(self.server, "workers_killed", 0) + 1
        return {"success": True, "killed": pid}


def _number(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise CommandError(f"Invalid argument: {what} must be an integer, not {text!r}") from None
