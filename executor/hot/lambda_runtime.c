/*
 * The Lambda Runtime API of one instance (lambda_runtime.h).
 */
#include "lambda_runtime.h"
#include "lambda_format.h"
#include "read_buf.h"
#include "request_parser.h"
#include "errf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A runtime needs one or two connections at once (a waiting "next", a
 * result); more is not a runtime. */
#define MAX_CONNS 3
#define HEAD_MAX 8192
/* After an answer that closes: how long what the peer still sends is read
 * and dropped, so that the answer reaches it before the close (as
 * nginx's lingering close). */
#define LINGER_MS 2000

struct conn {
    struct conn *next, *prev;
    struct lambda_runtime *rt;
    uv_tcp_t tcp;
    uv_timer_t linger;
    uv_write_t wreq;
    uv_shutdown_t sreq;
    int handles;                /* open: tcp and linger */
    struct request_parser rp;
    char *out;                  /* what is being written */
    size_t out_len;
    int carries_event;          /* out is the event: kept if it fails */
    int writing;
    int close_after;            /* close once written */
    int parked;                 /* a "next" waiting for an event */
    int closing;
};

struct lambda_runtime {
    uv_loop_t *loop;
    uv_tcp_t listener;
    struct conn *conns;
    unsigned nconns;
    size_t max_body;
    const struct lambda_runtime_cbs *cbs;
    void *arg;
    struct conn *waiting;       /* the parked "next" */
    char *event;                /* delivered, not yet sent: head + body */
    size_t event_len;
    int listener_open;
    int closing;
    void (*closed)(void *arg);
};

static void maybe_freed(struct lambda_runtime *rt)
{
    void (*closed)(void *) = rt->closed;
    void *arg = rt->arg;

    if (!rt->closing || rt->listener_open || rt->conns != NULL)
        return;
    free(rt->event);
    free(rt);
    if (closed != NULL)
        closed(arg);
}

static void on_conn_closed(uv_handle_t *h)
{
    struct conn *c = h->data;
    struct lambda_runtime *rt = c->rt;

    if (--c->handles > 0)
        return;
    if (c->prev)
        c->prev->next = c->next;
    else
        rt->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    rt->nconns--;
    request_parser_free(&c->rp);
    free(c->out);
    free(c);
    maybe_freed(rt);
}

static void conn_close(struct conn *c)
{
    if (c->closing)
        return;
    c->closing = 1;
    if (c->rt->waiting == c)
        c->rt->waiting = NULL;
    c->tcp.data = c;
    c->linger.data = c;
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
    uv_close((uv_handle_t *)&c->linger, on_conn_closed);
}

static void on_linger_timeout(uv_timer_t *t)
{
    conn_close(t->data);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    (void)req;
    (void)status;
}

/* What the peer sends after a closing answer: dropped, until it closes. */
static void on_discard(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    (void)buf;
    if (n < 0)
        conn_close(st->data);
}

/* The answer is written: the connection ends once the peer has it. */
static void conn_linger(struct conn *c)
{
    if (uv_shutdown(&c->sreq, (uv_stream_t *)&c->tcp, on_shutdown) < 0
        || uv_read_start((uv_stream_t *)&c->tcp, read_buf_alloc,
                         on_discard) < 0) {
        conn_close(c);
        return;
    }
    uv_timer_start(&c->linger, on_linger_timeout, LINGER_MS, 0);
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf);

static void on_written(uv_write_t *w, int status)
{
    struct conn *c = w->data;
    struct lambda_runtime *rt = c->rt;

    c->writing = 0;
    if (status < 0 && c->carries_event && rt->event == NULL
        && !rt->closing) {
        /* its connection went: the event waits for the next "next" */
        rt->event = c->out;
        rt->event_len = c->out_len;
    } else {
        free(c->out);
    }
    c->carries_event = 0;
    c->out = NULL;
    if (status < 0) {
        conn_close(c);
        return;
    }
    if (c->close_after) {
        conn_linger(c);
        return;
    }
    if (!c->closing && uv_read_start((uv_stream_t *)&c->tcp, read_buf_alloc,
                                     on_read) < 0)
        conn_close(c);
}

/* Writes out (taken) on c; reading waits until it is written. */
static void conn_write(struct conn *c, char *out, size_t len)
{
    uv_buf_t b = uv_buf_init(out, (unsigned)len);

    uv_read_stop((uv_stream_t *)&c->tcp);
    c->out = out;
    c->out_len = len;
    c->writing = 1;
    c->wreq.data = c;
    if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_written) < 0) {
        c->writing = 0;
        free(c->out);
        c->out = NULL;
        conn_close(c);
    }
}

/* A JSON answer: {"errorType":..,"errorMessage":..} or {"status":"OK"}. */
static void conn_reply(struct conn *c, int status, const char *reason,
                       const char *type, const char *msg)
{
    char body[400], *out = NULL;
    int n;

    if (type != NULL)
        snprintf(body, sizeof(body),
                 "{\"errorType\":\"%s\",\"errorMessage\":\"%s\"}", type, msg);
    else
        snprintf(body, sizeof(body), "{\"status\":\"OK\"}");
    n = asprintf(&out, "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
                 "Content-Length: %zu\r\n%s\r\n%s", status, reason,
                 strlen(body), c->close_after ? "Connection: close\r\n" : "",
                 body);
    if (n < 0) {
        conn_close(c);
        return;
    }
    conn_write(c, out, (size_t)n);
}

/* The parked "next" gets the delivered event. */
static void hand_over(struct lambda_runtime *rt)
{
    struct conn *c = rt->waiting;
    char *event = rt->event;

    if (c == NULL || event == NULL)
        return;
    rt->waiting = NULL;
    rt->event = NULL;
    c->parked = 0;
    c->carries_event = 1;
    conn_write(c, event, rt->event_len);
}

static void serve(struct conn *c)
{
    struct lambda_runtime *rt = c->rt;
    struct http_request *req = &c->rp.req;
    char id[LAMBDA_REQUEST_ID_MAX + 1], *target;
    const char *method = http_method_str((enum http_method)req->method);
    const char *type;
    enum lambda_op op;
    int rc;

    c->close_after = !req->keep_alive;
    target = strndup(req->url, req->url_len);
    if (target == NULL) {
        conn_close(c);
        return;
    }
    op = lambda_runtime_op(method, target, id);
    switch (op) {
    case LAMBDA_OP_NEXT:
        if (rt->waiting != NULL) {
            conn_reply(c, 409, "Conflict", "Runtime.Conflict",
                       "another request already waits for the next event");
            break;
        }
        /* still read: its end (a runtime gone) must free the place */
        c->parked = 1;
        rt->waiting = c;
        if (rt->event != NULL)
            hand_over(rt);
        else
            rt->cbs->next(rt->arg);
        break;
    case LAMBDA_OP_RESPONSE:
    case LAMBDA_OP_ERROR:
        type = http_request_header(req, "Lambda-Runtime-Function-Error-Type");
        rc = op == LAMBDA_OP_RESPONSE
             ? rt->cbs->response(rt->arg, id, req->body, req->body_len)
             : rt->cbs->error(rt->arg, id, req->body, req->body_len, type);
        if (rc == 0)
            conn_reply(c, 202, "Accepted", NULL, NULL);
        else
            conn_reply(c, 400, "Bad Request", "InvalidRequestID",
                       "not the event being handled, or answered already");
        break;
    case LAMBDA_OP_INIT_ERROR:
        type = http_request_header(req, "Lambda-Runtime-Function-Error-Type");
        conn_reply(c, 202, "Accepted", NULL, NULL);
        rt->cbs->init_error(rt->arg, req->body, req->body_len, type);
        break;
    case LAMBDA_OP_BAD_METHOD:
        conn_reply(c, 405, "Method Not Allowed", "InvalidRequest",
                   "method not allowed");
        break;
    default:
        conn_reply(c, 404, "Not Found", "InvalidRequest", "no such path");
        break;
    }
    free(target);
}

/* The request bodies all of rt's connections hold so far. */
static size_t buffered(const struct lambda_runtime *rt)
{
    const struct conn *c;
    size_t sum = 0;

    for (c = rt->conns; c != NULL; c = c->next)
        sum += c->rp.req.body_len;
    return sum;
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    struct conn *c = st->data;
    size_t used = 0;

    if (n < 0 || (n > 0 && c->parked)) {
        /* gone, or more while it waits for an event: not a runtime */
        conn_close(c);
        return;
    }
    while (used < (size_t)n && !c->closing) {
        used += request_parser_feed(&c->rp, buf->base + used,
                                    (size_t)n - used);
        if (c->rp.error_status == 0 && buffered(c->rt) > c->rt->max_body) {
            /* one result at a time: the instance's connections together
             * hold at most one body's worth */
            c->close_after = 1;
            conn_reply(c, 413, "Payload Too Large", "RequestTooLarge",
                       "more than one result's worth at once");
            return;
        }
        if (c->rp.error_status != 0) {
            c->close_after = 1;
            conn_reply(c, c->rp.error_status, "Bad Request",
                       "InvalidRequest", "a request that is not one");
            return;
        }
        if (!c->rp.complete)
            continue;
        if (used < (size_t)n) {
            /* a runtime waits for each answer: more is not one */
            c->close_after = 1;
            conn_reply(c, 400, "Bad Request", "InvalidRequest",
                       "requests sent before their answers");
            return;
        }
        serve(c);
        request_parser_next(&c->rp);
    }
}

static void on_connection(uv_stream_t *server, int status)
{
    struct lambda_runtime *rt = server->data;
    struct conn *c;

    if (status < 0 || rt->closing)
        return;
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        return;
    c->rt = rt;
    uv_tcp_init(rt->loop, &c->tcp);
    uv_timer_init(rt->loop, &c->linger);
    c->tcp.data = c;
    c->linger.data = c;
    c->handles = 2;
    request_parser_init(&c->rp, HEAD_MAX, rt->max_body);
    c->next = rt->conns;
    if (rt->conns)
        rt->conns->prev = c;
    rt->conns = c;
    rt->nconns++;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) < 0
        || rt->nconns > MAX_CONNS
        || uv_read_start((uv_stream_t *)&c->tcp, read_buf_alloc,
                         on_read) < 0)
        conn_close(c);
}

struct lambda_runtime *lambda_runtime_start(uv_loop_t *loop, int fd,
                                            size_t max_body,
                                            const struct lambda_runtime_cbs
                                                *cbs,
                                            void *arg, char *err,
                                            size_t errlen)
{
    struct lambda_runtime *rt = calloc(1, sizeof(*rt));
    int e;

    if (rt == NULL) {
        close(fd);
        errf(err, errlen, "out of memory");
        return NULL;
    }
    rt->loop = loop;
    rt->max_body = max_body;
    rt->cbs = cbs;
    rt->arg = arg;
    uv_tcp_init(loop, &rt->listener);
    rt->listener.data = rt;
    rt->listener_open = 1;
    if ((e = uv_tcp_open(&rt->listener, fd)) < 0
        || (e = uv_listen((uv_stream_t *)&rt->listener, 16,
                          on_connection)) < 0) {
        errf(err, errlen, "cannot serve the Runtime API: %s", uv_strerror(e));
        lambda_runtime_close(rt, NULL);
        return NULL;
    }
    return rt;
}

int lambda_runtime_deliver(struct lambda_runtime *rt, const char *id,
                           long long deadline_ms, const char *arn,
                           char *body, size_t len)
{
    size_t head_len = 0;
    char *head, *event;

    if (rt->event != NULL || rt->closing) {
        free(body);
        return -1;
    }
    head = lambda_next_head(id, deadline_ms, arn, NULL, len, &head_len);
    event = head != NULL ? realloc(head, head_len + len) : NULL;
    if (event == NULL) {
        free(head);
        free(body);
        return -1;
    }
    memcpy(event + head_len, body, len);
    free(body);
    rt->event = event;
    rt->event_len = head_len + len;
    hand_over(rt);
    return 0;
}

int lambda_runtime_waiting(const struct lambda_runtime *rt)
{
    return rt->waiting != NULL;
}

static void on_listener_closed(uv_handle_t *h)
{
    struct lambda_runtime *rt = h->data;

    rt->listener_open = 0;
    maybe_freed(rt);
}

void lambda_runtime_close(struct lambda_runtime *rt,
                          void (*closed)(void *arg))
{
    struct conn *c, *next;

    if (rt->closing)
        return;
    rt->closing = 1;
    rt->closed = closed;
    for (c = rt->conns; c != NULL; c = next) {
        next = c->next;
        conn_close(c);
    }
    uv_close((uv_handle_t *)&rt->listener, on_listener_closed);
}
