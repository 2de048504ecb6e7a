/*
 * HTTP/1.1 connections to the executor: reading (request_parser.c does the
 * parsing), timeouts, writing responses, keep-alive.
 */
#include "http_conn.h"
#include "http_status.h"
#include "json_out.h"
#include "log.h"
#include "read_buf.h"
#include "text_out.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

/*
 * A connection keeps reading while its request is served (stopping and
 * starting costs two epoll_ctl calls a request); what comes meanwhile
 * waits in c->pending, and past this much reading stops until the answer
 * is written.
 */
#define PENDING_MAX (64 * 1024)

struct write_req {
    uv_write_t req;
    struct http_conn *conn;
    int close_after;
    char data[];
};

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);
static void feed(struct http_conn *c, const char *data, size_t len);
static void written(struct http_conn *c, int status, int close_after);

/*
 * An answer is written with one write() when the socket takes it whole
 * (nearly always): no write request, and none of the epoll_ctl that libuv
 * makes after each completed uv_write.  What follows a write (the next
 * request, or the close the answer announced) then runs from an idle
 * handle at the start of the next loop iteration, as uv_write's callback
 * would run then, never inside the caller of http_conn_respond; while it
 * is active the loop does not sleep in epoll_wait, whatever phase the
 * answer was written in.  The loop's thread only.
 */
static uv_idle_t written_idle;
static int written_idle_made;
static struct http_conn *written_head, *written_tail;

static void on_written_idle(uv_idle_t *h)
{
    struct http_conn *c;

    while ((c = written_head) != NULL) {
        written_head = c->written_next;
        if (written_head == NULL)
            written_tail = NULL;
        c->written_next = NULL;
        c->written = 0;
        written(c, 0, c->written_close);
    }
    uv_idle_stop(h);
}

/* Whether c's answers may go out at once (the idle handle is there). */
static int written_ready(struct http_conn *c)
{
    if (!written_idle_made) {
        if (uv_idle_init(c->h.stream.loop, &written_idle) < 0)
            return 0;
        written_idle_made = 1;
    }
    /* closed with every handle at shutdown: uv_write from then on */
    return !uv_is_closing((uv_handle_t *)&written_idle);
}

static void written_add(struct http_conn *c, int close_after)
{
    c->written = 1;
    c->written_close = close_after;
    c->written_next = NULL;
    if (written_tail != NULL)
        written_tail->written_next = c;
    else
        written_head = c;
    written_tail = c;
    uv_idle_start(&written_idle, on_written_idle);
}

static void written_remove(struct http_conn *c)
{
    struct http_conn **pp, *prev = NULL;

    if (!c->written)
        return;
    for (pp = &written_head; *pp != NULL; pp = &(*pp)->written_next) {
        if (*pp == c) {
            *pp = c->written_next;
            if (written_tail == c)
                written_tail = prev;
            break;
        }
        prev = *pp;
    }
    c->written = 0;
}

static void on_close(uv_handle_t *h)
{
    struct http_conn *c = h->data;

    if (--c->open_handles > 0)
        return;
    written_remove(c);
    request_parser_free(&c->rp);
    free(c->pending);
    c->owner->closed(c);
    free(c);
}

void http_conn_close(struct http_conn *c)
{
    if (c->state == HTTP_CONN_CLOSING)
        return;
    c->state = HTTP_CONN_CLOSING;
    if (c->on_close != NULL) {
        c->on_close(c->on_close_arg);
        c->on_close = NULL;
    }
    c->open_handles = 2;
    uv_close((uv_handle_t *)&c->timer, on_close);
    uv_close((uv_handle_t *)&c->h, on_close);
}

int http_conn_has_input(struct http_conn *c)
{
    uv_os_fd_t fd;
    int n = 0;

    if (c->pending_len > 0)
        return 1;
    if (uv_fileno((const uv_handle_t *)&c->h, &fd) != 0)
        return 0;
    /* on error, say so: the caller keeps the connection and reads it */
    return ioctl(fd, FIONREAD, &n) < 0 || n > 0;
}

static void stop_reading(struct http_conn *c)
{
    if (c->reading) {
        uv_read_stop(&c->h.stream);
        c->reading = 0;
    }
}

static int start_reading(struct http_conn *c)
{
    if (c->reading)
        return 0;
    if (uv_read_start(&c->h.stream, read_buf_alloc, on_read) < 0)
        return -1;
    c->reading = 1;
    return 0;
}

/* Stops reading and answers an error; the connection closes after it. */
static void refuse(struct http_conn *c, int status, const char *message)
{
    stop_reading(c);
    uv_timer_stop(&c->timer);
    c->keep_alive = 0;
    c->state = HTTP_CONN_BUSY;
    http_conn_respond_error(c, status, message);
}

static void on_timeout(uv_timer_t *t)
{
    struct http_conn *c = t->data;

    if (c->state != HTTP_CONN_READING)
        return;
    if (!c->rp.started) {
        /* an idle keep-alive connection: nothing to answer */
        http_conn_close(c);
        return;
    }
    refuse(c, 408, "request not received in time");
}

static void arm_timer(struct http_conn *c)
{
    uv_timer_start(&c->timer, on_timeout, c->owner->cfg->read_timeout_ms, 0);
}

void http_conn_start(struct http_conn *c)
{
    c->h.stream.data = c;
    c->state = HTTP_CONN_READING;
    request_parser_init(&c->rp, c->owner->cfg->max_request_header,
                        c->owner->cfg->max_request_body);
    arm_timer(c);
    if (start_reading(c) < 0)
        http_conn_close(c);
}

static void after_write(uv_write_t *w, int status)
{
    struct write_req *wr = (struct write_req *)w;
    struct http_conn *c = wr->conn;
    int close_after = wr->close_after;

    free(wr);
    written(c, status, close_after);
}

/* The answer is out (or failed: status < 0): the next request. */
static void written(struct http_conn *c, int status, int close_after)
{
    c->on_close = NULL;
    if (c->state == HTTP_CONN_CLOSING)
        return;
    /* draining: kept only if the peer already sent its next request (it
     * is answered 503 not started), which a close would reset */
    if (status < 0 || close_after
        || (*c->owner->draining && !http_conn_has_input(c))
        || (c->peer_done && c->pending_len == 0)) {
        http_conn_close(c);
        return;
    }

    /* ready for the next request: first what was already read */
    c->state = HTTP_CONN_READING;
    request_parser_next(&c->rp);
    /* limits may have changed with a reload */
    c->rp.max_header = c->owner->cfg->max_request_header;
    c->rp.max_body = c->owner->cfg->max_request_body;
    arm_timer(c);
    if (c->pending_len > 0) {
        char *data = c->pending;
        size_t len = c->pending_len;

        c->pending = NULL;
        c->pending_len = 0;
        feed(c, data, len);
        free(data);
        if (c->state != HTTP_CONN_READING)
            return;
    }
    /* a peer that is done sending: what it sent is served, then no more */
    if (c->peer_done || start_reading(c) < 0)
        http_conn_close(c);
}

/* The answer's head, or its length (o->dst NULL). */
static void answer_head(struct text_out *o, int status,
                        const char *content_type, const char *extra_headers,
                        int no_body, size_t body_len, int close_after)
{
    text_put(o, "HTTP/1.1 ", 9);
    text_uint(o, (unsigned)status);
    text_put(o, " ", 1);
    text_str(o, http_status_text(status));
    text_put(o, "\r\n", 2);
    text_header(o, "Content-Type", content_type);
    /* 204 and 304 have neither a body nor a length (a proxy would wait
     * for one, or take it for the next answer) */
    if (!no_body) {
        text_put(o, "Content-Length: ", 16);
        text_uint(o, body_len);
        text_put(o, "\r\n", 2);
    }
    text_str(o, extra_headers);
    if (close_after)
        text_put(o, "Connection: close\r\n", 19);
    text_put(o, "\r\n", 2);
}

/*
 * A small answer is built on the stack and written from there when the
 * socket takes it whole (nearly always); only a larger one, or what the
 * socket did not take, goes through a write request on the heap.
 */
#define RESPOND_STACK 8192

void http_conn_respond(struct http_conn *c, int status,
                       const char *content_type, const char *extra_headers,
                       const char *body, size_t body_len)
{
    struct write_req *wr;
    struct text_out o = { NULL, 0 };
    size_t head_len, n, done = 0;
    uv_buf_t buf;
    int close_after = !c->keep_alive || *c->owner->draining, no_body;
    char stack[RESPOND_STACK], *data;

    if (c->state == HTTP_CONN_CLOSING)
        return;
    if (extra_headers == NULL)
        extra_headers = "";
    no_body = status == 204 || status == 304;
    answer_head(&o, status, content_type, extra_headers, no_body, body_len,
                close_after);
    head_len = o.len;
    n = head_len;
    if (c->rp.req.method != HTTP_HEAD && !no_body)
        n += body_len;
    wr = NULL;
    data = stack;
    if (n > sizeof(stack) || !written_ready(c)) {
        wr = malloc(sizeof(*wr) + n);
        if (wr == NULL) {
            log_msg(LOG_LEVEL_ERROR, "out of memory writing a response",
                    NULL);
            http_conn_close(c);
            return;
        }
        data = wr->data;
    }
    o.dst = data;
    o.len = 0;
    answer_head(&o, status, content_type, extra_headers, no_body, body_len,
                close_after);
    if (n > head_len)
        memcpy(data + head_len, body, body_len);
    if (wr == NULL) {
        int w;

        buf = uv_buf_init(data, (unsigned)n);
        w = uv_try_write(&c->h.stream, &buf, 1);
        if (w == (int)n) {
            written_add(c, close_after);
            return;
        }
        done = w > 0 ? (size_t)w : 0;
        /* the rest as a write request */
        wr = malloc(sizeof(*wr) + n - done);
        if (wr == NULL) {
            log_msg(LOG_LEVEL_ERROR, "out of memory writing a response",
                    NULL);
            http_conn_close(c);
            return;
        }
        memcpy(wr->data, data + done, n - done);
    }
    wr->conn = c;
    wr->close_after = close_after;
    buf = uv_buf_init(wr->data, (unsigned)(n - done));
    if (uv_write(&wr->req, &c->h.stream, &buf, 1, after_write) < 0) {
        free(wr);
        http_conn_close(c);
    }
}

void http_conn_respond_error(struct http_conn *c, int status,
                             const char *message)
{
    size_t n = json_error_body(NULL, 0, message, NULL);
    char *body = malloc(n + 1);

    if (body == NULL) {
        http_conn_close(c);
        return;
    }
    json_error_body(body, n + 1, message, NULL);
    http_conn_respond(c, status, "application/json", NULL, body, n);
    free(body);
}

static void feed(struct http_conn *c, const char *data, size_t len)
{
    size_t parsed = request_parser_feed(&c->rp, data, len);
    int status = c->rp.error_status;

    if (c->rp.complete) {
        /* a whole request: keep the rest, stop reading, serve it */
        if (parsed < len) {
            c->pending = malloc(len - parsed);
            if (c->pending == NULL) {
                http_conn_close(c);
                return;
            }
            memcpy(c->pending, data + parsed, len - parsed);
            c->pending_len = len - parsed;
        }
        uv_timer_stop(&c->timer);
        c->state = HTTP_CONN_BUSY;
        c->keep_alive = c->rp.req.keep_alive;
        c->owner->dispatch(c);
        return;
    }
    if (status != 0)
        refuse(c, status, status == 400 ? "malformed HTTP request"
                                        : http_status_text(status));
}

/* Bytes that come while a request is served: kept for after it. */
static void keep_pending(struct http_conn *c, const char *data, size_t n)
{
    char *p = realloc(c->pending, c->pending_len + n);

    if (p == NULL) {
        http_conn_close(c);
        return;
    }
    memcpy(p + c->pending_len, data, n);
    c->pending = p;
    c->pending_len += n;
    if (c->pending_len >= PENDING_MAX)
        stop_reading(c);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct http_conn *c = s->data;

    if (n > 0 && c->state == HTTP_CONN_READING) {
        feed(c, buf->base, (size_t)n);
    } else if (n > 0 && c->state == HTTP_CONN_BUSY) {
        keep_pending(c, buf->base, (size_t)n);
    } else if (n < 0 && c->state == HTTP_CONN_BUSY) {
        /* the request is served all the same; the answer closes */
        stop_reading(c);
        c->peer_done = 1;
    } else if (n < 0) {
        http_conn_close(c);
    }
}
