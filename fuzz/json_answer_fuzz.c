/*
 * libFuzzer harness: what a json-format function writes on its stdout,
 * fed whole and then byte by byte, must give the same verdict, and a
 * complete answer the same status, headers and body; a complete answer's
 * status is a final one (200 to 599).  The first bytes also make a call's object
 * (its body, a header), which must be JSON that reads back the same.
 */
#include "json_format.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void broken(const char *what)
{
    fprintf(stderr, "json_answer_fuzz: %s\n", what);
    abort();
}

static int same(const struct http_response *a, const struct http_response *b)
{
    size_t i;

    if (a->status != b->status || a->nheaders != b->nheaders
        || a->body_len != b->body_len
        || (a->body_len > 0 && memcmp(a->body, b->body, a->body_len) != 0))
        return 0;
    for (i = 0; i < a->nheaders; i++) {
        if (strcmp(a->names[i], b->names[i]) != 0
            || strcmp(a->values[i], b->values[i]) != 0)
            return 0;
    }
    return 1;
}

static void call_object(const char *data, size_t size)
{
    struct route_def route = { .app = "app", .path = "/p" };
    char name[32], value[32], *names[2] = { name, NULL };
    char *values[2] = { value, NULL };
    struct call_info ci = {
        .call_id = "01ARZ3NDEKTSV4RRFFQ69G5FAV", .method = "POST",
        .request_url = "http://x/r/app/p", .deadline = "2026-01-01T00:00:00Z",
        .route = &route, .header_names = names, .header_values = values,
    };
    size_t n = size < 31 ? size : 31, len;
    json_t *o, *b;
    char *req;

    memcpy(name, data, n);
    name[n] = '\0';
    memcpy(value, data, n);
    value[n] = '\0';
    req = json_format_request(&ci, data, size, &len);
    if (req == NULL)
        return;
    if (len == 0 || req[len - 1] != '\n' || memchr(req, '\n', len - 1))
        broken("a call is not one line");
    o = json_loadb(req, len, JSON_ALLOW_NUL, NULL);
    b = json_object_get(o, "body");
    if (o == NULL || !json_is_string(b) || json_string_length(b) != size
        || memcmp(json_string_value(b), data, size) != 0)
        broken("a call's body does not read back");
    json_decref(o);
    free(req);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct json_answer_parser a, b;
    size_t used_a, used_b = 0, i;

    json_answer_init(&a, 2048, 1024);
    json_answer_init(&b, 2048, 1024);
    used_a = json_answer_feed(&a, (const char *)data, size);
    for (i = 0; i < size && !b.complete && b.error[0] == '\0'; i++)
        used_b += json_answer_feed(&b, (const char *)data + i, 1);
    if (a.complete != b.complete || (a.error[0] != '\0') != (b.error[0]
                                                              != '\0'))
        broken("the verdict depends on how the bytes arrive");
    if (a.complete && (used_a != used_b || !same(&a.res, &b.res)))
        broken("the answer depends on how the bytes arrive");
    if (a.complete && (a.res.status < 200 || a.res.status > 599))
        broken("a status HTTP does not know");
    json_answer_free(&a);
    json_answer_free(&b);
    call_object((const char *)data, size);
    return 0;
}
