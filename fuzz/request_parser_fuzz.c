/*
 * libFuzzer harness: the executor's HTTP request parser.  The input is cut
 * into pieces at points chosen by its first byte, and pipelined requests
 * are walked as a connection would walk them.
 */
#include "request_parser.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct request_parser p;
    size_t step, off = 0;
    int requests = 0;

    if (size == 0)
        return 0;
    step = (size_t)data[0] % 17 + 1;
    data++;
    size--;

    request_parser_init(&p, 4096, 4096);
    while (off < size && !p.error_status) {
        size_t n = size - off < step ? size - off : step;
        size_t used = request_parser_feed(&p, (const char *)data + off, n);

        off += used;
        if (p.complete) {
            /* what a handler reads must be there and terminated */
            if (p.req.url == NULL || strlen(p.req.url) != p.req.url_len)
                __builtin_trap();
            http_request_header(&p.req, "content-type");
            if (++requests > 64)
                break;
            request_parser_next(&p);
        } else if (used < n && !p.error_status) {
            __builtin_trap();   /* bytes refused without a reason */
        }
    }
    request_parser_free(&p);
    return 0;
}
