/*
 * Standard base64 (RFC 4648, with padding).  Pure.
 */
#ifndef EXECUTOR_BASE64_H
#define EXECUTOR_BASE64_H

#include <stddef.h>

/* in decoded into out (room for len / 4 * 3 bytes); -1 if malformed. */
int base64_decode(const char *in, size_t len, unsigned char *out,
                  size_t *outlen);

/* in encoded: a heap string (its length in *outlen), or NULL. */
char *base64_encode(const void *in, size_t len, size_t *outlen);

#endif
