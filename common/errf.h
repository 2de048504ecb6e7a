/*
 * Error messages into a caller's buffer.  Pure.
 */
#ifndef EXECUTOR_ERRF_H
#define EXECUTOR_ERRF_H

#include <stddef.h>

/* Formats into err (errlen bytes, always terminated); returns -1. */
int errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The same, after what err holds already (when it fits); returns -1. */
int errf_append(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
