/*
 * The life of a call: capacity, image, a sandbox (idle or new), one
 * process in it, I/O, outcome.  Every step that can block runs on libuv's
 * thread pool.
 */
#include "call.h"
#include "errf.h"
#include "call_log.h"
#include "call_request.h"
#include "cgroup.h"
#include "hot.h"
#include "hot_request.h"
#include "image_store.h"
#include "json_out.h"
#include "log.h"
#include "metrics.h"
#include "read_buf.h"
#include "route_def.h"
#include "sandbox.h"
#include "sandbox_args.h"
#include "user_log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/*
 * The executor's own answer that it did not start the call: the only one
 * nginx may pass to another executor.  A function cannot send Fn-*
 * headers (they are dropped from its answers), so it cannot forge it.
 */
#define NOT_STARTED "Retry-After: 1\r\nFn-Executor-Busy: 1\r\n"

/* Where a cold call is: its process ends once, whatever ended it. */
enum call_state {
    CALL_STARTING,              /* capacity, image, sandbox, process */
    CALL_RUNNING,               /* its process runs in its sandbox */
    CALL_ENDED,                 /* the process is over: answer it */
};

/* Why the executor cut it short; a later reason of higher rank wins. */
enum call_cut {
    CALL_CUT_NONE,
    CALL_CUT_TOO_BIG,           /* its output went over max_response_body */
    CALL_CUT_TIMEOUT,           /* the route's timeout */
    CALL_CUT_STOPPED,           /* call_stop_all: the executor stops */
};

struct call {
    struct call *next, *prev;   /* in server->calls */
    struct server *server;
    struct http_conn *conn;
    struct call_request req;
    char *body;
    size_t body_len;
    uint64_t memory;

    struct capacity_waiter waiter;
    int holds_capacity;
    uint64_t wait_ms;

    uv_work_t work;
    struct image image;
    enum image_error image_error;
    char error[512];

    char *key;                  /* of the sandbox pool */
    struct sandbox *sb;
    long oom_base;              /* the sandbox's OOM kills before the call */
    uv_pipe_t in, out, err;
    uv_timer_t timer;
    uv_write_t in_write;
    uv_shutdown_t in_shutdown;
    int open_handles;
    uint64_t started_ms;

    char *output;
    size_t output_len;
    enum call_state state;
    enum call_cut cut;
    int lost;                   /* ended: its sandbox died with it */
    int clean;                  /* ended: nothing of it is left there */
    int64_t exit_status;
    int term_signal;

    /* a hot call (format http) */
    struct hot_job job;
    struct strvec hot_env, hot_cmd;
    char *hot_head;

    /* for the metrics */
    uint64_t accepted_ms;       /* uv_now() at its request */
    int64_t accepted_wall_ms;   /* the same on the wall clock */
    int64_t enqueued_ms;        /* async: its acceptance by nginx */
    int async;
    int waited;                 /* it went through the capacity wait */
    int64_t exec_ms;            /* how long it ran, or -1 */
    int outcome_set;
    enum metrics_outcome outcome;

    struct user_log ulog;       /* stderr, logged line by line */
    char *log;                  /* and kept, for GET /calls/<id>/log */
    size_t log_len;
    size_t log_cap;
    int log_capped;
};

static void on_conn_closed(void *arg)
{
    struct call *call = arg;

    call->conn = NULL;
}

/* What the metrics keep of a call that was answered. */
static void account(struct call *call)
{
    int64_t wait = call->waited ? (int64_t)call->wait_ms : -1;

    if (!call->outcome_set)
        return;
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
static void set_outcome(struct call *call, enum metrics_outcome o)
{
    if (!call->outcome_set) {
        call->outcome = o;
        call->outcome_set = 1;
    }
}

static void call_free(struct call *call)
{
    struct server *s = call->server;

    account(call);

    if (call->prev)
        call->prev->next = call->next;
    else if (s->calls == call)
        s->calls = call->next;
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
}

static void respond_error(struct call *call, int status, const char *msg,
                          const char *extra)
{
    size_t n = json_error_body(NULL, 0, msg, call->req.call_id);
    char *body = malloc(n + 1), headers[128];
    struct log_record r;

    set_outcome(call, metrics_outcome_of(status));
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
    if (call->conn == NULL) {
        free(body);
        return;         /* the caller is gone */
    }
    if (body == NULL) {
        http_conn_close(call->conn);
        return;
    }
    json_error_body(body, n + 1, msg, call->req.call_id);
    snprintf(headers, sizeof(headers), "Fn-Call-Id: %s\r\n%s",
             call->req.call_id, extra ? extra : "");
    http_conn_respond(call->conn, status, "application/json", headers, body,
                      n);
    free(body);
}

/* ------------------------------------------------------------ finishing */

static void finish(struct call *call);

static void on_handle_closed(uv_handle_t *h)
{
    struct call *call = h->data;

    if (--call->open_handles == 0)
        finish(call);
}

static void close_handle(struct call *call, uv_handle_t *h)
{
    h->data = call;
    if (!uv_is_closing(h))
        uv_close(h, on_handle_closed);
}

static void respond_success(struct call *call)
{
    const struct route_def *r = &call->req.route;
    const char *content_type = NULL;
    size_t i, len = 0;
    char *headers;

    set_outcome(call, METRICS_SUCCESS);
    if (call->conn == NULL)
        return;         /* the caller is gone */
    for (i = 0; i < r->nheaders; i++) {
        if (strcasecmp(r->headers[i].key, "Content-Type") == 0)
            content_type = r->headers[i].value;
        else
            len += strlen(r->headers[i].key) + strlen(r->headers[i].value)
                   + 4;
    }
    headers = malloc(len + 64);
    if (headers == NULL) {
        respond_error(call, 500, "out of memory", NULL);
        return;
    }
    len = (size_t)sprintf(headers, "Fn-Call-Id: %s\r\n", call->req.call_id);
    for (i = 0; i < r->nheaders; i++) {
        if (strcasecmp(r->headers[i].key, "Content-Type") != 0)
            len += (size_t)sprintf(headers + len, "%s: %s\r\n",
                                   r->headers[i].key, r->headers[i].value);
    }
    if (content_type == NULL)
        content_type = utf8_text(call->output, call->output_len)
                           ? "text/plain; charset=utf-8"
                           : "application/octet-stream";
    http_conn_respond(call->conn, 200, content_type, headers,
                      call->output ? call->output : "", call->output_len);
    free(headers);
}

static void finish(struct call *call)
{
    struct server *s = call->server;
    const struct route_def *r = &call->req.route;
    long oom = cgroup_oom_kills(&call->sb->cgroup) - call->oom_base;
    uint64_t elapsed = uv_now(s->loop) - call->started_ms;
    struct log_record rec;
    char msg[256];

    user_log_flush(&call->ulog);
    call->exec_ms = (int64_t)elapsed;
    if (s->cfg.log_retention_ms > 0) {
        call_log_save(s->loop, call->req.call_id, call->log,
                      call->log_len);
        call->log = NULL;
    }
    if (log_begin(&rec, LOG_LEVEL_DEBUG, "call finished")) {
        log_str(&rec, "call_id", call->req.call_id);
        log_str(&rec, "app", r->app);
        log_str(&rec, "path", r->path);
        log_str(&rec, "sandbox", call->sb->id);
        log_int(&rec, "exit_status", call->exit_status);
        log_int(&rec, "signal", call->term_signal);
        log_int(&rec, "oom_kills", oom);
        log_int(&rec, "time_ms", (long long)elapsed);
        log_int(&rec, "wait_ms", (long long)call->wait_ms);
        log_end(&rec);
    }
    /* the sandbox serves the next call only if nothing is left of this
     * one and it ended by itself */
    sandbox_release(call->sb, !call->lost && call->clean && oom <= 0
                              && call->cut == CALL_CUT_NONE);
    call->sb = NULL;
    capacity_release(&s->capacity, call->memory);

    if (call->cut == CALL_CUT_STOPPED) {
        respond_error(call, 503, "the call was stopped: the executor is "
                      "shutting down", NULL);
    } else if (call->cut == CALL_CUT_TIMEOUT) {
        snprintf(msg, sizeof(msg), "function timed out after %u s",
                 r->timeout_s);
        respond_error(call, 504, msg, NULL);
    } else if (oom > 0) {
        snprintf(msg, sizeof(msg), "function was killed: out of memory "
                 "(limit %u MiB)", r->memory_mb);
        respond_error(call, 502, msg, NULL);
    } else if (call->cut == CALL_CUT_TOO_BIG) {
        snprintf(msg, sizeof(msg), "function response is larger than "
                 "%llu bytes", (unsigned long long)s->cfg.max_response_body);
        respond_error(call, 502, msg, NULL);
    } else if (call->lost) {
        respond_error(call, 502, "the function's sandbox died; see the "
                      "executor's log", NULL);
    } else if (call->term_signal != 0) {
        snprintf(msg, sizeof(msg), "function was killed by signal %d",
                 call->term_signal);
        respond_error(call, 502, msg, NULL);
    } else if (call->exit_status != 0) {
        snprintf(msg, sizeof(msg), "function exited with status %d",
                 (int)call->exit_status);
        respond_error(call, 502, msg, NULL);
    } else {
        respond_success(call);
    }
    call_free(call);
}

/* ---------------------------------------------------------------- I/O */

/* The executor ends the call: its process is killed, the reason kept. */
static void cut(struct call *call, enum call_cut why)
{
    if (why > call->cut)
        call->cut = why;
    if (call->sb != NULL && call->state != CALL_ENDED)
        sandbox_kill(call->sb);
}

static void on_stdout(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    struct call *call = st->data;
    uint64_t max = call->server->cfg.max_response_body;

    if (n > 0 && call->cut == CALL_CUT_NONE) {
        if (call->output_len + (size_t)n > max) {
            /* the function is killed: it must not keep a slot writing */
            cut(call, CALL_CUT_TOO_BIG);
        } else {
            char *p = realloc(call->output, call->output_len + (size_t)n);
            if (p != NULL) {
                memcpy(p + call->output_len, buf->base, (size_t)n);
                call->output = p;
                call->output_len += (size_t)n;
            } else {
                cut(call, CALL_CUT_TOO_BIG);
            }
        }
    }
    if (n < 0)
        close_handle(call, (uv_handle_t *)st);
}

static void on_stderr(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    struct call *call = st->data;
    uint64_t max = call->ulog.max;
    size_t keep = 0;

    if (n > 0) {
        /* up to log_max_per_call bytes per call are logged and kept */
        keep = user_log_write(&call->ulog, buf->base, (size_t)n);
        call_log_keep(&call->log, &call->log_len, &call->log_cap, buf->base,
                      keep);
    }
    if (n > 0 && keep < (size_t)n && !call->log_capped) {
        struct log_record r;

        call->log_capped = 1;
        if (log_begin(&r, LOG_LEVEL_WARN, "function log capped")) {
            log_str(&r, "call_id", call->req.call_id);
            log_str(&r, "app", call->req.route.app);
            log_str(&r, "path", call->req.route.path);
            log_int(&r, "log_max_per_call", (long long)max);
            log_end(&r);
        }
    }
    if (n < 0)
        close_handle(call, (uv_handle_t *)st);
}

static void on_stdin_closed(uv_shutdown_t *req, int status)
{
    struct call *call = req->data;

    (void)status;
    close_handle(call, (uv_handle_t *)&call->in);
}

static void on_stdin_written(uv_write_t *w, int status)
{
    struct call *call = w->data;

    /* a function that does not read its input is not an error */
    if (status < 0 || uv_shutdown(&call->in_shutdown,
                                  (uv_stream_t *)&call->in,
                                  on_stdin_closed) < 0)
        close_handle(call, (uv_handle_t *)&call->in);
}

static void on_done(struct sandbox *sb, int lost, int32_t wait_status,
                    int clean, void *arg)
{
    struct call *call = arg;

    (void)sb;
    call->state = CALL_ENDED;
    call->lost = lost;
    call->clean = clean;
    if (!lost && WIFEXITED(wait_status))
        call->exit_status = WEXITSTATUS(wait_status);
    else if (!lost && WIFSIGNALED(wait_status))
        call->term_signal = WTERMSIG(wait_status);
    /* every process of the call is gone: its pipes end too */
    uv_timer_stop(&call->timer);
    close_handle(call, (uv_handle_t *)&call->timer);
}

static void on_timeout(uv_timer_t *t)
{
    struct call *call = t->data;

    cut(call, CALL_CUT_TIMEOUT);
}

/* ------------------------------------------------------------ starting */

static void deadline(char *out, size_t size, unsigned seconds)
{
    struct timeval tv;
    struct tm tm;
    time_t t;

    gettimeofday(&tv, NULL);
    t = tv.tv_sec + seconds;
    gmtime_r(&t, &tm);
    strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Opens the executor's end of a pipe; the other end goes to the sandbox. */
static int open_pipe(struct call *call, uv_pipe_t *p, int fd)
{
    uv_pipe_init(call->server->loop, p, 0);
    p->data = call;
    call->open_handles++;
    if (uv_pipe_open(p, fd) < 0) {
        close(fd);
        return -1;
    }
    return 0;
}

/* Runs the function in call->sb, which the call holds. */
static int run(struct call *call)
{
    struct server *s = call->server;
    struct strvec env = { 0 }, cmd = { 0 };
    char dl[32];
    struct call_info ci = {
        .call_id = call->req.call_id,
        .method = call->req.method,
        .request_url = call->req.request_url,
        .deadline = dl,
        .route = &call->req.route,
        .header_names = call->req.header_names.v,
        .header_values = call->req.header_values.v,
    };
    int in[2] = { -1, -1 }, out[2] = { -1, -1 }, err[2] = { -1, -1 };
    int far[3], rc = -1, i;

    deadline(dl, sizeof(dl), call->req.route.timeout_s);
    if (sandbox_env(&ci, &call->image.config, &env) < 0) {
        errf(call->error, sizeof(call->error), "out of memory");
        goto out;
    }
    if (sandbox_command(&call->image.config, &cmd, call->error,
                        sizeof(call->error)) < 0)
        goto out;
    if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0
        || pipe2(err, O_CLOEXEC) < 0) {
        errf(call->error, sizeof(call->error), "pipe: %s",
             strerror(errno));
        goto out;
    }
    far[0] = in[0];
    far[1] = out[1];
    far[2] = err[1];
    call->oom_base = cgroup_oom_kills(&call->sb->cgroup);
    if (sandbox_run(call->sb, sandbox_cwd(&call->image.config), cmd.v,
                    env.v, far, on_done, call, call->error,
                    sizeof(call->error)) < 0)
        goto out;
    for (i = 0; i < 3; i++)
        close(far[i]);

    /* from here on, the call ends through finish() */
    call->state = CALL_RUNNING;
    call->started_ms = uv_now(s->loop);
    call->ulog.call_id = call->req.call_id;
    call->ulog.app = call->req.route.app;
    call->ulog.path = call->req.route.path;
    call->ulog.sandbox = call->sb->id;
    call->ulog.max = s->cfg.log_max_per_call;
    uv_timer_init(s->loop, &call->timer);
    call->timer.data = call;
    call->open_handles = 1;
    uv_timer_start(&call->timer, on_timeout,
                   (uint64_t)call->req.route.timeout_s * 1000, 0);
    if (open_pipe(call, &call->in, in[1]) < 0)
        close_handle(call, (uv_handle_t *)&call->in);
    if (open_pipe(call, &call->out, out[0]) < 0
        || uv_read_start((uv_stream_t *)&call->out, read_buf_alloc,
                         on_stdout) < 0)
        close_handle(call, (uv_handle_t *)&call->out);
    if (open_pipe(call, &call->err, err[0]) < 0
        || uv_read_start((uv_stream_t *)&call->err, read_buf_alloc,
                         on_stderr) < 0)
        close_handle(call, (uv_handle_t *)&call->err);
    if (!uv_is_closing((uv_handle_t *)&call->in)) {
        uv_buf_t b = uv_buf_init(call->body ? call->body : "",
                                 (unsigned)call->body_len);
        call->in_write.data = call->in_shutdown.data = call;
        if (uv_write(&call->in_write, (uv_stream_t *)&call->in, &b, 1,
                     on_stdin_written) < 0)
            close_handle(call, (uv_handle_t *)&call->in);
    }
    rc = 0;
    in[1] = out[0] = err[0] = -1;
    in[0] = out[1] = err[1] = -1;
out:
    for (i = 0; i < 2; i++) {
        if (in[i] >= 0)
            close(in[i]);
        if (out[i] >= 0)
            close(out[i]);
        if (err[i] >= 0)
            close(err[i]);
    }
    strvec_free(&env);
    strvec_free(&cmd);
    return rc;
}

/* A call that could not run: answered, its sandbox and capacity given
 * back. */
static void fail(struct call *call, int status, const char *msg)
{
    if (call->sb != NULL) {
        sandbox_release(call->sb, 0);
        call->sb = NULL;
    }
    capacity_release(&call->server->capacity, call->memory);
    respond_error(call, status, msg, NULL);
    call_free(call);
}

static void start_run(struct call *call)
{
    if (call->cut == CALL_CUT_STOPPED || call->server->killing) {
        fail(call, 503, "the call was stopped: the executor is shutting "
             "down");
        return;
    }
    if (run(call) < 0) {
        log_msg(LOG_LEVEL_ERROR, "cannot run a call", call->error);
        fail(call, 500, call->error);
    }
}

static void on_sandbox_ready(struct sandbox *sb, int ok, void *arg)
{
    struct call *call = arg;

    if (!ok) {
        /* the sandbox frees itself; its reason is in the log */
        call->sb = NULL;
        if (call->cut == CALL_CUT_STOPPED)
            fail(call, 503, "the call was stopped: the executor is "
                 "shutting down");
        else
            fail(call, 500, "the sandbox could not be created; see the "
                 "executor's log");
        return;
    }
    (void)sb;
    start_run(call);
}

/* An idle sandbox of the same key, or a new one. */
static void get_sandbox(struct call *call)
{
    struct server *s = call->server;
    const struct route_def *r = &call->req.route;
    struct sandbox_params p;

    call->key = sandbox_key(r->app, r->path, call->image.digest,
                            call->memory);
    if (call->key == NULL) {
        fail(call, 500, "out of memory");
        return;
    }
    call->sb = sandbox_take(s, call->key);
    if (call->sb != NULL) {
        start_run(call);
        return;
    }
    p.key = call->key;
    p.rootfs = call->image.rootfs;
    p.image = &call->image.config;
    p.memory = call->memory;
    call->sb = sandbox_start(s, &p, on_sandbox_ready, call, call->error,
                             sizeof(call->error));
    if (call->sb == NULL) {
        log_msg(LOG_LEVEL_ERROR, "cannot start a sandbox", call->error);
        fail(call, 500, call->error);
    }
}

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
    char *headers, *p;

    set_outcome(call, res->status >= 500 ? METRICS_ERROR : METRICS_SUCCESS);
    for (i = 0; i < res->nheaders; i++)
        len += strlen(res->names[i]) + strlen(res->values[i]) + 4;
    for (i = 0; i < r->nheaders; i++)
        len += strlen(r->headers[i].key) + strlen(r->headers[i].value) + 4;
    headers = malloc(len);
    if (headers == NULL) {
        respond_error(call, 500, "out of memory", NULL);
        return;
    }
    p = headers + sprintf(headers, "Fn-Call-Id: %s\r\n", call->req.call_id);
    for (i = 0; i < res->nheaders; i++) {
        if (!passes(res->names[i], res->values[i]))
            continue;       /* dropped: nginx never sees it */
        if (strcasecmp(res->names[i], "Content-Type") == 0)
            content_type = res->values[i];
        else
            p += sprintf(p, "%s: %s\r\n", res->names[i], res->values[i]);
    }
    for (i = 0; i < r->nheaders; i++) {
        if (strcasecmp(r->headers[i].key, "Content-Type") == 0) {
            if (content_type == NULL)
                content_type = r->headers[i].value;
        } else {
            p += sprintf(p, "%s: %s\r\n", r->headers[i].key,
                         r->headers[i].value);
        }
    }
    if (content_type == NULL)
        content_type = utf8_text(res->body, res->body_len)
                           ? "text/plain; charset=utf-8"
                           : "application/octet-stream";
    if (call->conn != NULL)
        http_conn_respond(call->conn, res->status, content_type, headers,
                          res->body ? res->body : "", res->body_len);
    free(headers);
}

static void on_hot_done(struct hot_job *job)
{
    struct call *call = job->data;
    struct server *s = call->server;
    struct log_record rec;

    if (s->cfg.log_retention_ms > 0 && job->outcome != HOT_BUSY
        && job->outcome != HOT_TOO_LARGE) {
        call_log_save(s->loop, call->req.call_id, job->log, job->log_len);
        job->log = NULL;
    }
    if (job->outcome != HOT_TOO_LARGE)
        call->waited = 1;
    if (job->outcome == HOT_OK || job->outcome == HOT_TIMEOUT
        || job->outcome == HOT_OOM || job->outcome == HOT_BAD_ANSWER
        || job->outcome == HOT_EXITED)
        call->exec_ms = (int64_t)(uv_now(s->loop) - call->accepted_ms
                                  - job->wait_ms);
    call->wait_ms = job->wait_ms;
    if (log_begin(&rec, LOG_LEVEL_DEBUG, "call finished")) {
        log_str(&rec, "call_id", call->req.call_id);
        log_str(&rec, "app", call->req.route.app);
        log_str(&rec, "path", call->req.route.path);
        log_str(&rec, "sandbox", job->sandbox_id);
        log_str(&rec, "format", "http");
        log_int(&rec, "status", job->outcome == HOT_OK ? job->res.status : 0);
        log_int(&rec, "wait_ms", (long long)job->wait_ms);
        log_end(&rec);
    }
    switch (job->outcome) {
    case HOT_OK:
        respond_hot(call);
        break;
    case HOT_BUSY:
        respond_error(call, 503, job->message, NOT_STARTED);
        break;
    case HOT_TOO_LARGE:
        snprintf(job->message, sizeof(job->message), "route memory (%u MiB) "
                 "exceeds this executor's whole memory budget",
                 call->req.route.memory_mb);
        respond_error(call, 503, job->message, NULL);
        break;
    case HOT_STOPPED:
        respond_error(call, 503, job->message, NULL);
        break;
    case HOT_TIMEOUT:
        respond_error(call, 504, job->message, NULL);
        break;
    case HOT_FAILED:
        respond_error(call, 500, job->message, NULL);
        break;
    case HOT_BAD_ANSWER: {
        char msg[300];

        snprintf(msg, sizeof(msg), "function answered badly: %s",
                 job->message);
        respond_error(call, 502, msg, NULL);
        break;
    }
    default:
        respond_error(call, 502, job->message, NULL);
        break;
    }
    call_free(call);
}

/* The pool key of a hot instance: all that changes the instance. */
static char *hot_key(const struct call *call)
{
    const struct route_def *r = &call->req.route;
    char *key = NULL;
    size_t size = 0, i;
    FILE *f = open_memstream(&key, &size);

    if (f == NULL)
        return NULL;
    fprintf(f, "%s\n%s\n%s\nhttp\n%llu\n%u", r->app, r->path,
            call->image.digest, (unsigned long long)call->memory,
            r->idle_timeout_s);
    for (i = 0; i < r->nconfig; i++)
        fprintf(f, "\n%zu:%s=%zu:%s", strlen(r->config[i].key),
                r->config[i].key, strlen(r->config[i].value),
                r->config[i].value);
    if (fclose(f) != 0) {
        free(key);
        return NULL;
    }
    return key;
}

static void submit_hot(struct call *call)
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

    deadline(dl, sizeof(dl), r->timeout_s);
    call->key = hot_key(call);
    if (call->key == NULL) {
        respond_error(call, 500, "out of memory", NULL);
        call_free(call);
        return;
    }
    /* what a new instance needs, unless an idle one is there */
    if (!hot_idle_available(call->server, call->key)) {
        if (sandbox_env(&ci, &call->image.config, &call->hot_env) < 0) {
            respond_error(call, 500, "out of memory", NULL);
            call_free(call);
            return;
        }
        if (sandbox_command(&call->image.config, &call->hot_cmd, call->error,
                            sizeof(call->error)) < 0) {
            respond_error(call, 502, call->error, NULL);
            call_free(call);
            return;
        }
    }
    ci.call_id = call->req.call_id;
    call->hot_head = hot_request_head(&ci, call->body_len, &head_len);
    if (call->hot_head == NULL) {
        respond_error(call, 500, "out of memory", NULL);
        call_free(call);
        return;
    }
    job->server = call->server;
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
    job->body = call->body;
    job->body_len = call->body_len;
    job->call_id = call->req.call_id;
    job->app = call->req.route.app;
    job->path = call->req.route.path;
    job->done = on_hot_done;
    job->data = call;
    hot_submit(job);
}

static void prepare_image(uv_work_t *w)
{
    struct call *call = w->data;
    const struct config *cfg = &call->server->cfg;

    call->image_error = image_prepare(cfg->image_dir, cfg->state_dir,
                                      call->req.route.image, &call->image,
                                      call->error, sizeof(call->error));
}

/* status: 0 from the store (kept in the cache then), 1 from the cache,
 * < 0 if the work could not run */
static void image_ready(uv_work_t *w, int status)
{
    struct call *call = w->data;
    int hot = call->req.route.format == ROUTE_FORMAT_HTTP;

    if (status < 0 || call->image_error != IMAGE_OK) {
        metrics_count(METRICS_IMAGE_ERRORS);
        if (call->image_error == IMAGE_IO)
            log_msg(LOG_LEVEL_ERROR, "image store failure", call->error);
        if (!hot)
            capacity_release(&call->server->capacity, call->memory);
        respond_error(call, call->image_error == IMAGE_IO ? 500 : 502,
                      call->error, NULL);
        call_free(call);
        return;
    }
    if (status == 0 && call->image.unpacked)
        metrics_count(METRICS_IMAGE_PULLS);
    if (status == 0)
        image_cache_put(&call->server->images, call->req.route.image,
                        uv_now(call->server->loop), &call->image);
    if (call->server->killing) {
        if (!hot)
            capacity_release(&call->server->capacity, call->memory);
        respond_error(call, 503, "executor is shutting down", NOT_STARTED);
        call_free(call);
        return;
    }
    if (hot)
        submit_hot(call);
    else
        get_sandbox(call);
}

/* The image: from the cache if it was resolved lately, else from the
 * store on the thread pool; image_ready() goes on. */
static int resolve_image(struct call *call)
{
    struct server *s = call->server;
    int rc;

    call->work.data = call;
    rc = image_cache_get(&s->images, call->req.route.image, uv_now(s->loop),
                         &call->image);
    if (rc == 1) {
        call->image_error = IMAGE_OK;
        image_ready(&call->work, 1);
        return 0;
    }
    if (rc < 0)
        return -1;
    return uv_queue_work(s->loop, &call->work, prepare_image, image_ready);
}

static void on_capacity(struct capacity_waiter *w, enum capacity_result res)
{
    struct call *call = w->data;
    char msg[160];

    call->wait_ms = w->wait_ms;
    call->waited = res != CAPACITY_TOO_LARGE;
    switch (res) {
    case CAPACITY_GRANTED:
        break;
    case CAPACITY_TOO_LARGE:
        snprintf(msg, sizeof(msg), "route memory (%u MiB) exceeds this "
                 "executor's whole memory budget", call->req.route.memory_mb);
        respond_error(call, 503, msg, NULL);
        call_free(call);
        return;
    default:
        respond_error(call, 503, res == CAPACITY_CANCELLED
                                 ? "executor is shutting down"
                                 : "server too busy", NOT_STARTED);
        call_free(call);
        return;
    }
    if (resolve_image(call) < 0) {
        capacity_release(&call->server->capacity, call->memory);
        respond_error(call, 500, "cannot queue work", NULL);
        call_free(call);
    }
}

static int64_t wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* "Fn-Async: <token> <enqueued ms>": sent by this executor's async
 * threads alone, which know the token. */
static int async_mark(const char *v, int64_t *enqueued_ms)
{
    const char *token = metrics_async_token();
    size_t n = strlen(token);
    char *end;

    if (v == NULL || strncmp(v, token, n) != 0 || v[n] != ' ')
        return 0;
    *enqueued_ms = strtoll(v + n + 1, &end, 10);
    if (*end != '\0')
        *enqueued_ms = 0;
    return 1;
}

void call_start(struct server *s, struct http_conn *c)
{
    struct call *call = calloc(1, sizeof(*call)), *other;
    char err[512];
    int status;

    if (call == NULL) {
        http_conn_respond_error(c, 500, "out of memory");
        return;
    }
    call->server = s;
    call->conn = c;
    call->exec_ms = -1;
    call->accepted_ms = uv_now(s->loop);
    call->accepted_wall_ms = wall_ms();
    call->async = async_mark(http_request_header(&c->rp.req, "Fn-Async"),
                             &call->enqueued_ms);
    c->on_close = on_conn_closed;
    c->on_close_arg = call;
    status = call_request_parse(&c->rp.req, &call->req, err, sizeof(err));
    if (status != 0) {
        http_conn_respond_error(c, status, err);
        call_free(call);
        return;
    }
    for (other = s->calls; other != NULL; other = other->next) {
        if (strcmp(other->req.call_id, call->req.call_id) == 0) {
            respond_error(call, 409, "a call with this id is already "
                          "running on this executor", NULL);
            call_free(call);
            return;
        }
    }
    call->next = s->calls;
    if (s->calls)
        s->calls->prev = call;
    s->calls = call;
    if (call->req.route.format != ROUTE_FORMAT_DEFAULT
        && call->req.route.format != ROUTE_FORMAT_HTTP) {
        errf(err, sizeof(err), "format \"%s\" is not supported by this "
             "executor yet", route_format_name(call->req.route.format));
        respond_error(call, 501, err, NULL);
        call_free(call);
        return;
    }
    /* the body is the call's from here on */
    call->body = c->rp.req.body;
    call->body_len = c->rp.req.body_len;
    c->rp.req.body = NULL;
    c->rp.req.body_len = 0;
    call->memory = (uint64_t)call->req.route.memory_mb * 1024 * 1024;
    if (call->req.route.format == ROUTE_FORMAT_HTTP) {
        /* hot instances hold capacity, not calls: image first */
        if (resolve_image(call) < 0) {
            respond_error(call, 500, "cannot queue work", NULL);
            call_free(call);
        }
        return;
    }
    capacity_acquire(&s->capacity, &call->waiter, call->memory, on_capacity,
                     call);
}

size_t call_stop_all(struct server *s)
{
    struct call *call;
    size_t n = 0;

    s->killing = 1;
    for (call = s->calls; call != NULL; call = call->next) {
        n++;
        if (call->sb == NULL || call->state == CALL_ENDED)
            continue;   /* waiting for capacity or its image, or ending */
        /* a sandbox starting or running: its end answers the call */
        cut(call, CALL_CUT_STOPPED);
    }
    hot_stop_all(s);
    return n;
}
