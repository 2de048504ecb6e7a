/*
 * Strict HTTP/1.1 heads, read in one pass.
 */
#include "http_head.h"

#include <string.h>

/* bit c of these is set when byte c is a token character (RFC 9110), or
 * one of the request-target subset */
static const uint32_t token_chars[8] = {
    0x00000000, 0x03ff6cfa, 0xc7fffffe, 0x57ffffff,
    0x00000000, 0x00000000, 0x00000000, 0x00000000,
};
static const uint32_t url_chars[8] = {
    0x00000000, 0xaffffff2, 0x87ffffff, 0x47fffffe,
    0x00000000, 0x00000000, 0x00000000, 0x00000000,
};

static int in_set(const uint32_t *set, unsigned char c)
{
    return (set[c >> 5] >> (c & 31)) & 1;
}

static int value_char(unsigned char c)
{
    return c >= 0x20 ? c != 0x7f : c == '\t';
}

/* Eight bytes at p are all of 0x20..0x7e and 0x80..0xff (a word with a
 * byte under 0x20, or 0x7f, is looked at byte by byte). */
static int plain_word(const char *p)
{
    const uint64_t ones = 0x0101010101010101ULL, highs = ones << 7;
    uint64_t x, y;

    memcpy(&x, p, sizeof(x));
    y = x ^ (ones * 0x7f);
    return (((x - ones * 0x20) & ~x) | ((y - ones) & ~y)) & highs
           ? 0 : 1;
}

/* The end of the value bytes from p: eight at a time while they are
 * plainly value bytes. */
static const char *value_end(const char *p, const char *end)
{
    const char *stop;

    for (;;) {
        while (end - p >= 8 && plain_word(p))
            p += 8;
        stop = end - p >= 8 ? p + 8 : end;
        while (p < stop && value_char((unsigned char)*p))
            p++;
        if (p < stop || p == end)
            return p;
    }
}

static int blank(char c)
{
    return c == ' ' || c == '\t';
}

/* s[0..n) starts with lower (all lower case), in any case */
static int starts(const char *s, size_t n, const char *lower)
{
    size_t i, m = strlen(lower);

    if (n < m)
        return 0;
    /* s is a token: no byte of it but a letter changes with 0x20 into a
     * byte of lower */
    for (i = 0; i < m; i++) {
        if ((s[i] | 0x20) != lower[i])
            return 0;
    }
    return 1;
}

/* A Content-Length's value: 1 to 18 digits (no overflow); 0, or -1. */
static int length_value(const char *s, size_t n, uint64_t *out)
{
    uint64_t v = 0;
    size_t i;

    if (n == 0 || n > 18)
        return -1;
    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    *out = v;
    return 0;
}

/* The header lines from p, and the empty line that ends them. */
static int head_lines(const char *start, const char *p, const char *end,
                      struct http_head *h, struct http_head_line *lines,
                      size_t max_lines)
{
    const char *name, *value;
    size_t name_len;

    h->nlines = 0;
    h->has_length = 0;
    h->length = 0;
    for (;;) {
        if (end - p >= 2 && p[0] == '\r' && p[1] == '\n') {
            h->head_len = (size_t)(p + 2 - start);
            return 1;
        }
        name = p;
        while (p < end && in_set(token_chars, (unsigned char)*p))
            p++;
        if (p == name || p == end || *p != ':')
            return 0;
        name_len = (size_t)(p - name);
        p++;
        while (p < end && blank(*p))
            p++;
        value = p;
        p = value_end(p, end);
        if (end - p < 2 || p[0] != '\r' || p[1] != '\n')
            return 0;
        if (p > value && blank(p[-1]))
            return 0;
        if (h->nlines == max_lines)
            return 0;
        /* http-parser takes a name that only starts with one of these
         * for it (Transfer-Encodings is Transfer-Encoding to it) */
        if (starts(name, name_len, "content-length")) {
            if (name_len != sizeof("content-length") - 1 || h->has_length
                || length_value(value, (size_t)(p - value), &h->length) < 0)
                return 0;
            h->has_length = 1;
        } else if (starts(name, name_len, "connection")
                   || starts(name, name_len, "proxy-connection")
                   || starts(name, name_len, "transfer-encoding")
                   || starts(name, name_len, "upgrade")) {
            return 0;
        }
        lines[h->nlines].name = name;
        lines[h->nlines].name_len = name_len;
        lines[h->nlines].value = value;
        lines[h->nlines].value_len = (size_t)(p - value);
        h->nlines++;
        p += 2;
    }
}

int http_head_request(const char *data, size_t len, struct http_head *h,
                      struct http_head_line *lines, size_t max_lines)
{
    static const char method[] = "POST ", version[] = " HTTP/1.1\r\n";
    const char *end = data + (len < HTTP_HEAD_SCAN_MAX
                              ? len : HTTP_HEAD_SCAN_MAX);
    const char *p = data + sizeof(method) - 1;

    if ((size_t)(end - data) < sizeof(method) - 1 + 1
        || memcmp(data, method, sizeof(method) - 1) != 0 || *p != '/')
        return 0;
    h->text = p;
    while (p < end && in_set(url_chars, (unsigned char)*p))
        p++;
    h->text_len = (size_t)(p - h->text);
    if ((size_t)(end - p) < sizeof(version) - 1
        || memcmp(p, version, sizeof(version) - 1) != 0)
        return 0;
    h->status = 0;
    return head_lines(data, p + sizeof(version) - 1, end, h, lines,
                      max_lines);
}

int http_head_response(const char *data, size_t len, struct http_head *h,
                       struct http_head_line *lines, size_t max_lines)
{
    static const char version[] = "HTTP/1.1 ";
    const char *end = data + (len < HTTP_HEAD_SCAN_MAX
                              ? len : HTTP_HEAD_SCAN_MAX);
    const char *p = data + sizeof(version) - 1;

    /* the version, three digits and a space */
    if ((size_t)(end - data) < sizeof(version) - 1 + 4
        || memcmp(data, version, sizeof(version) - 1) != 0
        || p[0] < '2' || p[0] > '5' || p[1] < '0' || p[1] > '9'
        || p[2] < '0' || p[2] > '9' || p[3] != ' ')
        return 0;
    h->status = (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
    p += 4;
    h->text = p;
    p = value_end(p, end);
    h->text_len = (size_t)(p - h->text);
    if (end - p < 2 || p[0] != '\r' || p[1] != '\n')
        return 0;
    return head_lines(data, p + 2, end, h, lines, max_lines);
}
