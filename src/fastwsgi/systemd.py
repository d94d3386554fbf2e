"""systemd integration: socket activation (LISTEN_FDS/LISTEN_PID) and readiness (NOTIFY_SOCKET)."""
from __future__ import annotations

import os
import socket
from collections.abc import MutableMapping

SD_LISTEN_FDS_START = 3


def listen_fds(environ: MutableMapping, unset: bool = True) -> list:
    """The fds systemd passed to this process (3, 4, ...), or [] when LISTEN_PID is not our pid.

    With `unset`, LISTEN_FDS/LISTEN_PID/LISTEN_FDNAMES are removed so children do not think they were activated.
    """
    try:
        count = int(environ.get("LISTEN_FDS", "0"))
        pid = int(environ.get("LISTEN_PID", "0"))
    except ValueError:
        return []
    if unset:
        for key in ("LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"):
            environ.pop(key, None)
    if count <= 0 or pid != os.getpid():
        return []
    return list(range(SD_LISTEN_FDS_START, SD_LISTEN_FDS_START + count))


def notify(state: str, environ: MutableMapping = os.environ) -> bool:
    """Send `state` (e.g. "READY=1", "STOPPING=1") to $NOTIFY_SOCKET; False when there is none or it fails."""
    address = environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]  # abstract namespace
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(state.encode())
        return True
    except OSError:
        return False
