# A worker's live figures in the heartbeat's shared page (stats.pxd). stats_answer() is the one call on the request
# path: three increments and a few compares, no syscall, no allocation.

from cpython.unicode cimport PyUnicode_READ_CHAR, PyUnicode_GET_LENGTH

cdef long long[LATENCY_BUCKETS] _BOUNDS = [
    500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
    1000000, 2500000, 5000000, 10000000, 30000000, 0x7fffffffffffffff]
LATENCY_BOUNDS_US[:] = _BOUNDS


cdef void stats_answer(WorkerStats *st, object status, double seconds) noexcept:
    cdef long long us = <long long>(seconds * 1e6) if seconds > 0 else 0
    cdef int i = 0
    cdef long digit = 0
    st.served += 1
    if type(status) is str and PyUnicode_GET_LENGTH(status) > 0:
        digit = <long>PyUnicode_READ_CHAR(status, 0) - 48      # '1'..'5'
    st.status[digit if 1 <= digit <= 5 else 0] += 1
    st.latency_sum_us += us
    while us > LATENCY_BOUNDS_US[i] and i < LATENCY_BUCKETS - 1:
        i += 1
    st.latency[i] += 1


def stats_layout():
    """(words in the stats block, the finite latency bucket bounds in µs): fastwsgi/heartbeat.py checks its own
    layout against it."""
    return sizeof(WorkerStats) // sizeof(long long), [LATENCY_BOUNDS_US[i] for i in range(LATENCY_BUCKETS - 1)]
