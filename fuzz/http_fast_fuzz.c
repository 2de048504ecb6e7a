/*
 * libFuzzer harness: the one-pass reading of strict heads (http_head.c)
 * against http-parser.  Each input is read twice, the second time by
 * http-parser alone (slow_only), fed in the same pieces; everything a
 * caller sees must be the same: the bytes each feed uses, every request
 * or response (method, URL, status, every header, body, keep-alive), and
 * the error.  The first byte chooses: its low bit, requests (a
 * connection's pipelined requests) or a hot function's answer; the next
 * two, for an answer, chunked bodies allowed and an answer to HEAD; the
 * rest, the size of the first piece and of every second one after it (1
 * to 61 bytes, or all that is left).  The second byte gives the size of
 * the pieces between (1 to 64 bytes), so that a short read (blank lines,
 * a cut head) comes before a long one.
 */
#include "http_response.h"
#include "request_parser.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REQUESTS 64

static void broken(const char *what)
{
    fprintf(stderr, "http_fast_fuzz: %s\n", what);
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

/* What a connection's walk saw, as one hash with the counts beside. */
struct walk {
    uint64_t hash;
    size_t requests;
    int status;
};

static uint64_t request_hash(uint64_t h, const struct http_request *req)
{
    size_t i;
    uint64_t fixed[4];

    fixed[0] = req->method;
    fixed[1] = req->nheaders;
    fixed[2] = req->body_len;
    fixed[3] = (uint64_t)req->keep_alive;
    h = hash(h, fixed, sizeof(fixed));
    if (req->url == NULL || strlen(req->url) != req->url_len)
        broken("a request without its URL");
    h = hash(h, req->url, req->url_len);
    for (i = 0; i < req->nheaders; i++) {
        h = hash(h, req->headers[i].name, strlen(req->headers[i].name));
        h = hash(h, req->headers[i].value, strlen(req->headers[i].value));
    }
    if (req->body_len > 0 && req->body[req->body_len] != '\0')
        broken("a body without its NUL");
    return hash(h, req->body, req->body_len);
}

static void walk_requests(const uint8_t *data, size_t size,
                          const size_t step[2], int slow_only, struct walk *w)
{
    struct request_parser p;
    size_t off = 0, reads = 1;

    memset(w, 0, sizeof(*w));
    w->hash = 0xcbf29ce484222325ULL;
    request_parser_init(&p, 512, 512);
    p.slow_only = slow_only;
    while (off < size && !p.error_status) {
        size_t s = step[reads++ % 2];
        size_t n = size - off < s ? size - off : s;
        size_t used = request_parser_feed(&p, (const char *)data + off, n);

        w->hash = hash(w->hash, &used, sizeof(used));
        off += used;
        if (p.complete) {
            w->hash = request_hash(w->hash, &p.req);
            if (++w->requests == REQUESTS)
                break;
            request_parser_next(&p);
        } else if (used == 0 && !p.error_status) {
            break;      /* a refusal without a reason: the other
                         * harness's finding; the hash still compares */
        }
    }
    w->status = p.error_status;
    request_parser_free(&p);
}

static uint64_t response_hash(const struct http_response_parser *p,
                              size_t used)
{
    uint64_t fixed[6], h = 0xcbf29ce484222325ULL;
    size_t i;

    fixed[0] = used;
    fixed[1] = (uint64_t)p->complete;
    fixed[2] = (uint64_t)p->keep_alive;
    fixed[3] = (uint64_t)p->too_large;
    fixed[4] = (uint64_t)p->res.status;
    fixed[5] = p->res.nheaders;
    h = hash(h, fixed, sizeof(fixed));
    h = hash(h, p->error, strlen(p->error));
    if (!p->complete)
        return h;
    for (i = 0; i < p->res.nheaders; i++) {
        h = hash(h, p->res.names[i], strlen(p->res.names[i]));
        h = hash(h, p->res.values[i], strlen(p->res.values[i]));
    }
    return hash(h, p->res.body, p->res.body_len);
}

static uint64_t walk_response(const uint8_t *data, size_t size,
                              const size_t step[2], int chunked, int head,
                              int slow_only)
{
    struct http_response_parser p;
    size_t used = 0, off = 0, reads = 1, n, u, s;
    uint64_t h;

    http_response_parser_init(&p, 1024, 4096);
    p.allow_chunked = chunked;
    p.head_request = head;
    p.slow_only = slow_only;
    while (off < size && !p.complete && p.error[0] == '\0') {
        s = step[reads++ % 2];
        n = size - off < s ? size - off : s;
        u = http_response_feed(&p, (const char *)data + off, n);
        used += u;
        off += n;       /* what is not used is another answer's */
        if (u < n && !p.complete && p.error[0] == '\0')
            broken("bytes refused without a reason");
    }
    h = response_hash(&p, used);
    http_response_parser_free(&p);
    return h;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct walk fast, slow;
    size_t step[2];
    int sel;

    if (size < 2)
        return 0;
    sel = data[0];
    step[0] = (size_t)data[1] % 64 + 1;
    data += 2;
    size -= 2;
    /* pieces of 1 to 61 bytes, or the rest of the input */
    step[1] = (size_t)(sel >> 3);
    step[1] = step[1] == 31 ? size + 1 : 2 * step[1] + 1;
    if (sel & 1) {
        walk_requests(data, size, step, 0, &fast);
        walk_requests(data, size, step, 1, &slow);
        if (fast.requests != slow.requests)
            broken("a request is found by one reading only");
        if (fast.hash != slow.hash)
            broken("the requests differ from http-parser's");
        if (fast.status != slow.status)
            broken("the error differs from http-parser's");
    } else if (walk_response(data, size, step, (sel >> 1) & 1,
                             (sel >> 2) & 1, 0)
               != walk_response(data, size, step, (sel >> 1) & 1,
                                (sel >> 2) & 1, 1)) {
        broken("the answer differs from http-parser's");
    }
    return 0;
}
