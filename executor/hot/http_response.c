/*
 * HTTP/1.1 responses from hot functions.
 */
#include "http_response.h"
#include "errf.h"
#include "http_head.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(struct http_response_parser *p, const char *msg)
{
    if (p->error[0] == '\0')
        snprintf(p->error, sizeof(p->error), "%s", msg);
    return -1;
}

static int count(struct http_response_parser *p, size_t n)
{
    p->header_bytes += n;
    return p->header_bytes > p->max_header
           ? fail(p, "response headers are too large") : 0;
}

/* Room for one more header in res; 0, or -1 when out of memory. */
static int header_room(struct http_response *res)
{
    size_t cap;
    char **names, **values;

    if (res->nheaders < res->headers_cap)
        return 0;
    cap = res->headers_cap > 0 ? 2 * res->headers_cap : 16;
    names = arena_alloc(&res->arena, cap * sizeof(*names));
    values = arena_alloc(&res->arena, cap * sizeof(*values));
    if (names == NULL || values == NULL)
        return -1;
    if (res->nheaders > 0) {
        memcpy(names, res->names, res->nheaders * sizeof(*names));
        memcpy(values, res->values, res->nheaders * sizeof(*values));
    }
    res->names = names;
    res->values = values;
    res->headers_cap = cap;
    return 0;
}

static int on_message_begin(http_parser *hp)
{
    struct http_response_parser *p = hp->data;

    p->started = 1;
    return 0;
}

static int on_status(http_parser *hp, const char *at, size_t n)
{
    (void)at;
    return count(hp->data, n);
}

static int on_header_field(http_parser *hp, const char *at, size_t n)
{
    struct http_response_parser *p = hp->data;
    struct http_response *r = &p->res;

    if (count(p, n) < 0)
        return -1;
    if (r->nheaders == 0 || p->in_value) {
        /* a new line: ": " and CRLF around it when it is written on */
        if (r->nheaders == HTTP_RESPONSE_HEADERS_MAX)
            return fail(p, "the response has too many headers");
        if (count(p, 4) < 0)
            return -1;
        if (header_room(r) < 0)
            return fail(p, "out of memory");
        r->names[r->nheaders] = NULL;
        r->values[r->nheaders] = NULL;
        r->nheaders++;
        p->name_len = 0;
        p->value_len = 0;
        p->in_value = 0;
    }
    if (arena_append(&r->arena, &r->names[r->nheaders - 1], &p->name_len,
                     at, n) < 0)
        return fail(p, "out of memory");
    return 0;
}

static int on_header_value(http_parser *hp, const char *at, size_t n)
{
    struct http_response_parser *p = hp->data;
    struct http_response *r = &p->res;

    if (count(p, n) < 0)
        return -1;
    /* http_parser lets a NUL start a value: as a C string the value would
     * end there, or not, depending on how its bytes arrived */
    if (memchr(at, '\0', n) != NULL)
        return fail(p, "a response header value holds a NUL byte");
    p->in_value = 1;
    if (arena_append(&r->arena, &r->values[r->nheaders - 1], &p->value_len,
                     at, n) < 0)
        return fail(p, "out of memory");
    return 0;
}

static int on_headers_complete(http_parser *hp)
{
    struct http_response_parser *p = hp->data;
    size_t i;

    /* a header with no value yet has an empty one */
    for (i = 0; i < p->res.nheaders; i++) {
        size_t len = 0;

        if (p->res.values[i] == NULL
            && arena_append(&p->res.arena, &p->res.values[i], &len, "", 0)
               < 0)
            return fail(p, "out of memory");
    }
    p->res.status = (int)hp->status_code;
    if (hp->status_code < 200 || hp->status_code > 599)
        return fail(p, "the response status is not from 200 to 599");
    /* no body follows, whatever Content-Length says (for a 304 or a HEAD
     * it describes the resource): bytes after the head are another
     * answer */
    if (p->head_request || hp->status_code == 204 || hp->status_code == 304)
        return 1;
    if ((hp->flags & F_CHUNKED) && p->allow_chunked)
        return 0;       /* the body grows as its chunks come */
    if (hp->flags & F_CHUNKED)
        return fail(p, "chunked responses are not accepted: use "
                    "Content-Length");
    if (hp->content_length == ULLONG_MAX) {
        if (hp->status_code == 204 || hp->status_code == 304)
            return 0;
        return fail(p, "the response has no Content-Length");
    }
    if (hp->content_length > p->max_body) {
        p->too_large = 1;
        return fail(p, "the response body is too large");
    }
    if (hp->content_length > 0) {
        p->res.body = malloc((size_t)hp->content_length);
        if (p->res.body == NULL)
            return fail(p, "out of memory");
    }
    return 0;
}

static int on_body(http_parser *hp, const char *at, size_t n)
{
    struct http_response_parser *p = hp->data;
    size_t cap;
    char *b;

    if (hp->flags & F_CHUNKED) {
        if (n > p->max_body - p->res.body_len) {
            p->too_large = 1;
            return fail(p, "the response body is too large");
        }
        if (p->res.body_len + n > p->body_cap) {
            cap = p->body_cap > 0 ? p->body_cap : 4096;
            while (cap < p->res.body_len + n)
                cap = cap > p->max_body / 2 ? p->max_body : cap * 2;
            b = realloc(p->res.body, cap);
            if (b == NULL)
                return fail(p, "out of memory");
            p->res.body = b;
            p->body_cap = cap;
        }
    }
    /* else http-parser delivers no more than Content-Length */
    memcpy(p->res.body + p->res.body_len, at, n);
    p->res.body_len += n;
    return 0;
}

static int on_message_complete(http_parser *hp)
{
    struct http_response_parser *p = hp->data;

    p->complete = 1;
    p->keep_alive = http_should_keep_alive(hp);
    http_parser_pause(hp, 1);   /* what follows is not this answer */
    return 0;
}

static const http_parser_settings settings = {
    .on_message_begin = on_message_begin,
    .on_status = on_status,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

void http_response_parser_init(struct http_response_parser *p,
                               size_t max_header, size_t max_body)
{
    memset(p, 0, sizeof(*p));
    p->max_header = max_header;
    p->max_body = max_body;
    http_parser_init(&p->parser, HTTP_RESPONSE);
    p->parser.data = p;
}

/* Body bytes of a response whose head was read in one pass. */
static size_t fast_body(struct http_response_parser *p, const char *data,
                        size_t len)
{
    size_t n = len < p->body_left ? len : p->body_left;

    memcpy(p->res.body + p->res.body_len, data, n);
    p->res.body_len += n;
    p->body_left -= n;
    if (p->body_left == 0) {
        p->complete = 1;
        p->keep_alive = 1;
    }
    return n;
}

/*
 * A response whose head is whole in data and strict, read in one pass:
 * the bytes used (its head, and as much of its body as is there), or 0
 * to leave it to http-parser, which then gives the same response, or the
 * error (limits included: a response over one is left to it).
 */
static size_t fast_response(struct http_response_parser *p,
                            const char *data, size_t len)
{
    struct http_head_line lines[HTTP_RESPONSE_HEADERS_MAX];
    struct http_response *r = &p->res;
    struct http_head h;
    size_t i, bytes, room, cap;
    int bodiless;
    char *at;

    if (!http_head_response(data, len, &h, lines,
                            HTTP_RESPONSE_HEADERS_MAX))
        return 0;
    bytes = h.text_len;
    room = 0;
    for (i = 0; i < h.nlines; i++) {
        bytes += lines[i].name_len + lines[i].value_len + 4;
        room += lines[i].name_len + lines[i].value_len + 2;
    }
    /* no body follows these, whatever Content-Length says */
    bodiless = p->head_request || h.status == 204 || h.status == 304;
    if (bytes > p->max_header
        || (!bodiless && (!h.has_length || h.length > p->max_body)))
        return 0;
    p->started = 1;
    if (h.nlines > 0) {
        for (cap = 16; cap < h.nlines; cap *= 2)
            ;
        r->names = arena_alloc(&r->arena, cap * sizeof(*r->names));
        r->values = arena_alloc(&r->arena, cap * sizeof(*r->values));
        at = arena_alloc(&r->arena, room);
        if (r->names == NULL || r->values == NULL || at == NULL) {
            fail(p, "out of memory");
            return 0;
        }
        r->headers_cap = cap;
        for (i = 0; i < h.nlines; i++) {
            r->names[i] = at;
            memcpy(at, lines[i].name, lines[i].name_len);
            at += lines[i].name_len;
            *at++ = '\0';
            r->values[i] = at;
            memcpy(at, lines[i].value, lines[i].value_len);
            at += lines[i].value_len;
            *at++ = '\0';
        }
        r->nheaders = h.nlines;
    }
    r->status = h.status;
    p->body_left = bodiless ? 0 : (size_t)h.length;
    if (p->body_left == 0) {
        p->complete = 1;
        p->keep_alive = 1;
        return h.head_len;
    }
    r->body = malloc(p->body_left);
    if (r->body == NULL) {
        p->body_left = 0;
        fail(p, "out of memory");
        return 0;
    }
    return h.head_len + fast_body(p, data + h.head_len, len - h.head_len);
}

size_t http_response_feed(struct http_response_parser *p, const char *data,
                          size_t len)
{
    size_t used;

    if (p->complete || p->error[0] != '\0' || len == 0)
        return 0;
    if (p->body_left > 0)
        return fast_body(p, data, len);
    /* http-parser counts the CR and LF it skips before an answer against
     * its limit on the head: once it has, it reads the answer */
    if (!p->started && !p->slow_only && p->parser.nread == 0) {
        used = fast_response(p, data, len);
        if (used > 0 || p->error[0] != '\0')
            return used;
    }
    used = http_parser_execute(&p->parser, &settings, data, len);
    if (p->complete)
        return used;
    if (HTTP_PARSER_ERRNO(&p->parser) != HPE_OK) {
        char msg[128];

        errf(msg, sizeof(msg), "malformed response: %s",
             http_errno_description(HTTP_PARSER_ERRNO(&p->parser)));
        fail(p, msg);
    }
    return used;
}

int http_response_add(struct http_response *res, const char *name,
                      const char *value)
{
    char *n = NULL, *v = NULL;
    size_t name_len = 0, value_len = 0;

    if (res->nheaders >= HTTP_RESPONSE_HEADERS_MAX || header_room(res) < 0
        || arena_append(&res->arena, &n, &name_len, name, strlen(name)) < 0
        || arena_append(&res->arena, &v, &value_len, value, strlen(value))
           < 0)
        return -1;
    res->names[res->nheaders] = n;
    res->values[res->nheaders] = v;
    res->nheaders++;
    return 0;
}

void http_response_free(struct http_response *res)
{
    arena_free(&res->arena);
    free(res->body);
    memset(res, 0, sizeof(*res));
}

void http_response_parser_free(struct http_response_parser *p)
{
    http_response_free(&p->res);
}

void http_response_parser_reset(struct http_response_parser *p)
{
    size_t max_header = p->max_header, max_body = p->max_body;
    int allow_chunked = p->allow_chunked, slow_only = p->slow_only;

    http_response_parser_free(p);
    http_response_parser_init(p, max_header, max_body);
    p->allow_chunked = allow_chunked;
    p->slow_only = slow_only;
}
