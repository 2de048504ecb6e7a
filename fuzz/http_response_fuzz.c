/*
 * libFuzzer harness: what a hot function writes on its stdout, fed whole
 * and then in two pieces, must give the same verdict, and a complete
 * response the same status, headers (every name and value) and body.
 * The first byte's low bit allows chunked bodies (http-stream), whose
 * answers then go through stream_format_answer: a status from 200 to 599
 * and every header named.
 */
#include "http_response.h"
#include "stream_format.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void broken(const char *what)
{
    fprintf(stderr, "http_response_fuzz: %s\n", what);
    abort();
}

static int same_headers(const struct http_response *a,
                        const struct http_response *b)
{
    size_t i;

    if (a->nheaders != b->nheaders)
        return 0;
    for (i = 0; i < a->nheaders; i++) {
        if (strcmp(a->names[i], b->names[i]) != 0
            || strcmp(a->values[i], b->values[i]) != 0)
            return 0;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct http_response_parser a, b;
    size_t used_a, used_b, half, i;
    int chunked;
    char err[160];

    if (size == 0)
        return 0;
    chunked = data[0] & 1;
    data++;
    size--;
    half = size / 2;
    http_response_parser_init(&a, 1024, 4096);
    http_response_parser_init(&b, 1024, 4096);
    a.allow_chunked = b.allow_chunked = chunked;
    used_a = http_response_feed(&a, (const char *)data, size);
    used_b = http_response_feed(&b, (const char *)data, half);
    if (!b.complete && b.error[0] == '\0')
        used_b += http_response_feed(&b, (const char *)data + half,
                                     size - half);
    if (a.complete != b.complete || (a.complete && used_a != used_b))
        broken("the verdict depends on how the bytes arrive");
    if (a.complete && (a.res.body_len != b.res.body_len
                       || (a.res.body_len > 0
                           && memcmp(a.res.body, b.res.body,
                                     a.res.body_len) != 0)))
        broken("the body depends on how the bytes arrive");
    if (a.complete && (a.res.status != b.res.status
                       || !same_headers(&a.res, &b.res)))
        broken("the head depends on how the bytes arrive");
    if (a.complete && a.res.body_len > 4096)
        broken("a body over the limit");
    if (a.complete && chunked
        && stream_format_answer(&a.res, err, sizeof(err)) == 0) {
        if (a.res.status < 200 || a.res.status > 599)
            broken("a status out of range passes");
        for (i = 0; i < a.res.nheaders; i++) {
            if (a.res.names[i][0] == '\0')
                broken("a header without a name passes");
        }
    }
    http_response_parser_free(&a);
    http_response_parser_free(&b);
    return 0;
}
