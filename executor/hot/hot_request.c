/*
 * Requests for hot functions.
 */
#include "hot_request.h"

#include <stdio.h>
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

char *hot_request_head(const struct call_info *ci, size_t body_len,
                       size_t *len)
{
    const char *target;
    char host[256], *buf = NULL;
    size_t i, size = 0;
    FILE *f;

    f = open_memstream(&buf, &size);
    if (f == NULL)
        return NULL;
    split_url(ci->request_url, host, sizeof(host), &target);
    if (!clean(target))
        target = "/";
    fprintf(f, "%s %s HTTP/1.1\r\n", ci->method, target);
    fprintf(f, "Host: %s\r\n", clean(host) && host[0] ? host : "function");
    fprintf(f, "Content-Length: %zu\r\n", body_len);
    for (i = 0; ci->header_names != NULL && ci->header_names[i] != NULL;
         i++) {
        const char *n = ci->header_names[i], *v = ci->header_values[i];

        if (hot_request_header_passes(n, v))
            fprintf(f, "%s: %s\r\n", n, v);
    }
    fprintf(f, "Fn-Call-Id: %s\r\n", ci->call_id);
    if (clean(ci->request_url))
        fprintf(f, "Fn-Request-Url: %s\r\n", ci->request_url);
    fprintf(f, "Fn-Method: %s\r\n", ci->method);
    fprintf(f, "Fn-Deadline: %s\r\n", ci->deadline);
    fprintf(f, "Fn-App-Name: %s\r\n", ci->route->app);
    fprintf(f, "Fn-Path: %s\r\n", ci->route->path);
    fputs("\r\n", f);
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    *len = size;
    return buf;
}
