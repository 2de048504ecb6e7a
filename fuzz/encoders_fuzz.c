/*
 * libFuzzer harness: logfmt and JSON encoding of arbitrary bytes.  Checks
 * that a logfmt record is one line and JSON output has no raw control
 * bytes; that a JSON parser (jansson) reads the quoted string back, as the
 * very bytes when they were valid UTF-8; and that utf8_text() says "text"
 * exactly when that parser finds valid UTF-8 and no control byte but tab,
 * line feed and carriage return; and that utf8_clean() leaves what that
 * parser takes as UTF-8, without NUL, and valid input as it was.
 */
#include "json_out.h"
#include "logfmt.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void broken(const char *what)
{
    fprintf(stderr, "encoders_fuzz: %s\n", what);
    abort();
}

/* Some byte is an ASCII control character other than tab, LF and CR. */
static int has_control(const uint8_t *data, size_t size)
{
    size_t i;

    for (i = 0; i < size; i++) {
        if ((data[i] < 0x20 && data[i] != '\t' && data[i] != '\n'
             && data[i] != '\r') || data[i] == 0x7f)
            return 1;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char line[512], *json, *clean;
    json_t *valid, *back, *cleaned;
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

    /* jansson keeps a string only if it is valid UTF-8 */
    valid = json_stringn((const char *)data, size);
    if (utf8_text((const char *)data, size)
        != (valid != NULL && !has_control(data, size)))
        broken("utf8_text() and a UTF-8 check disagree");
    n = json_quote(NULL, 0, (const char *)data, size);
    json = malloc(n + 1);
    if (json == NULL) {
        json_decref(valid);
        return 0;
    }
    if (json_quote(json, n + 1, (const char *)data, size) != n)
        __builtin_trap();
    for (i = 0; i < n; i++) {
        if ((unsigned char)json[i] < 0x20)
            __builtin_trap();
    }
    clean = malloc(size + 1);
    if (clean != NULL) {
        memcpy(clean, data, size);
        utf8_clean(clean, size);
        cleaned = json_stringn(clean, size);
        if (cleaned == NULL || memchr(clean, '\0', size) != NULL)
            broken("utf8_clean() leaves what is no UTF-8 text");
        if (valid != NULL && memchr(data, '\0', size) == NULL
            && memcmp(clean, data, size) != 0)
            broken("utf8_clean() changes valid UTF-8");
        json_decref(cleaned);
        free(clean);
    }
    back = json_loadb(json, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    if (!json_is_string(back))
        broken("json_quote() writes what is no JSON string");
    if (valid != NULL && !json_equal(back, valid))
        broken("json_quote() changes valid UTF-8");
    json_decref(back);
    json_decref(valid);
    free(json);
    return 0;
}
