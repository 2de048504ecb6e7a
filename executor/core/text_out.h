/*
 * Text built in two passes without printf: a first pass with no buffer
 * counts, a second fills a buffer of that size.  For what is built on
 * every call (a hot function's request head, an instance pool's key, the
 * headers of its answer).
 * Pure.
 */
#ifndef EXECUTOR_TEXT_OUT_H
#define EXECUTOR_TEXT_OUT_H

#include <stddef.h>

struct text_out {
    char *dst;                      /* NULL: only counting */
    size_t len;                     /* written (or counted) so far */
};

void text_put(struct text_out *o, const char *s, size_t n);
void text_str(struct text_out *o, const char *s);

/* v in decimal */
void text_uint(struct text_out *o, unsigned long long v);

/* "name: value\r\n", as they are (the caller checked them) */
void text_header(struct text_out *o, const char *name, const char *value);

#endif
