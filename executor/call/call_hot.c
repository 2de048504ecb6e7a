/*
 * The hot path of a call (formats http, json, http-stream and lambda): the
 * request for the instance, the call handed to its route's pool, the
 * instance's answer passed on.
 */
#include "call_state.h"
#include "call_log.h"
#include "hot_request.h"
#include "json_format.h"
#include "json_out.h"
#include "lambda_format.h"
#include "stream_format.h"
#include "text_out.h"
#include "log.h"
#include "route_def.h"
#include "errf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* ------------------------------------------------------------ hot calls */

/*
 * A function's response header that reaches nginx: a valid name and value,
 * and none the platform owns (framing, hop-by-hop, X-Accel-*, Fn-*: the
 * rule routes' headers follow too).  Content-Type is taken apart.
 */
static int passes(const char *name, const char *value)
{
    return route_header_name_valid(name)
           && route_header_value_valid(value, strlen(value))
           && !route_header_reserved(name);
}

/* The function's status and headers, the route's headers, its body. */
static void respond_hot(struct call *call)
{
    const struct http_response *res = &call->job.res;
    const struct route_def *r = &call->req.route;
    const char *content_type = NULL;
    size_t i, len = 64;
    struct text_out o = { NULL, 0 };
    char *headers;

    call_set_outcome(call, res->status >= 500 ? METRICS_ERROR
                                              : METRICS_SUCCESS);
    for (i = 0; i < res->nheaders; i++)
        len += strlen(res->names[i]) + strlen(res->values[i]) + 4;
    for (i = 0; i < r->nheaders; i++)
        len += strlen(r->headers[i].key) + strlen(r->headers[i].value) + 4;
    headers = malloc(len);
    if (headers == NULL) {
        call_respond_error(call, 500, "out of memory", NULL);
        return;
    }
    o.dst = headers;
    text_header(&o, "Fn-Call-Id", call->req.call_id);
    for (i = 0; i < res->nheaders; i++) {
        if (!passes(res->names[i], res->values[i]))
            continue;       /* dropped: nginx never sees it */
        if (strcasecmp(res->names[i], "Content-Type") == 0)
            content_type = res->values[i];
        else
            text_header(&o, res->names[i], res->values[i]);
    }
    for (i = 0; i < r->nheaders; i++) {
        if (strcasecmp(r->headers[i].key, "Content-Type") == 0) {
            if (content_type == NULL)
                content_type = r->headers[i].value;
        } else {
            text_header(&o, r->headers[i].key, r->headers[i].value);
        }
    }
    headers[o.len] = '\0';
    if (content_type == NULL)
        content_type = utf8_text(res->body, res->body_len)
                           ? "text/plain; charset=utf-8"
                           : "application/octet-stream";
    call_answer(call, res->status, content_type, headers,
                res->body ? res->body : "", res->body_len);
    free(headers);
}

static void on_hot_done(struct hot_job *job)
{
    struct call *call = job->data;
    struct calls *calls = call->calls;
    struct log_record rec;

    if (job->outcome != HOT_BUSY && job->outcome != HOT_TOO_LARGE) {
        call_save_log(call, job->log, job->log_len);
        job->log = NULL;
    }
    if (job->outcome != HOT_TOO_LARGE)
        call->waited = 1;
    if (job->lease && job->outcome == HOT_OK) {
        call->reply->instance = job->leased;
        call_answer(call, 200, "text/plain", NULL, "", 0);
        call_free(call);
        return;
    }
    if (job->outcome == HOT_OK || job->outcome == HOT_TIMEOUT
        || job->outcome == HOT_OOM || job->outcome == HOT_BAD_ANSWER
        || job->outcome == HOT_EXITED)
        call->exec_ms = (int64_t)(uv_now(calls->loop) - call->accepted_ms
                                  - call->image_ms - job->wait_ms);
    call->wait_ms = call->image_ms + job->wait_ms;
    if (log_begin(&rec, LOG_LEVEL_DEBUG, "call finished")) {
        log_str(&rec, "call_id", call->req.call_id);
        log_str(&rec, "app", call->req.route.app);
        log_str(&rec, "path", call->req.route.path);
        log_str(&rec, "sandbox", job->sandbox_id);
        log_str(&rec, "format", route_format_name(call->req.route.format));
        log_int(&rec, "status", job->outcome == HOT_OK ? job->res.status : 0);
        log_int(&rec, "wait_ms", (long long)job->wait_ms);
        log_end(&rec);
    }
    switch (job->outcome) {
    case HOT_OK:
        respond_hot(call);
        break;
    case HOT_BUSY:
        call_respond_error(call, 503, job->message, NOT_STARTED);
        break;
    case HOT_TOO_LARGE:
        snprintf(job->message, sizeof(job->message), "route memory (%u MiB) "
                 "exceeds this executor's whole memory budget",
                 call->req.route.memory_mb);
        call_respond_error(call, 503, job->message, NULL);
        break;
    case HOT_STOPPED:
        call_respond_error(call, 503, job->message, NULL);
        break;
    case HOT_TIMEOUT:
        call_respond_error(call, 504, job->message, NULL);
        break;
    case HOT_FAILED:
        call_respond_error(call, 500, job->message, NULL);
        break;
    case HOT_BAD_ANSWER: {
        char msg[300];

        errf(msg, sizeof(msg), "function answered badly: %s",
             job->message);
        call_respond_error(call, 502, msg, NULL);
        break;
    }
    default:
        call_respond_error(call, 502, job->message, NULL);
        break;
    }
    call_free(call);
}

/*
 * Where the call's deadline dl is in its request head: after
 * "\r\nFn-Deadline: " (http, http-stream: no client header can hold a
 * line break) or "\"deadline\":\"" (json: quotes inside values are
 * escaped); SIZE_MAX if it is not there whole.
 */
static size_t deadline_offset(const char *head, size_t len, const char *dl,
                              int json)
{
    const char *key = json ? "\"deadline\":\"" : "\r\nFn-Deadline: ";
    size_t klen = strlen(key), dlen = strlen(dl);
    const char *p = memmem(head, len, key, klen);

    if (p == NULL || dlen != 20)
        return SIZE_MAX;
    p += klen;
    if ((size_t)(head + len - p) < dlen || memcmp(p, dl, dlen) != 0)
        return SIZE_MAX;
    return (size_t)(p - head);
}

/* A lambda route's config LAMBDA_EVENT: "apigateway" (API Gateway's
 * event and proxy answers) or, by default, "raw" (the body is the event,
 * the result the body). */
static int lambda_apigw(const struct route_def *r)
{
    size_t i;

    for (i = 0; i < r->nconfig; i++) {
        if (strcmp(r->config[i].key, "LAMBDA_EVENT") == 0)
            return strcmp(r->config[i].value, "apigateway") == 0;
    }
    return 0;
}

/* A raw event: the body as it is ("{}" for none, as an empty payload is
 * no JSON).  A heap copy. */
static char *lambda_event(const char *body, size_t len, size_t *out_len)
{
    char *e;

    if (len == 0) {
        body = "{}";
        len = 2;
    }
    e = malloc(len + 1);
    if (e == NULL)
        return NULL;
    memcpy(e, body, len);
    e[len] = '\0';
    *out_len = len;
    return e;
}

/* The pool key of a hot instance: all that changes the instance.  Written
 * into dst (NULL: only counted), its length returned. */
static size_t write_key(char *dst, const struct call *call)
{
    const struct route_def *r = &call->req.route;
    struct text_out o = { dst, 0 };
    size_t i;

    text_str(&o, r->app);
    text_put(&o, "\n", 1);
    text_str(&o, r->path);
    text_put(&o, "\n", 1);
    text_str(&o, call->image.digest);
    text_put(&o, "\n", 1);
    text_str(&o, route_format_name(r->format));
    text_put(&o, "\n", 1);
    text_uint(&o, call->memory);
    text_put(&o, "\n", 1);
    text_uint(&o, r->idle_timeout_s);
    for (i = 0; i < r->nconfig; i++) {
        /* lengths first: no key or value can pass for another */
        text_put(&o, "\n", 1);
        text_uint(&o, strlen(r->config[i].key));
        text_put(&o, ":", 1);
        text_str(&o, r->config[i].key);
        text_put(&o, "=", 1);
        text_uint(&o, strlen(r->config[i].value));
        text_put(&o, ":", 1);
        text_str(&o, r->config[i].value);
    }
    return o.len;
}

static char *hot_key(const struct call *call)
{
    size_t n = write_key(NULL, call);
    char *key = malloc(n + 1);

    if (key == NULL)
        return NULL;
    write_key(key, call);
    key[n] = '\0';
    return key;
}

void call_hot_submit(struct call *call)
{
    const struct route_def *r = &call->req.route;
    struct hot_job *job = &call->job;
    char dl[32];
    struct call_info ci = {
        .call_id = NULL,            /* the instance's environment */
        .method = call->req.method,
        .request_url = call->req.request_url,
        .deadline = dl,
        .route = r,
        .header_names = call->req.header_names.v,
        .header_values = call->req.header_values.v,
    };
    size_t head_len = 0;
    enum hot_format format;

    call_deadline(dl, sizeof(dl), r->timeout_s);
    call->key = hot_key(call);
    if (call->key == NULL) {
        call_respond_error(call, 500, "out of memory", NULL);
        call_free(call);
        return;
    }
    /* what a new instance needs, unless an idle one is there */
    if (!hot_idle_available(call->calls->hot, call->key)) {
        if (sandbox_env(&ci, &call->image.config, &call->hot_env) < 0) {
            call_respond_error(call, 500, "out of memory", NULL);
            call_free(call);
            return;
        }
        if (sandbox_command(&call->image.config, &call->hot_cmd, call->error,
                            sizeof(call->error)) < 0) {
            call_respond_error(call, 502, call->error, NULL);
            call_free(call);
            return;
        }
    }
    ci.call_id = call->req.call_id;
    job->lease = call->reply != NULL && call->reply->lease;
    format = r->format == ROUTE_FORMAT_JSON ? HOT_FORMAT_JSON
             : r->format == ROUTE_FORMAT_HTTP_STREAM ? HOT_FORMAT_STREAM
             : r->format == ROUTE_FORMAT_LAMBDA ? HOT_FORMAT_LAMBDA
             : HOT_FORMAT_HTTP;
    job->lambda_apigw = format == HOT_FORMAT_LAMBDA && lambda_apigw(r);
    /* json: the body travels inside the call's object; lambda: the event
     * is the body, or API Gateway's event around the request */
    if (format == HOT_FORMAT_LAMBDA && job->lambda_apigw)
        call->hot_head = lambda_apigw_event(&ci, (long long)time(NULL) * 1000,
                                            call->body, call->body_len,
                                            &head_len);
    else if (format == HOT_FORMAT_LAMBDA)
        call->hot_head = lambda_event(call->body, call->body_len,
                                      &head_len);
    else if (format == HOT_FORMAT_JSON)
        call->hot_head = json_format_request(&ci, call->body,
                                             call->body_len, &head_len);
    else if (format == HOT_FORMAT_STREAM)
        call->hot_head = stream_format_request(&ci, call->body_len,
                                               &head_len);
    else if (job->lease)
        call->hot_head = strdup("");    /* no call: the instance is all */
    else
        call->hot_head = hot_request_head(&ci, call->body_len, &head_len);
    if (call->hot_head == NULL) {
        if (format == HOT_FORMAT_JSON && errno == EILSEQ)
            call_respond_error(call, 400, "this route's format (json) "
                               "carries text: the request body is not "
                               "UTF-8", NULL);
        else
            call_respond_error(call, 500, "out of memory", NULL);
        call_free(call);
        return;
    }
    job->hot = call->calls->hot;
    job->key = call->key;
    job->sandbox.key = call->key;
    job->sandbox.rootfs = call->image.rootfs;
    job->sandbox.image = &call->image.config;
    job->sandbox.memory = call->memory;
    job->cwd = sandbox_cwd(&call->image.config);
    job->argv = call->hot_cmd.v;
    job->env = call->hot_env.v;
    job->max_concurrency = r->max_concurrency > 0 ? r->max_concurrency : 1;
    job->idle_timeout_ms = (uint64_t)r->idle_timeout_s * 1000;
    job->timeout_ms = (uint64_t)r->timeout_s * 1000;
    job->head = call->hot_head;
    job->head_len = head_len;
    job->deadline_at = format == HOT_FORMAT_LAMBDA
                       ? SIZE_MAX
                       : deadline_offset(call->hot_head, head_len, dl,
                                         format == HOT_FORMAT_JSON);
    job->format = format;
    job->sandbox.socket_dir = format == HOT_FORMAT_STREAM
                              ? SANDBOX_FN_SOCKET_DIR : NULL;
    job->sandbox.loopback_net = format == HOT_FORMAT_LAMBDA;
    job->body = format == HOT_FORMAT_JSON || format == HOT_FORMAT_LAMBDA
                ? NULL : call->body;
    job->body_len = job->body != NULL ? call->body_len : 0;
    job->call_id = call->req.call_id;
    job->app = call->req.route.app;
    job->path = call->req.route.path;
    job->done = on_hot_done;
    job->data = call;
    hot_submit(job);
}
