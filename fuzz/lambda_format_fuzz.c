/*
 * libFuzzer harness for the Lambda Runtime API's pure parts: the bytes are
 * a runtime's request target, an /error body with its header, an API
 * Gateway answer and a client's body.  A request id taken back is 1 to 64
 * of [A-Za-z0-9-]; an error's type and message hold no control character;
 * an answer taken has a final status, header names that are tokens and
 * values without control characters, and stays within its limits; an
 * event is JSON.
 */
#include "lambda_format.h"
#include "route_def.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void broken(const char *what)
{
    fprintf(stderr, "lambda_format_fuzz: %s\n", what);
    abort();
}

static void no_controls(const char *s)
{
    for (; *s; s++) {
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            broken("a control character in text");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1), *ev;
    char id[LAMBDA_REQUEST_ID_MAX + 1], err[160];
    struct lambda_error e;
    struct http_response res;
    enum lambda_op op;
    size_t i, len, head = 0;

    if (s == NULL)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';

    op = lambda_runtime_op(size % 2 ? "POST" : "GET", s, id);
    if (op == LAMBDA_OP_RESPONSE || op == LAMBDA_OP_ERROR) {
        if (id[0] == '\0' || strlen(id) > LAMBDA_REQUEST_ID_MAX)
            broken("a request id out of bounds");
        for (i = 0; id[i]; i++) {
            if (!(id[i] == '-' || (id[i] >= '0' && id[i] <= '9')
                  || ((id[i] | 0x20) >= 'a' && (id[i] | 0x20) <= 'z')))
                broken("a request id of other characters");
        }
    } else if (id[0] != '\0') {
        broken("an id without a response or an error");
    }

    lambda_error_read((const char *)data, size, s, &e);
    no_controls(e.type);
    no_controls(e.message);

    if (lambda_apigw_answer((const char *)data, size, 512, 256, &res, err,
                            sizeof(err)) == 0) {
        if (res.status < 200 || res.status > 599 || res.body_len > 256)
            broken("an answer out of bounds");
        for (i = 0; i < res.nheaders; i++) {
            if (!route_header_name_valid(res.names[i]))
                broken("a header name that is no token");
            no_controls(res.values[i]);
            head += strlen(res.names[i]) + strlen(res.values[i]) + 4;
        }
        if (head > 512)
            broken("a head over its limit");
        http_response_free(&res);
    } else if (res.nheaders != 0 || res.body != NULL) {
        broken("a refused answer left something");
    }

    {
        struct route_def route = { .app = "app", .path = "/p" };
        char *names[] = { "Cookie", s, NULL };
        char *values[] = { s, "v", NULL };
        struct call_info ci = {
            .call_id = "01ARZ3NDEKTSV4RRFFQ69G5FAV", .method = "POST",
            .request_url = s, .route = &route,
            .header_names = names, .header_values = values,
        };
        json_t *o;

        ev = lambda_apigw_event(&ci, 0, (const char *)data, size, &len);
        if (ev != NULL) {
            o = json_loadb(ev, len, JSON_ALLOW_NUL, NULL);
            if (o == NULL)
                broken("an event that is not JSON");
            json_decref(o);
            free(ev);
        }
    }
    free(s);
    return 0;
}
