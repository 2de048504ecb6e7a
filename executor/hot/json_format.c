/*
 * Fn's json format (json_format.h).
 */
#include "json_format.h"
#include "hot_request.h"
#include "json_out.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ------------------------------------------------------------ the call */

/* Adds value to the array of name in hdrs.  0, or -1 (no memory). */
static int header_add(json_t *hdrs, const char *name, const char *value)
{
    json_t *arr = json_object_get(hdrs, name), *v;

    v = json_string(value);
    if (v == NULL)
        return 0;       /* not UTF-8: not sent (JSON could not say it) */
    if (arr == NULL) {
        arr = json_array();
        if (arr == NULL || json_object_set_new(hdrs, name, arr) < 0) {
            json_decref(v);
            return -1;
        }
    }
    return json_array_append_new(arr, v);
}

char *json_format_request(const struct call_info *ci, const char *body,
                          size_t body_len, size_t *len)
{
    json_t *o = NULL, *proto, *hdrs, *b;
    const char *ct = "";
    char *text = NULL, *out = NULL;
    size_t i, n;

    b = json_stringn(body != NULL ? body : "", body_len);
    if (b == NULL) {
        errno = EILSEQ;
        return NULL;
    }
    hdrs = json_object();
    proto = json_object();
    o = json_object();
    if (hdrs == NULL || proto == NULL || o == NULL)
        goto out;
    for (i = 0; ci->header_names != NULL && ci->header_names[i] != NULL;
         i++) {
        const char *name = ci->header_names[i], *v = ci->header_values[i];

        if (!hot_request_header_passes(name, v))
            continue;
        if (strcasecmp(name, "Content-Type") == 0)
            ct = v;
        if (!utf8_text(name, strlen(name)))
            continue;   /* JSON could not say it */
        if (header_add(hdrs, name, v) < 0)
            goto out;
    }
    if (json_object_set_new(proto, "type", json_string("http")) < 0
        || json_object_set_new(proto, "method", json_string(ci->method)) < 0
        || json_object_set_new(proto, "request_url",
                               json_string(ci->request_url)) < 0
        || json_object_set(proto, "headers", hdrs) < 0
        || json_object_set_new(o, "call_id", json_string(ci->call_id)) < 0
        || json_object_set_new(o, "content_type", json_string(ct)) < 0
        || json_object_set_new(o, "deadline", json_string(ci->deadline)) < 0
        || json_object_set(o, "body", b) < 0
        || json_object_set(o, "protocol", proto) < 0)
        goto out;
    text = json_dumps(o, JSON_COMPACT);
    if (text == NULL)
        goto out;
    n = strlen(text);
    out = malloc(n + 2);
    if (out != NULL) {
        memcpy(out, text, n);
        out[n] = '\n';
        out[n + 1] = '\0';
        *len = n + 1;
    }
out:
    free(text);
    json_decref(b);
    json_decref(hdrs);
    json_decref(proto);
    json_decref(o);
    if (out == NULL)
        errno = ENOMEM;
    return out;
}

/* ---------------------------------------------------------- the answer */

void json_answer_init(struct json_answer_parser *p, size_t max,
                      size_t max_body)
{
    memset(p, 0, sizeof(*p));
    p->max = max;
    p->max_body = max_body;
}

static size_t fail(struct json_answer_parser *p, size_t used,
                   const char *fmt, const char *what)
{
    snprintf(p->error, sizeof(p->error), fmt, what);
    return used;
}

/* The answer whole in p->buf: into p->res, or p->error. */
static void answer_parse(struct json_answer_parser *p)
{
    struct http_response *res = &p->res;
    json_t *o, *body, *ct, *proto, *status, *hdrs, *v, *item;
    const char *name;
    json_error_t jerr;
    size_t i, head = 0;
    int have_ct = 0;

    /* a body may hold NULs; a header or content type may not (below) */
    o = json_loadb(p->buf, p->len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL,
                   &jerr);
    if (o == NULL) {
        snprintf(p->error, sizeof(p->error), "the answer is not JSON: %.100s",
                 jerr.text);
        return;
    }
    res->status = 200;
    body = json_object_get(o, "body");
    ct = json_object_get(o, "content_type");
    proto = json_object_get(o, "protocol");
    if (body != NULL && !json_is_string(body) && !json_is_null(body)) {
        fail(p, 0, "the answer's %s must be a string", "\"body\"");
        goto out;
    }
    if (ct != NULL && !json_is_null(ct)
        && (!json_is_string(ct)
            || strlen(json_string_value(ct)) != json_string_length(ct))) {
        fail(p, 0, "the answer's %s must be a string", "\"content_type\"");
        goto out;
    }
    if (proto != NULL && !json_is_object(proto) && !json_is_null(proto)) {
        fail(p, 0, "the answer's %s must be an object", "\"protocol\"");
        goto out;
    }
    status = json_object_get(proto, "status_code");
    hdrs = json_object_get(proto, "headers");
    if (status != NULL && !json_is_null(status)) {
        /* a final answer's: no 1xx (a 101 would switch protocols),
         * as for format http */
        if (!json_is_integer(status) || json_integer_value(status) < 200
            || json_integer_value(status) > 599) {
            fail(p, 0, "the answer's %s must be a number from 200 to 599",
                 "\"protocol\".\"status_code\"");
            goto out;
        }
        res->status = (int)json_integer_value(status);
    }
    if (hdrs != NULL && !json_is_object(hdrs) && !json_is_null(hdrs)) {
        fail(p, 0, "the answer's %s must be an object",
             "\"protocol\".\"headers\"");
        goto out;
    }
    json_object_foreach(hdrs, name, v) {
        size_t n = json_is_array(v) ? json_array_size(v) : 1;

        for (i = 0; i < n; i++) {
            item = json_is_array(v) ? json_array_get(v, i) : v;
            if (!json_is_string(item)
                || strlen(json_string_value(item))
                   != json_string_length(item)) {
                fail(p, 0, "the answer's header \"%.80s\" must be strings",
                     name);
                goto out;
            }
            head += strlen(name) + json_string_length(item) + 4;
            if (head > HTTP_RESPONSE_HEAD_MAX
                || http_response_add(res, name, json_string_value(item)) < 0) {
                fail(p, 0, "the answer's %s are too many or too large",
                     "headers");
                goto out;
            }
            if (strcasecmp(name, "Content-Type") == 0)
                have_ct = 1;
        }
    }
    if (json_is_string(ct) && !have_ct
        && http_response_add(res, "Content-Type", json_string_value(ct)) < 0) {
        fail(p, 0, "the answer's %s are too many or too large", "headers");
        goto out;
    }
    if (json_is_string(body)) {
        res->body_len = json_string_length(body);
        if (res->body_len > p->max_body) {
            fail(p, 0, "the answer's body is larger than %s",
                 "max_response_body");
            goto out;
        }
        res->body = malloc(res->body_len + 1);
        if (res->body == NULL) {
            fail(p, 0, "%s", "out of memory");
            goto out;
        }
        memcpy(res->body, json_string_value(body), res->body_len);
        res->body[res->body_len] = '\0';
    }
    p->complete = 1;
out:
    json_decref(o);
}

size_t json_answer_feed(struct json_answer_parser *p, const char *data,
                        size_t len)
{
    size_t i, start = 0;
    char c, *grown;

    if (p->complete || p->error[0] != '\0')
        return 0;
    for (i = 0; i < len; i++) {
        c = data[i];
        if (p->len == 0 && i == start) {
            /* between answers: whitespace, then an object */
            if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
                start = i + 1;
                continue;
            }
            if (c != '{')
                return fail(p, i, "%s", "the answer is not a JSON object");
        }
        if (p->in_string) {
            if (p->escaped)
                p->escaped = 0;
            else if (c == '\\')
                p->escaped = 1;
            else if (c == '"')
                p->in_string = 0;
        } else if (c == '"') {
            p->in_string = 1;
        } else if (c == '{' || c == '[') {
            p->depth++;
        } else if (c == '}' || c == ']') {
            p->depth--;
        }
        if (p->depth == 0 || i + 1 == len) {
            /* the bytes of this answer seen so far, kept */
            size_t n = i + 1 - start;

            if (p->len + n > p->max)
                return fail(p, i, "the answer is larger than %s",
                            "max_response_body");
            if (p->len + n + 1 > p->cap) {
                size_t cap = p->cap ? p->cap : 4096;

                while (cap < p->len + n + 1)
                    cap *= 2;
                grown = realloc(p->buf, cap);
                if (grown == NULL)
                    return fail(p, i, "%s", "out of memory");
                p->buf = grown;
                p->cap = cap;
            }
            memcpy(p->buf + p->len, data + start, n);
            p->len += n;
            p->buf[p->len] = '\0';
            start = i + 1;
            if (p->depth == 0) {
                answer_parse(p);
                return i + 1;
            }
        }
    }
    return len;
}

void json_answer_reset(struct json_answer_parser *p)
{
    http_response_free(&p->res);
    free(p->buf);
    json_answer_init(p, p->max, p->max_body);
}

void json_answer_free(struct json_answer_parser *p)
{
    json_answer_reset(p);
}
