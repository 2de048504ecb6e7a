/*
 * Requests for hot functions.
 */
#include "hot_request.h"
#include "text_out.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Headers that belong to one connection, not to the call. */
static const char *const hop_by_hop[] = {
    "connection", "keep-alive", "proxy-connection", "transfer-encoding",
    "te", "trailer", "upgrade", "content-length", "host", "expect",
};

static int hop(const char *name)
{
    size_t i;

    for (i = 0; i < sizeof(hop_by_hop) / sizeof(hop_by_hop[0]); i++) {
        if (strcasecmp(name, hop_by_hop[i]) == 0)
            return 1;
    }
    return 0;
}

/* A header line must not be able to start another one. */
static int clean(const char *s)
{
    return strpbrk(s, "\r\n") == NULL;
}

int hot_request_header_passes(const char *name, const char *value)
{
    return !hop(name) && strncasecmp(name, "Fn-", 3) != 0 && clean(name)
           && clean(value);
}

/* Splits http://host[:port]/path?query into host and the rest. */
static void split_url(const char *url, char *host, size_t hostlen,
                      const char **target)
{
    const char *p = strstr(url, "://"), *slash;
    size_t n;

    *target = "/";
    host[0] = '\0';
    if (p == NULL)
        return;
    p += 3;
    slash = strpbrk(p, "/?");
    n = slash != NULL ? (size_t)(slash - p) : strlen(p);
    if (n < hostlen) {
        memcpy(host, p, n);
        host[n] = '\0';
    }
    if (slash != NULL && *slash == '/')
        *target = slash;
}

/*
 * Writes the head into dst (NULL: only counts); returns its length.  Run
 * twice, to size the buffer and to fill it: one allocation, no printf
 * (this runs for every hot call).
 */
static size_t write_head(char *dst, const struct call_info *ci,
                         const char *target, const char *host,
                         size_t body_len)
{
    struct text_out o = { dst, 0 };
    size_t i;

    text_str(&o, ci->method);
    text_put(&o, " ", 1);
    text_str(&o, target);
    text_put(&o, " HTTP/1.1\r\n", 11);
    text_header(&o, "Host", host);
    text_str(&o, "Content-Length: ");
    text_uint(&o, body_len);
    text_put(&o, "\r\n", 2);
    for (i = 0; ci->header_names != NULL && ci->header_names[i] != NULL;
         i++) {
        const char *n = ci->header_names[i], *v = ci->header_values[i];

        if (hot_request_header_passes(n, v))
            text_header(&o, n, v);
    }
    text_header(&o, "Fn-Call-Id", ci->call_id);
    if (clean(ci->request_url))
        text_header(&o, "Fn-Request-Url", ci->request_url);
    text_header(&o, "Fn-Method", ci->method);
    text_header(&o, "Fn-Deadline", ci->deadline);
    text_header(&o, "Fn-App-Name", ci->route->app);
    text_header(&o, "Fn-Path", ci->route->path);
    text_put(&o, "\r\n", 2);
    return o.len;
}

char *hot_request_head(const struct call_info *ci, size_t body_len,
                       size_t *len)
{
    const char *target, *hostname;
    char host[256], *buf;
    size_t n;

    split_url(ci->request_url, host, sizeof(host), &target);
    if (!clean(target))
        target = "/";
    hostname = clean(host) && host[0] != '\0' ? host : "function";
    n = write_head(NULL, ci, target, hostname, body_len);
    buf = malloc(n + 1);
    if (buf == NULL)
        return NULL;
    write_head(buf, ci, target, hostname, body_len);
    buf[n] = '\0';
    *len = n;
    return buf;
}
