# io_uring as a batch of non-blocking socket calls (fastwsgi/io/uring.h): the Loop's sends (and reads) of one
# wakeup in one io_uring_enter. Absent or refused, fw_uring_open fails and the calls are made one by one.

cdef extern from "fastwsgi/io/uring.h":
    ctypedef struct fw_uring:
        int fd                      # -1: not open
        unsigned entries            # the most calls in one batch
    long FW_NOT_RUN                 # a result slot whose call was not made (the caller makes it itself)
    void fw_uring_init(fw_uring *r) noexcept
    void fw_uring_close(fw_uring *r) noexcept
    int fw_uring_open(fw_uring *r, unsigned entries) noexcept            # 0, or -errno
    int fw_uring_prep(fw_uring *r, int op, int fd, void *buf, size_t len, unsigned slot) noexcept  # op 0 send, 1 recv
    int fw_uring_run(fw_uring *r, long *res, unsigned nres) noexcept     # res[slot]: bytes or -errno; 0 or -errno
