/*
 * ULIDs: common/ulid.h.
 */
#include "ulid.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

const char ulid_digits[33] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

void ulid_encode(char *out, uint64_t ms,
                 const unsigned char rnd[ULID_RANDOM_BYTES])
{
    int i, bit;

    for (i = 9; i >= 0; i--) {
        out[i] = ulid_digits[ms & 31];
        ms >>= 5;
    }
    /* 80 bits, most significant first: 16 characters of 5 bits */
    for (i = 0; i < 16; i++) {
        unsigned v = 0;

        for (bit = 0; bit < 5; bit++) {
            unsigned pos = (unsigned)i * 5 + (unsigned)bit;

            v = v << 1 | ((rnd[pos / 8] >> (7 - pos % 8)) & 1);
        }
        out[10 + i] = ulid_digits[v];
    }
}

/* The value of a digit (its place in ulid_digits), or -1. */
static int ulid_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c < 'A' || c > 'Z' || c == 'I' || c == 'L' || c == 'O' || c == 'U')
        return -1;
    /* the letters, less the four left out before c */
    return 10 + (c - 'A') - (c > 'I') - (c > 'L') - (c > 'O') - (c > 'U');
}

int ulid_valid(const char *s, size_t len)
{
    size_t i;

    if (len != ULID_LEN || s[0] > '7')
        return 0;
    for (i = 0; i < len; i++) {
        if (ulid_value(s[i]) < 0)
            return 0;
    }
    return 1;
}

uint64_t ulid_time(const char *s)
{
    uint64_t ms = 0;
    int i;

    for (i = 0; i < 10; i++)
        ms = ms << 5 | (uint64_t)ulid_value(s[i]);
    return ms;
}

int ulid_random(unsigned char *buf, size_t n)
{
    size_t got = 0;

    while (got < n) {
        ssize_t r = getrandom(buf + got, n - got, 0);

        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (r == 0) {
            errno = EIO;
            return -1;
        }
        got += (size_t)r;
    }
    return 0;
}
