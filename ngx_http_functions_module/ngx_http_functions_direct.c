
/*
 * Direct dispatch: each worker holds one SOCK_SEQPACKET connection to the
 * executor's direct_listen, leases hot instances of http-format routes
 * there, and writes calls to an idle one itself: the executor is out of
 * the data path, and keeps the instances' lifecycle (start, limits,
 * capacity, stop).  What the executor does to a call and its answer on
 * its own path is done here (docs/direct.md):
 *
 * - the request is the http format's (the method and URI, the client's
 *   headers but the hop-by-hop ones, Fn-Call-Id, Fn-Request-Url,
 *   Fn-Method, Fn-Deadline, Fn-App-Name, Fn-Path);
 * - of the answer's headers only valid ones that are not the platform's
 *   (framing, hop-by-hop, X-Accel-*, Fn-*) reach the client, the route's
 *   own are added, and one without a type gets text or octets by its
 *   bytes;
 * - an answer longer than the executor's max_response_body is a 502;
 * - the route's timeout counts from the call's start: then 504;
 * - an instance whose call did not end cleanly (timeout, a bad or
 *   unfinished answer, bytes nobody asked for, the client gone) is
 *   killed; one idle for a while, or asked back, is given back.
 *
 * A call that finds no idle instance goes to the executor as before, and
 * the worker asks for a lease (one at a time per route) for the next.
 */


#include "ngx_http_functions_module.h"
#include "ngx_http_functions_ctx.h"
#include "ngx_http_functions_direct.h"
#include "ngx_http_functions_headers.h"
#include "ngx_http_functions_log.h"

#include "route_def.h"

#include <jansson.h>
#include <sys/socket.h>
#include <sys/un.h>


#define NGX_HTTP_FUNCTIONS_DIRECT_MSG_MAX     65536
#define NGX_HTTP_FUNCTIONS_DIRECT_QUEUE_MAX   4096
#define NGX_HTTP_FUNCTIONS_DIRECT_ROUTES_MAX  1024
/* leases a worker holds for one route */
#define NGX_HTTP_FUNCTIONS_DIRECT_LEASES_MAX  64
/* a lease goes back after its call once it is this old (the executor
 * then sees the route's image again: a tag may have moved) */
#define NGX_HTTP_FUNCTIONS_DIRECT_AGE         60000
/* an idle lease is given back after this long */
#define NGX_HTTP_FUNCTIONS_DIRECT_IDLE        10000
/* a reconnect, or a lease after a refusal, waits this long */
#define NGX_HTTP_FUNCTIONS_DIRECT_RETRY       1000


typedef struct ngx_http_functions_direct_route_s
    ngx_http_functions_direct_route_t;


struct ngx_http_functions_direct_lease_s {
    ngx_queue_t                          queue;     /* route->idle, when
                                                     * idle */
    ngx_queue_t                          all;       /* every lease */
    ngx_http_functions_direct_route_t   *route;
    ngx_connection_t                    *conn;      /* granted: the
                                                     * instance's socket */
    ngx_event_t                          idle;      /* given back then */
    u_char                               id[ULID_LEN];
    u_char                               name_data[sizeof("direct:") - 1
                                                   + ULID_LEN];
    ngx_str_t                            name;      /* $upstream_addr */
    ngx_msec_t                           granted_at;
    unsigned                             granted:1;
    unsigned                             busy:1;
    unsigned                             revoked:1; /* give it back */
    unsigned                             gone:1;    /* it ended */
};


struct ngx_http_functions_direct_route_s {
    ngx_queue_t                          queue;     /* in its bucket */
    uint32_t                             hash;      /* crc32 of json */
    ngx_str_t                            json;      /* as in Fn-Route */
    ngx_queue_t                          idle;      /* leases */
    ngx_uint_t                           leases;    /* idle, busy, asked */
    ngx_uint_t                           asking;    /* asked, not granted */
    ngx_msec_t                           retry_at;  /* no lease before */
    ngx_msec_t                           timeout;
    ngx_str_t                            app;
    ngx_str_t                            path;
    ngx_keyval_t                        *headers;   /* the route's */
    ngx_uint_t                           nheaders;
    u_char                              *strings;   /* app, path */
    ngx_uint_t                           has_type;  /* Content-Type among
                                                     * them */
    ngx_uint_t                           eligible;  /* format http */
};


typedef struct {
    ngx_queue_t                          queue;
    size_t                               len;
    u_char                               data[1];
} ngx_http_functions_direct_msg_t;


/* this worker's */
static ngx_str_t                 ngx_http_functions_direct_path;
static ngx_connection_t         *ngx_http_functions_direct_ctl;
static ngx_event_t               ngx_http_functions_direct_reconnect;
#define NGX_HTTP_FUNCTIONS_DIRECT_BUCKETS  256
static ngx_queue_t               ngx_http_functions_direct_routes[
                                     NGX_HTTP_FUNCTIONS_DIRECT_BUCKETS];
static ngx_uint_t                ngx_http_functions_direct_nroutes;
static ngx_queue_t               ngx_http_functions_direct_leases;
static ngx_queue_t               ngx_http_functions_direct_sendq;
static ngx_uint_t                ngx_http_functions_direct_nsend;
static off_t                     ngx_http_functions_direct_max_body;
static struct sockaddr_un        ngx_http_functions_direct_sun;
static u_char                    ngx_http_functions_direct_buf[
                                     NGX_HTTP_FUNCTIONS_DIRECT_MSG_MAX + 1];


static void ngx_http_functions_direct_connect(ngx_event_t *ev);
static void ngx_http_functions_direct_ctl_read(ngx_event_t *ev);
static void ngx_http_functions_direct_ctl_write(ngx_event_t *ev);
static void ngx_http_functions_direct_ctl_lost(const char *why);
static ngx_int_t ngx_http_functions_direct_send(u_char *data, size_t len);
static void ngx_http_functions_direct_message(u_char *msg, size_t len,
    ngx_socket_t fd);
static ngx_http_functions_direct_route_t *
    ngx_http_functions_direct_route(ngx_str_t *json, ngx_uint_t create);
static void ngx_http_functions_direct_ask(
    ngx_http_functions_direct_route_t *rt);
static void ngx_http_functions_direct_end(
    ngx_http_functions_direct_lease_t *l, const char *kill);
static void ngx_http_functions_direct_close(ngx_connection_t *c);
static ssize_t ngx_http_functions_direct_recv(ngx_connection_t *c, u_char *buf,
    size_t size);
static void ngx_http_functions_direct_idle_read(ngx_event_t *ev);
static void ngx_http_functions_direct_idle_timeout(ngx_event_t *ev);
static void ngx_http_functions_direct_call_timeout(ngx_event_t *ev);
static ngx_chain_t *ngx_http_functions_direct_request(ngx_http_request_t *r,
    ngx_http_functions_ctx_t *ctx, ngx_http_functions_direct_route_t *rt,
    ngx_chain_t *body);
static ngx_uint_t ngx_http_functions_direct_drop(ngx_table_elt_t *h);
static ngx_int_t ngx_http_functions_direct_refuse(ngx_http_request_t *r,
    ngx_http_functions_direct_call_t *dc, const char *why);
static ngx_uint_t ngx_http_functions_direct_utf8(u_char *p, size_t n,
    ngx_uint_t whole);
static void ngx_http_functions_direct_dummy(ngx_event_t *ev);


char *
ngx_http_functions_direct(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_functions_main_conf_t *fmcf = conf;

    ngx_str_t  *value;

    if (fmcf->direct.len) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].data[0] != '/'
        || value[1].len >= sizeof(ngx_http_functions_direct_sun.sun_path))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "functions_direct: \"%V\" is not an absolute "
                           "socket path shorter than 108 bytes", &value[1]);
        return NGX_CONF_ERROR;
    }

    fmcf->direct = value[1];

    return NGX_CONF_OK;
}


/* ------------------------------------------------- the executor's socket */

ngx_int_t
ngx_http_functions_direct_init_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                       i;
    ngx_http_functions_main_conf_t  *fmcf;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    fmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_functions_module);

    if (fmcf == NULL || fmcf->direct.len == 0) {
        return NGX_OK;
    }

    ngx_http_functions_direct_path = fmcf->direct;

    ngx_memzero(&ngx_http_functions_direct_sun,
                sizeof(struct sockaddr_un));
    ngx_http_functions_direct_sun.sun_family = AF_UNIX;
    ngx_memcpy(ngx_http_functions_direct_sun.sun_path, fmcf->direct.data,
               fmcf->direct.len);

    for (i = 0; i < NGX_HTTP_FUNCTIONS_DIRECT_BUCKETS; i++) {
        ngx_queue_init(&ngx_http_functions_direct_routes[i]);
    }

    ngx_queue_init(&ngx_http_functions_direct_leases);
    ngx_queue_init(&ngx_http_functions_direct_sendq);

    ngx_http_functions_direct_reconnect.handler =
                                          ngx_http_functions_direct_connect;
    ngx_http_functions_direct_reconnect.log = cycle->log;
    ngx_http_functions_direct_reconnect.data = NULL;
    ngx_http_functions_direct_reconnect.cancelable = 1;

    ngx_http_functions_direct_connect(&ngx_http_functions_direct_reconnect);

    return NGX_OK;
}


void
ngx_http_functions_direct_exit_process(ngx_cycle_t *cycle)
{
    ngx_queue_t                        *q;
    ngx_http_functions_direct_lease_t  *l;

    if (ngx_http_functions_direct_ctl == NULL) {
        return;
    }

    /* idle ones go back; the executor kills the others when the
     * connection closes (their calls end with this process) */

    q = ngx_queue_head(&ngx_http_functions_direct_leases);

    while (q != ngx_queue_sentinel(&ngx_http_functions_direct_leases)) {
        l = ngx_queue_data(q, ngx_http_functions_direct_lease_t, all);
        q = ngx_queue_next(q);

        if (l->conn && !l->busy) {
            ngx_http_functions_direct_end(l, NULL);
        }
    }

    ngx_close_connection(ngx_http_functions_direct_ctl);
    ngx_http_functions_direct_ctl = NULL;
}


static void
ngx_http_functions_direct_connect(ngx_event_t *ev)
{
    ngx_socket_t       s;
    ngx_connection_t  *c;

    if (ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    s = socket(AF_UNIX, SOCK_SEQPACKET|SOCK_NONBLOCK|SOCK_CLOEXEC, 0);

    if (s == (ngx_socket_t) -1) {
        goto retry;
    }

    if (connect(s, (struct sockaddr *) &ngx_http_functions_direct_sun,
                sizeof(struct sockaddr_un))
        == -1)
    {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ev->log, ngx_socket_errno,
                       "functions direct: connect() to %V failed",
                       &ngx_http_functions_direct_path);
        ngx_close_socket(s);
        goto retry;
    }

    c = ngx_get_connection(s, ev->log);
    if (c == NULL) {
        ngx_close_socket(s);
        goto retry;
    }

    c->read->handler = ngx_http_functions_direct_ctl_read;
    c->write->handler = ngx_http_functions_direct_ctl_write;
    c->log = ev->log;
    c->read->log = ev->log;
    c->write->log = ev->log;

    if (ngx_handle_read_event(c->read, 0) != NGX_OK) {
        ngx_close_connection(c);
        goto retry;
    }

    ngx_http_functions_direct_ctl = c;

    ngx_http_functions_log_msg(ev->log, NGX_LOG_INFO,
                               "direct dispatch connected", NULL);
    return;

retry:

    ngx_add_timer(&ngx_http_functions_direct_reconnect,
                  NGX_HTTP_FUNCTIONS_DIRECT_RETRY);
}


/* The connection is gone: so is every lease of it (the executor kills
 * their instances); the calls on busy ones end on their own. */

static void
ngx_http_functions_direct_ctl_lost(const char *why)
{
    ngx_queue_t                        *q;
    ngx_http_functions_direct_msg_t    *m;
    ngx_http_functions_direct_lease_t  *l;

    ngx_http_functions_log_msg(ngx_cycle->log, NGX_LOG_WARN,
                               "direct dispatch connection lost", why);

    ngx_close_connection(ngx_http_functions_direct_ctl);
    ngx_http_functions_direct_ctl = NULL;

    while (!ngx_queue_empty(&ngx_http_functions_direct_sendq)) {
        q = ngx_queue_head(&ngx_http_functions_direct_sendq);
        ngx_queue_remove(q);
        m = ngx_queue_data(q, ngx_http_functions_direct_msg_t, queue);
        ngx_free(m);
    }

    ngx_http_functions_direct_nsend = 0;

    q = ngx_queue_head(&ngx_http_functions_direct_leases);

    while (q != ngx_queue_sentinel(&ngx_http_functions_direct_leases)) {
        l = ngx_queue_data(q, ngx_http_functions_direct_lease_t, all);
        q = ngx_queue_next(q);

        l->gone = 1;    /* asked for ones are not coming either */

        if (!l->busy) {
            ngx_http_functions_direct_end(l, NULL);
        }
    }

    ngx_add_timer(&ngx_http_functions_direct_reconnect,
                  NGX_HTTP_FUNCTIONS_DIRECT_RETRY);
}


/*
 * A recvmsg() or send() on the executor's socket failed: NGX_OK to try
 * again (interrupted), NGX_AGAIN when ev is to be waited for, NGX_ERROR
 * when the connection is lost.
 */

static ngx_int_t
ngx_http_functions_direct_io_failed(ngx_event_t *ev)
{
    ngx_int_t  rc;
    ngx_err_t  err = ngx_socket_errno;

    if (err == NGX_EINTR) {
        return NGX_OK;
    }

    if (err == NGX_EAGAIN) {
        rc = ev->write ? ngx_handle_write_event(ev, 0)
                       : ngx_handle_read_event(ev, 0);

        if (rc == NGX_OK) {
            return NGX_AGAIN;
        }

        ngx_http_functions_direct_ctl_lost("cannot wait");
        return NGX_ERROR;
    }

    ngx_http_functions_direct_ctl_lost(strerror(err));
    return NGX_ERROR;
}


static void
ngx_http_functions_direct_ctl_read(ngx_event_t *ev)
{
    int                one;
    size_t             extra;
    ssize_t            n;
    ngx_socket_t       fd;
    struct iovec       iov;
    struct msghdr      msg;
    struct cmsghdr    *cm;
    ngx_connection_t  *c = ev->data;
    union {
        struct cmsghdr  cm;
        u_char          space[CMSG_SPACE(4 * sizeof(int))];
    } cmsg;

    for ( ;; ) {
        if (ngx_http_functions_direct_ctl != c) {
            return;     /* lost while handling a message */
        }

        iov.iov_base = ngx_http_functions_direct_buf;
        iov.iov_len = NGX_HTTP_FUNCTIONS_DIRECT_MSG_MAX;

        ngx_memzero(&msg, sizeof(struct msghdr));
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = &cmsg;
        msg.msg_controllen = sizeof(cmsg);

        n = recvmsg(c->fd, &msg, MSG_CMSG_CLOEXEC);

        if (n == -1) {
            if (ngx_http_functions_direct_io_failed(c->read) == NGX_OK) {
                continue;
            }

            return;
        }

        fd = (ngx_socket_t) -1;

        for (cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
            if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
            {
                continue;
            }

            /* one descriptor, with a grant; any other is closed */
            for (extra = 0;
                 CMSG_LEN((extra + 1) * sizeof(int)) <= cm->cmsg_len;
                 extra++)
            {
                ngx_memcpy(&one, CMSG_DATA(cm) + extra * sizeof(int),
                           sizeof(int));

                if (fd == (ngx_socket_t) -1) {
                    fd = one;

                } else {
                    close(one);
                }
            }
        }

        if (n == 0) {
            ngx_http_functions_direct_ctl_lost("the executor closed it");
            return;
        }

        if (msg.msg_flags & (MSG_TRUNC|MSG_CTRUNC)) {
            if (fd != (ngx_socket_t) -1) {
                close(fd);
            }

            ngx_http_functions_direct_ctl_lost("a message too large");
            return;
        }

        ngx_http_functions_direct_buf[n] = '\0';
        ngx_http_functions_direct_message(ngx_http_functions_direct_buf,
                                          (size_t) n, fd);
    }
}


static void
ngx_http_functions_direct_ctl_write(ngx_event_t *ev)
{
    ssize_t                           n;
    ngx_queue_t                      *q;
    ngx_connection_t                 *c = ev->data;
    ngx_http_functions_direct_msg_t  *m;

    while (!ngx_queue_empty(&ngx_http_functions_direct_sendq)) {
        q = ngx_queue_head(&ngx_http_functions_direct_sendq);
        m = ngx_queue_data(q, ngx_http_functions_direct_msg_t, queue);

        n = send(c->fd, m->data, m->len, MSG_NOSIGNAL);

        if (n == -1) {
            if (ngx_http_functions_direct_io_failed(c->write) == NGX_OK) {
                continue;
            }

            return;
        }

        ngx_queue_remove(q);
        ngx_http_functions_direct_nsend--;
        ngx_free(m);
    }
}


/* Sends a message, now or in order after those waiting.  NGX_ERROR: not
 * connected, or it cannot be kept. */

static ngx_int_t
ngx_http_functions_direct_send(u_char *data, size_t len)
{
    ssize_t                           n;
    ngx_connection_t                 *c = ngx_http_functions_direct_ctl;
    ngx_http_functions_direct_msg_t  *m;

    if (c == NULL) {
        return NGX_ERROR;
    }

    if (ngx_queue_empty(&ngx_http_functions_direct_sendq)) {
        n = send(c->fd, data, len, MSG_NOSIGNAL);

        if (n == (ssize_t) len) {
            return NGX_OK;
        }

        if (n == -1 && ngx_socket_errno != NGX_EAGAIN) {
            ngx_http_functions_direct_ctl_lost(strerror(ngx_socket_errno));
            return NGX_ERROR;
        }
    }

    if (ngx_http_functions_direct_nsend
        >= NGX_HTTP_FUNCTIONS_DIRECT_QUEUE_MAX)
    {
        ngx_http_functions_direct_ctl_lost("the executor reads nothing");
        return NGX_ERROR;
    }

    m = ngx_alloc(sizeof(ngx_http_functions_direct_msg_t) + len,
                  ngx_cycle->log);
    if (m == NULL) {
        return NGX_ERROR;
    }

    m->len = len;
    ngx_memcpy(m->data, data, len);
    ngx_queue_insert_tail(&ngx_http_functions_direct_sendq, &m->queue);
    ngx_http_functions_direct_nsend++;

    if (ngx_handle_write_event(c->write, 0) != NGX_OK) {
        ngx_http_functions_direct_ctl_lost("cannot wait");
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* ------------------------------------------------------------- messages */

static ngx_http_functions_direct_lease_t *
ngx_http_functions_direct_find(u_char *id)
{
    ngx_queue_t                        *q;
    ngx_http_functions_direct_lease_t  *l;

    for (q = ngx_queue_head(&ngx_http_functions_direct_leases);
         q != ngx_queue_sentinel(&ngx_http_functions_direct_leases);
         q = ngx_queue_next(q))
    {
        l = ngx_queue_data(q, ngx_http_functions_direct_lease_t, all);

        if (ngx_memcmp(l->id, id, ULID_LEN) == 0) {
            return l;
        }
    }

    return NULL;
}


/* "grant <id> <sandbox>" (with fd), "deny <id> <status> <body>",
 * "revoke <id>", "gone <id>" */

static void
ngx_http_functions_direct_message(u_char *msg, size_t len, ngx_socket_t fd)
{
    off_t                               max;
    u_char                             *id, *p;
    u_char                              out[ULID_LEN + 64];
    ngx_uint_t                          kind;
    ngx_connection_t                   *c;
    ngx_http_functions_direct_lease_t  *l;

    p = ngx_strlchr(msg, msg + len, ' ');

    if (p == NULL || (size_t) (msg + len - (p + 1)) < ULID_LEN) {
        goto bad;
    }

    id = p + 1;

    if (p - msg == 5 && ngx_strncmp(msg, "grant", 5) == 0) {
        kind = 0;

    } else if (p - msg == 4 && ngx_strncmp(msg, "deny", 4) == 0) {
        kind = 1;

    } else if (p - msg == 6 && ngx_strncmp(msg, "revoke", 6) == 0) {
        kind = 2;

    } else if (p - msg == 4 && ngx_strncmp(msg, "gone", 4) == 0) {
        kind = 3;

    } else {
        goto bad;
    }

    if ((kind == 0) != (fd != (ngx_socket_t) -1)) {
        goto bad;
    }

    l = ngx_http_functions_direct_find(id);

    if (l == NULL) {
        if (fd != (ngx_socket_t) -1) {
            close(fd);
        }

        if (kind == 0 || kind == 2) {
            /* a lease this worker does not know (it ended here after a
             * failure): the executor is not to wait for it */
            p = ngx_snprintf(out, sizeof(out), "kill %*s not held here",
                             (size_t) ULID_LEN, id);
            (void) ngx_http_functions_direct_send(out, p - out);
        }

        return;
    }

    switch (kind) {

    case 0: /* grant */

        if (l->conn) {
            goto bad;
        }

        /* "grant <id> <sandbox> <max_response_body>" */
        p = ngx_strlchr(id + ULID_LEN + 1, msg + len, ' ');
        max = p ? ngx_atoof(p + 1, msg + len - (p + 1)) : NGX_ERROR;

        if (max <= 0) {
            goto bad;
        }

        ngx_http_functions_direct_max_body = max;
        l->granted = 1;
        l->route->asking--;

        c = ngx_get_connection(fd, ngx_cycle->log);
        if (c == NULL) {
            close(fd);
            ngx_http_functions_direct_end(l, "no connection for it");
            return;
        }

        if (ngx_nonblocking(fd) == -1) {
            l->conn = c;
            ngx_http_functions_direct_end(l, "cannot use its socket");
            return;
        }

        l->conn = c;
        c->data = l;
        c->idle = 1;
        c->type = SOCK_STREAM;
        c->tcp_nodelay = NGX_TCP_NODELAY_DISABLED;  /* a Unix socket */
        c->recv = ngx_http_functions_direct_recv;
        c->send = ngx_send;
        c->recv_chain = ngx_recv_chain;
        c->send_chain = ngx_send_chain;
        c->read->handler = ngx_http_functions_direct_idle_read;
        c->write->handler = ngx_http_functions_direct_dummy;
        c->log = ngx_cycle->log;
        c->read->log = c->log;
        c->write->log = c->log;

        if (ngx_handle_read_event(c->read, 0) != NGX_OK) {
            ngx_http_functions_direct_end(l, "cannot wait on its socket");
            return;
        }

        l->granted_at = ngx_current_msec;

        if (l->revoked) {
            /* asked back before it came */
            l->busy = 1;
            ngx_http_functions_direct_end(l, NULL);
            return;
        }

        ngx_queue_insert_head(&l->route->idle, &l->queue);
        ngx_add_timer(&l->idle, NGX_HTTP_FUNCTIONS_DIRECT_IDLE);

        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                       "functions direct: lease %*s granted",
                       (size_t) ULID_LEN, id);
        return;

    case 1: /* deny */

        if (l->conn) {
            goto bad;
        }

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                       "functions direct: lease denied: %s", id);

        l->route->retry_at = ngx_current_msec
                             + NGX_HTTP_FUNCTIONS_DIRECT_RETRY;
        ngx_http_functions_direct_end(l, NULL);
        return;

    case 2: /* revoke */

        if (l->busy || l->conn == NULL) {
            l->revoked = 1;     /* once its call is over, or it comes */

        } else if (l->conn) {
            ngx_http_functions_direct_end(l, NULL);
        }

        return;

    default: /* gone */

        l->gone = 1;

        if (!l->busy) {
            ngx_http_functions_direct_end(l, NULL);
        }

        return;
    }

bad:

    if (fd != (ngx_socket_t) -1) {
        close(fd);
    }

    ngx_http_functions_direct_ctl_lost("a message that is not of the "
                                       "protocol");
}


/*
 * A lease ends: given back ("free"), killed ("kill <reason>"), or, not
 * granted, gone or never held, just forgotten.  Its connection closes.
 */

static void
ngx_http_functions_direct_end(ngx_http_functions_direct_lease_t *l,
    const char *kill)
{
    u_char                             *p;
    u_char                              msg[ULID_LEN + 128];
    ngx_http_functions_direct_route_t  *rt = l->route;

    if (l->granted && !l->gone && ngx_http_functions_direct_ctl) {
        p = kill ? ngx_snprintf(msg, sizeof(msg), "kill %*s %s",
                                (size_t) ULID_LEN, l->id, kill)
                 : ngx_snprintf(msg, sizeof(msg), "free %*s",
                                (size_t) ULID_LEN, l->id);

        /* lost: the executor ends them all */
        (void) ngx_http_functions_direct_send(msg, p - msg);
    }

    if (l->conn) {
        if (!l->busy) {
            ngx_queue_remove(&l->queue);
        }

        ngx_http_functions_direct_close(l->conn);
        l->conn = NULL;
    }

    if (l->idle.timer_set) {
        ngx_del_timer(&l->idle);
    }

    if (!l->granted) {
        rt->asking--;
    }

    ngx_queue_remove(&l->all);
    ngx_free(l);

    rt->leases--;
}


/*
 * Closes an instance's socket.  The executor holds the same open file: a
 * close() alone would leave it in epoll (the kernel drops it only with
 * the file's last descriptor), where it would wake this worker for a
 * connection long gone, and refuse the descriptor number the next time
 * it comes.  So it leaves epoll first, explicitly.
 */

static void
ngx_http_functions_direct_close(ngx_connection_t *c)
{
    if (c->read->active || c->write->active) {
        if (ngx_del_conn) {
            ngx_del_conn(c, 0);

        } else {
            if (c->read->active) {
                ngx_del_event(c->read, NGX_READ_EVENT, 0);
            }

            if (c->write->active) {
                ngx_del_event(c->write, NGX_WRITE_EVENT, 0);
            }
        }
    }

    if (c->pool) {
        ngx_destroy_pool(c->pool);
    }

    ngx_close_connection(c);
}


/* An idle instance wrote, or closed: it serves no more calls.  Or nginx
 * exits: it goes back. */

static void
ngx_http_functions_direct_idle_read(ngx_event_t *ev)
{
    ngx_connection_t                   *c = ev->data;
    ngx_http_functions_direct_lease_t  *l = c->data;

    if (c->close) {
        /* the worker is exiting (nginx closes its idle connections) */
        ngx_http_functions_direct_end(l, NULL);
        return;
    }

    ngx_http_functions_direct_end(l, "it wrote between calls");
}


static void
ngx_http_functions_direct_idle_timeout(ngx_event_t *ev)
{
    ngx_http_functions_direct_lease_t  *l = ev->data;

    if (!l->busy) {
        ngx_http_functions_direct_end(l, NULL);
    }
}


static void
ngx_http_functions_direct_dummy(ngx_event_t *ev)
{
}


/* Asks for one more instance of rt. */

static void
ngx_http_functions_direct_ask(ngx_http_functions_direct_route_t *rt)
{
    u_char                             *p, *msg;
    size_t                              len;
    ngx_http_functions_direct_lease_t  *l;

    len = sizeof("lease\nPOST /call HTTP/1.1\r\nHost: executor\r\n"
                 "Fn-Call-Id: \r\nFn-Method: POST\r\n"
                 "Fn-Request-Url: http://lease/\r\nFn-Route: \r\n"
                 "Content-Length: 0\r\n\r\n") - 1
          + ULID_LEN + rt->json.len;

    if (len > NGX_HTTP_FUNCTIONS_DIRECT_MSG_MAX) {
        rt->eligible = 0;
        return;
    }

    l = ngx_calloc(sizeof(ngx_http_functions_direct_lease_t),
                   ngx_cycle->log);
    if (l == NULL) {
        return;
    }

    msg = ngx_alloc(len, ngx_cycle->log);
    if (msg == NULL) {
        ngx_free(l);
        return;
    }

    if (ngx_http_functions_new_id(l->id) != NGX_OK) {
        ngx_free(msg);
        ngx_free(l);
        return;
    }

    l->route = rt;
    l->idle.handler = ngx_http_functions_direct_idle_timeout;
    l->idle.data = l;
    l->idle.log = ngx_cycle->log;
    l->idle.cancelable = 1;
    l->name.data = l->name_data;
    l->name.len = ngx_sprintf(l->name_data, "direct:%*s", (size_t) ULID_LEN,
                              l->id)
                  - l->name_data;

    p = ngx_sprintf(msg, "lease\nPOST /call HTTP/1.1\r\nHost: executor\r\n"
                    "Fn-Call-Id: %*s\r\nFn-Method: POST\r\n"
                    "Fn-Request-Url: http://lease/\r\nFn-Route: %V\r\n"
                    "Content-Length: 0\r\n\r\n", (size_t) ULID_LEN, l->id,
                    &rt->json);

    ngx_queue_insert_tail(&ngx_http_functions_direct_leases, &l->all);
    rt->leases++;
    rt->asking++;

    if (ngx_http_functions_direct_send(msg, p - msg) != NGX_OK) {
        ngx_free(msg);
        l->gone = 1;
        ngx_http_functions_direct_end(l, NULL);
        return;
    }

    ngx_free(msg);
}


/* ---------------------------------------------------------------- routes */

static void
ngx_http_functions_direct_route_free(ngx_http_functions_direct_route_t *rt)
{
    ngx_uint_t  i;

    for (i = 0; i < rt->nheaders; i++) {
        ngx_free(rt->headers[i].key.data);
    }

    if (rt->headers) {
        ngx_free(rt->headers);
    }

    if (rt->strings) {
        ngx_free(rt->strings);
    }

    ngx_queue_remove(&rt->queue);
    ngx_http_functions_direct_nroutes--;
    ngx_free(rt);
}


/* The parts of a route the direct path needs, from its JSON; eligible
 * only if all is there. */

static void
ngx_http_functions_direct_parse(ngx_http_functions_direct_route_t *rt)
{
    size_t         i, n;
    json_t        *root, *v, *app, *path, *vals, *one;
    const char    *name;
    ngx_keyval_t  *kv;

    root = json_loadb((char *) rt->json.data, rt->json.len, 0, NULL);
    if (root == NULL) {
        return;
    }

    v = json_object_get(root, "format");
    app = json_object_get(root, "app");
    path = json_object_get(root, "path");

    if (!json_is_string(v) || ngx_strcmp(json_string_value(v), "http") != 0
        || !json_is_string(app) || !json_is_string(path))
    {
        goto done;
    }

    v = json_object_get(root, "timeout");
    rt->timeout = (json_is_integer(v) && json_integer_value(v) > 0
                   && json_integer_value(v) <= 3600)
                  ? (ngx_msec_t) json_integer_value(v) * 1000 : 30000;

    rt->app.len = json_string_length(app);
    rt->path.len = json_string_length(path);
    rt->strings = ngx_alloc(rt->app.len + rt->path.len + 1, ngx_cycle->log);
    if (rt->strings == NULL) {
        goto done;
    }

    rt->app.data = rt->strings;
    ngx_memcpy(rt->app.data, json_string_value(app), rt->app.len);
    rt->path.data = rt->strings + rt->app.len;
    ngx_memcpy(rt->path.data, json_string_value(path), rt->path.len);

    vals = json_object_get(root, "headers");
    n = 0;

    if (json_is_object(vals)) {
        json_object_foreach(vals, name, v) {
            if (json_is_array(v)) {
                n += json_array_size(v);
            }
        }
    }

    if (n) {
        rt->headers = ngx_alloc(n * sizeof(ngx_keyval_t), ngx_cycle->log);
        if (rt->headers == NULL) {
            goto done;
        }

        json_object_foreach(vals, name, v) {
            if (!json_is_array(v)) {
                continue;
            }

            json_array_foreach(v, i, one) {

                /* the API checked them when the route was stored: checked
                 * again all the same, as the executor does */
                if (!json_is_string(one)
                    || !route_header_name_valid(name)
                    || route_header_reserved(name)
                    || !route_header_value_valid(json_string_value(one),
                                                 json_string_length(one)))
                {
                    continue;
                }

                kv = &rt->headers[rt->nheaders];

                kv->key.len = ngx_strlen(name);
                kv->value.len = json_string_length(one);
                kv->key.data = ngx_alloc(kv->key.len + kv->value.len + 2,
                                         ngx_cycle->log);
                if (kv->key.data == NULL) {
                    goto done;
                }

                ngx_memcpy(kv->key.data, name, kv->key.len + 1);
                kv->value.data = kv->key.data + kv->key.len + 1;
                ngx_memcpy(kv->value.data, json_string_value(one),
                           kv->value.len + 1);
                rt->nheaders++;

                if (kv->key.len == sizeof("Content-Type") - 1
                    && ngx_strcasecmp(kv->key.data,
                                      (u_char *) "content-type") == 0)
                {
                    rt->has_type = 1;
                }
            }
        }
    }

    rt->eligible = 1;

done:

    json_decref(root);
}


/* The route of json, made if create is set (and there is room: a route
 * with no lease goes to make it). */

static ngx_http_functions_direct_route_t *
ngx_http_functions_direct_route(ngx_str_t *json, ngx_uint_t create)
{
    uint32_t                            hash;
    ngx_uint_t                          i;
    ngx_queue_t                        *bucket, *q;
    ngx_http_functions_direct_route_t  *rt;

    hash = ngx_crc32_long(json->data, json->len);
    bucket = &ngx_http_functions_direct_routes[
                 hash % NGX_HTTP_FUNCTIONS_DIRECT_BUCKETS];

    for (q = ngx_queue_head(bucket);
         q != ngx_queue_sentinel(bucket);
         q = ngx_queue_next(q))
    {
        rt = ngx_queue_data(q, ngx_http_functions_direct_route_t, queue);

        if (rt->hash == hash && rt->json.len == json->len
            && ngx_memcmp(rt->json.data, json->data, json->len) == 0)
        {
            return rt;
        }
    }

    if (!create) {
        return NULL;
    }

    for (i = 0;
         ngx_http_functions_direct_nroutes
         >= NGX_HTTP_FUNCTIONS_DIRECT_ROUTES_MAX
         && i < NGX_HTTP_FUNCTIONS_DIRECT_BUCKETS;
         i++)
    {
        q = ngx_queue_head(&ngx_http_functions_direct_routes[i]);

        while (q != ngx_queue_sentinel(&ngx_http_functions_direct_routes[i]))
        {
            rt = ngx_queue_data(q, ngx_http_functions_direct_route_t, queue);
            q = ngx_queue_next(q);

            if (rt->leases == 0) {
                ngx_http_functions_direct_route_free(rt);
            }
        }
    }

    if (ngx_http_functions_direct_nroutes
        >= NGX_HTTP_FUNCTIONS_DIRECT_ROUTES_MAX)
    {
        return NULL;
    }

    rt = ngx_calloc(sizeof(ngx_http_functions_direct_route_t) + json->len,
                    ngx_cycle->log);
    if (rt == NULL) {
        return NULL;
    }

    rt->hash = hash;
    rt->json.data = (u_char *) rt + sizeof(ngx_http_functions_direct_route_t);
    rt->json.len = json->len;
    ngx_memcpy(rt->json.data, json->data, json->len);
    ngx_queue_init(&rt->idle);

    ngx_http_functions_direct_parse(rt);

    ngx_queue_insert_head(bucket, &rt->queue);
    ngx_http_functions_direct_nroutes++;

    return rt;
}


/* ------------------------------------------------------------------ calls */

ngx_int_t
ngx_http_functions_direct_get(ngx_http_request_t *r,
    ngx_peer_connection_t *pc, ngx_http_functions_direct_call_t **dcp)
{
    u_char                              peek;
    ngx_str_t                          *name;
    ngx_queue_t                        *q;
    ngx_chain_t                        *head;
    ngx_connection_t                   *c;
    ngx_http_upstream_t                *u = r->upstream;
    ngx_http_functions_ctx_t           *ctx;
    ngx_http_functions_direct_call_t   *dc;
    ngx_http_functions_direct_lease_t  *l;
    ngx_http_functions_direct_route_t  *rt;

    if (ngx_http_functions_direct_ctl == NULL || *dcp != NULL) {
        return NGX_DECLINED;    /* not connected; or a second try */
    }

    ctx = ngx_http_functions_ctx_find(r);

    if (ctx == NULL || !ctx->have_route || !ctx->route.found
        || r->request_body_no_buffering || u->request_bufs == NULL)
    {
        return NGX_DECLINED;
    }

    rt = ngx_http_functions_direct_route(&ctx->route.json, 1);

    if (rt == NULL || !rt->eligible) {
        return NGX_DECLINED;
    }

    for ( ;; ) {
        if (ngx_queue_empty(&rt->idle)) {
            if (rt->asking == 0
                && rt->leases < NGX_HTTP_FUNCTIONS_DIRECT_LEASES_MAX
                && (ngx_msec_int_t) (ngx_current_msec - rt->retry_at) >= 0
                && !ngx_exiting)
            {
                /* for the calls after this one */
                ngx_http_functions_direct_ask(rt);
            }

            return NGX_DECLINED;
        }

        q = ngx_queue_head(&rt->idle);
        l = ngx_queue_data(q, ngx_http_functions_direct_lease_t, queue);
        c = l->conn;

        if (!c->read->ready
            && recv(c->fd, &peek, 1, MSG_PEEK) == -1
            && ngx_socket_errno == NGX_EAGAIN)
        {
            break;
        }

        /* it wrote, or closed, since it was given back */
        ngx_http_functions_direct_end(l, "it wrote between calls");
    }

    dc = ngx_pcalloc(r->pool, sizeof(ngx_http_functions_direct_call_t));
    if (dc == NULL) {
        return NGX_ERROR;
    }

    head = ngx_http_functions_direct_request(r, ctx, rt, u->request_bufs->next);
    if (head == NULL) {
        return NGX_ERROR;
    }

    /* the request's own copy: $upstream_addr is read after the lease may
     * have ended */
    name = ngx_palloc(r->pool, sizeof(ngx_str_t));
    if (name == NULL) {
        return NGX_ERROR;
    }

    name->len = l->name.len;
    name->data = ngx_pstrdup(r->pool, &l->name);
    if (name->data == NULL) {
        return NGX_ERROR;
    }

    ngx_queue_remove(&l->queue);

    if (l->idle.timer_set) {
        ngx_del_timer(&l->idle);
    }

    l->busy = 1;
    dc->lease = l;
    dc->max_body = ngx_http_functions_direct_max_body;
    dc->exec_head = u->request_bufs;
    u->request_bufs = head;

    dc->timer.handler = ngx_http_functions_direct_call_timeout;
    dc->timer.data = r;
    dc->timer.log = r->connection->log;
    ngx_add_timer(&dc->timer, rt->timeout);

    c->idle = 0;
    c->data = NULL;
    c->read->handler = ngx_http_functions_direct_dummy;

    pc->connection = c;
    pc->cached = 0;
    pc->sockaddr = (struct sockaddr *) &ngx_http_functions_direct_sun;
    pc->socklen = sizeof(struct sockaddr_un);
    pc->name = name;

    *dcp = dc;
    ctx->direct = dc;

    return NGX_DONE;
}


/*
 * The route's timeout.  Before the function's head, the client gets the
 * executor's answer to a timeout (504, its JSON error: the next read
 * finds it, ngx_http_functions_direct_recv()); after it, the answer is
 * cut off, as nginx cuts one whose upstream times out.
 */

static void
ngx_http_functions_direct_call_timeout(ngx_event_t *ev)
{
    ngx_connection_t                  *c;
    ngx_http_request_t                *r = ev->data;
    ngx_http_upstream_t               *u = r->upstream;
    ngx_http_functions_ctx_t          *ctx;
    ngx_http_functions_direct_call_t  *dc;

    c = u->peer.connection;
    ctx = ngx_http_functions_ctx_find(r);
    dc = ctx ? ctx->direct : NULL;

    if (c == NULL || dc == NULL || dc->lease == NULL) {
        return;
    }

    ngx_log_error(NGX_LOG_INFO, ev->log, 0,
                  "functions direct: the function timed out");

    dc->timed_out = 1;

    if (u->header_sent) {
        c->read->timedout = 1;

    } else {
        c->read->ready = 1;
    }

    c->read->handler(c->read);
}


/*
 * Reads what the function wrote.  A call that ends before its answer's
 * head (the function exited, closed its output, or timed out) reads the
 * answer the executor would have given instead: one whole HTTP response,
 * 502 or 504 with the JSON error, after which the connection is dead.
 */

static ssize_t
ngx_http_functions_direct_recv(ngx_connection_t *c, u_char *buf, size_t size)
{
    u_char                            *p;
    size_t                             len;
    ssize_t                            n;
    const char                        *why;
    ngx_uint_t                         status;
    ngx_http_request_t                *r;
    ngx_http_upstream_t               *u;
    ngx_http_functions_ctx_t          *ctx;
    ngx_http_functions_direct_call_t  *dc;
    u_char                             body[256];

    r = c->data;
    u = r->upstream;
    ctx = ngx_http_functions_ctx_find(r);
    dc = ctx ? ctx->direct : NULL;

    if (dc == NULL || dc->lease == NULL || dc->synthetic || u->header_sent) {
        /* not this worker's doing, or the head is through: as nginx reads */
        return ngx_unix_recv(c, buf, size);
    }

    if (!dc->timed_out) {
        n = ngx_unix_recv(c, buf, size);

        if (n > 0) {
            dc->received += n;
            return n;
        }

        if (n == NGX_AGAIN || dc->received) {
            /* a head the function began and did not end: nginx's own
             * error (its parser has taken in those bytes, and an answer
             * written after them would be read as their continuation) */
            return n;
        }

        status = NGX_HTTP_BAD_GATEWAY;
        why = "function exited or closed its output during the call";

    } else if (dc->received) {
        return NGX_ERROR;   /* as above: the call fails, 502 */

    } else {
        status = NGX_HTTP_GATEWAY_TIME_OUT;
        why = NULL;
    }

    p = why ? ngx_snprintf(body, sizeof(body), "{\"error\":{\"message\":"
                           "\"%s\"},\"call_id\":\"%*s\"}", why,
                           (size_t) ULID_LEN, ctx->call_id)
            : ngx_snprintf(body, sizeof(body), "{\"error\":{\"message\":"
                           "\"function timed out after %M s\"},"
                           "\"call_id\":\"%*s\"}",
                           dc->lease->route->timeout / 1000,
                           (size_t) ULID_LEN, ctx->call_id);
    len = p - body;

    if (size < len + 128) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(buf, "HTTP/1.1 %ui Failed\r\nContent-Type: application/json"
                    "\r\nContent-Length: %uz\r\n\r\n%*s", status, len,
                    len, body);

    dc->synthetic = 1;
    c->read->eof = 0;
    c->read->error = 0;
    c->read->timedout = 0;

    return p - buf;
}


/*
 * The http format's request head, as the executor writes it
 * (executor/hot/hot_request.c), before the body.
 */

static ngx_uint_t
ngx_http_functions_direct_hop(ngx_table_elt_t *h)
{
    static ngx_str_t  names[] = {
        ngx_string("connection"), ngx_string("keep-alive"),
        ngx_string("proxy-connection"), ngx_string("transfer-encoding"),
        ngx_string("te"), ngx_string("trailer"), ngx_string("upgrade"),
        ngx_string("content-length"), ngx_string("host"),
        ngx_string("expect")
    };

    ngx_uint_t  i;

    if (h->key.len >= 3
        && ngx_strncasecmp(h->key.data, (u_char *) "fn-", 3) == 0)
    {
        return 1;
    }

    for (i = 0; i < sizeof(names) / sizeof(ngx_str_t); i++) {
        if (h->key.len == names[i].len
            && ngx_strncasecmp(h->key.data, names[i].data, names[i].len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


static ngx_chain_t *
ngx_http_functions_direct_request(ngx_http_request_t *r,
    ngx_http_functions_ctx_t *ctx, ngx_http_functions_direct_route_t *rt,
    ngx_chain_t *body)
{
    off_t                          body_len;
    size_t                         len;
    u_char                        *p;
    time_t                         deadline;
    ngx_tm_t                       tm;
    ngx_buf_t                     *b;
    ngx_str_t                      host, scheme;
    ngx_chain_t                   *cl, *head;
    ngx_table_elt_t               *h;
    ngx_http_core_srv_conf_t      *cscf;
    ngx_http_functions_headers_t   it;

    body_len = 0;

    for (cl = body; cl; cl = cl->next) {
        body_len += ngx_buf_size(cl->buf);
    }

    if (r->headers_in.server.len) {
        host = r->headers_in.server;

    } else {
        cscf = ngx_http_get_module_srv_conf(r, ngx_http_core_module);
        host = cscf->server_name;
    }

    if (host.len == 0 || host.len > 255) {
        ngx_str_set(&host, "function");
    }

#if (NGX_HTTP_SSL)
    if (r->connection->ssl) {
        ngx_str_set(&scheme, "https");
    } else
#endif
    {
        ngx_str_set(&scheme, "http");
    }

    len = r->method_name.len + 1 + r->unparsed_uri.len
          + sizeof(" HTTP/1.1\r\nHost: \r\n") - 1 + host.len
          + sizeof("Content-Length: \r\n") - 1 + NGX_OFF_T_LEN;

    ngx_http_functions_headers_start(&it, &r->headers_in.headers);

    while ((h = ngx_http_functions_headers_next(&it)) != NULL) {
        if (h->hash && !ngx_http_functions_direct_hop(h)) {
            len += h->key.len + 2 + h->value.len + 2;
        }
    }

    len += sizeof("Fn-Call-Id: \r\n") - 1 + ULID_LEN
           + sizeof("Fn-Request-Url: ://\r\n") - 1 + scheme.len + host.len
           + r->unparsed_uri.len
           + sizeof("Fn-Method: \r\n") - 1 + r->method_name.len
           + sizeof("Fn-Deadline: YYYY-MM-DDTHH:MM:SSZ\r\n") - 1
           + sizeof("Fn-App-Name: \r\n") - 1 + rt->app.len
           + sizeof("Fn-Path: \r\n") - 1 + rt->path.len
           + sizeof("\r\n") - 1;

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NULL;
    }

    p = ngx_sprintf(b->last, "%V %V HTTP/1.1\r\nHost: %V\r\n"
                    "Content-Length: %O\r\n",
                    &r->method_name, &r->unparsed_uri, &host, body_len);

    ngx_http_functions_headers_start(&it, &r->headers_in.headers);

    while ((h = ngx_http_functions_headers_next(&it)) != NULL) {
        if (h->hash && !ngx_http_functions_direct_hop(h)) {
            p = ngx_sprintf(p, "%V: %V\r\n", &h->key, &h->value);
        }
    }

    deadline = ngx_time() + (time_t) (rt->timeout / 1000);
    ngx_gmtime(deadline, &tm);

    p = ngx_sprintf(p, "Fn-Call-Id: %*s\r\nFn-Request-Url: %V://%V%V\r\n"
                    "Fn-Method: %V\r\n"
                    "Fn-Deadline: %4d-%02d-%02dT%02d:%02d:%02dZ\r\n"
                    "Fn-App-Name: %V\r\nFn-Path: %V\r\n\r\n",
                    (size_t) ULID_LEN, ctx->call_id, &scheme, &host,
                    &r->unparsed_uri,
                    &r->method_name, tm.ngx_tm_year, tm.ngx_tm_mon,
                    tm.ngx_tm_mday, tm.ngx_tm_hour, tm.ngx_tm_min,
                    tm.ngx_tm_sec, &rt->app, &rt->path);

    b->last = p;
    b->flush = 1;

    head = ngx_alloc_chain_link(r->pool);
    if (head == NULL) {
        return NULL;
    }

    head->buf = b;
    head->next = body;

    return head;
}


/* ----------------------------------------------------------------- answer */

/* A function's header that never reaches the client (Content-Length is
 * the framing nginx reads by, and keeps). */

static ngx_uint_t
ngx_http_functions_direct_drop(ngx_table_elt_t *h)
{
    if (h->key.len == sizeof("Content-Length") - 1
        && ngx_strncasecmp(h->key.data, (u_char *) "content-length",
                           h->key.len) == 0)
    {
        return 0;
    }

    /* nginx's parser ends both with a NUL */
    return !route_header_name_valid((char *) h->key.data)
           || route_header_reserved((char *) h->key.data)
           || !route_header_value_valid((char *) h->value.data,
                                        h->value.len);
}


ngx_int_t
ngx_http_functions_direct_header(ngx_http_request_t *r,
    ngx_http_functions_direct_call_t *dc)
{
    size_t                              n;
    ngx_int_t                           status;
    ngx_uint_t                          i, typed;
    ngx_table_elt_t                    *h;
    ngx_http_upstream_t                *u = r->upstream;
    ngx_http_functions_headers_t        it;
    ngx_http_functions_direct_route_t  *rt = dc->lease->route;

    /* the http format's rules, as the executor reads an answer
     * (executor/hot/http_response.c) */

    /* nothing of a function's answer switches protocols, and its reason
     * phrase is not passed on (nginx writes the status's own) */
    u->upgrade = 0;
    ngx_str_null(&u->headers_in.status_line);

    status = u->headers_in.status_n;

    if (dc->synthetic) {
        return NGX_OK;      /* the executor's own answer, made here whole */
    }

    /* the executor's limits on a head: 100 headers, 8 KiB as it writes
     * them on */
    n = 0;
    i = 0;
    ngx_http_functions_headers_start(&it, &u->headers_in.headers);

    while ((h = ngx_http_functions_headers_next(&it)) != NULL) {
        n += h->key.len + h->value.len + 4;
        i++;
    }

    if (i > 100) {
        return ngx_http_functions_direct_refuse(r, dc,
                   "the response has too many headers");
    }

    if (n > 8192) {
        return ngx_http_functions_direct_refuse(r, dc,
                   "response headers are too large");
    }

    if (status < 200 || status > 599) {
        return ngx_http_functions_direct_refuse(r, dc,
                   "the response status is not from 200 to 599");
    }

    if (r->method == NGX_HTTP_HEAD || status == NGX_HTTP_NO_CONTENT
        || status == NGX_HTTP_NOT_MODIFIED)
    {
        /* no body follows, whatever Content-Length says (nginx sent the
         * function the client's method, its proxy reads a POST's) */
        u->headers_in.chunked = 0;
        u->headers_in.content_length_n = 0;

    } else if (u->headers_in.chunked) {
        return ngx_http_functions_direct_refuse(r, dc,
                   "chunked responses are not accepted: use Content-Length");

    } else if (u->headers_in.content_length_n < 0) {
        return ngx_http_functions_direct_refuse(r, dc,
                   "the response has no Content-Length");

    } else if (u->headers_in.content_length_n > dc->max_body) {
        return ngx_http_functions_direct_refuse(r, dc,
                   "the response body is too large");
    }

    if (ngx_http_functions_headers_drop(&u->headers_in.headers, r->pool,
                                        ngx_http_functions_direct_drop)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    typed = 0;
    ngx_http_functions_headers_start(&it, &u->headers_in.headers);

    while ((h = ngx_http_functions_headers_next(&it)) != NULL) {
        if (ngx_http_functions_header_is(h, "Content-Type",
                                         sizeof("Content-Type") - 1))
        {
            typed = 1;
        }
    }

    /* the route's headers, as if the function had sent them (its own
     * type goes before the route's) */

    for (i = 0; i < rt->nheaders; i++) {
        if (typed
            && rt->headers[i].key.len == sizeof("Content-Type") - 1
            && ngx_strcasecmp(rt->headers[i].key.data,
                              (u_char *) "content-type") == 0)
        {
            continue;
        }

        h = ngx_list_push(&u->headers_in.headers);
        if (h == NULL) {
            return NGX_ERROR;
        }

        h->key = rt->headers[i].key;
        h->value = rt->headers[i].value;
        h->lowcase_key = ngx_pnalloc(r->pool, h->key.len);
        if (h->lowcase_key == NULL) {
            return NGX_ERROR;
        }

        h->hash = ngx_hash_strlow(h->lowcase_key, h->key.data, h->key.len);
    }

    if (!typed && !rt->has_type) {

        /* by its bytes, those read with the head (all of a short one) */

        n = u->buffer.last - u->buffer.pos;

        h = ngx_list_push(&u->headers_in.headers);
        if (h == NULL) {
            return NGX_ERROR;
        }

        ngx_str_set(&h->key, "Content-Type");

        if (ngx_http_functions_direct_utf8(u->buffer.pos, n,
                                           u->headers_in.content_length_n
                                           == (off_t) n))
        {
            ngx_str_set(&h->value, "text/plain; charset=utf-8");

        } else {
            ngx_str_set(&h->value, "application/octet-stream");
        }

        h->lowcase_key = (u_char *) "content-type";
        h->hash = ngx_hash_key(h->lowcase_key, h->key.len);
    }

    return NGX_OK;
}


/*
 * The function answered badly: the client gets the executor's answer to
 * that (502, its JSON error), written over the function's head in the
 * upstream's buffer as if it had come so; the function's bytes are never
 * read on, and its instance is killed (free: the connection is not kept).
 */

static ngx_int_t
ngx_http_functions_direct_refuse(ngx_http_request_t *r,
    ngx_http_functions_direct_call_t *dc, const char *why)
{
    u_char                    *p;
    size_t                     len;
    ngx_table_elt_t           *h;
    ngx_http_upstream_t       *u = r->upstream;
    ngx_http_functions_ctx_t  *ctx;

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "functions direct: the function answered badly: %s", why);

    ctx = ngx_http_functions_ctx_find(r);

    len = sizeof("{\"error\":{\"message\":\"function answered badly: \"},"
                 "\"call_id\":\"\"}") - 1 + ngx_strlen(why) + ULID_LEN;

    if ((size_t) (u->buffer.end - u->buffer.start) < len || ctx == NULL) {
        return NGX_HTTP_UPSTREAM_INVALID_HEADER;
    }

    p = ngx_sprintf(u->buffer.start, "{\"error\":{\"message\":\"function "
                    "answered badly: %s\"},\"call_id\":\"%*s\"}", why,
                    (size_t) ULID_LEN, ctx->call_id);

    u->buffer.pos = u->buffer.start;
    u->buffer.last = p;

    u->headers_in.status_n = NGX_HTTP_BAD_GATEWAY;
    ngx_str_null(&u->headers_in.status_line);
    u->headers_in.chunked = 0;
    u->headers_in.content_length_n = p - u->buffer.start;
    u->headers_in.content_length = NULL;
    u->headers_in.content_type = NULL;
    u->headers_in.connection_close = 1;     /* never kept */
    u->keepalive = 0;
    u->upgrade = 0;                         /* a 101 makes no tunnel */

    if (ngx_list_init(&u->headers_in.headers, r->pool, 1,
                      sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    h = ngx_list_push(&u->headers_in.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    ngx_str_set(&h->key, "Content-Type");
    ngx_str_set(&h->value, "application/json");
    h->lowcase_key = (u_char *) "content-type";
    h->hash = ngx_hash_key(h->lowcase_key, h->key.len);

    dc->refused = 1;

    return NGX_OK;
}


/*
 * Whether p is UTF-8 text (as the executor's utf8_text): whole, or the
 * start of some, where a character cut at the end counts.
 */

static ngx_uint_t
ngx_http_functions_direct_utf8(u_char *p, size_t n, ngx_uint_t whole)
{
    u_char    *last = p + n;
    uint32_t   ch;

    while (p < last) {
        if (*p < 0x80) {
            if ((*p < 0x20 && *p != '\t' && *p != '\n' && *p != '\r')
                || *p == 0x7f)
            {
                return 0;
            }

            p++;
            continue;
        }

        ch = ngx_utf8_decode(&p, last - p);

        if (ch > 0x10ffff) {
            /* 0xfffffffe: incomplete, cut at the end of what was read */
            return ch == 0xfffffffe && !whole;
        }
    }

    return 1;
}


void
ngx_http_functions_direct_free(ngx_http_request_t *r,
    ngx_peer_connection_t *pc, ngx_http_functions_direct_call_t *dc,
    ngx_uint_t state)
{
    const char                         *kill;
    ngx_connection_t                   *c = pc->connection;
    ngx_http_upstream_t                *u = r->upstream;
    ngx_http_functions_direct_lease_t  *l = dc->lease;

    if (dc->timer.timer_set) {
        ngx_del_timer(&dc->timer);
    }

    if (l == NULL) {
        return;
    }

    dc->lease = NULL;
    u->request_bufs = dc->exec_head;    /* a next try is the executor's */

    kill = NULL;

    if (c == NULL || c != l->conn) {
        kill = "its connection is gone";

    } else if (state & NGX_PEER_FAILED) {
        kill = c->read->timedout ? "timed out" : "the call failed";

    } else if (c->read->eof || c->read->error || c->read->timedout
               || c->write->error || c->write->timedout)
    {
        kill = "the call failed";

    } else if (dc->refused) {
        kill = "it answered badly";

    } else if (dc->timed_out) {
        kill = "timed out";

    } else if (dc->synthetic) {
        kill = "the call failed";

    } else if (!u->keepalive || !u->request_body_sent) {
        kill = "the call did not end cleanly";
    }

    if (kill || l->gone || l->revoked || ngx_exiting || ngx_terminate
        || ngx_current_msec - l->granted_at > NGX_HTTP_FUNCTIONS_DIRECT_AGE)
    {
        /* the lease ends; nginx does not close its socket: this does */
        pc->connection = NULL;
        ngx_http_functions_direct_end(l, kill);
        return;
    }

    /* idle, for the next call of its route */

    if (c->read->timer_set) {
        ngx_del_timer(c->read);
    }

    if (c->write->timer_set) {
        ngx_del_timer(c->write);
    }

    c->read->handler = ngx_http_functions_direct_idle_read;
    c->write->handler = ngx_http_functions_direct_dummy;
    c->data = l;
    c->idle = 1;
    c->log = ngx_cycle->log;
    c->read->log = ngx_cycle->log;
    c->write->log = ngx_cycle->log;

    if (c->pool) {
        c->pool->log = ngx_cycle->log;
    }

    pc->connection = NULL;

    if (ngx_handle_read_event(c->read, 0) != NGX_OK) {
        ngx_http_functions_direct_end(l, "cannot wait on its socket");
        return;
    }

    l->busy = 0;
    ngx_queue_insert_head(&l->route->idle, &l->queue);
    ngx_add_timer(&l->idle, NGX_HTTP_FUNCTIONS_DIRECT_IDLE);

    if (c->read->ready) {
        ngx_http_functions_direct_end(l, "it wrote past its answer");
    }
}
