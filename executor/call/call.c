/*
 * The life of a call: capacity, image, a sandbox (idle or new), one
 * process in it, I/O, outcome.  Every step that can block runs on libuv's
 * thread pool.
 */
#include "call.h"
#include "call_state.h"
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


static void on_conn_closed(void *arg)
{
    struct call *call = arg;

    call->conn = NULL;
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

    call_set_outcome(call, METRICS_SUCCESS);
    if (!call_has_caller(call))
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
        call_respond_error(call, 500, "out of memory", NULL);
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
    call_answer(call, 200, content_type, headers,
                call->output ? call->output : "", call->output_len);
    free(headers);
}

static void finish(struct call *call)
{
    struct calls *calls = call->calls;
    const struct route_def *r = &call->req.route;
    long oom_now = cgroup_oom_kills(&call->sb->cgroup);
    long oom = oom_now - call->oom_base;
    uint64_t elapsed = uv_now(calls->loop) - call->started_ms;
    struct log_record rec;
    char msg[256];

    user_log_flush(&call->ulog);
    call->exec_ms = (int64_t)elapsed;
    call_save_log(call, call->log, call->log_len);
    call->log = NULL;
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
    /* the next call's count starts from here: nothing runs in the
     * sandbox between calls but its init */
    call->sb->oom_kills = oom_now;
    call->sb->oom_known = 1;
    /* the sandbox serves the next call only if nothing is left of this
     * one and it ended by itself */
    sandbox_release(call->sb, !call->lost && call->clean && oom <= 0
                              && call->cut == CALL_CUT_NONE);
    call->sb = NULL;
    capacity_release(calls->capacity, call->memory);

    if (call->cut == CALL_CUT_STOPPED) {
        call_respond_error(call, 503, "the call was stopped: the executor is "
                      "shutting down", NULL);
    } else if (call->cut == CALL_CUT_TIMEOUT) {
        errf(msg, sizeof(msg), "function timed out after %u s",
             r->timeout_s);
        call_respond_error(call, 504, msg, NULL);
    } else if (oom > 0) {
        errf(msg, sizeof(msg), "function was killed: out of memory "
             "(limit %u MiB)", r->memory_mb);
        call_respond_error(call, 502, msg, NULL);
    } else if (call->cut == CALL_CUT_TOO_BIG) {
        errf(msg, sizeof(msg), "function response is larger than %llu bytes",
             (unsigned long long)calls->cfg->max_response_body);
        call_respond_error(call, 502, msg, NULL);
    } else if (call->lost) {
        call_respond_error(call, 502, "the function's sandbox died; see the "
                      "executor's log", NULL);
    } else if (call->term_signal != 0) {
        errf(msg, sizeof(msg), "function was killed by signal %d",
             call->term_signal);
        call_respond_error(call, 502, msg, NULL);
    } else if (call->exit_status != 0) {
        errf(msg, sizeof(msg), "function exited with status %d",
             (int)call->exit_status);
        call_respond_error(call, 502, msg, NULL);
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
    uint64_t max = call->calls->cfg->max_response_body;

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
        user_log_keep(&call->log, &call->log_len, &call->log_cap, buf->base,
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

/* Opens the executor's end of a pipe; the other end goes to the sandbox. */
static int open_pipe(struct call *call, uv_pipe_t *p, int fd)
{
    uv_pipe_init(call->calls->loop, p, 0);
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
    struct calls *calls = call->calls;
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

    call_deadline(dl, sizeof(dl), call->req.route.timeout_s);
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
    if (call->body_len == 0) {
        /* nothing to write: the function reads the end of its input at
         * once, and the loop has no handle to open and shut for it */
        close(in[1]);
        in[1] = -1;
    }
    far[0] = in[0];
    far[1] = out[1];
    far[2] = err[1];
    call->oom_base = call->sb->oom_known ? call->sb->oom_kills
                                         : cgroup_oom_kills(&call->sb->cgroup);
    if (sandbox_run(call->sb, sandbox_cwd(&call->image.config), cmd.v,
                    env.v, far, on_done, call, call->error,
                    sizeof(call->error)) < 0)
        goto out;
    for (i = 0; i < 3; i++)
        close(far[i]);

    /* from here on, the call ends through finish() */
    call->state = CALL_RUNNING;
    call->started_ms = uv_now(calls->loop);
    call->ulog.call_id = call->req.call_id;
    call->ulog.app = call->req.route.app;
    call->ulog.path = call->req.route.path;
    call->ulog.sandbox = call->sb->id;
    call->ulog.max = calls->cfg->log_max_per_call;
    uv_timer_init(calls->loop, &call->timer);
    call->timer.data = call;
    call->open_handles = 1;
    uv_timer_start(&call->timer, on_timeout,
                   (uint64_t)call->req.route.timeout_s * 1000, 0);
    if (in[1] >= 0 && open_pipe(call, &call->in, in[1]) < 0)
        close_handle(call, (uv_handle_t *)&call->in);
    if (open_pipe(call, &call->out, out[0]) < 0
        || uv_read_start((uv_stream_t *)&call->out, read_buf_alloc,
                         on_stdout) < 0)
        close_handle(call, (uv_handle_t *)&call->out);
    if (open_pipe(call, &call->err, err[0]) < 0
        || uv_read_start((uv_stream_t *)&call->err, read_buf_alloc,
                         on_stderr) < 0)
        close_handle(call, (uv_handle_t *)&call->err);
    if (in[1] >= 0 && !uv_is_closing((uv_handle_t *)&call->in)) {
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
    capacity_release(call->calls->capacity, call->memory);
    call_respond_error(call, status, msg, NULL);
    call_free(call);
}

static void start_run(struct call *call)
{
    if (call->cut == CALL_CUT_STOPPED || call->calls->killing) {
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
    struct calls *calls = call->calls;
    const struct route_def *r = &call->req.route;
    struct sandbox_params p = { 0 };

    call->key = sandbox_key(r->app, r->path, call->image.digest,
                            call->memory);
    if (call->key == NULL) {
        fail(call, 500, "out of memory");
        return;
    }
    call->sb = sandbox_take(calls->sandboxes, call->key);
    if (call->sb != NULL) {
        start_run(call);
        return;
    }
    p.key = call->key;
    p.rootfs = call->image.rootfs;
    p.image = &call->image.config;
    p.memory = call->memory;
    call->sb = sandbox_start(calls->sandboxes, &p, on_sandbox_ready, call,
                             call->error, sizeof(call->error));
    if (call->sb == NULL) {
        log_msg(LOG_LEVEL_ERROR, "cannot start a sandbox", call->error);
        fail(call, 500, call->error);
    }
}

static void prepare_image(uv_work_t *w)
{
    struct call *call = w->data;
    const struct config *cfg = call->calls->cfg;

    call->image_error = image_prepare(cfg->image_dir, cfg->state_dir,
                                      call->req.route.image, &call->image,
                                      call->error, sizeof(call->error));
}

/* status: 0 from the store (kept in the cache then), 1 from the cache,
 * < 0 if the work could not run */
static void image_asked(struct call *call);
static void on_capacity(struct capacity_waiter *w, enum capacity_result res);

/* Whether the call's route runs hot: instances serve call after call. */
static int hot_format(const struct call *call)
{
    return call->req.route.format == ROUTE_FORMAT_HTTP
           || call->req.route.format == ROUTE_FORMAT_JSON
           || call->req.route.format == ROUTE_FORMAT_HTTP_STREAM
           || call->req.route.format == ROUTE_FORMAT_LAMBDA;
}

/* The wait for its image (a pull, an unpack) is over: it counts as
 * waiting. */
static void image_waited(struct call *call)
{
    call->image_ms = uv_now(call->calls->loop) - call->image_at_ms;
    call->wait_ms = call->image_ms;
    call->waited = 1;
}

/* The call's image could not be prepared (call->error says why). */
static void image_failed(struct call *call)
{
    metrics_count(METRICS_IMAGE_ERRORS);
    if (call->image_error == IMAGE_IO)
        log_msg(LOG_LEVEL_ERROR, "image store failure", call->error);
    call_respond_error(call, call->image_error == IMAGE_IO ? 500 : 502,
                       call->error, NULL);
    call_free(call);
}

static void image_ready(uv_work_t *w, int status)
{
    struct call *call = w->data, **pp, *parked = NULL, *next;

    if (status != 1) {
        /* from the pool: the calls parked for this image go on after */
        for (pp = &call->calls->preparing; *pp != NULL;
             pp = &(*pp)->prep_next) {
            if (*pp == call) {
                *pp = call->prep_next;
                break;
            }
        }
        parked = call->parked;
        call->parked = NULL;
    }
    image_waited(call);
    if (status < 0 || call->image_error != IMAGE_OK) {
        /* the calls that waited for this preparation share its outcome */
        for (; parked != NULL; parked = next) {
            next = parked->parked_next;
            parked->parked_next = NULL;
            parked->image_error = call->image_error;
            memcpy(parked->error, call->error, sizeof(parked->error));
            image_waited(parked);
            image_failed(parked);
        }
        image_failed(call);
        return;
    }
    if (status == 0 && call->image.unpacked)
        metrics_count(METRICS_IMAGE_UNPACKS);
    if (status == 0)
        image_cache_put(call->calls->images, call->req.route.image,
                        uv_now(call->calls->loop), &call->image);
    if (call->calls->killing) {
        call_respond_error(call, 503, "executor is shutting down",
                           NOT_STARTED);
        call_free(call);
    } else if (hot_format(call)) {
        call_hot_submit(call);
    } else {
        /* a cold call holds a slot and its memory from here on only: a
         * slow pull holds none */
        capacity_acquire(call->calls->capacity, &call->waiter, call->memory,
                         on_capacity, call);
    }
    /* they find it in the cache now (or prepare it again if it left) */
    for (; parked != NULL; parked = next) {
        next = parked->parked_next;
        parked->parked_next = NULL;
        image_asked(parked);
    }
}

/* The image: from the cache if it was resolved lately, else from the
 * store on the thread pool, one call per image name at a time (the
 * others park here, not on the pool: a slow registry holds one thread
 * per image); image_ready() goes on.  0, or -1 if no work could be
 * queued. */
static int resolve_image(struct call *call)
{
    struct calls *calls = call->calls;
    struct call *p;
    int rc;

    call->work.data = call;
    if (!call->image_asked) {
        call->image_asked = 1;
        call->image_at_ms = uv_now(calls->loop);
    }
    rc = image_cache_get(calls->images, call->req.route.image,
                         uv_now(calls->loop), &call->image);
    if (rc == 1) {
        call->image_error = IMAGE_OK;
        image_ready(&call->work, 1);
        return 0;
    }
    if (rc < 0)
        return -1;
    for (p = calls->preparing; p != NULL; p = p->prep_next) {
        if (strcmp(p->req.route.image, call->req.route.image) == 0) {
            call->parked_next = p->parked;
            p->parked = call;
            return 0;
        }
    }
    rc = uv_queue_work(calls->loop, &call->work, prepare_image, image_ready);
    if (rc == 0) {
        call->prep_next = calls->preparing;
        calls->preparing = call;
    }
    return rc;
}

/* resolve_image(), or the call fails for want of it. */
static void image_asked(struct call *call)
{
    if (resolve_image(call) == 0)
        return;
    call_respond_error(call, 500, "cannot queue work", NULL);
    call_free(call);
}

static void on_capacity(struct capacity_waiter *w, enum capacity_result res)
{
    struct call *call = w->data;
    char msg[160];

    call->wait_ms += w->wait_ms;    /* after the wait for its image */
    call->waited = res != CAPACITY_TOO_LARGE;
    switch (res) {
    case CAPACITY_GRANTED:
        break;
    case CAPACITY_TOO_LARGE:
        errf(msg, sizeof(msg), "route memory (%u MiB) exceeds this "
             "executor's whole memory budget", call->req.route.memory_mb);
        call_respond_error(call, 503, msg, NULL);
        call_free(call);
        return;
    default:
        call_respond_error(call, 503, res == CAPACITY_CANCELLED
                                 ? "executor is shutting down"
                                 : "server too busy", NOT_STARTED);
        call_free(call);
        return;
    }
    get_sandbox(call);
}

static int64_t wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void call_start(struct calls *calls, struct http_conn *c,
                struct http_request *req, struct call_reply *reply)
{
    struct call *call = calloc(1, sizeof(*call)), *other;
    char err[512];
    int status;

    if (call == NULL) {
        if (c != NULL) {
            http_conn_respond_error(c, 500, "out of memory");
        } else {
            reply->status = 500;
            reply->done(reply);
        }
        return;
    }
    call->calls = calls;
    call->conn = c;
    call->reply = reply;
    call->exec_ms = -1;
    call->accepted_ms = uv_now(calls->loop);
    call->accepted_wall_ms = wall_ms();
    if (reply != NULL) {
        call->async = 1;
        call->enqueued_ms = reply->enqueued_ms;
    } else {
        c->on_close = on_conn_closed;
        c->on_close_arg = call;
    }
    status = call_request_parse(req, &call->req, err, sizeof(err));
    if (status != 0) {
        call_refuse(call, status, err);
        call_free(call);
        return;
    }
    if (reply != NULL && reply->lease
        && call->req.route.format != ROUTE_FORMAT_HTTP) {
        call_respond_error(call, 400, "only routes of format http are "
                           "leased", NULL);
        call_free(call);
        return;
    }
    for (other = calls->all; other != NULL; other = other->next) {
        if (strcmp(other->req.call_id, call->req.call_id) == 0) {
            call_respond_error(call, 409, "a call with this id is already "
                          "running on this executor", NULL);
            call_free(call);
            return;
        }
    }
    call->next = calls->all;
    if (calls->all)
        calls->all->prev = call;
    calls->all = call;
    /* the body is the call's from here on */
    call->body = req->body;
    call->body_len = req->body_len;
    req->body = NULL;
    req->body_len = 0;
    call->memory = (uint64_t)call->req.route.memory_mb * 1024 * 1024;
    /* the image first: a cold call then waits for capacity (hot
     * instances hold capacity, not calls) */
    image_asked(call);
}

size_t call_stop_all(struct calls *calls)
{
    struct call *call;
    size_t n = 0;

    calls->killing = 1;
    for (call = calls->all; call != NULL; call = call->next) {
        n++;
        if (call->sb == NULL || call->state == CALL_ENDED)
            continue;   /* waiting for capacity or its image, or ending */
        /* a sandbox starting or running: its end answers the call */
        cut(call, CALL_CUT_STOPPED);
    }
    hot_stop_all(calls->hot);
    return n;
}
