/*
 * Call ids (and sandbox ids): ULIDs, 48 bits of milliseconds then 80
 * random bits, written as 26 characters of Crockford's base32.  The module
 * and the executor make and check them here.
 */
#ifndef COMMON_ULID_H
#define COMMON_ULID_H

#include <stddef.h>
#include <stdint.h>

#define ULID_LEN          26    /* characters, no NUL */
#define ULID_RANDOM_BYTES 10    /* 80 bits */

/* Writes the ULID of ms and rnd into out[0 .. ULID_LEN). */
void ulid_encode(char *out, uint64_t ms,
                 const unsigned char rnd[ULID_RANDOM_BYTES]);

/* s[0 .. len) is a ULID as written: upper case, the first at most '7'. */
int ulid_valid(const char *s, size_t len);

/* The milliseconds of s: a ULID that ulid_valid() accepted, nothing else. */
uint64_t ulid_time(const char *s);

/* Crockford's base32 digits, the value of each at its index. */
extern const char ulid_digits[33];

/*
 * Fills buf with n bytes from the kernel's CSPRNG.  0, or -1 with errno
 * set: the caller makes no id then (never reuses or invents bytes).
 */
int ulid_random(unsigned char *buf, size_t n);

#endif
