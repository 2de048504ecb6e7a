/*
 * Text built in two passes without printf.
 */
#include "text_out.h"

#include <string.h>

void text_put(struct text_out *o, const char *s, size_t n)
{
    if (o->dst != NULL)
        memcpy(o->dst + o->len, s, n);
    o->len += n;
}

void text_str(struct text_out *o, const char *s)
{
    text_put(o, s, strlen(s));
}

void text_uint(struct text_out *o, unsigned long long v)
{
    char digits[24], *p = digits + sizeof(digits);

    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    text_put(o, p, (size_t)(digits + sizeof(digits) - p));
}

void text_header(struct text_out *o, const char *name, const char *value)
{
    text_str(o, name);
    text_put(o, ": ", 2);
    text_str(o, value);
    text_put(o, "\r\n", 2);
}
