/*
 * The executor's endpoints.
 *
 *     GET /health     200 {"status":"ok"} while accepting work, 503 while
 *                     draining
 *     GET /version    200 {"version":"..."}
 *     POST /call      runs a function (docs/protocol.md)
 *     GET /calls/<id>/log
 *                     what the call wrote on stderr (kept log_retention)
 *     GET /metrics    Prometheus text format (also alone on metrics_listen)
 */
#include "endpoints.h"
#include "prepull.h"
#include "call.h"
#include "async.h"
#include "call_log.h"
#include "hot.h"
#include "metrics.h"

#include <stdio.h>
#include <stdlib.h>

#include <string.h>

static int path_is(const char *url, const char *path)
{
    size_t n = strlen(path);

    /* a query string does not change the endpoint */
    return strncmp(url, path, n) == 0 && (url[n] == '\0' || url[n] == '?');
}

static void method_not_allowed(struct http_conn *c, const char *allow)
{
    static const char body[] = "{\"error\":{\"message\":"
                               "\"method not allowed\"}}";

    http_conn_respond(c, 405, "application/json", allow, body,
                      sizeof(body) - 1);
}

#define DRAINING_BODY \
    "{\"error\":{\"message\":\"executor is shutting down\"}}\n"

static void respond_json(struct http_conn *c, int status, const char *body)
{
    http_conn_respond(c, status, "application/json", NULL, body,
                      strlen(body));
}

void endpoints_gauges(struct server *s, struct metrics_gauges *g)
{
    const struct capacity *c = &s->capacity;

    memset(g, 0, sizeof(*g));
    g->sandboxes_used = c->used_sandboxes;
    g->sandboxes_max = c->max_sandboxes;
    g->memory_used = c->used_memory;
    g->memory_budget = c->memory_budget;
    g->queue_depth = c->queued;
    g->queue_size = c->queue_size;
    g->sandboxes_idle = s->sandboxes.nidle;
    hot_counts(&s->hot, &g->hot_idle, &g->hot_busy);
    g->images_cached = s->images.n;
    g->async_in_flight = async_in_flight();
}

static void serve_metrics(struct server *s, struct http_conn *c)
{
    struct metrics_gauges g;
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    int rc;

    if (out == NULL) {
        http_conn_respond_error(c, 500, "out of memory");
        return;
    }
    endpoints_gauges(s, &g);
    rc = metrics_render_prometheus(out, &g);
    if (fclose(out) != 0 || rc < 0) {
        free(text);
        http_conn_respond_error(c, 500, "out of memory");
        return;
    }
    http_conn_respond(c, 200, "text/plain; version=0.0.4; charset=utf-8",
                      NULL, text, len);
    free(text);
}

void endpoints_serve_metrics(struct server *s, struct http_conn *c)
{
    const struct http_request *req = &c->rp.req;

    if (!path_is(req->url, "/metrics"))
        http_conn_respond_error(c, 404, "no such endpoint");
    else if (req->method != HTTP_GET && req->method != HTTP_HEAD)
        method_not_allowed(c, "Allow: GET, HEAD\r\n");
    else
        serve_metrics(s, c);
}

void endpoints_serve(struct server *s, struct http_conn *c)
{
    const struct http_request *req = &c->rp.req;
    int get = req->method == HTTP_GET || req->method == HTTP_HEAD;

    if (path_is(req->url, "/health")) {
        if (!get) {
            method_not_allowed(c, "Allow: GET, HEAD\r\n");
        } else if (s->draining) {
            http_conn_respond_error(c, 503, "executor is shutting down");
        } else {
            respond_json(c, 200, "{\"status\":\"ok\"}");
        }
        return;
    }
    if (path_is(req->url, "/version")) {
        if (!get)
            method_not_allowed(c, "Allow: GET, HEAD\r\n");
        else
            respond_json(c, 200, "{\"version\":\"" EXECUTOR_VERSION "\"}");
        return;
    }
    if (path_is(req->url, "/metrics")) {
        endpoints_serve_metrics(s, c);
        return;
    }
    if (path_is(req->url, "/call")) {
        if (req->method != HTTP_POST)
            method_not_allowed(c, "Allow: POST\r\n");
        else if (s->draining)
            /* not started: nginx may give it to another executor */
            http_conn_respond(c, 503, "application/json",
                              "Retry-After: 1\r\nFn-Executor-Busy: 1\r\n",
                              DRAINING_BODY, sizeof(DRAINING_BODY) - 1);
        else
            call_start(&s->calls, c, &c->rp.req, NULL);
        return;
    }
    if (path_is(req->url, "/images")) {
        if (req->method != HTTP_POST)
            method_not_allowed(c, "Allow: POST\r\n");
        else
            prepull_start(s->loop, &s->cfg, c);
        return;
    }
    if (strncmp(req->url, "/calls/", 7) == 0) {
        if (!get)
            method_not_allowed(c, "Allow: GET, HEAD\r\n");
        else
            call_log_serve(s->loop, c, req->url + 7);
        return;
    }
    http_conn_respond_error(c, 404, "no such endpoint");
}
