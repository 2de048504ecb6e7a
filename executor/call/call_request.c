/*
 * Calls as nginx sends them.
 */
#include "call_request.h"
#include "errf.h"
#include "route_cache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int call_id_valid(const char *s)
{
    return ulid_valid(s, strlen(s));
}

static int method_valid(const char *s)
{
    size_t n = strlen(s), i;

    if (n == 0 || n > 15)
        return 0;
    for (i = 0; i < n; i++) {
        if (s[i] < 'A' || s[i] > 'Z')
            return 0;
    }
    return 1;
}

/* Headers that describe one hop, not the client's request. */
static int hop_by_hop(const char *name)
{
    static const char *const names[] = {
        "connection", "keep-alive", "transfer-encoding", "te", "trailer",
        "upgrade", "proxy-connection", "content-length", "host",
    };
    size_t i;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcasecmp(name, names[i]) == 0)
            return 1;
    }
    return 0;
}

int call_request_parse(const struct http_request *req,
                       struct call_request *cr, char *err, size_t errlen)
{
    const char *id = http_request_header(req, "Fn-Call-Id");
    const char *route = http_request_header(req, "Fn-Route");
    const char *method = http_request_header(req, "Fn-Method");
    const char *url = http_request_header(req, "Fn-Request-Url");
    size_t i;

    memset(cr, 0, sizeof(*cr));
    if (id == NULL || !call_id_valid(id)) {
        errf(err, errlen, "Fn-Call-Id must be a ULID (%d characters of "
             "Crockford base32)", ULID_LEN);
        return 400;
    }
    strcpy(cr->call_id, id);
    if (method == NULL || !method_valid(method)) {
        errf(err, errlen, "Fn-Method must be an HTTP method");
        return 400;
    }
    strcpy(cr->method, method);
    if (url == NULL || url[0] == '\0' || strlen(url) > 8192) {
        errf(err, errlen, "Fn-Request-Url is missing or too long");
        return 400;
    }
    if (route == NULL) {
        errf(err, errlen, "Fn-Route is missing");
        return 400;
    }
    if (route_cache_parse(route, strlen(route), &cr->route, err, errlen)
        < 0)
        return 400;
    cr->request_url = strdup(url);
    if (cr->request_url == NULL) {
        call_request_free(cr);
        errf(err, errlen, "out of memory");
        return 500;
    }
    for (i = 0; i < req->nheaders; i++) {
        const char *name = req->headers[i].name;

        if (strncasecmp(name, "Fn-", 3) == 0 || hop_by_hop(name))
            continue;
        strvec_push(&cr->header_names, name);
        strvec_push(&cr->header_values, req->headers[i].value);
    }
    if (cr->header_names.failed || cr->header_values.failed) {
        call_request_free(cr);
        errf(err, errlen, "out of memory");
        return 500;
    }
    return 0;
}

void call_request_free(struct call_request *cr)
{
    free(cr->request_url);
    cr->request_url = NULL;
    route_def_free(&cr->route);
    strvec_free(&cr->header_names);
    strvec_free(&cr->header_values);
}
