"""Worker liveness through a page of shared memory (no disk, never blocks).

The master maps one anonymous MAP_SHARED page per worker before fork. The worker stamps CLOCK_MONOTONIC (the same
clock in every process) from the loop's on_tick, about once a second, and records its state; the master reads the
stamp to find silent workers. When a worker cannot load the app it leaves a one-line reason for the master. Before
the TERM of a stop that ends the server, the master marks it final: the worker then serves what waits in the listen
backlog and shuts the listening sockets down (worker.py), since no other process will accept from them.

The worker's request loop also keeps its live figures in the page (ext/fastwsgi/stats.pxd: counters updated where
an answer ends, connection gauges sampled once a second); the master reads them for `fastwsgi ctl` and /metrics.

Layout: [0:8] last beat (double, monotonic seconds), [8:12] state (int32), [12:16] final stop (int32, written by the
master), [16:STATS_AT] reason (UTF-8, NUL-padded), [STATS_AT:] the loop's figures (int64 words, STATS_FIELDS).
"""
from __future__ import annotations

import mmap
import struct
import time

BEAT_PERIOD = 1.0  # the loop's on_tick period: a healthy worker's silence reaches about this

BOOTING = 0     # forked, loading the app
SERVING = 1     # inside the request loop
STOPPING = 2    # a graceful stop was asked
STATE_NAMES = {BOOTING: "booting", SERVING: "serving", STOPPING: "stopping"}

_PAGE = mmap.PAGESIZE
_BEAT = struct.Struct("d")
_STATE = struct.Struct("i")
_REASON_AT = 16
STATS_AT = 1024

LATENCY_BUCKETS = 16
# the words of the loop's figures, in stats.pxd's order (tests/test_control.py checks them against the extension)
STATS_FIELDS = (("served", "started") + tuple(f"status_{c}" for c in ("none", "1xx", "2xx", "3xx", "4xx", "5xx"))
                + ("latency_sum_us",) + tuple(f"latency_{i}" for i in range(LATENCY_BUCKETS))
                + ("sampled_at_ms", "conns_head", "conns_body", "conns_app", "conns_idle", "conns_closing", "queued",
                   "spooled"))
LATENCY_BOUNDS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_STATS = struct.Struct(f"{len(STATS_FIELDS)}q")


class Heartbeat:
    """Shared between the master and one worker; create in the master before fork."""

    def __init__(self) -> None:
        self._map = mmap.mmap(-1, _PAGE, flags=mmap.MAP_SHARED)
        self.beat()

    def beat(self, at: float | None = None) -> None:
        """Worker: I am alive (cheap: one 8-byte store). `at`: report an earlier time instead of now (the start of
        an app call still running on an app thread, so that a hung call counts as silence)."""
        _BEAT.pack_into(self._map, 0, time.monotonic() if at is None else at)

    def last_beat(self) -> float:
        return _BEAT.unpack_from(self._map, 0)[0]

    def silence(self) -> float:
        """Master: seconds since the last beat."""
        return time.monotonic() - self.last_beat()

    @property
    def state(self) -> int:
        return _STATE.unpack_from(self._map, 8)[0]

    @state.setter
    def state(self, value: int) -> None:
        _STATE.pack_into(self._map, 8, value)

    @property
    def final(self) -> bool:
        """Worker: the stop asked for ends the server (no new workers or new master take the sockets over)."""
        return bool(_STATE.unpack_from(self._map, 12)[0])

    @final.setter
    def final(self, value: bool) -> None:
        _STATE.pack_into(self._map, 12, int(value))

    def stats_buffer(self) -> memoryview:
        """Worker: the block the request loop keeps its figures in (the Loop's `stats` option)."""
        return memoryview(self._map)[STATS_AT:STATS_AT + _STATS.size]

    def stats(self) -> dict:
        """Master: the worker's figures now, {field: int} (zeros until its loop runs)."""
        return dict(zip(STATS_FIELDS, _STATS.unpack_from(self._map, STATS_AT)))

    def set_reason(self, text: str) -> None:
        data = text.encode("utf-8", "replace")[: STATS_AT - _REASON_AT - 1]
        self._map[_REASON_AT:_REASON_AT + len(data) + 1] = data + b"\0"

    def reason(self) -> str:
        raw = bytes(self._map[_REASON_AT:STATS_AT])
        return raw.split(b"\0", 1)[0].decode("utf-8", "replace")

    def close(self) -> None:
        try:
            self._map.close()
        except (BufferError, ValueError):
            pass
