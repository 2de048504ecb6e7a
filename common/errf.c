/*
 * Error messages into a caller's buffer.
 */
#include "errf.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int errf(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

int errf_append(char *err, size_t errlen, const char *fmt, ...)
{
    size_t n = strnlen(err, errlen);
    va_list ap;

    if (n + 1 >= errlen)
        return -1;
    va_start(ap, fmt);
    vsnprintf(err + n, errlen - n, fmt, ap);
    va_end(ap);
    return -1;
}
