/*
 * HTTP/1.1 connections to the executor.
 */
#include "http_conn.h"
#include "json_out.h"
#include "log.h"
#include "server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define HTTP_MAX_HEADERS 128

struct write_req {
    uv_write_t req;
    struct http_conn *conn;
    int close_after;
    char data[];
};

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);
static void feed(struct http_conn *c, const char *data, size_t len);

const char *http_status_text(int status)
{
    switch (status) {
    case 200: return "OK";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Payload Too Large";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    }
    return "Unknown";
}

static void request_reset(struct http_request *req)
{
    size_t i;

    for (i = 0; i < req->nheaders; i++) {
        free(req->headers[i].name);
        free(req->headers[i].value);
    }
    free(req->headers);
    free(req->url);
    free(req->body);
    memset(req, 0, sizeof(*req));
}

/* Appends to a NUL-terminated heap string; -1 on allocation failure. */
static int append(char **dst, size_t *len, const char *src, size_t n)
{
    char *p = realloc(*dst, *len + n + 1);

    if (p == NULL)
        return -1;
    memcpy(p + *len, src, n);
    *len += n;
    p[*len] = '\0';
    *dst = p;
    return 0;
}

static int fail_parse(struct http_conn *c, int status)
{
    c->error_status = status;
    return -1;
}

static int count_header_bytes(struct http_conn *c, size_t n)
{
    c->header_bytes += n;
    if (c->header_bytes > c->server->cfg.max_request_header)
        return fail_parse(c, 431);
    return 0;
}

static int on_message_begin(http_parser *p)
{
    struct http_conn *c = p->data;

    request_reset(&c->req);
    c->header_state = 0;
    c->header_bytes = 0;
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t n)
{
    struct http_conn *c = p->data;
    size_t len = c->req.url ? strlen(c->req.url) : 0;

    if (count_header_bytes(c, n) < 0)
        return -1;
    if (append(&c->req.url, &len, at, n) < 0)
        return fail_parse(c, 500);
    return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t n)
{
    struct http_conn *c = p->data;
    struct http_request *r = &c->req;
    size_t len;

    if (count_header_bytes(c, n) < 0)
        return -1;
    if (c->header_state != 1) {
        struct http_header *h;

        if (r->nheaders == HTTP_MAX_HEADERS)
            return fail_parse(c, 431);
        h = realloc(r->headers, (r->nheaders + 1) * sizeof(*h));
        if (h == NULL)
            return fail_parse(c, 500);
        r->headers = h;
        h[r->nheaders].name = NULL;
        h[r->nheaders].value = NULL;
        r->nheaders++;
        c->header_state = 1;
    }
    len = r->headers[r->nheaders - 1].name
              ? strlen(r->headers[r->nheaders - 1].name) : 0;
    if (append(&r->headers[r->nheaders - 1].name, &len, at, n) < 0)
        return fail_parse(c, 500);
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t n)
{
    struct http_conn *c = p->data;
    struct http_header *h = &c->req.headers[c->req.nheaders - 1];
    size_t len = h->value ? strlen(h->value) : 0;

    if (count_header_bytes(c, n) < 0)
        return -1;
    c->header_state = 2;
    if (append(&h->value, &len, at, n) < 0)
        return fail_parse(c, 500);
    return 0;
}

static int on_headers_complete(http_parser *p)
{
    struct http_conn *c = p->data;
    size_t i;

    for (i = 0; i < c->req.nheaders; i++) {
        if (c->req.headers[i].value == NULL) {
            c->req.headers[i].value = strdup("");
            if (c->req.headers[i].value == NULL)
                return fail_parse(c, 500);
        }
    }
    if (c->req.url == NULL)
        return fail_parse(c, 400);
    if (p->content_length != ULLONG_MAX
        && p->content_length > c->server->cfg.max_request_body)
        return fail_parse(c, 413);
    c->req.method = p->method;
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t n)
{
    struct http_conn *c = p->data;

    if (c->req.body_len + n > c->server->cfg.max_request_body)
        return fail_parse(c, 413);
    if (append(&c->req.body, &c->req.body_len, at, n) < 0)
        return fail_parse(c, 500);
    return 0;
}

static int on_message_complete(http_parser *p)
{
    struct http_conn *c = p->data;

    c->keep_alive = http_should_keep_alive(p);
    c->state = HTTP_CONN_BUSY;
    uv_timer_stop(&c->timer);
    /* one request at a time: what follows waits in c->pending */
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings parser_settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    buf->base = malloc(suggested);
    buf->len = buf->base ? suggested : 0;
}

static void on_close(uv_handle_t *h)
{
    struct http_conn *c = h->data;

    if (--c->open_handles > 0)
        return;
    request_reset(&c->req);
    free(c->pending);
    server_conn_closed(c->server, c);
    free(c);
}

void http_conn_close(struct http_conn *c)
{
    if (c->state == HTTP_CONN_CLOSING)
        return;
    c->state = HTTP_CONN_CLOSING;
    c->open_handles = 2;
    uv_close((uv_handle_t *)&c->timer, on_close);
    uv_close((uv_handle_t *)&c->h, on_close);
}

static void on_timeout(uv_timer_t *t)
{
    struct http_conn *c = t->data;

    if (c->state != HTTP_CONN_READING)
        return;
    if (c->parser.nread == 0 && c->req.url == NULL) {
        /* an idle keep-alive connection: nothing to answer */
        http_conn_close(c);
        return;
    }
    uv_read_stop(&c->h.stream);
    c->keep_alive = 0;
    c->state = HTTP_CONN_BUSY;
    http_conn_respond_error(c, 408, "request not received in time");
}

static void arm_timer(struct http_conn *c)
{
    uv_timer_start(&c->timer, on_timeout, c->server->cfg.read_timeout_ms, 0);
}

void http_conn_start(struct http_conn *c)
{
    c->h.stream.data = c;
    c->state = HTTP_CONN_READING;
    arm_timer(c);
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    if (uv_read_start(&c->h.stream, alloc_cb, on_read) < 0)
        http_conn_close(c);
}

const char *http_request_header(const struct http_request *req,
                                const char *name)
{
    size_t i;

    for (i = 0; i < req->nheaders; i++) {
        if (strcasecmp(req->headers[i].name, name) == 0)
            return req->headers[i].value;
    }
    return NULL;
}

static void after_write(uv_write_t *w, int status)
{
    struct write_req *wr = (struct write_req *)w;
    struct http_conn *c = wr->conn;
    int close_after = wr->close_after;

    free(wr);
    if (c->state == HTTP_CONN_CLOSING)
        return;
    if (status < 0 || close_after || server_draining(c->server)) {
        http_conn_close(c);
        return;
    }

    /* ready for the next request: first what was already read */
    c->state = HTTP_CONN_READING;
    request_reset(&c->req);
    http_parser_pause(&c->parser, 0);
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
    if (uv_read_start(&c->h.stream, alloc_cb, on_read) < 0)
        http_conn_close(c);
}

void http_conn_respond(struct http_conn *c, int status,
                       const char *content_type, const char *extra_headers,
                       const char *body, size_t body_len)
{
    struct write_req *wr;
    size_t head_max, n;
    uv_buf_t buf;
    int close_after = !c->keep_alive || server_draining(c->server);

    if (c->state == HTTP_CONN_CLOSING)
        return;
    if (extra_headers == NULL)
        extra_headers = "";
    head_max = 256 + strlen(content_type) + strlen(extra_headers);
    wr = malloc(sizeof(*wr) + head_max + body_len);
    if (wr == NULL) {
        log_msg(LOG_LEVEL_ERROR, "out of memory writing a response", NULL);
        http_conn_close(c);
        return;
    }
    n = (size_t)snprintf(wr->data, head_max,
                         "HTTP/1.1 %d %s\r\n"
                         "Content-Type: %s\r\n"
                         "Content-Length: %zu\r\n"
                         "%s%s\r\n",
                         status, http_status_text(status), content_type,
                         body_len, extra_headers,
                         close_after ? "Connection: close\r\n" : "");
    wr->conn = c;
    wr->close_after = close_after;
    if (c->req.method != HTTP_HEAD) {
        memcpy(wr->data + n, body, body_len);
        n += body_len;
    }
    buf = uv_buf_init(wr->data, (unsigned)n);
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
    size_t parsed = http_parser_execute(&c->parser, &parser_settings, data,
                                        len);
    enum http_errno err = HTTP_PARSER_ERRNO(&c->parser);

    if (err == HPE_PAUSED) {
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
        uv_read_stop(&c->h.stream);
        server_dispatch(c->server, c);
        return;
    }
    if (err != HPE_OK) {
        int status = c->error_status ? c->error_status : 400;

        if (err == HPE_HEADER_OVERFLOW)
            status = 431;
        uv_read_stop(&c->h.stream);
        c->keep_alive = 0;
        c->state = HTTP_CONN_BUSY;
        http_conn_respond_error(c, status, status == 400
                                ? "malformed HTTP request"
                                : http_status_text(status));
    }
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct http_conn *c = s->data;

    if (n > 0 && c->state == HTTP_CONN_READING)
        feed(c, buf->base, (size_t)n);
    else if (n < 0)
        http_conn_close(c);
    free(buf->base);
}
