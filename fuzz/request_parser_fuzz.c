/*
 * libFuzzer harness: the executor's HTTP request parser.  The input is cut
 * into pieces at points chosen by its first byte, and pipelined requests
 * are walked as a connection would walk them.  How the bytes arrive must
 * not matter: fed whole, the input gives the same requests (method, URL,
 * headers, body) and the same error, limits included (but for one case,
 * below).
 */
#include "request_parser.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REQUESTS 64

/* What a handler sees of one request. */
struct seen {
    unsigned method;
    size_t url_len, nheaders, body_len;
    int keep_alive;
    uint64_t hash;              /* of the URL, headers and body */
};

static void broken(const char *what)
{
    fprintf(stderr, "request_parser_fuzz: %s\n", what);
    abort();
}

static uint64_t hash(uint64_t h, const void *data, size_t len)
{
    const unsigned char *p = data;
    size_t i;

    for (i = 0; i < len; i++)
        h = (h ^ p[i]) * 0x100000001b3ULL;
    return (h ^ 0xff) * 0x100000001b3ULL;   /* ends the field */
}

static void summary(const struct http_request *req, struct seen *s)
{
    size_t i;

    memset(s, 0, sizeof(*s));
    s->method = req->method;
    s->url_len = req->url_len;
    s->nheaders = req->nheaders;
    s->body_len = req->body_len;
    s->keep_alive = req->keep_alive;
    s->hash = hash(0xcbf29ce484222325ULL, req->url, req->url_len);
    for (i = 0; i < req->nheaders; i++) {
        s->hash = hash(s->hash, req->headers[i].name,
                       strlen(req->headers[i].name));
        s->hash = hash(s->hash, req->headers[i].value,
                       strlen(req->headers[i].value));
    }
    s->hash = hash(s->hash, req->body, req->body_len);
}

static int limit_or_malformed(int status)
{
    return status == 400 || status == 413 || status == 431;
}

/* Feeds data step bytes at a time; returns the error status, or 0. */
static int walk(const uint8_t *data, size_t size, size_t step,
                struct seen *seen, size_t *requests)
{
    struct request_parser p;
    size_t off = 0;
    int status;

    *requests = 0;
    /* limits an input reaches */
    request_parser_init(&p, 512, 512);
    while (off < size && !p.error_status) {
        size_t n = size - off < step ? size - off : step;
        size_t used = request_parser_feed(&p, (const char *)data + off, n);

        off += used;
        if (p.complete) {
            /* what a handler reads must be there and terminated */
            if (p.req.url == NULL || strlen(p.req.url) != p.req.url_len)
                broken("a request without its URL");
            http_request_header(&p.req, "content-type");
            summary(&p.req, &seen[*requests]);
            if (++*requests == REQUESTS)
                break;
            request_parser_next(&p);
        } else if (used < n && !p.error_status) {
            broken("bytes refused without a reason");
        }
    }
    status = p.error_status;
    request_parser_free(&p);
    return status;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct seen pieces[REQUESTS], whole[REQUESTS];
    size_t step, n_pieces, n_whole;
    int status_pieces, status_whole;

    if (size == 0)
        return 0;
    step = (size_t)data[0] % 17 + 1;
    data++;
    size--;

    status_pieces = walk(data, size, step, pieces, &n_pieces);
    status_whole = walk(data, size, size, whole, &n_whole);
    if (n_pieces != n_whole
        || memcmp(pieces, whole, n_whole * sizeof(whole[0])) != 0)
        broken("the requests depend on how the bytes arrive");
    /* a URL, a header or a body is handed over when it ends or the bytes
     * fed do: fed in pieces, a limit and a malformation can be met in
     * another order than fed whole, and an input with both be refused
     * for either */
    if (status_pieces != status_whole
        && !(limit_or_malformed(status_pieces)
             && limit_or_malformed(status_whole)))
        broken("the error depends on how the bytes arrive");
    return 0;
}
