/*
 * Fn's http-stream format.
 */
#include "stream_format.h"
#include "hot_request.h"
#include "errf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define GATEWAY_PREFIX "Fn-Http-H-"
#define GATEWAY_PREFIX_LEN (sizeof(GATEWAY_PREFIX) - 1)

/* A header line must not be able to start another one. */
static int clean(const char *s)
{
    return strpbrk(s, "\r\n") == NULL;
}

char *stream_format_request(const struct call_info *ci, size_t body_len,
                            size_t *len)
{
    char *buf = NULL;
    size_t i, size = 0;
    FILE *f;

    f = open_memstream(&buf, &size);
    if (f == NULL)
        return NULL;
    fputs("POST /call HTTP/1.1\r\nHost: function\r\n", f);
    fprintf(f, "Content-Length: %zu\r\n", body_len);
    fprintf(f, "Fn-Call-Id: %s\r\n", ci->call_id);
    fprintf(f, "Fn-Deadline: %s\r\n", ci->deadline);
    fputs("Fn-Intent: httprequest\r\n", f);
    fprintf(f, "Fn-Http-Method: %s\r\n", ci->method);
    if (clean(ci->request_url))
        fprintf(f, "Fn-Http-Request-Url: %s\r\n", ci->request_url);
    for (i = 0; ci->header_names != NULL && ci->header_names[i] != NULL;
         i++) {
        const char *n = ci->header_names[i], *v = ci->header_values[i];

        if (!hot_request_header_passes(n, v))
            continue;
        fprintf(f, GATEWAY_PREFIX "%s: %s\r\n", n, v);
        if (strcasecmp(n, "Content-Type") == 0)
            fprintf(f, "Content-Type: %s\r\n", v);
    }
    fputs("\r\n", f);
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    *len = size;
    return buf;
}

/* Fn-Http-Status: digits only, 200 to 599. */
static int status_value(const char *s)
{
    int v = 0;
    size_t i;

    for (i = 0; s[i] == ' ' || s[i] == '\t'; i++)
        ;
    if (s[i] < '0' || s[i] > '9')
        return -1;
    for (; s[i] >= '0' && s[i] <= '9'; i++) {
        v = v * 10 + (s[i] - '0');
        if (v > 599)
            return -1;
    }
    for (; s[i] == ' ' || s[i] == '\t'; i++)
        ;
    return s[i] == '\0' && v >= 200 ? v : -1;
}

int stream_format_answer(struct http_response *res, char *err,
                         size_t errlen)
{
    int status = -1;
    size_t i, n = 0;
    char *name;

    /* the status first: on an error the answer stays as it came */
    for (i = 0; i < res->nheaders && status < 0; i++) {
        if (strcasecmp(res->names[i], "Fn-Http-Status") != 0)
            continue;
        status = status_value(res->values[i]);
        if (status < 0)
            return errf(err, errlen, "Fn-Http-Status \"%.32s\" is not a "
                        "status from 200 to 599", res->values[i]);
    }
    for (i = 0; i < res->nheaders; i++) {
        name = res->names[i];
        if (strncasecmp(name, GATEWAY_PREFIX, GATEWAY_PREFIX_LEN) == 0
            && name[GATEWAY_PREFIX_LEN] != '\0') {
            memmove(name, name + GATEWAY_PREFIX_LEN,
                    strlen(name + GATEWAY_PREFIX_LEN) + 1);
        } else if (strcasecmp(name, "Content-Type") != 0) {
            continue;
        }
        res->names[n] = res->names[i];
        res->values[n] = res->values[i];
        n++;
    }
    res->nheaders = n;
    if (status < 0)
        status = res->status >= 400 ? 502 : 200;
    res->status = status;
    return 0;
}
