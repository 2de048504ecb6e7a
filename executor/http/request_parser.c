/*
 * HTTP/1.1 request parsing with limits.
 */
#include "request_parser.h"
#include "arena.h"
#include "http_head.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Forgets the request; keeps its header array and the arena's first
 * block for the next one on the connection. */
static void request_clear(struct request_parser *p)
{
    struct http_header *headers = p->req.headers;

    arena_reset(&p->arena);
    free(p->req.body);
    memset(&p->req, 0, sizeof(p->req));
    p->req.headers = headers;
    p->name_len = 0;
    p->value_len = 0;
}

/* Appends to the body, a NUL-terminated heap string; -1 on allocation
 * failure. */
static int body_append(char **dst, size_t *len, const char *src, size_t n)
{
    char *s = realloc(*dst, *len + n + 1);

    if (s == NULL)
        return -1;
    memcpy(s + *len, src, n);
    *len += n;
    s[*len] = '\0';
    *dst = s;
    return 0;
}

static int fail(struct request_parser *p, int status)
{
    if (p->error_status == 0)
        p->error_status = status;
    return -1;
}

static int count_header_bytes(struct request_parser *p, size_t n)
{
    p->header_bytes += n;
    return p->header_bytes > p->max_header ? fail(p, 431) : 0;
}

static int on_message_begin(http_parser *hp)
{
    struct request_parser *p = hp->data;

    request_clear(p);
    p->header_bytes = 0;
    p->in_header_name = 0;
    p->started = 1;
    return 0;
}

static int on_url(http_parser *hp, const char *at, size_t n)
{
    struct request_parser *p = hp->data;

    if (count_header_bytes(p, n) < 0)
        return -1;
    return arena_append(&p->arena, &p->req.url, &p->req.url_len, at, n) < 0
           ? fail(p, 500) : 0;
}

/* The header array has room for n headers (16, then doubled); 0, or
 * -1. */
static int headers_room(struct request_parser *p, size_t n)
{
    struct http_header *h;
    size_t cap = p->headers_cap;

    if (n <= cap)
        return 0;
    while (cap < n)
        cap = cap > 0 ? 2 * cap : 16;
    h = realloc(p->req.headers, cap * sizeof(*h));
    if (h == NULL)
        return -1;
    p->req.headers = h;
    p->headers_cap = cap;
    return 0;
}

static int on_header_field(http_parser *hp, const char *at, size_t n)
{
    struct request_parser *p = hp->data;
    struct http_request *r = &p->req;
    struct http_header *h;

    if (count_header_bytes(p, n) < 0)
        return -1;
    if (!p->in_header_name) {
        if (r->nheaders == REQUEST_MAX_HEADERS)
            return fail(p, 431);
        if (headers_room(p, r->nheaders + 1) < 0)
            return fail(p, 500);
        r->headers[r->nheaders].name = NULL;
        r->headers[r->nheaders].value = NULL;
        r->nheaders++;
        p->name_len = 0;
        p->value_len = 0;
        p->in_header_name = 1;
    }
    h = &r->headers[r->nheaders - 1];
    return arena_append(&p->arena, &h->name, &p->name_len, at, n) < 0
           ? fail(p, 500) : 0;
}

static int on_header_value(http_parser *hp, const char *at, size_t n)
{
    struct request_parser *p = hp->data;
    struct http_header *h = &p->req.headers[p->req.nheaders - 1];

    if (count_header_bytes(p, n) < 0)
        return -1;
    /* http_parser lets a NUL start a value: as a C string the value would
     * end there, or not, depending on how its bytes arrived */
    if (memchr(at, '\0', n) != NULL)
        return fail(p, 400);
    p->in_header_name = 0;
    return arena_append(&p->arena, &h->value, &p->value_len, at, n) < 0
           ? fail(p, 500) : 0;
}

static int on_headers_complete(http_parser *hp)
{
    struct request_parser *p = hp->data;
    size_t i;

    for (i = 0; i < p->req.nheaders; i++) {
        size_t len = 0;

        if (p->req.headers[i].value == NULL
            && arena_append(&p->arena, &p->req.headers[i].value, &len, "",
                            0) < 0)
            return fail(p, 500);
    }
    if (p->req.url == NULL)
        return fail(p, 400);
    if (hp->http_major != 1)
        return fail(p, 505);
    if (hp->content_length != ULLONG_MAX && hp->content_length > p->max_body)
        return fail(p, 413);
    p->req.method = hp->method;
    return 0;
}

static int on_body(http_parser *hp, const char *at, size_t n)
{
    struct request_parser *p = hp->data;

    if (p->req.body_len + n > p->max_body)
        return fail(p, 413);
    return body_append(&p->req.body, &p->req.body_len, at, n) < 0
           ? fail(p, 500) : 0;
}

static int on_message_complete(http_parser *hp)
{
    struct request_parser *p = hp->data;

    p->req.keep_alive = http_should_keep_alive(hp);
    if (!p->req.keep_alive)
        p->closing = 1;
    p->complete = 1;
    /* one request at a time: the caller keeps what follows */
    http_parser_pause(hp, 1);
    return 0;
}

static const http_parser_settings settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

void request_parser_init(struct request_parser *p, size_t max_header,
                         size_t max_body)
{
    memset(p, 0, sizeof(*p));
    arena_init(&p->arena, REQUEST_ARENA_BLOCK);
    http_parser_init(&p->parser, HTTP_REQUEST);
    p->parser.data = p;
    p->max_header = max_header;
    p->max_body = max_body;
}

/* Body bytes of a request whose head was read in one pass: the body
 * grows as they come, as http-parser's does (a peer that announces a
 * length and sends nothing holds no memory). */
static size_t fast_body(struct request_parser *p, const char *data,
                        size_t len)
{
    size_t n = len < p->body_left ? len : p->body_left;

    if (n > 0 && body_append(&p->req.body, &p->req.body_len, data, n) < 0) {
        p->error_status = 500;
        return 0;
    }
    p->body_left -= n;
    if (p->body_left == 0) {
        p->req.keep_alive = 1;
        p->complete = 1;
    }
    return n;
}

/* The copy of a string of the head into the arena's block at *at. */
static char *put(char **at, const char *s, size_t n)
{
    char *d = *at;

    memcpy(d, s, n);
    d[n] = '\0';
    *at += n + 1;
    return d;
}

/*
 * A request whose head is whole in data and strict, read in one pass:
 * the bytes used (its head, and as much of its body as is there), or 0
 * to leave it to http-parser, which then gives the same request, or the
 * error (limits included: a request over one is left to it).
 */
static size_t fast_request(struct request_parser *p, const char *data,
                           size_t len)
{
    struct http_head_line lines[REQUEST_MAX_HEADERS];
    struct http_head h;
    size_t i, bytes, room;
    char *at;

    if (!http_head_request(data, len, &h, lines, REQUEST_MAX_HEADERS))
        return 0;
    bytes = h.text_len;
    room = h.text_len + 1;
    for (i = 0; i < h.nlines; i++) {
        bytes += lines[i].name_len + lines[i].value_len;
        room += lines[i].name_len + lines[i].value_len + 2;
    }
    if (bytes > p->max_header || (h.has_length && h.length > p->max_body))
        return 0;
    request_clear(p);
    p->started = 1;
    if (headers_room(p, h.nlines) < 0
        || (at = arena_alloc(&p->arena, room)) == NULL) {
        p->error_status = 500;
        return 0;
    }
    p->req.method = HTTP_POST;
    p->req.url_len = h.text_len;
    p->req.url = put(&at, h.text, h.text_len);
    for (i = 0; i < h.nlines; i++) {
        p->req.headers[i].name = put(&at, lines[i].name,
                                     lines[i].name_len);
        p->req.headers[i].value = put(&at, lines[i].value,
                                      lines[i].value_len);
    }
    p->req.nheaders = h.nlines;
    p->body_left = (size_t)h.length;
    if (p->body_left == 0) {
        p->req.keep_alive = 1;
        p->complete = 1;
        return h.head_len;
    }
    return h.head_len + fast_body(p, data + h.head_len, len - h.head_len);
}

size_t request_parser_feed(struct request_parser *p, const char *data,
                           size_t len)
{
    size_t n;
    enum http_errno err;

    if (p->complete || p->error_status || len == 0)
        return 0;
    if (p->body_left > 0)
        return fast_body(p, data, len);
    /* http-parser counts the CR and LF it skips before a message against
     * its limit on the head: once it has, it reads the message */
    if (!p->started && !p->closing && !p->slow_only
        && p->parser.nread == 0) {
        n = fast_request(p, data, len);
        if (n > 0 || p->error_status)
            return n;
    }
    n = http_parser_execute(&p->parser, &settings, data, len);
    err = HTTP_PARSER_ERRNO(&p->parser);
    if (err == HPE_PAUSED)
        return n;
    if (err != HPE_OK && p->error_status == 0)
        p->error_status = err == HPE_HEADER_OVERFLOW ? 431 : 400;
    return n;
}

void request_parser_next(struct request_parser *p)
{
    request_clear(p);
    p->complete = 0;
    p->started = 0;
    p->body_left = 0;
    http_parser_pause(&p->parser, 0);
}

void request_parser_free(struct request_parser *p)
{
    request_clear(p);
    arena_free(&p->arena);
    free(p->req.headers);
    p->req.headers = NULL;
    p->headers_cap = 0;
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
