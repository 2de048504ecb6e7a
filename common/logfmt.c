/*
 * logfmt encoding.
 */
#include "logfmt.h"

#include <stdio.h>
#include <string.h>

#define TRUNCATED_MARK " truncated=true\n"

void logfmt_init(struct logfmt_buf *b, char *data, size_t cap)
{
    /* room for the mark is kept back, so a cut record still says so */
    b->data = data;
    b->len = 0;
    b->cap = cap > sizeof(TRUNCATED_MARK) ? cap - sizeof(TRUNCATED_MARK) : 0;
    b->truncated = 0;
}

static void put(struct logfmt_buf *b, const char *s, size_t n)
{
    if (b->truncated)
        return;
    if (n > b->cap - b->len) {
        n = b->cap - b->len;
        b->truncated = 1;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
}

static int needs_quotes(const unsigned char *v, size_t n)
{
    size_t i;

    if (n == 0)
        return 1;
    for (i = 0; i < n; i++) {
        if (v[i] <= ' ' || v[i] == '=' || v[i] == '"' || v[i] == '\\'
            || v[i] == 0x7f)
            return 1;
    }
    return 0;
}

void logfmt_add(struct logfmt_buf *b, const char *key, const char *value,
                size_t value_len)
{
    const unsigned char *v = (const unsigned char *)value;
    size_t i, start = b->len;

    if (b->truncated)
        return;
    if (b->len > 0)
        put(b, " ", 1);
    put(b, key, strlen(key));
    put(b, "=", 1);

    if (!needs_quotes(v, value_len)) {
        put(b, value, value_len);
        goto done;
    }

    put(b, "\"", 1);
    for (i = 0; i < value_len; i++) {
        char esc[8];

        switch (v[i]) {
        case '"': put(b, "\\\"", 2); break;
        case '\\': put(b, "\\\\", 2); break;
        case '\n': put(b, "\\n", 2); break;
        case '\r': put(b, "\\r", 2); break;
        case '\t': put(b, "\\t", 2); break;
        default:
            if (v[i] < ' ' || v[i] == 0x7f) {
                snprintf(esc, sizeof(esc), "\\u%04x", v[i]);
                put(b, esc, 6);
            } else {
                put(b, (const char *)&v[i], 1);
            }
        }
    }
    put(b, "\"", 1);

done:
    /* a pair is written whole or not at all: no dangling quote */
    if (b->truncated)
        b->len = start;
}

void logfmt_add_str(struct logfmt_buf *b, const char *key, const char *value)
{
    logfmt_add(b, key, value, strlen(value));
}

void logfmt_add_int(struct logfmt_buf *b, const char *key, long long value)
{
    char num[24];
    int n = snprintf(num, sizeof(num), "%lld", value);

    logfmt_add(b, key, num, (size_t)n);
}

size_t logfmt_finish(struct logfmt_buf *b)
{
    if (b->truncated) {
        memcpy(b->data + b->len, TRUNCATED_MARK, sizeof(TRUNCATED_MARK) - 1);
        b->len += sizeof(TRUNCATED_MARK) - 1;
    } else {
        b->data[b->len++] = '\n';
    }
    return b->len;
}
