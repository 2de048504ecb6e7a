/*
 * Registry challenges and credentials (registry_auth.h).
 */
#include "registry_auth.h"
#include "errf.h"
#include "image_ref.h"

#include <string.h>
#include <strings.h>

/* RFC 9110 tchar */
static int tchar(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
           || (c >= '0' && c <= '9') || strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static void skip_ws(const char **p, const char *end)
{
    while (*p < end && (**p == ' ' || **p == '\t'))
        (*p)++;
}

/*
 * A parameter value at *p: a token, or a quoted string (backslash
 * escapes) copied unquoted into dst.  0, or -1 when malformed or longer
 * than size - 1 (then dst is "").
 */
static int param_value(const char **p, const char *end, char *dst,
                       size_t size)
{
    size_t n = 0;
    int fits = 1;

    if (*p < end && **p == '"') {
        (*p)++;
        while (*p < end && **p != '"') {
            char c = **p;

            if (c == '\\') {
                if (++*p >= end)
                    return -1;
                c = **p;
            }
            if ((unsigned char)c < 0x20 || c == 0x7f)
                return -1;
            if (n + 1 < size)
                dst[n++] = c;
            else
                fits = 0;
            (*p)++;
        }
        if (*p >= end)
            return -1;      /* no closing quote */
        (*p)++;
    } else {
        if (*p >= end || !tchar(**p))
            return -1;
        while (*p < end && (tchar(**p) || **p == '/')) {
            if (n + 1 < size)
                dst[n++] = **p;
            else
                fits = 0;
            (*p)++;
        }
    }
    dst[fits ? n : 0] = '\0';
    return fits ? 0 : -1;
}

int www_auth_parse(const char *value, size_t len, struct www_auth *out)
{
    const char *p = value, *end = value + len, *s;
    enum www_auth_scheme scheme;
    char name[32], scratch[1024], *dst;
    size_t n, size;

    memset(out, 0, sizeof(*out));
    for (;;) {
        /* a challenge: its scheme */
        skip_ws(&p, end);
        while (p < end && (*p == ',' || *p == ' ' || *p == '\t'))
            p++;
        if (p >= end)
            return -1;
        for (s = p; p < end && tchar(*p); p++)
            ;
        n = (size_t)(p - s);
        if (n == 0)
            return -1;
        scheme = n == 5 && strncasecmp(s, "Basic", 5) == 0 ? WWW_AUTH_BASIC
                 : n == 6 && strncasecmp(s, "Bearer", 6) == 0
                 ? WWW_AUTH_BEARER : WWW_AUTH_NONE;
        memset(out, 0, sizeof(*out));
        out->scheme = scheme;
        /* its parameters, up to the next scheme */
        for (;;) {
            const char *mark;

            skip_ws(&p, end);
            if (p >= end)
                break;
            mark = p;
            for (s = p; p < end && tchar(*p); p++)
                ;
            n = (size_t)(p - s);
            skip_ws(&p, end);
            if (n == 0 || p >= end || *p != '=') {
                p = mark;   /* the next challenge's scheme */
                break;
            }
            p++;
            skip_ws(&p, end);
            if (n >= sizeof(name))
                n = sizeof(name) - 1;
            memcpy(name, s, n);
            name[n] = '\0';
            dst = strcasecmp(name, "realm") == 0 ? out->realm
                  : strcasecmp(name, "service") == 0 ? out->service
                  : strcasecmp(name, "scope") == 0 ? out->scope : scratch;
            size = dst == out->realm ? sizeof(out->realm)
                   : dst == out->service ? sizeof(out->service)
                   : dst == out->scope ? sizeof(out->scope)
                   : sizeof(scratch);
            if (param_value(&p, end, dst, size) < 0)
                return -1;
            skip_ws(&p, end);
            if (p < end && *p == ',')
                p++;
        }
        if (scheme != WWW_AUTH_NONE)
            return scheme == WWW_AUTH_BEARER && out->realm[0] == '\0'
                   ? -1 : 0;
        if (p >= end)
            return -1;
    }
}

int registry_creds_parse(const char *text, size_t len,
                         struct registry_cred *out, size_t max, size_t *n,
                         char *err, size_t errlen)
{
    const char *p = text, *end = text + len, *eol, *a, *b;
    unsigned lineno = 0;
    size_t i;

    *n = 0;
    while (p < end) {
        lineno++;
        eol = memchr(p, '\n', (size_t)(end - p));
        if (eol == NULL)
            eol = end;
        while (p < eol && (*p == ' ' || *p == '\t'))
            p++;
        a = eol;
        while (a > p && (a[-1] == ' ' || a[-1] == '\t' || a[-1] == '\r'))
            a--;
        if (p == a || *p == '#') {
            p = eol + (eol < end);
            continue;
        }
        if (memchr(p, '\0', (size_t)(a - p)) != NULL)
            return errf(err, errlen, "line %u: a NUL byte", lineno);
        if (*n == max)
            return errf(err, errlen, "line %u: more than %zu registries",
                        lineno, max);
        /* host[:port] */
        for (b = p; b < a && *b != ' ' && *b != '\t'; b++)
            ;
        if (!image_ref_registry_valid(p, (size_t)(b - p)))
            return errf(err, errlen, "line %u: the registry is not "
                        "host[:port]", lineno);
        memcpy(out[*n].registry, p, (size_t)(b - p));
        out[*n].registry[b - p] = '\0';
        for (i = 0; i < *n; i++) {
            if (strcasecmp(out[i].registry, out[*n].registry) == 0)
                return errf(err, errlen, "line %u: %s is given twice",
                            lineno, out[*n].registry);
        }
        /* user */
        while (b < a && (*b == ' ' || *b == '\t'))
            b++;
        for (p = b; b < a && *b != ' ' && *b != '\t'; b++)
            ;
        if (b == p || (size_t)(b - p) >= sizeof(out[*n].user)
            || memchr(p, ':', (size_t)(b - p)) != NULL)
            return errf(err, errlen, "line %u: a user name (no \":\", at "
                        "most %zu bytes) is needed", lineno,
                        sizeof(out[*n].user) - 1);
        memcpy(out[*n].user, p, (size_t)(b - p));
        out[*n].user[b - p] = '\0';
        /* the password: the rest */
        while (b < a && (*b == ' ' || *b == '\t'))
            b++;
        if (b == a || (size_t)(a - b) >= sizeof(out[*n].password))
            return errf(err, errlen, "line %u: a password (at most %zu "
                        "bytes) is needed", lineno,
                        sizeof(out[*n].password) - 1);
        for (i = 0; b + i < a; i++) {
            if ((unsigned char)b[i] < 0x20 && b[i] != '\t')
                return errf(err, errlen, "line %u: a control byte in the "
                            "password", lineno);
        }
        memcpy(out[*n].password, b, (size_t)(a - b));
        out[*n].password[a - b] = '\0';
        (*n)++;
        p = eol + (eol < end);
    }
    return 0;
}
