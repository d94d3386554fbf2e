"""The master's pid file (--pid), as gunicorn keeps it: written atomically, taken over by a new master after
USR2, removed only while it still holds our pid."""
from __future__ import annotations

import os


class Pidfile:
    """The master's pid file, written atomically; removed only while it still holds our pid."""

    def __init__(self, path: str) -> None:
        self.path = path

    def create(self, pid: int) -> None:
        tmp = f"{self.path}.{pid}.tmp"
        with open(tmp, "w") as handle:
            handle.write(f"{pid}\n")
        os.rename(tmp, self.path)

    def running_pid(self) -> int:
        """The pid in an existing pidfile when that process is alive (another server), else 0."""
        try:
            with open(self.path) as handle:
                pid = int(handle.read().strip() or 0)
        except (OSError, ValueError):
            return 0
        if pid <= 0 or pid == os.getpid():
            return 0
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return 0
        except PermissionError:
            return pid
        return pid

    def rename(self, path: str) -> None:
        os.rename(self.path, path)
        self.path = path

    def unlink(self, pid: int) -> None:
        try:
            with open(self.path) as handle:
                if int(handle.read().strip() or 0) == pid:
                    os.unlink(self.path)
        except (OSError, ValueError):
            pass
