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
    static const struct {
        const char *name;
        size_t len;
    } names[] = {
        { "connection", 10 }, { "keep-alive", 10 },
        { "transfer-encoding", 17 }, { "te", 2 }, { "trailer", 7 },
        { "upgrade", 7 }, { "proxy-connection", 16 },
        { "content-length", 14 }, { "host", 4 },
    };
    size_t i, len = strlen(name);

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (len == names[i].len && strcasecmp(name, names[i].name) == 0)
            return 1;
    }
    return 0;
}

/* The first of each Fn-* header the call is made of, in one pass. */
struct fn_headers {
    const char *id, *route, *method, *url;
};

static void fn_header(struct fn_headers *f, const char *name,
                      const char *value)
{
    const char **slot = NULL;

    /* the four names differ in length: one comparison at most */
    switch (strlen(name)) {
    case 7:
        slot = strcasecmp(name, "Call-Id") == 0 ? &f->id : NULL;
        break;
    case 5:
        slot = strcasecmp(name, "Route") == 0 ? &f->route : NULL;
        break;
    case 6:
        slot = strcasecmp(name, "Method") == 0 ? &f->method : NULL;
        break;
    case 11:
        slot = strcasecmp(name, "Request-Url") == 0 ? &f->url : NULL;
        break;
    }
    if (slot != NULL && *slot == NULL)
        *slot = value;
}

int call_request_parse(const struct http_request *req,
                       struct call_request *cr, char *err, size_t errlen)
{
    struct fn_headers f = { NULL, NULL, NULL, NULL };
    size_t i;

    memset(cr, 0, sizeof(*cr));
    for (i = 0; i < req->nheaders; i++) {
        if (strncasecmp(req->headers[i].name, "Fn-", 3) == 0)
            fn_header(&f, req->headers[i].name + 3, req->headers[i].value);
    }
    if (f.id == NULL || !call_id_valid(f.id)) {
        errf(err, errlen, "Fn-Call-Id must be a ULID (%d characters of "
             "Crockford base32)", ULID_LEN);
        return 400;
    }
    strcpy(cr->call_id, f.id);
    if (f.method == NULL || !method_valid(f.method)) {
        errf(err, errlen, "Fn-Method must be an HTTP method");
        return 400;
    }
    strcpy(cr->method, f.method);
    if (f.url == NULL || f.url[0] == '\0' || strlen(f.url) > 8192) {
        errf(err, errlen, "Fn-Request-Url is missing or too long");
        return 400;
    }
    if (f.route == NULL) {
        errf(err, errlen, "Fn-Route is missing");
        return 400;
    }
    if (route_cache_parse(f.route, strlen(f.route), &cr->route, err,
                          errlen) < 0)
        return 400;
    cr->request_url = strdup(f.url);
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
