/*
 * libFuzzer harness: logfmt and JSON encoding of arbitrary bytes.  Checks
 * that a logfmt record is one line and JSON output has no raw control
 * bytes.
 */
#include "json_out.h"
#include "logfmt.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char line[512], *json;
    struct logfmt_buf b;
    size_t n, i;

    logfmt_init(&b, line, sizeof(line));
    logfmt_add_str(&b, "msg", "fuzz");
    logfmt_add(&b, "value", (const char *)data, size);
    logfmt_add(&b, "again", (const char *)data, size / 2);
    n = logfmt_finish(&b);
    if (n > sizeof(line) || memchr(line, '\n', n - 1) != NULL
        || line[n - 1] != '\n')
        __builtin_trap();

    utf8_text((const char *)data, size);
    n = json_quote(NULL, 0, (const char *)data, size);
    json = malloc(n + 1);
    if (json == NULL)
        return 0;
    if (json_quote(json, n + 1, (const char *)data, size) != n)
        __builtin_trap();
    for (i = 0; i < n; i++) {
        if ((unsigned char)json[i] < 0x20)
            __builtin_trap();
    }
    free(json);
    return 0;
}
