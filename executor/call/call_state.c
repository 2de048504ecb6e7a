/*
 * What both paths of a call share: its outcome, its error answers, its
 * end (call_state.h).
 */
#include "call_state.h"
#include "call_log.h"
#include "image_store.h"
#include "json_out.h"
#include "log.h"
#include "utc_time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

/* What the metrics keep of a call that was answered. */
static void account(struct call *call)
{
    int64_t wait = call->waited ? (int64_t)call->wait_ms : -1;

    if (!call->outcome_set || (call->reply != NULL && call->reply->lease))
        return;         /* a lease is no call: its calls are counted */
    if (call->async && call->waited) {
        /* from nginx's 202 to its start here */
        wait = call->accepted_wall_ms + (int64_t)call->wait_ms
               - call->enqueued_ms;
        if (wait < 0)
            wait = 0;   /* clocks apart */
    }
    metrics_call(call->req.route.app, call->req.route.path,
                 call->async ? METRICS_ASYNC : METRICS_SYNC, call->outcome,
                 wait, call->exec_ms);
}

/* The first answer decides the call's outcome. */
void call_set_outcome(struct call *call, enum metrics_outcome o)
{
    if (!call->outcome_set) {
        call->outcome = o;
        call->outcome_set = 1;
    }
}

int call_has_caller(const struct call *call)
{
    return call->conn != NULL || call->reply != NULL;
}

void call_answer(struct call *call, int status, const char *content_type,
                 const char *headers, const char *body, size_t len)
{
    struct call_reply *r = call->reply;

    if (call->conn != NULL) {
        http_conn_respond(call->conn, status, content_type, headers, body,
                          len);
        return;
    }
    if (r == NULL || r->status != 0)
        return;         /* the caller is gone, or has its answer */
    r->status = status;
    if (len > CALL_REPLY_BODY_MAX)
        len = CALL_REPLY_BODY_MAX;
    r->body = malloc(len + 1);
    if (r->body != NULL) {
        memcpy(r->body, body, len);
        r->body[len] = '\0';
        r->body_len = len;
    }
}

void call_save_log(struct call *call, char *buf, size_t len)
{
    struct call_reply *r = call->reply;
    struct calls *calls = call->calls;

    if (r != NULL && r->lease) {
        free(buf);      /* nothing ran */
        return;
    }
    if (r != NULL && r->log == NULL && len > 0) {
        r->log = malloc(len);
        if (r->log != NULL) {
            memcpy(r->log, buf, len);
            r->log_len = len;
        }
    }
    if (calls->cfg->log_retention_ms > 0)
        call_log_save(calls->loop, call->req.call_id, buf, len);
    else
        free(buf);
}

void call_free(struct call *call)
{
    struct calls *calls = call->calls;
    struct call_reply *reply = call->reply;

    account(call);

    if (call->prev)
        call->prev->next = call->next;
    else if (calls->all == call)
        calls->all = call->next;
    if (call->next)
        call->next->prev = call->prev;
    if (call->conn != NULL)
        call->conn->on_close = NULL;
    call_request_free(&call->req);
    image_free(&call->image);
    free(call->key);
    strvec_free(&call->hot_env);
    strvec_free(&call->hot_cmd);
    free(call->hot_head);
    http_response_free(&call->job.res);
    free(call->job.log);
    free(call->body);
    free(call->output);
    free(call->log);
    free(call);
    if (reply != NULL)
        reply->done(reply);     /* status 0: it was never answered */
}

void call_respond_error(struct call *call, int status, const char *msg,
                        const char *extra)
{
    size_t n = json_error_body(NULL, 0, msg, call->req.call_id);
    char *body = malloc(n + 1), headers[128];
    struct log_record r;

    call_set_outcome(call, metrics_outcome_of(status));
    /* a line per failed call at 1,000 calls/s helps nobody: the metrics
     * count them; only the executor's own failures are warnings */
    if (log_begin(&r, status == 500 ? LOG_LEVEL_WARN : LOG_LEVEL_DEBUG,
                  "call failed")) {
        log_str(&r, "call_id", call->req.call_id);
        log_str(&r, "app", call->req.route.app);
        log_str(&r, "path", call->req.route.path);
        log_int(&r, "status", status);
        log_str(&r, "error", msg);
        log_end(&r);
    }
    if (!call_has_caller(call)) {
        free(body);
        return;         /* the caller is gone */
    }
    if (body == NULL) {
        if (call->conn != NULL)
            http_conn_close(call->conn);
        else
            call_answer(call, status, "application/json", "", "", 0);
        return;
    }
    json_error_body(body, n + 1, msg, call->req.call_id);
    snprintf(headers, sizeof(headers), "Fn-Call-Id: %s\r\n%s",
             call->req.call_id, extra ? extra : "");
    call_answer(call, status, "application/json", headers, body, n);
    free(body);
}

void call_refuse(struct call *call, int status, const char *msg)
{
    size_t n = json_error_body(NULL, 0, msg, NULL);
    char *body = malloc(n + 1);

    if (body == NULL) {
        if (call->conn != NULL)
            http_conn_close(call->conn);
        return;
    }
    json_error_body(body, n + 1, msg, NULL);
    call_answer(call, status, "application/json", NULL, body, n);
    free(body);
}

void call_deadline(char *out, size_t size, unsigned seconds)
{
    struct timeval tv;
    char t[UTC_TIME_LEN + 1];

    gettimeofday(&tv, NULL);
    utc_time((int64_t)tv.tv_sec + seconds, t);
    if (size == 0)
        return;
    size = size > sizeof(t) ? sizeof(t) : size;
    memcpy(out, t, size - 1);
    out[size - 1] = '\0';
}
