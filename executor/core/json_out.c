/*
 * Small JSON writers.
 */
#include "json_out.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

struct out {
    char *dst;
    size_t size;
    size_t len;
};

static void put(struct out *o, const char *s, size_t n)
{
    if (o->len < o->size) {
        size_t room = o->size - o->len;
        memcpy(o->dst + o->len, s, n < room ? n : room);
    }
    o->len += n;
}

/* Length of the valid UTF-8 sequence at s, or 0. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    uint32_t cp;
    size_t need, i;

    if (s[0] < 0x80)
        return 1;
    if ((s[0] & 0xe0) == 0xc0) {
        need = 2;
        cp = s[0] & 0x1f;
    } else if ((s[0] & 0xf0) == 0xe0) {
        need = 3;
        cp = s[0] & 0x0f;
    } else if ((s[0] & 0xf8) == 0xf0) {
        need = 4;
        cp = s[0] & 0x07;
    } else {
        return 0;
    }
    if (n < need)
        return 0;
    for (i = 1; i < need; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((need == 2 && cp < 0x80) || (need == 3 && cp < 0x800)
        || (need == 4 && cp < 0x10000) || cp > 0x10ffff
        || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return need;
}

static void quote(struct out *o, const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;

    put(o, "\"", 1);
    while (i < len) {
        char esc[8];
        size_t n;

        switch (p[i]) {
        case '"': put(o, "\\\"", 2); i++; continue;
        case '\\': put(o, "\\\\", 2); i++; continue;
        case '\n': put(o, "\\n", 2); i++; continue;
        case '\r': put(o, "\\r", 2); i++; continue;
        case '\t': put(o, "\\t", 2); i++; continue;
        }
        if (p[i] < 0x20) {
            snprintf(esc, sizeof(esc), "\\u%04x", p[i]);
            put(o, esc, 6);
            i++;
            continue;
        }
        n = utf8_len(p + i, len - i);
        if (n == 0) {
            put(o, "\\ufffd", 6);
            i++;
            continue;
        }
        put(o, s + i, n);
        i += n;
    }
    put(o, "\"", 1);
}

static size_t finish(struct out *o)
{
    if (o->size > 0)
        o->dst[o->len < o->size ? o->len : o->size - 1] = '\0';
    return o->len;
}

size_t json_quote(char *dst, size_t size, const char *s, size_t len)
{
    struct out o = { dst, size, 0 };

    quote(&o, s, len);
    return finish(&o);
}

size_t json_error_body(char *dst, size_t size, const char *message,
                       const char *call_id)
{
    struct out o = { dst, size, 0 };

    put(&o, "{\"error\":{\"message\":", 20);
    quote(&o, message, strlen(message));
    put(&o, "}", 1);
    if (call_id != NULL) {
        put(&o, ",\"call_id\":", 11);
        quote(&o, call_id, strlen(call_id));
    }
    put(&o, "}", 1);
    return finish(&o);
}

void utf8_clean(char *s, size_t len)
{
    unsigned char *p = (unsigned char *)s;
    size_t i = 0, n;

    while (i < len) {
        n = p[i] == 0 ? 0 : utf8_len(p + i, len - i);
        if (n == 0) {
            p[i++] = '?';
            continue;
        }
        i += n;
    }
}

int utf8_text(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, n;

    while (i < len) {
        if (p[i] < 0x20 && p[i] != '\t' && p[i] != '\n' && p[i] != '\r')
            return 0;
        if (p[i] == 0x7f)
            return 0;
        n = utf8_len(p + i, len - i);
        if (n == 0)
            return 0;
        i += n;
    }
    return 1;
}
