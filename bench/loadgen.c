/* bench/loadgen.c: a lean HTTP/1.1 keep-alive load generator for bench/session_cpu.py.
 *
 * wrk running session.lua spends ~9 us of its own CPU per answer on this kind of machine, so one wrk thread cannot ask
 * for more than ~110k answers a second: at that rate both nginx and fastwsgi wait on wrk, and their CPU per request is
 * 1 / wrk's rate, whatever they cost. This client does only what the measurement needs: each connection sends the
 * next head of the file (bench/session.py's heads, one after the other, every connection walking the session in
 * order, as session.lua does), reads the answer (status line, Content-Length, body), counts it, and sends the next.
 *
 *   cc -O2 -o loadgen bench/loadgen.c
 *   loadgen PORT HEADS_FILE CONNS WARMUP_S SECONDS
 *
 * Prints "measure" when the warm-up ends, then "requests N errors E seconds S cpu C" (C: its own user+system seconds
 * over the measured window). Exits non-zero on a connection error or an answer that is not 200. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BUF 65536

typedef struct {
    int fd;
    size_t next;          /* the head this connection sends next */
    char buf[BUF];
    size_t len;
} conn_t;

static char **heads;
static size_t *head_len;
static size_t nheads;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static double cpu(void) {
    struct rusage r;
    getrusage(RUSAGE_SELF, &r);
    return r.ru_utime.tv_sec + r.ru_utime.tv_usec / 1e6 + r.ru_stime.tv_sec + r.ru_stime.tv_usec / 1e6;
}

static void load_heads(const char *path) {
    FILE *f = fopen(path, "rb");
    char *data, *p, *end;
    long n;
    if (!f) { perror(path); exit(2); }
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    data = malloc(n + 1);
    if (fread(data, 1, n, f) != (size_t)n) { perror("read"); exit(2); }
    fclose(f);
    heads = malloc(sizeof(char *) * (n / 16 + 1));
    head_len = malloc(sizeof(size_t) * (n / 16 + 1));
    for (p = data, end = data + n; p < end;) {
        char *e = memmem(p, end - p, "\r\n\r\n", 4);
        if (!e) break;
        heads[nheads] = p;
        head_len[nheads++] = e + 4 - p;
        p = e + 4;
    }
    if (!nheads) { fprintf(stderr, "no heads in %s\n", path); exit(2); }
}

static void send_all(conn_t *c) {
    const char *p = heads[c->next % nheads];
    size_t left = head_len[c->next % nheads];
    c->next++;
    while (left) {
        ssize_t k = send(c->fd, p, left, MSG_NOSIGNAL);
        if (k < 0) {
            if (errno == EAGAIN || errno == EINTR) continue;
            perror("send");
            exit(1);
        }
        p += k;
        left -= k;
    }
}

/* complete answers at the front of c->buf: counted, consumed, each followed by the next request */
static long answers(conn_t *c, long *errors) {
    long done = 0;
    for (;;) {
        char *h = memmem(c->buf, c->len, "\r\n\r\n", 4), *cl;
        size_t head, body = 0, total;
        if (!h) return done;
        head = h + 4 - c->buf;
        if (c->len < 12 || memcmp(c->buf + 9, "200", 3) != 0) (*errors)++;
        cl = memmem(c->buf, head, "\r\nContent-Length:", 17);
        if (!cl) cl = memmem(c->buf, head, "\r\ncontent-length:", 17);
        if (cl) body = strtoul(cl + 17, NULL, 10);
        total = head + body;
        if (c->len < total) return done;
        memmove(c->buf, c->buf + total, c->len - total);
        c->len -= total;
        done++;
        send_all(c);
    }
}

int main(int argc, char **argv) {
    int port, nconns, ep, i, one = 1;
    double warmup, seconds, start, measure_at, end_at, cpu0 = 0, t;
    long count = 0, errors = 0, base = 0;
    int measuring = 0;
    conn_t *conns;
    struct sockaddr_in a;
    struct epoll_event ev, events[256];
    if (argc != 6) {
        fprintf(stderr, "usage: loadgen PORT HEADS_FILE CONNS WARMUP_S SECONDS\n");
        return 2;
    }
    port = atoi(argv[1]);
    load_heads(argv[2]);
    nconns = atoi(argv[3]);
    warmup = atof(argv[4]);
    seconds = atof(argv[5]);
    conns = calloc(nconns, sizeof(conn_t));
    ep = epoll_create1(0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(0x7f000001);
    for (i = 0; i < nconns; i++) {
        conn_t *c = &conns[i];
        c->fd = socket(AF_INET, SOCK_STREAM, 0);
        if (connect(c->fd, (struct sockaddr *)&a, sizeof(a)) < 0) { perror("connect"); return 1; }
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        ev.events = EPOLLIN;
        ev.data.ptr = c;
        epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
    }
    start = now();
    measure_at = start + warmup;
    end_at = measure_at + seconds;
    for (i = 0; i < nconns; i++)
        send_all(&conns[i]);
    for (;;) {
        int n = epoll_wait(ep, events, 256, 100);
        t = now();
        if (!measuring && t >= measure_at) {
            measuring = 1;
            base = count;
            cpu0 = cpu();
            printf("measure\n");
            fflush(stdout);
        }
        if (measuring && t >= end_at) break;
        for (i = 0; i < n; i++) {
            conn_t *c = events[i].data.ptr;
            ssize_t k = recv(c->fd, c->buf + c->len, BUF - c->len, 0);
            if (k <= 0) {
                if (k < 0 && (errno == EAGAIN || errno == EINTR)) continue;
                fprintf(stderr, "connection closed by the server\n");
                return 1;
            }
            c->len += k;
            count += answers(c, &errors);
        }
    }
    printf("requests %ld errors %ld seconds %.3f cpu %.3f\n", count - base, errors, t - measure_at, cpu() - cpu0);
    return errors ? 1 : 0;
}
