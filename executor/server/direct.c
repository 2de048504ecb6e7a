/*
 * Direct dispatch: the lease protocol with nginx's workers (direct.h).
 */
#include "direct.h"
#include "call_request.h"
#include "errf.h"
#include "hot.h"
#include "log.h"
#include "request_parser.h"
#include "unix_socket.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* What one worker may hold, and have waiting to be sent to it. */
#define DIRECT_LEASES_MAX 4096
#define DIRECT_QUEUE_MAX 4096

struct direct_msg {
    struct direct_msg *next;
    int fd;                             /* to pass along, or -1 */
    size_t len;
    char data[];
};

struct direct_peer;

struct direct_lease {
    struct direct_lease *next, *prev;   /* peer->leases */
    struct direct *d;
    struct direct_peer *peer;           /* NULL: its worker went away */
    struct call_reply reply;
    struct hot_instance *in;            /* granted */
    char id[ULID_LEN + 1];
};

struct direct_peer {
    struct direct_peer *next, *prev;    /* d->peers */
    struct direct *d;
    int fd;
    uv_poll_t poll;
    int closing;
    struct direct_lease *leases;
    size_t nleases;
    struct direct_msg *qhead, *qtail;
    size_t qlen;
};

struct direct {
    uv_loop_t *loop;
    struct calls *calls;
    int fd;
    uv_poll_t poll;
    int listening;
    char path[108];
    dev_t dev;
    ino_t ino;
    struct direct_peer *peers;
    size_t held;                        /* instances granted, not back */
    void (*on_empty)(void *arg);        /* held is back to 0 */
    void *empty_arg;
};

static char rbuf[DIRECT_MSG_MAX + 1];

static void peer_drop(struct direct_peer *p, const char *why);
static void on_peer(uv_poll_t *h, int status, int events);

/* ------------------------------------------------------------- sending */

static void peer_events(struct direct_peer *p)
{
    if (!p->closing)
        uv_poll_start(&p->poll, UV_READABLE
                                | (p->qhead != NULL ? UV_WRITABLE : 0),
                      on_peer);
}

/* 1 sent, 0 not now (EAGAIN), -1 failed. */
static int send_one(int sock, const char *data, size_t len, int fd)
{
    char cbuf[CMSG_SPACE(sizeof(int))];
    struct msghdr msg = { 0 };
    struct iovec iov = { (void *)data, len };
    struct cmsghdr *cm;
    ssize_t n;

    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    if (fd >= 0) {
        memset(cbuf, 0, sizeof(cbuf));
        msg.msg_control = cbuf;
        msg.msg_controllen = sizeof(cbuf);
        cm = CMSG_FIRSTHDR(&msg);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cm), &fd, sizeof(int));
    }
    do
        n = sendmsg(sock, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
    return n == (ssize_t)len ? 1 : -1;
}

/*
 * Sends a message (with a copy of fd, unless -1) now or once the worker
 * reads; a worker too slow for DIRECT_QUEUE_MAX of them is dropped.
 * Never drops the worker at once: callers may be deep in hot.c.
 */
static void peer_send(struct direct_peer *p, const char *data, size_t len,
                      int fd)
{
    struct direct_msg *m;
    int rc;

    if (p->closing)
        return;
    if (p->qhead == NULL) {
        rc = send_one(p->fd, data, len, fd);
        if (rc == 1)
            return;
        if (rc < 0) {
            peer_drop(p, strerror(errno));
            return;
        }
    }
    if (p->qlen >= DIRECT_QUEUE_MAX) {
        peer_drop(p, "it does not read its messages");
        return;
    }
    m = malloc(sizeof(*m) + len);
    if (m == NULL) {
        peer_drop(p, "out of memory");
        return;
    }
    m->next = NULL;
    m->len = len;
    memcpy(m->data, data, len);
    m->fd = fd >= 0 ? fcntl(fd, F_DUPFD_CLOEXEC, 3) : -1;
    if (fd >= 0 && m->fd < 0) {
        free(m);
        peer_drop(p, strerror(errno));
        return;
    }
    if (p->qtail)
        p->qtail->next = m;
    else
        p->qhead = m;
    p->qtail = m;
    p->qlen++;
    peer_events(p);
}

static void peer_flush(struct direct_peer *p)
{
    struct direct_msg *m;
    int rc;

    while ((m = p->qhead) != NULL) {
        rc = send_one(p->fd, m->data, m->len, m->fd);
        if (rc == 0)
            break;
        if (rc < 0) {
            peer_drop(p, strerror(errno));
            return;
        }
        p->qhead = m->next;
        if (p->qhead == NULL)
            p->qtail = NULL;
        p->qlen--;
        if (m->fd >= 0)
            close(m->fd);
        free(m);
    }
    peer_events(p);
}

static void peer_sendf(struct direct_peer *p, int fd, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void peer_sendf(struct direct_peer *p, int fd, const char *fmt, ...)
{
    char buf[CALL_REPLY_BODY_MAX + 128];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof(buf))
        n = sizeof(buf) - 1;
    peer_send(p, buf, (size_t)n, fd);
}

/* -------------------------------------------------------------- leases */

static void lease_unlink(struct direct_lease *l)
{
    struct direct_peer *p = l->peer;

    if (p == NULL)
        return;
    if (l->prev)
        l->prev->next = l->next;
    else
        p->leases = l->next;
    if (l->next)
        l->next->prev = l->prev;
    l->next = l->prev = NULL;
    l->peer = NULL;
    p->nleases--;
}

/* The lease's instance is no longer the worker's. */
static struct hot_instance *lease_release(struct direct_lease *l)
{
    struct hot_instance *in = l->in;
    struct direct *d = l->d;

    if (in == NULL)
        return NULL;
    l->in = NULL;
    if (--d->held == 0 && d->on_empty != NULL)
        d->on_empty(d->empty_arg);
    return in;
}

static void lease_free(struct direct_lease *l)
{
    lease_unlink(l);
    free(l->reply.body);
    free(l->reply.log);
    free(l);
}

static void on_revoke(struct hot_instance *in, void *arg)
{
    struct direct_lease *l = arg;

    (void)in;
    if (l->peer != NULL)
        peer_sendf(l->peer, -1, "revoke %s", l->id);
}

static void on_gone(struct hot_instance *in, void *arg)
{
    struct direct_lease *l = arg;

    (void)in;
    if (l->peer != NULL)
        peer_sendf(l->peer, -1, "gone %s", l->id);
    lease_release(l);
    lease_free(l);
}

static const struct hot_lease_ops lease_ops = { on_revoke, on_gone };

/* The lease's "call" is over: an instance, or why there is none. */
static void on_lease_done(struct call_reply *r)
{
    struct direct_lease *l = (struct direct_lease *)
        ((char *)r - offsetof(struct direct_lease, reply));
    struct direct_peer *p = l->peer;
    struct hot_instance *in = r->instance;
    int fd;

    if (r->status == 200 && in != NULL) {
        if (p == NULL || p->closing) {
            hot_lease_end(in, "its nginx worker went away");
            lease_free(l);
            return;
        }
        fd = hot_lease_fd(in);
        if (fd < 0) {
            hot_lease_end(in, "cannot pass its socket");
            peer_sendf(p, -1, "deny %s 500 {\"error\":{\"message\":"
                       "\"cannot pass the instance's socket\"}}", l->id);
            lease_free(l);
            return;
        }
        /* held first: if the grant cannot be sent, the worker is
         * dropped and its leases end, this one too, whatever the
         * instance does meanwhile (a revoke that comes at once reaches
         * the worker before the grant: it keeps it for when it comes) */
        l->in = in;
        l->d->held++;
        hot_lease_hold(in, &lease_ops, l);
        peer_sendf(p, fd, "grant %s %s %llu", l->id, hot_lease_sandbox(in),
                   (unsigned long long)p->d->calls->cfg->max_response_body);
        return;
    }
    if (p != NULL)
        peer_sendf(p, -1, "deny %s %d %.*s", l->id,
                   r->status != 0 ? r->status : 500,
                   r->body != NULL ? (int)r->body_len : 0,
                   r->body != NULL ? r->body : "");
    lease_free(l);
}

static struct direct_lease *lease_find(struct direct_peer *p, const char *id)
{
    struct direct_lease *l;

    for (l = p->leases; l != NULL; l = l->next) {
        if (strcmp(l->id, id) == 0)
            return l;
    }
    return NULL;
}

/* "lease\n" and a call's head. */
static void on_lease(struct direct_peer *p, const char *head, size_t len)
{
    struct request_parser rp;
    struct direct_lease *l;
    const char *id;
    size_t used;

    request_parser_init(&rp, DIRECT_MSG_MAX, 0);
    used = request_parser_feed(&rp, head, len);
    if (!rp.complete || used != len || rp.req.body_len != 0) {
        request_parser_free(&rp);
        peer_drop(p, "a lease that is not one request head");
        return;
    }
    id = http_request_header(&rp.req, "Fn-Call-Id");
    if (id == NULL || !call_id_valid(id) || lease_find(p, id) != NULL
        || p->nleases >= DIRECT_LEASES_MAX) {
        request_parser_free(&rp);
        peer_drop(p, "a lease without a new ULID, or too many");
        return;
    }
    l = calloc(1, sizeof(*l));
    if (l == NULL) {
        request_parser_free(&rp);
        peer_drop(p, "out of memory");
        return;
    }
    memcpy(l->id, id, ULID_LEN + 1);
    l->d = p->d;
    l->reply.lease = 1;
    l->reply.done = on_lease_done;
    l->peer = p;
    l->next = p->leases;
    if (p->leases)
        p->leases->prev = l;
    p->leases = l;
    p->nleases++;
    /* its answer may come before this returns */
    call_start(p->d->calls, NULL, &rp.req, &l->reply);
    request_parser_free(&rp);
}

/* "free <id>" and "kill <id> <reason>". */
static void on_end(struct direct_peer *p, const char *rest, int kill)
{
    char id[ULID_LEN + 1], why[128];
    const char *reason = NULL;
    struct direct_lease *l;
    struct hot_instance *in;
    size_t i;

    if (strlen(rest) < ULID_LEN || (rest[ULID_LEN] != '\0'
                                    && rest[ULID_LEN] != ' ')) {
        peer_drop(p, "a lease id that is not one");
        return;
    }
    memcpy(id, rest, ULID_LEN);
    id[ULID_LEN] = '\0';
    l = lease_find(p, id);
    if (l == NULL || l->in == NULL)
        return;     /* gone meanwhile, or not granted yet: nothing to do */
    if (kill) {
        reason = rest[ULID_LEN] == ' ' ? rest + ULID_LEN + 1 : "";
        snprintf(why, sizeof(why), "nginx: %s", reason);
        for (i = 0; why[i] != '\0'; i++) {
            if ((unsigned char)why[i] < 0x20 || why[i] == 0x7f)
                why[i] = '?';
        }
    }
    in = lease_release(l);
    lease_free(l);
    hot_lease_end(in, kill ? why : NULL);
}

static void on_message(struct direct_peer *p, char *msg, size_t len)
{
    msg[len] = '\0';
    if (len >= 6 && memcmp(msg, "lease\n", 6) == 0)
        on_lease(p, msg + 6, len - 6);
    else if (len > 5 && memcmp(msg, "free ", 5) == 0 && memchr(msg, 0, len)
             == NULL)
        on_end(p, msg + 5, 0);
    else if (len > 5 && memcmp(msg, "kill ", 5) == 0
             && memchr(msg, 0, len) == NULL)
        on_end(p, msg + 5, 1);
    else
        peer_drop(p, "a message that is not of the protocol");
}

/* -------------------------------------------------------------- workers */

static void on_peer_closed(uv_handle_t *h)
{
    struct direct_peer *p = h->data;
    struct direct_lease *l;
    struct direct_msg *m;
    struct hot_instance *in;

    while ((l = p->leases) != NULL) {
        in = lease_release(l);
        lease_unlink(l);        /* l->peer is NULL from here on */
        if (in != NULL) {
            lease_free(l);
            hot_lease_end(in, "its nginx worker went away");
        }
        /* else the lease is still being served: on_lease_done frees it */
    }
    while ((m = p->qhead) != NULL) {
        p->qhead = m->next;
        if (m->fd >= 0)
            close(m->fd);
        free(m);
    }
    close(p->fd);
    free(p);
}

/*
 * Takes the worker away: at once from the list, its leases once its
 * handle is closed (the next turn of the loop: the caller may be deep
 * in hot.c).
 */
static void peer_drop(struct direct_peer *p, const char *why)
{
    struct direct *d = p->d;
    struct log_record r;

    if (p->closing)
        return;
    p->closing = 1;
    if (why != NULL && log_begin(&r, LOG_LEVEL_WARN,
                                 "nginx worker dropped from direct dispatch")) {
        log_str(&r, "reason", why);
        log_int(&r, "leases", (long long)p->nleases);
        log_end(&r);
    }
    if (p->prev)
        p->prev->next = p->next;
    else
        d->peers = p->next;
    if (p->next)
        p->next->prev = p->prev;
    p->poll.data = p;
    uv_close((uv_handle_t *)&p->poll, on_peer_closed);
}

static void on_peer(uv_poll_t *h, int status, int events)
{
    struct direct_peer *p = h->data;
    char cbuf[CMSG_SPACE(16 * sizeof(int))];
    struct msghdr msg = { 0 };
    struct iovec iov = { rbuf, DIRECT_MSG_MAX };
    struct cmsghdr *cm;
    ssize_t n;
    int i, nfd, fds[16], fds_came = 0;

    if (status < 0) {
        peer_drop(p, uv_strerror(status));
        return;
    }
    if (events & UV_WRITABLE) {
        peer_flush(p);
        if (p->closing)
            return;
    }
    if (!(events & UV_READABLE))
        return;
    /* a few at a turn: others wait their turn on the loop */
    for (i = 0; i < 64 && !p->closing; i++) {
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cbuf;
        msg.msg_controllen = sizeof(cbuf);
        msg.msg_flags = 0;
        n = recvmsg(p->fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        /* nginx sends no descriptors: any that came are closed */
        for (cm = CMSG_FIRSTHDR(&msg); n >= 0 && cm != NULL;
             cm = CMSG_NXTHDR(&msg, cm)) {
            if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
                continue;
            nfd = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
            memcpy(fds, CMSG_DATA(cm), (size_t)nfd * sizeof(int));
            while (nfd-- > 0)
                close(fds[nfd]);
            fds_came = 1;
        }
        if (n < 0) {
            peer_drop(p, strerror(errno));
            return;
        }
        if (n == 0) {
            peer_drop(p, NULL);     /* the worker ended: its leases too */
            return;
        }
        if (fds_came || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
            peer_drop(p, "a message too large, or with descriptors");
            return;
        }
        on_message(p, rbuf, (size_t)n);
    }
}

static void on_accept(uv_poll_t *h, int status, int events)
{
    struct direct *d = h->data;
    struct direct_peer *p;
    int fd;

    (void)events;
    if (status < 0)
        return;
    while ((fd = accept4(d->fd, NULL, NULL,
                         SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
        p = calloc(1, sizeof(*p));
        if (p == NULL || uv_poll_init(d->loop, &p->poll, fd) < 0) {
            log_msg(LOG_LEVEL_ERROR, "cannot take a direct dispatch "
                    "connection", "out of memory");
            free(p);
            close(fd);
            continue;
        }
        p->d = d;
        p->fd = fd;
        p->poll.data = p;
        p->next = d->peers;
        if (d->peers)
            d->peers->prev = p;
        d->peers = p;
        peer_events(p);
    }
}

/* ------------------------------------------------------------ listener */

int direct_start(struct direct **out, uv_loop_t *loop, struct calls *calls,
                 const struct config *cfg, char *err, size_t errlen)
{
    struct sockaddr_un sun;
    struct direct *d;
    struct stat st;
    size_t len = strlen(cfg->direct_listen);

    *out = NULL;
    if (len >= sizeof(sun.sun_path))
        return errf(err, errlen, "direct_listen is too long");
    if (unix_socket_clear_stale(cfg->direct_listen, SOCK_SEQPACKET, err,
                                  errlen) < 0)
        return -1;
    d = calloc(1, sizeof(*d));
    if (d == NULL)
        return errf(err, errlen, "out of memory");
    d->loop = loop;
    d->calls = calls;
    memcpy(d->path, cfg->direct_listen, len + 1);
    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    memcpy(sun.sun_path, cfg->direct_listen, len);
    d->fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC,
                   0);
    if (d->fd < 0 || bind(d->fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
        errf(err, errlen, "cannot bind %s: %s", cfg->direct_listen,
             strerror(errno));
        goto failed;
    }
    if (stat(d->path, &st) == 0) {
        d->dev = st.st_dev;
        d->ino = st.st_ino;
    }
    if (unix_socket_access(d->path, cfg, err, errlen) < 0)
        goto failed;
    if (listen(d->fd, 128) < 0 || uv_poll_init(loop, &d->poll, d->fd) < 0) {
        errf(err, errlen, "cannot listen on %s: %s", cfg->direct_listen,
             strerror(errno));
        goto failed;
    }
    d->poll.data = d;
    d->listening = 1;
    uv_poll_start(&d->poll, UV_READABLE, on_accept);
    *out = d;
    return 0;

failed:
    if (d->fd >= 0) {
        close(d->fd);
        unlink(d->path);
    }
    free(d);
    return -1;
}

static void on_listener_closed(uv_handle_t *h)
{
    struct direct *d = h->data;

    close(d->fd);
    d->fd = -1;
}

void direct_stop_listening(struct direct *d)
{
    struct stat st;

    if (d == NULL || !d->listening)
        return;
    d->listening = 0;
    if (stat(d->path, &st) == 0 && st.st_dev == d->dev
        && st.st_ino == d->ino)
        unlink(d->path);
    uv_close((uv_handle_t *)&d->poll, on_listener_closed);
}

size_t direct_held(const struct direct *d)
{
    return d != NULL ? d->held : 0;
}

void direct_on_empty(struct direct *d, void (*cb)(void *arg), void *arg)
{
    if (d == NULL)
        return;
    d->on_empty = cb;
    d->empty_arg = arg;
}

void direct_close_all(struct direct *d)
{
    if (d == NULL)
        return;
    direct_stop_listening(d);
    while (d->peers != NULL)
        peer_drop(d->peers, NULL);
}
