/*
 * The Lambda Runtime API's pure parts (lambda_format.h).
 */
#include "lambda_format.h"
#include "base64.h"
#include "json_out.h"
#include "route_def.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PREFIX "/2018-06-01/runtime/"

/* ---------------------------------------------------------- the requests */

static int id_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
           || (c >= '0' && c <= '9') || c == '-';
}

enum lambda_op lambda_runtime_op(const char *method, const char *target,
                                 char id[LAMBDA_REQUEST_ID_MAX + 1])
{
    size_t n = strcspn(target, "?"), i;
    const char *p = target + sizeof(PREFIX) - 1, *end = target + n;
    const char *slash, *want;
    enum lambda_op op;

    id[0] = '\0';
    if (n < sizeof(PREFIX) - 1 || strncmp(target, PREFIX, sizeof(PREFIX) - 1))
        return LAMBDA_OP_NOT_FOUND;

    if ((size_t)(end - p) == sizeof("invocation/next") - 1
        && memcmp(p, "invocation/next", end - p) == 0) {
        op = LAMBDA_OP_NEXT;
        want = "GET";
    } else if ((size_t)(end - p) == sizeof("init/error") - 1
               && memcmp(p, "init/error", end - p) == 0) {
        op = LAMBDA_OP_INIT_ERROR;
        want = "POST";
    } else {
        if ((size_t)(end - p) < sizeof("invocation/") - 1
            || memcmp(p, "invocation/", sizeof("invocation/") - 1) != 0)
            return LAMBDA_OP_NOT_FOUND;
        p += sizeof("invocation/") - 1;
        slash = memchr(p, '/', end - p);
        if (slash == NULL || slash == p
            || slash - p > LAMBDA_REQUEST_ID_MAX)
            return LAMBDA_OP_NOT_FOUND;
        for (i = 0; p + i < slash; i++) {
            if (!id_char(p[i]))
                return LAMBDA_OP_NOT_FOUND;
        }
        if ((size_t)(end - slash) == sizeof("/response") - 1
            && memcmp(slash, "/response", end - slash) == 0)
            op = LAMBDA_OP_RESPONSE;
        else if ((size_t)(end - slash) == sizeof("/error") - 1
                 && memcmp(slash, "/error", end - slash) == 0)
            op = LAMBDA_OP_ERROR;
        else
            return LAMBDA_OP_NOT_FOUND;
        memcpy(id, p, slash - p);
        id[slash - p] = '\0';
        want = "POST";
    }
    if (strcmp(method, want) != 0) {
        id[0] = '\0';
        return LAMBDA_OP_BAD_METHOD;
    }
    return op;
}

static int printable(const char *s)
{
    for (; *s; s++) {
        if (*s < 0x20 || *s > 0x7e)
            return 0;
    }
    return 1;
}

char *lambda_next_head(const char *request_id, long long deadline_ms,
                       const char *function_arn, const char *trace_id,
                       size_t body_len, size_t *len)
{
    char *head = NULL;
    size_t size = 0;
    FILE *f;

    if (!printable(request_id)
        || (function_arn != NULL && !printable(function_arn))
        || (trace_id != NULL && !printable(trace_id)))
        return NULL;
    f = open_memstream(&head, &size);
    if (f == NULL)
        return NULL;
    fprintf(f, "HTTP/1.1 200 OK\r\n"
               "Content-Type: application/json\r\n"
               "Content-Length: %zu\r\n"
               "Lambda-Runtime-Aws-Request-Id: %s\r\n"
               "Lambda-Runtime-Deadline-Ms: %lld\r\n",
            body_len, request_id, deadline_ms);
    if (function_arn != NULL)
        fprintf(f, "Lambda-Runtime-Invoked-Function-Arn: %s\r\n",
                function_arn);
    if (trace_id != NULL)
        fprintf(f, "Lambda-Runtime-Trace-Id: %s\r\n", trace_id);
    fputs("\r\n", f);
    if (fclose(f) != 0) {
        free(head);
        return NULL;
    }
    *len = size;
    return head;
}

/* ------------------------------------------------------------- errors */

/*
 * dst gets src as text: each control character (and DEL) a space, cut to
 * fit on a UTF-8 character's boundary.  ascii: every other byte outside
 * printable ASCII a '?' (for a header, which need not be UTF-8).
 */
static void text_copy(char *dst, size_t size, const char *src, size_t len,
                      int ascii)
{
    size_t i, n = len < size - 1 ? len : size - 1;

    if (n < len) {
        /* not in the middle of a character: back to its first byte */
        while (n > 0 && ((unsigned char)src[n] & 0xc0) == 0x80)
            n--;
    }
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)src[i];

        if (c < 0x20 || c == 0x7f)
            dst[i] = ' ';
        else if (ascii && c > 0x7f)
            dst[i] = '?';
        else
            dst[i] = (char)c;
    }
    dst[n] = '\0';
}

void lambda_error_read(const char *body, size_t len, const char *type_header,
                       struct lambda_error *e)
{
    json_t *o, *type, *msg;

    snprintf(e->type, sizeof(e->type), "Unhandled");
    e->message[0] = '\0';
    if (type_header != NULL && type_header[0] != '\0')
        text_copy(e->type, sizeof(e->type), type_header,
                  strlen(type_header), 1);
    o = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, NULL);
    if (!json_is_object(o)) {
        json_decref(o);
        return;
    }
    type = json_object_get(o, "errorType");
    msg = json_object_get(o, "errorMessage");
    if (json_is_string(type) && json_string_length(type) > 0)
        text_copy(e->type, sizeof(e->type), json_string_value(type),
                  json_string_length(type), 0);
    if (json_is_string(msg))
        text_copy(e->message, sizeof(e->message), json_string_value(msg),
                  json_string_length(msg), 0);
    json_decref(o);
}

char *lambda_error_body(const struct lambda_error *e, const char *what,
                        size_t *len)
{
    char message[768];
    json_t *o;
    char *s;

    snprintf(message, sizeof(message), "%s: %s%s%s", what, e->type,
             e->message[0] ? ": " : "", e->message);
    o = json_pack("{s:{s:s},s:s,s:s}", "error", "message", message,
                  "errorType", e->type, "errorMessage", e->message);
    if (o == NULL)
        return NULL;
    s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (s != NULL)
        *len = strlen(s);
    return s;
}

/* ----------------------------------------------- API Gateway, payload 2.0 */

static int lower_copy(char *dst, size_t size, const char *src)
{
    size_t i;

    for (i = 0; src[i] && i + 1 < size; i++)
        dst[i] = (src[i] >= 'A' && src[i] <= 'Z') ? src[i] + 32 : src[i];
    dst[i] = '\0';
    return src[i] == '\0' ? 0 : -1;
}

/* A JSON string of s: request headers and URLs may hold anything, their
 * bytes that are not UTF-8 (and NULs) become '?'. */
static json_t *text(const char *s, size_t len)
{
    char *copy = malloc(len + 1);
    json_t *j;

    if (copy == NULL)
        return NULL;
    memcpy(copy, s, len);
    copy[len] = '\0';
    utf8_clean(copy, len);
    j = json_stringn(copy, len);
    free(copy);
    return j;
}

/* The request URL's path and query ("" when there is none).  The
 * authority ends at the first "/": nginx takes a "?" in a Host header. */
static void url_parts(const char *url, const char **path, size_t *path_len,
                      const char **query)
{
    const char *p = url, *q;

    if (strncmp(p, "http://", 7) == 0)
        p += 7;
    else if (strncmp(p, "https://", 8) == 0)
        p += 8;
    if (p != url)
        p += strcspn(p, "/");
    q = strchr(p, '?');
    *path = *p == '/' ? p : "/";
    *path_len = *p == '/' ? (size_t)((q != NULL ? q : p + strlen(p)) - p)
                          : 1;
    *query = q != NULL ? q + 1 : "";
}

char *lambda_apigw_event(const struct call_info *ci, long long time_ms,
                         const char *body, size_t body_len, size_t *len)
{
    json_t *ev, *hdrs, *cookies, *http, *ctx, *v;
    const char *path, *query, *ua = "";
    const char *method = ci->method != NULL ? ci->method : "GET";
    char name[257], *s = NULL, *b64;
    size_t path_len, i, n;
    int ok = 1;

    url_parts(ci->request_url != NULL ? ci->request_url : "/", &path,
              &path_len, &query);
    ev = json_object();
    hdrs = json_object();
    cookies = json_array();
    http = json_object();
    ctx = json_object();
    if (ev == NULL || hdrs == NULL || cookies == NULL || http == NULL
        || ctx == NULL)
        ok = 0;

    for (i = 0; ok && ci->header_names != NULL && ci->header_names[i]; i++) {
        const char *value = ci->header_values[i];

        if (lower_copy(name, sizeof(name), ci->header_names[i]) < 0)
            continue;
        if (strcmp(name, "cookie") == 0) {
            /* one item a cookie, as API Gateway splits them */
            const char *c = value;

            while (ok && *c) {
                n = strcspn(c, ";");
                while (n > 0 && c[n - 1] == ' ')
                    n--;
                if (n > 0)
                    ok = json_array_append_new(cookies,
                                               text(c, n)) == 0;
                c += strcspn(c, ";");
                while (*c == ';' || *c == ' ')
                    c++;
            }
            continue;
        }
        if (strcmp(name, "user-agent") == 0)
            ua = value;
        v = json_object_get(hdrs, name);
        if (v != NULL) {
            /* a repeated header: its values joined, as API Gateway does */
            size_t a = json_string_length(v), b = strlen(value);
            char *joined = malloc(a + 1 + b);

            if (joined == NULL) {
                ok = 0;
                break;
            }
            memcpy(joined, json_string_value(v), a);
            joined[a] = ',';
            memcpy(joined + a + 1, value, b);
            ok = json_object_set_new(hdrs, name,
                                     text(joined, a + 1 + b)) == 0;
            free(joined);
        } else {
            ok = json_object_set_new(hdrs, name,
                                     text(value, strlen(value))) == 0;
        }
    }

    if (ok) {
        ok = json_object_set_new(http, "method",
                                 text(method, strlen(method)))
             == 0
             && json_object_set_new(http, "path",
                                    text(path, path_len)) == 0
             && json_object_set_new(http, "protocol",
                                    json_string("HTTP/1.1")) == 0
             && json_object_set_new(http, "userAgent",
                                    text(ua, strlen(ua))) == 0
             && json_object_set_new(ctx, "http", http) == 0
             && json_object_set_new(ctx, "requestId",
                                    json_string(ci->call_id ? ci->call_id
                                                            : "")) == 0
             && json_object_set_new(ctx, "routeKey",
                                    json_string("$default")) == 0
             && json_object_set_new(ctx, "stage",
                                    json_string("$default")) == 0
             && json_object_set_new(ctx, "timeEpoch",
                                    json_integer(time_ms)) == 0;
        http = NULL;
    }
    if (ok) {
        ok = json_object_set_new(ev, "version", json_string("2.0")) == 0
             && json_object_set_new(ev, "routeKey",
                                    json_string("$default")) == 0
             && json_object_set_new(ev, "rawPath",
                                    text(path, path_len)) == 0
             && json_object_set_new(ev, "rawQueryString",
                                    text(query, strlen(query))) == 0;
    }
    if (ok && json_array_size(cookies) > 0)
        ok = json_object_set(ev, "cookies", cookies) == 0;
    if (ok)
        ok = json_object_set(ev, "headers", hdrs) == 0
             && json_object_set(ev, "requestContext", ctx) == 0;
    if (ok) {
        /* the body as text if it is UTF-8, else base64 */
        json_t *text = json_stringn(body != NULL ? body : "", body_len);

        if (text != NULL) {
            ok = json_object_set_new(ev, "body", text) == 0
                 && json_object_set_new(ev, "isBase64Encoded",
                                        json_false()) == 0;
        } else {
            b64 = base64_encode(body, body_len, &n);
            ok = b64 != NULL
                 && json_object_set_new(ev, "body",
                                        json_stringn(b64, n)) == 0
                 && json_object_set_new(ev, "isBase64Encoded",
                                        json_true()) == 0;
            free(b64);
        }
    }
    if (ok) {
        s = json_dumps(ev, JSON_COMPACT);
        if (s != NULL)
            *len = strlen(s);
    }
    json_decref(http);
    json_decref(ctx);
    json_decref(hdrs);
    json_decref(cookies);
    json_decref(ev);
    return s;
}

/* res gets name: value, counted in *head; 0, or -1. */
static int add_header(struct http_response *res, const char *name,
                      const char *value, size_t *head, size_t max_head)
{
    *head += strlen(name) + strlen(value) + 4;
    if (*head > max_head)
        return -1;
    return http_response_add(res, name, value);
}

/* A header value: a string (or a number or boolean, as API Gateway takes
 * them) without control characters; NULL otherwise. */
static const char *header_value(json_t *v, char *buf, size_t size)
{
    const char *s;
    size_t i, n;

    if (json_is_integer(v)) {
        snprintf(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return buf;
    }
    if (json_is_boolean(v))
        return json_is_true(v) ? "true" : "false";
    if (!json_is_string(v))
        return NULL;
    s = json_string_value(v);
    n = json_string_length(v);
    for (i = 0; i < n; i++) {
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return NULL;
    }
    return s;
}

static int fail(char *err, size_t errlen, const char *what)
{
    snprintf(err, errlen, "the function's API Gateway answer: %s", what);
    return -1;
}

/* One value v of header name of a proxy answer into res (*have_ct set by
 * a Content-Type); 0, or -1 with err said. */
static int answer_header(struct http_response *res, const char *name,
                         json_t *v, size_t *head, size_t max_head,
                         int *have_ct, char *err, size_t errlen)
{
    char num[32];
    const char *value = header_value(v, num, sizeof(num));

    if (value == NULL)
        return fail(err, errlen, "a header that is not one");
    if (add_header(res, name, value, head, max_head) < 0)
        return fail(err, errlen, "headers too many or too large");
    if (strcasecmp(name, "Content-Type") == 0)
        *have_ct = 1;
    return 0;
}

int lambda_apigw_answer(const char *json, size_t len, size_t max_head,
                        size_t max_body, struct http_response *res,
                        char *err, size_t errlen)
{
    json_t *o, *status, *hdrs, *multi, *cookies, *body, *b64, *v, *item;
    const char *name, *value;
    char num[32];
    size_t head = 0, i;
    int have_ct = 0, rc = -1;

    memset(res, 0, sizeof(*res));
    o = json_loadb(json, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY
                              | JSON_ALLOW_NUL, NULL);
    status = json_is_object(o) ? json_object_get(o, "statusCode") : NULL;
    if (status == NULL) {
        /* not a proxy answer: the payload itself, as JSON */
        if (o == NULL)
            return fail(err, errlen, "not JSON");
        json_decref(o);
        if (len > max_body)
            return fail(err, errlen, "larger than max_response_body");
        res->status = 200;
        res->body = malloc(len + 1);
        if (res->body == NULL
            || add_header(res, "Content-Type", "application/json", &head,
                          max_head) < 0) {
            http_response_free(res);
            return fail(err, errlen, "out of memory");
        }
        memcpy(res->body, json, len);
        res->body[len] = '\0';
        res->body_len = len;
        return 0;
    }

    if (!json_is_integer(status) || json_integer_value(status) < 200
        || json_integer_value(status) > 599) {
        fail(err, errlen, "\"statusCode\" must be a number from 200 to 599");
        goto out;
    }
    res->status = (int)json_integer_value(status);
    hdrs = json_object_get(o, "headers");
    multi = json_object_get(o, "multiValueHeaders");
    cookies = json_object_get(o, "cookies");
    body = json_object_get(o, "body");
    b64 = json_object_get(o, "isBase64Encoded");
    if ((hdrs != NULL && !json_is_object(hdrs) && !json_is_null(hdrs))
        || (multi != NULL && !json_is_object(multi) && !json_is_null(multi))
        || (cookies != NULL && !json_is_array(cookies)
            && !json_is_null(cookies))
        || (body != NULL && !json_is_string(body) && !json_is_null(body))
        || (b64 != NULL && !json_is_boolean(b64) && !json_is_null(b64))) {
        fail(err, errlen, "a member of the wrong type");
        goto out;
    }
    json_object_foreach(hdrs, name, v) {
        if (!route_header_name_valid(name)) {
            fail(err, errlen, "a header that is not one");
            goto out;
        }
        if (answer_header(res, name, v, &head, max_head, &have_ct, err,
                          errlen) < 0)
            goto out;
    }
    json_object_foreach(multi, name, v) {
        if (!route_header_name_valid(name) || !json_is_array(v)) {
            fail(err, errlen, "a header that is not one");
            goto out;
        }
        if (json_object_get(hdrs, name) != NULL)
            continue;           /* "headers" wins, as API Gateway has it */
        json_array_foreach(v, i, item) {
            if (answer_header(res, name, item, &head, max_head, &have_ct,
                              err, errlen) < 0)
                goto out;
        }
    }
    json_array_foreach(cookies, i, item) {
        value = json_is_string(item) ? header_value(item, num, sizeof(num))
                                     : NULL;
        if (value == NULL) {
            fail(err, errlen, "a cookie that is not a string");
            goto out;
        }
        if (add_header(res, "Set-Cookie", value, &head, max_head) < 0) {
            fail(err, errlen, "headers too many or too large");
            goto out;
        }
    }
    if (json_is_string(body)) {
        size_t n = json_string_length(body), got;

        if ((json_is_true(b64) ? n / 4 * 3 : n) > max_body) {
            fail(err, errlen, "a body larger than max_response_body");
            goto out;
        }
        res->body = malloc(n + 1);
        if (res->body == NULL) {
            fail(err, errlen, "out of memory");
            goto out;
        }
        if (json_is_true(b64)) {
            if (base64_decode(json_string_value(body), n,
                              (unsigned char *)res->body, &got) < 0) {
                fail(err, errlen, "\"body\" is not base64");
                goto out;
            }
            res->body_len = got;
        } else {
            memcpy(res->body, json_string_value(body), n);
            res->body_len = n;
        }
        res->body[res->body_len] = '\0';
    }
    /* API Gateway's default for a proxy answer without one */
    if (!have_ct && res->body_len > 0
        && add_header(res, "Content-Type", "application/json", &head,
                      max_head) < 0) {
        fail(err, errlen, "headers too many or too large");
        goto out;
    }
    rc = 0;
out:
    json_decref(o);
    if (rc < 0)
        http_response_free(res);
    return rc;
}
