/*
 * Standard base64 (base64.h).
 */
#include "base64.h"

#include <stdlib.h>

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

int base64_decode(const char *in, size_t len, unsigned char *out,
                  size_t *outlen)
{
    size_t i, o = 0;

    if (len % 4 != 0)
        return -1;
    for (i = 0; i < len; i += 4) {
        int v[4], k, pad = 0;

        for (k = 0; k < 4; k++) {
            if (in[i + k] == '=' && i + 4 == len && k >= 2) {
                v[k] = 0;
                pad++;
                continue;
            }
            if (pad)
                return -1;      /* data after padding */
            v[k] = b64_value((unsigned char)in[i + k]);
            if (v[k] < 0)
                return -1;
        }
        out[o++] = (unsigned char)(v[0] << 2 | v[1] >> 4);
        if (pad < 2)
            out[o++] = (unsigned char)((v[1] & 15) << 4 | v[2] >> 2);
        if (pad < 1)
            out[o++] = (unsigned char)((v[2] & 3) << 6 | v[3]);
    }
    *outlen = o;
    return 0;
}

char *base64_encode(const void *in, size_t len, size_t *outlen)
{
    static const char abc[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *s = in;
    char *out = malloc((len + 2) / 3 * 4 + 1), *o = out;
    size_t i;

    if (out == NULL)
        return NULL;
    for (i = 0; i + 2 < len; i += 3) {
        *o++ = abc[s[i] >> 2];
        *o++ = abc[((s[i] & 3) << 4) | (s[i + 1] >> 4)];
        *o++ = abc[((s[i + 1] & 15) << 2) | (s[i + 2] >> 6)];
        *o++ = abc[s[i + 2] & 63];
    }
    if (i < len) {
        *o++ = abc[s[i] >> 2];
        if (i + 1 < len) {
            *o++ = abc[((s[i] & 3) << 4) | (s[i + 1] >> 4)];
            *o++ = abc[(s[i + 1] & 15) << 2];
        } else {
            *o++ = abc[(s[i] & 3) << 4];
            *o++ = '=';
        }
        *o++ = '=';
    }
    *o = '\0';
    *outlen = (size_t)(o - out);
    return out;
}
