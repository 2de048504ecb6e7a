/*
 * A few TAP helpers for C unit tests; prove reads their output.
 */
#ifndef TAP_H
#define TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int tap_n, tap_failed;

__attribute__((format(printf, 2, 3)))
static int ok(int cond, const char *fmt, ...)
{
    va_list ap;

    tap_n++;
    if (!cond)
        tap_failed++;
    printf("%sok %d - ", cond ? "" : "not ", tap_n);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    return cond;
}

#define is_str(got, want, ...)                                              \
    do {                                                                    \
        const char *g_ = (got), *w_ = (want);                               \
        if (!ok(g_ != NULL && strcmp(g_, w_) == 0, __VA_ARGS__))            \
            printf("#   got:      '%s'\n#   expected: '%s'\n",              \
                   g_ ? g_ : "(null)", w_);                                 \
    } while (0)

#define is_int(got, want, ...)                                              \
    do {                                                                    \
        long long g_ = (long long)(got), w_ = (long long)(want);            \
        if (!ok(g_ == w_, __VA_ARGS__))                                     \
            printf("#   got:      %lld\n#   expected: %lld\n", g_, w_);     \
    } while (0)

static int done_testing(void)
{
    printf("1..%d\n", tap_n);
    return tap_failed ? 1 : 0;
}

#endif
