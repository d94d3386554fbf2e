/* fastwsgi/io/uring.h: one io_uring per worker, used as a batch of non-blocking socket calls.
 *
 * The loop still waits in epoll_wait; io_uring only carries the sends (and the reads) of one wakeup into the kernel
 * together: N send() calls become one io_uring_enter with N SEND entries. On machines where a system call is dear
 * (return-stack mitigations, virtual machines: ~220 ns each here), that is most of a small answer's kernel cost that
 * is not TCP's own work. Every entry is non-blocking (MSG_DONTWAIT on non-blocking sockets): io_uring completes it
 * inline, -EAGAIN included, so the enter returns with every result and nothing is ever left in flight.
 *
 * No liburing: the three system calls and the two shared rings, as <linux/io_uring.h> describes them. Where the
 * kernel or a seccomp profile (Docker's default one) refuses io_uring, fw_uring_open fails and the loop makes its
 * calls one by one, as before. */
#ifndef FASTWSGI_URING_H
#define FASTWSGI_URING_H

#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#if defined(__linux__) && defined(__NR_io_uring_setup) && __has_include(<linux/io_uring.h>)
#include <linux/io_uring.h>
#define FW_URING 1
#else
#define FW_URING 0
#endif

typedef struct fw_uring {
    int fd;                       /* -1: closed, or not available */
    unsigned entries;             /* submission slots: the most calls in one batch */
#if FW_URING
    unsigned *sq_tail, *sq_mask, *sq_array, *cq_head, *cq_tail, *cq_mask;
    struct io_uring_sqe *sqes;
    struct io_uring_cqe *cqes;
    void *sq_map, *cq_map;
    size_t sq_len, cq_len, sqes_len;
    unsigned pending;             /* entries prepared since the last submit */
#endif
} fw_uring;

static inline void fw_uring_init(fw_uring *r) {
    memset(r, 0, sizeof(*r));
    r->fd = -1;
}

static inline void fw_uring_close(fw_uring *r) {
#if FW_URING
    if (r->sqes != NULL && r->sqes != MAP_FAILED)
        munmap(r->sqes, r->sqes_len);
    if (r->cq_map != NULL && r->cq_map != MAP_FAILED && r->cq_map != r->sq_map)
        munmap(r->cq_map, r->cq_len);
    if (r->sq_map != NULL && r->sq_map != MAP_FAILED)
        munmap(r->sq_map, r->sq_len);
#endif
    if (r->fd >= 0)
        close(r->fd);
    fw_uring_init(r);
}

/* 0, or -errno (ENOSYS: no io_uring here; EPERM: refused by a seccomp profile or io_uring_disabled). */
static inline int fw_uring_open(fw_uring *r, unsigned entries) {
#if FW_URING
    struct io_uring_params p;
    unsigned flags[3] = {
#ifdef IORING_SETUP_SINGLE_ISSUER
        IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SUBMIT_ALL,
#else
        0,
#endif
        0, 0};
    int i, fd = -1, err = ENOSYS;
    fw_uring_init(r);
    for (i = 0; i < 2; i++) {             /* the flags need 6.0; without them on older kernels (EINVAL) */
        memset(&p, 0, sizeof(p));
        p.flags = flags[i];
        fd = (int)syscall(__NR_io_uring_setup, entries, &p);
        if (fd >= 0)
            break;
        err = errno;
        if (err != EINVAL)
            return -err;
    }
    if (fd < 0)
        return -err;
    r->fd = fd;
    r->entries = p.sq_entries;
    r->sq_len = p.sq_off.array + p.sq_entries * sizeof(unsigned);
    r->cq_len = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
    if (p.features & IORING_FEAT_SINGLE_MMAP) {
        if (r->cq_len > r->sq_len)
            r->sq_len = r->cq_len;
        r->cq_len = r->sq_len;
    }
    r->sq_map = mmap(NULL, r->sq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQ_RING);
    if (r->sq_map == MAP_FAILED)
        goto fail;
    if (p.features & IORING_FEAT_SINGLE_MMAP)
        r->cq_map = r->sq_map;
    else {
        r->cq_map = mmap(NULL, r->cq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_CQ_RING);
        if (r->cq_map == MAP_FAILED)
            goto fail;
    }
    r->sqes_len = p.sq_entries * sizeof(struct io_uring_sqe);
    r->sqes = (struct io_uring_sqe *)mmap(NULL, r->sqes_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd,
                                          IORING_OFF_SQES);
    if (r->sqes == MAP_FAILED)
        goto fail;
    r->sq_tail = (unsigned *)((char *)r->sq_map + p.sq_off.tail);
    r->sq_mask = (unsigned *)((char *)r->sq_map + p.sq_off.ring_mask);
    r->sq_array = (unsigned *)((char *)r->sq_map + p.sq_off.array);
    r->cq_head = (unsigned *)((char *)r->cq_map + p.cq_off.head);
    r->cq_tail = (unsigned *)((char *)r->cq_map + p.cq_off.tail);
    r->cq_mask = (unsigned *)((char *)r->cq_map + p.cq_off.ring_mask);
    r->cqes = (struct io_uring_cqe *)((char *)r->cq_map + p.cq_off.cqes);
    r->pending = 0;
    return 0;
fail:
    err = errno;
    fw_uring_close(r);
    return -err;
#else
    (void)entries;
    fw_uring_init(r);
    return -ENOSYS;
#endif
}

/* One non-blocking send (op 0) or recv (op 1) of the batch; `slot` comes back with its result. 0, or -1 when the
   batch is full (the caller submits first). */
static inline int fw_uring_prep(fw_uring *r, int op, int fd, void *buf, size_t len, unsigned slot) {
#if FW_URING
    unsigned tail, idx;
    struct io_uring_sqe *s;
    if (r->pending >= r->entries)
        return -1;
    tail = *r->sq_tail + r->pending;
    idx = tail & *r->sq_mask;
    s = &r->sqes[idx];
    memset(s, 0, sizeof(*s));
    s->opcode = op == 0 ? IORING_OP_SEND : IORING_OP_RECV;
    s->fd = fd;
    s->addr = (unsigned long)buf;
    s->len = (unsigned)(len > 0x7fffffffu ? 0x7fffffffu : len);
    s->msg_flags = op == 0 ? (MSG_DONTWAIT | MSG_NOSIGNAL) : MSG_DONTWAIT;
    s->user_data = slot;
    r->sq_array[idx] = idx;
    r->pending++;
    return 0;
#else
    (void)r; (void)op; (void)fd; (void)buf; (void)len; (void)slot;
    return -1;
#endif
}

/* Submit what was prepared and wait for every result: res[slot] = bytes, or -errno; a slot whose call was never
   made keeps what the caller put there (FW_NOT_RUN), and the caller makes that call itself. 0, or -errno when the
   ring failed (the caller closes it and goes on without). */
#define FW_NOT_RUN (-0x7fffffffL - 1)
static inline int fw_uring_run(fw_uring *r, long *res, unsigned nres) {
#if FW_URING
    unsigned total = r->pending, submit = r->pending, got = 0, head, tail;
    int n;
    if (total == 0)
        return 0;
    __atomic_store_n(r->sq_tail, *r->sq_tail + total, __ATOMIC_RELEASE);
    r->pending = 0;
    while (got < total) {
        n = (int)syscall(__NR_io_uring_enter, r->fd, submit, submit ? submit : 1, IORING_ENTER_GETEVENTS, NULL, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            n = errno;
            /* nothing of `submit` was taken: take the entries back (the kernel reads them only in an enter) */
            __atomic_store_n(r->sq_tail, *r->sq_tail - submit, __ATOMIC_RELEASE);
            return -n;
        }
        submit -= (unsigned)n < submit ? (unsigned)n : submit;
        head = *r->cq_head;
        tail = __atomic_load_n(r->cq_tail, __ATOMIC_ACQUIRE);
        while (head != tail) {
            struct io_uring_cqe *c = &r->cqes[head & *r->cq_mask];
            if (c->user_data < nres)
                res[c->user_data] = c->res;
            head++;
            got++;
        }
        __atomic_store_n(r->cq_head, head, __ATOMIC_RELEASE);
    }
    return 0;
#else
    (void)r; (void)res; (void)nres;
    return -ENOSYS;
#endif
}

#endif
