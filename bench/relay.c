/*
 * The floor of the hot-call design, for the benchmarks: a process between
 * nginx and hot (http format) functions that does only what any such
 * process must do, and nothing else.  One thread, one epoll set (level-
 * triggered, reads only, as the executor's libuv loop), N copies of a
 * function started unsandboxed with pipes for stdin and stdout; per
 * call: read the request from a kept-alive Unix socket connection, write
 * its body to an idle function's stdin in one writev, behind the head the
 * executor writes for a call of this format (its Fn-* headers, with fixed
 * values, so that the function has the same work), read the function's
 * answer, write it back verbatim in one write.  No route, no sandbox, no
 * header filtering, no limits, no accounting, no log: what is left is the
 * system calls and wake-ups a call costs on this path, which an executor
 * that reads and writes the same way does not go below.
 *
 *   relay SOCKET N COMMAND [ARG]...
 *
 * With RELAY_SPIN_US set in the environment, the relay does not sleep
 * while a call is out to a function: it polls its epoll set without
 * waiting, for up to that many microseconds, before it sleeps (what
 * busy-polling for the answer would win at low load; bench/README.md,
 * "Polling instead of sleeping").
 *
 * Requests need Content-Length (or no body); answers need Content-Length;
 * each fits in 64 KiB (a connection whose request does not is closed).
 * Writes are small and assumed to go through whole; a short one ends the
 * relay with a message.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define BUF_SIZE 65536
#define MAX_CONNS 1024
#define MAX_FUNCS 256

struct buf {
    char data[BUF_SIZE];
    size_t have;
};

struct func {
    int in, out;                /* its stdin (we write), stdout (we read) */
    int conn;                   /* the connection it answers, -1 idle */
    struct buf answer;
};

struct conn {
    int fd;
    int waiting;                /* a whole request, no function yet */
    size_t need;                /* its length, head and body */
    size_t body;                /* where its body starts */
    size_t length;              /* its Content-Length */
    struct buf req;
};

static struct func funcs[MAX_FUNCS];
static struct conn *conns[MAX_CONNS];
static int nfuncs, ep;
static int queue[MAX_CONNS], qhead, qlen;

static void __attribute__((noreturn)) die(const char *what)
{
    perror(what);
    exit(1);
}

static void watch(int fd, long tag)
{
    struct epoll_event e = { .events = EPOLLIN, .data.u64 = (uint64_t)tag };

    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e) < 0)
        die("epoll_ctl");
}

static void write_all(int fd, const struct iovec *iov, int n, size_t len)
{
    if (writev(fd, iov, n) != (ssize_t)len) {
        fprintf(stderr, "relay: a short write\n");
        exit(1);
    }
}

/* The length of a whole message at the start of b (head, then
 * Content-Length bytes), 0 while it is not all there. */
static size_t message_length(const struct buf *b, size_t *body,
                             size_t *length)
{
    const char *end, *p;
    size_t cl = 0;

    end = memmem(b->data, b->have, "\r\n\r\n", 4);
    if (end == NULL)
        return 0;
    for (p = memchr(b->data, '\n', (size_t)(end - b->data));
         p != NULL && p < end;
         p = memchr(p + 1, '\n', (size_t)(end - p))) {
        if (strncasecmp(p + 1, "Content-Length:", 15) == 0)
            cl = strtoul(p + 16, NULL, 10);
    }
    *body = (size_t)(end - b->data) + 4;
    *length = cl;
    return *body + cl <= b->have ? *body + cl : 0;
}

static void start(struct conn *c, struct func *f)
{
    char head[512];
    struct iovec iov[2];
    int n;

    /* what the executor writes for a call of this format, values fixed */
    n = snprintf(head, sizeof(head),
                 "POST /r/bench/hot HTTP/1.1\r\n"
                 "Host: bench\r\n"
                 "Content-Length: %zu\r\n"
                 "Fn-Call-Id: 01JDZ8K3X6W5N2V7Q9R4T1M000\r\n"
                 "Fn-Request-Url: http://bench/r/bench/hot\r\n"
                 "Fn-Method: POST\r\n"
                 "Fn-Deadline: 2030-01-01T00:00:00Z\r\n"
                 "Fn-App-Name: bench\r\n"
                 "Fn-Path: /hot\r\n\r\n", c->length);
    iov[0].iov_base = head;
    iov[0].iov_len = (size_t)n;
    iov[1].iov_base = c->req.data + c->body;
    iov[1].iov_len = c->length;
    f->conn = c->fd;
    c->waiting = 0;
    write_all(f->in, iov, 2, (size_t)n + c->length);
}


static void dispatch(struct conn *c)
{
    int i;

    for (i = 0; i < nfuncs; i++) {
        if (funcs[i].conn == -1) {
            start(c, &funcs[i]);
            return;
        }
    }
    c->waiting = 1;
    queue[(qhead + qlen++) % MAX_CONNS] = c->fd;
}

static void on_conn(struct conn *c)
{
    ssize_t r;

    r = read(c->fd, c->req.data + c->req.have, BUF_SIZE - c->req.have);
    if (r <= 0) {
        if (r < 0 && errno == EAGAIN)
            return;
        /* closed: a call in flight answers nobody */
        for (int i = 0; i < nfuncs; i++) {
            if (funcs[i].conn == c->fd)
                funcs[i].conn = -2;     /* busy, its answer dropped */
        }
        close(c->fd);
        conns[c->fd] = NULL;
        free(c);
        return;
    }
    c->req.have += (size_t)r;
    if (c->need == 0 && !c->waiting) {
        c->need = message_length(&c->req, &c->body, &c->length);
        if (c->need != 0)
            dispatch(c);
    }
}

static void on_func(struct func *f)
{
    struct conn *c;
    struct iovec iov;
    size_t need, body, length;
    ssize_t r;

    r = read(f->out, f->answer.data + f->answer.have,
             BUF_SIZE - f->answer.have);
    if (r <= 0) {
        fprintf(stderr, "relay: a function ended\n");
        exit(1);
    }
    f->answer.have += (size_t)r;
    need = message_length(&f->answer, &body, &length);
    if (need == 0)
        return;
    c = f->conn >= 0 ? conns[f->conn] : NULL;
    if (c != NULL) {
        iov.iov_base = f->answer.data;
        iov.iov_len = need;
        write_all(c->fd, &iov, 1, need);
        memmove(c->req.data, c->req.data + c->need, c->req.have - c->need);
        c->req.have -= c->need;
        c->need = message_length(&c->req, &c->body, &c->length);
    }
    memmove(f->answer.data, f->answer.data + need, f->answer.have - need);
    f->answer.have -= need;
    f->conn = -1;
    /* this connection's next request, pipelined, or the oldest waiting */
    if (c != NULL && c->need != 0) {
        start(c, f);
    } else {
        while (qlen > 0) {
            c = conns[queue[qhead]];
            qhead = (qhead + 1) % MAX_CONNS;
            qlen--;
            if (c != NULL && c->waiting) {
                start(c, f);
                break;
            }
        }
    }
}

static long elapsed_ns(const struct timespec *t0)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (t.tv_sec - t0->tv_sec) * 1000000000L + t.tv_nsec - t0->tv_nsec;
}

/* epoll_wait, first polled for up to spin_ns while a call is out */
static int wait_events(struct epoll_event *ev, int max, long spin_ns)
{
    struct timespec t0;
    int i, n;

    for (i = 0; i < nfuncs && funcs[i].conn == -1; i++)
        ;
    if (spin_ns > 0 && i < nfuncs) {
        clock_gettime(CLOCK_MONOTONIC, &t0);
        do {
            n = epoll_wait(ep, ev, max, 0);
            if (n != 0)
                return n;
        } while (elapsed_ns(&t0) < spin_ns);
    }
    return epoll_wait(ep, ev, max, -1);
}

int main(int argc, char **argv)
{
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    struct epoll_event ev[64];
    const char *spin = getenv("RELAY_SPIN_US");
    long spin_ns = spin != NULL ? atol(spin) * 1000 : 0;
    int lfd, fd, i, n, in[2], out[2];

    if (argc < 4 || (nfuncs = atoi(argv[2])) < 1 || nfuncs > MAX_FUNCS) {
        fprintf(stderr, "usage: %s SOCKET N COMMAND [ARG]...\n", argv[0]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0)
        die("epoll_create1");
    for (i = 0; i < nfuncs; i++) {
        if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0)
            die("pipe2");
        switch (fork()) {
        case -1:
            die("fork");
        case 0:
            if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0
                || dup2(in[0], 0) < 0 || dup2(out[1], 1) < 0)
                _exit(127);
            execvp(argv[3], argv + 3);
            _exit(127);
        }
        close(in[0]);
        close(out[1]);
        funcs[i].in = in[1];
        funcs[i].out = out[0];
        funcs[i].conn = -1;
        watch(out[0], -1 - i);
    }
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", argv[1]);
    unlink(argv[1]);
    lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof(a)) < 0
        || listen(lfd, 128) < 0)
        die("listen");
    watch(lfd, MAX_CONNS);
    for (;;) {
        n = wait_events(ev, 64, spin_ns);
        if (n < 0 && errno != EINTR)
            die("epoll_wait");
        for (i = 0; i < n; i++) {
            long tag = (long)ev[i].data.u64;

            if (tag < 0) {
                on_func(&funcs[-1 - tag]);
            } else if (tag == MAX_CONNS) {
                fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (fd < 0)
                    continue;
                if (fd >= MAX_CONNS
                    || (conns[fd] = calloc(1, sizeof(struct conn))) == NULL) {
                    close(fd);
                    continue;
                }
                conns[fd]->fd = fd;
                watch(fd, fd);
            } else if (conns[tag] != NULL) {
                on_conn(conns[tag]);
            }
        }
    }
}
