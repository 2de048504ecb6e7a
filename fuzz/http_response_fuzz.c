/*
 * libFuzzer harness: what a hot function writes on its stdout, fed whole
 * and then in two pieces, must give the same verdict.
 */
#include "http_response.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct http_response_parser a, b;
    size_t used_a, used_b, half = size / 2;

    http_response_parser_init(&a, 1024, 4096);
    http_response_parser_init(&b, 1024, 4096);
    used_a = http_response_feed(&a, (const char *)data, size);
    used_b = http_response_feed(&b, (const char *)data, half);
    if (!b.complete && b.error[0] == '\0')
        used_b += http_response_feed(&b, (const char *)data + half,
                                     size - half);
    if (a.complete != b.complete || (a.complete && used_a != used_b))
        __builtin_trap();
    if (a.complete && (a.res.body_len != b.res.body_len
                       || (a.res.body_len > 0
                           && memcmp(a.res.body, b.res.body,
                                     a.res.body_len) != 0)))
        __builtin_trap();
    http_response_parser_free(&a);
    http_response_parser_free(&b);
    return 0;
}
