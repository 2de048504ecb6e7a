/*
 * The life of a call: capacity, image, cgroup, sandbox, I/O, outcome,
 * cleanup.  Every step that can block runs on libuv's thread pool.
 */
#include "call.h"
#include "call_log.h"
#include "call_request.h"
#include "cgroup.h"
#include "image_store.h"
#include "json_out.h"
#include "log.h"
#include "sandbox_args.h"
#include "seccomp_filter.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define HELPER_FAILED 125       /* the sandbox helper's own failures */

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

    struct cgroup cgroup;
    int has_cgroup;
    uv_process_t proc;
    uv_pipe_t in, out, err;
    uv_timer_t timer;
    uv_write_t in_write;
    uv_shutdown_t in_shutdown;
    int open_handles;
    uint64_t started_ms;

    char *output;
    size_t output_len;
    int too_big;
    int timed_out;
    int stopped;                /* by call_stop_all */
    int exited;
    int64_t exit_status;
    int term_signal;

    char line[1024];            /* a partial stderr line */
    size_t line_len;
    size_t logged;              /* stderr bytes logged so far */
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

static void call_free(struct call *call)
{
    struct server *s = call->server;

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

    if (log_begin(&r, status >= 500 ? LOG_LEVEL_WARN : LOG_LEVEL_INFO,
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

static void flush_log_line(struct call *call)
{
    struct log_record r;

    if (call->line_len == 0)
        return;
    if (log_begin(&r, LOG_LEVEL_INFO, "function stderr")) {
        log_str(&r, "call_id", call->req.call_id);
        log_str(&r, "app", call->req.route.app);
        log_str(&r, "path", call->req.route.path);
        log_str(&r, "user_log", "true");
        logfmt_add(&r.buf, "line", call->line, call->line_len);
        log_end(&r);
    }
    call->line_len = 0;
}

static void finish(struct call *call)
{
    struct server *s = call->server;
    const struct route_def *r = &call->req.route;
    long oom = call->has_cgroup ? cgroup_oom_kills(&call->cgroup) : 0;
    uint64_t elapsed = uv_now(s->loop) - call->started_ms;
    struct log_record rec;
    char msg[256];

    flush_log_line(call);
    if (s->cfg.log_retention_ms > 0) {
        call_log_save(s->loop, call->req.call_id, call->log,
                      call->log_len);
        call->log = NULL;
    }
    if (call->has_cgroup && cgroup_destroy(&call->cgroup) < 0)
        log_msg(LOG_LEVEL_ERROR, "cannot remove a sandbox cgroup",
                call->cgroup.dirs[0]);
    capacity_release(&s->capacity, call->memory);

    if (log_begin(&rec, LOG_LEVEL_DEBUG, "call finished")) {
        log_str(&rec, "call_id", call->req.call_id);
        log_int(&rec, "exit_status", call->exit_status);
        log_int(&rec, "signal", call->term_signal);
        log_int(&rec, "oom_kills", oom);
        log_int(&rec, "time_ms", (long long)elapsed);
        log_int(&rec, "wait_ms", (long long)call->wait_ms);
        log_end(&rec);
    }

    if (call->stopped) {
        respond_error(call, 503, "the call was stopped: the executor is "
                      "shutting down", NULL);
    } else if (call->timed_out) {
        snprintf(msg, sizeof(msg), "function timed out after %u s",
                 r->timeout_s);
        respond_error(call, 504, msg, NULL);
    } else if (oom > 0) {
        snprintf(msg, sizeof(msg), "function was killed: out of memory "
                 "(limit %u MiB)", r->memory_mb);
        respond_error(call, 502, msg, NULL);
    } else if (call->too_big) {
        snprintf(msg, sizeof(msg), "function response is larger than "
                 "%llu bytes", (unsigned long long)s->cfg.max_response_body);
        respond_error(call, 502, msg, NULL);
    } else if (call->exit_status == HELPER_FAILED && call->term_signal == 0) {
        respond_error(call, 500, "the sandbox could not be created; see the "
                      "executor's log", NULL);
    } else if (call->term_signal != 0) {
        snprintf(msg, sizeof(msg), "function was killed by signal %d",
                 call->term_signal);
        respond_error(call, 502, msg, NULL);
    } else if (call->exit_status != 0) {
        /* bwrap passes the function's status on, 128 + n for signal n */
        if (call->exit_status > 128 && call->exit_status < 160)
            snprintf(msg, sizeof(msg), "function was killed by signal %d",
                     (int)call->exit_status - 128);
        else
            snprintf(msg, sizeof(msg), "function exited with status %d",
                     (int)call->exit_status);
        respond_error(call, 502, msg, NULL);
    } else {
        respond_success(call);
    }
    call_free(call);
}

/* ---------------------------------------------------------------- I/O */

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    buf->base = malloc(suggested);
    buf->len = buf->base ? suggested : 0;
}

static void on_stdout(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    struct call *call = st->data;
    uint64_t max = call->server->cfg.max_response_body;

    if (n > 0 && !call->too_big) {
        if (call->output_len + (size_t)n > max) {
            /* the function is killed: it must not keep a slot writing */
            call->too_big = 1;
            if (call->has_cgroup)
                cgroup_kill_all(&call->cgroup);
        } else {
            char *p = realloc(call->output, call->output_len + (size_t)n);
            if (p != NULL) {
                memcpy(p + call->output_len, buf->base, (size_t)n);
                call->output = p;
                call->output_len += (size_t)n;
            } else {
                call->too_big = 1;
            }
        }
    }
    free(buf->base);
    if (n < 0)
        close_handle(call, (uv_handle_t *)st);
}

/* Keeps stderr bytes for GET /calls/<id>/log; stops keeping if memory
 * runs out (the lines are still logged). */
static void keep_log(struct call *call, const char *data, size_t n)
{
    size_t cap = call->log_cap;
    char *p;

    if (n == 0)
        return;
    if (call->log_len + n > cap) {
        cap = cap ? cap : 4096;
        while (cap < call->log_len + n)
            cap *= 2;
        p = realloc(call->log, cap);
        if (p == NULL)
            return;
        call->log = p;
        call->log_cap = cap;
    }
    memcpy(call->log + call->log_len, data, n);
    call->log_len += n;
}

static void on_stderr(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    struct call *call = st->data;
    uint64_t max = call->server->cfg.log_max_per_call;
    size_t i, keep = 0;

    if (n > 0) {
        /* up to log_max_per_call bytes per call are logged and kept */
        keep = (size_t)n;
        if (keep > max - call->logged)
            keep = (size_t)(max - call->logged);
        keep_log(call, buf->base, keep);
        call->logged += keep;
    }
    for (i = 0; i < keep; i++) {
        char ch = buf->base[i];

        if (ch == '\n' || call->line_len == sizeof(call->line)) {
            flush_log_line(call);
            if (ch == '\n')
                continue;
        }
        call->line[call->line_len++] = ch;
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
    free(buf->base);
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

static void on_exit_cb(uv_process_t *p, int64_t status, int signal)
{
    struct call *call = p->data;

    call->exited = 1;
    call->exit_status = status;
    call->term_signal = signal;
    uv_timer_stop(&call->timer);
    /* what the function left behind dies with it; the pipes then close */
    if (call->has_cgroup)
        cgroup_kill_all(&call->cgroup);
    close_handle(call, (uv_handle_t *)p);
    close_handle(call, (uv_handle_t *)&call->timer);
}

static void on_timeout(uv_timer_t *t)
{
    struct call *call = t->data;

    call->timed_out = 1;
    if (call->has_cgroup)
        cgroup_kill_all(&call->cgroup);
    uv_process_kill(&call->proc, SIGKILL);
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

static int spawn(struct call *call)
{
    struct server *s = call->server;
    const struct config *cfg = &s->cfg;
    struct strvec env = { 0 }, bw = { 0 }, args = { 0 };
    char procs[CGROUP_MAX_DIRS][CGROUP_PATH_MAX], dl[32];
    struct call_info ci = {
        .call_id = call->req.call_id,
        .method = call->req.method,
        .request_url = call->req.request_url,
        .deadline = dl,
        .route = &call->req.route,
        .header_names = call->req.header_names.v,
        .header_values = call->req.header_values.v,
    };
    struct sandbox_spec spec = {
        .bwrap = cfg->bwrap,
        .rootfs = call->image.rootfs,
        .tmp_bytes = cfg->tmp_size,
        .share_net = cfg->allow_network,
        .hostname = "function",
        .image = &call->image.config,
    };
    uv_stdio_container_t stdio[4];
    uv_process_options_t opts;
    size_t i, n;
    int rc = -1, seccomp;

    deadline(dl, sizeof(dl), call->req.route.timeout_s);
    if (cgroup_create(&s->cgroups, call->req.call_id, call->memory,
                      cfg->pids_max, (unsigned)cfg->cpu_quota,
                      &call->cgroup, call->error, sizeof(call->error)) < 0)
        goto out;
    call->has_cgroup = 1;
    if (sandbox_env(&ci, &call->image.config, &env) < 0) {
        snprintf(call->error, sizeof(call->error), "out of memory");
        goto out;
    }
    spec.env = env.v;
    if (sandbox_argv(&spec, &bw, call->error, sizeof(call->error)) < 0)
        goto out;

    strvec_push(&args, s->helper);
    strvec_pushf(&args, "%u", cfg->sandbox_uid);
    strvec_pushf(&args, "%u", cfg->sandbox_gid);
    n = cgroup_procs_files(&call->cgroup, procs);
    for (i = 0; i < n; i++)
        strvec_push(&args, procs[i]);
    strvec_push(&args, "--");
    for (i = 0; i < bw.n; i++)
        strvec_push(&args, bw.v[i]);
    if (args.failed) {
        snprintf(call->error, sizeof(call->error), "out of memory");
        goto out;
    }

    /* the seccomp filter, for bubblewrap: a copy of its own per sandbox */
    seccomp = seccomp_filter_fd(s->seccomp_bpf, s->seccomp_len);
    if (seccomp < 0) {
        snprintf(call->error, sizeof(call->error), "cannot pass the seccomp "
                 "filter: %s", strerror(errno));
        goto out;
    }
    uv_pipe_init(s->loop, &call->in, 0);
    uv_pipe_init(s->loop, &call->out, 0);
    uv_pipe_init(s->loop, &call->err, 0);
    uv_timer_init(s->loop, &call->timer);
    call->in.data = call->out.data = call->err.data = call;
    call->timer.data = call->proc.data = call;
    stdio[0].flags = UV_CREATE_PIPE | UV_READABLE_PIPE;
    stdio[0].data.stream = (uv_stream_t *)&call->in;
    stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    stdio[1].data.stream = (uv_stream_t *)&call->out;
    stdio[2].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    stdio[2].data.stream = (uv_stream_t *)&call->err;
    stdio[3].flags = UV_INHERIT_FD;
    stdio[3].data.fd = seccomp;
    memset(&opts, 0, sizeof(opts));
    opts.file = s->helper;
    opts.args = args.v;
    opts.env = (char *[]){ "PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL };
    opts.stdio = stdio;
    opts.stdio_count = 4;
    opts.exit_cb = on_exit_cb;

    call->started_ms = uv_now(s->loop);
    rc = uv_spawn(s->loop, &call->proc, &opts);
    close(seccomp);
    if (rc < 0) {
        snprintf(call->error, sizeof(call->error), "cannot start the "
                 "sandbox: %s", uv_strerror(rc));
        /* every handle is initialised: close them all, then finish */
        call->open_handles = 5;
        call->exited = 1;
        call->exit_status = HELPER_FAILED;
        close_handle(call, (uv_handle_t *)&call->proc);
        close_handle(call, (uv_handle_t *)&call->in);
        close_handle(call, (uv_handle_t *)&call->out);
        close_handle(call, (uv_handle_t *)&call->err);
        close_handle(call, (uv_handle_t *)&call->timer);
        rc = 0;
        goto out;
    }
    call->open_handles = 5;     /* process, timer, stdin, stdout, stderr */
    uv_timer_start(&call->timer, on_timeout,
                   (uint64_t)call->req.route.timeout_s * 1000, 0);
    uv_read_start((uv_stream_t *)&call->out, alloc_cb, on_stdout);
    uv_read_start((uv_stream_t *)&call->err, alloc_cb, on_stderr);
    {
        uv_buf_t b = uv_buf_init(call->body ? call->body : "",
                                 (unsigned)call->body_len);
        call->in_write.data = call->in_shutdown.data = call;
        if (uv_write(&call->in_write, (uv_stream_t *)&call->in, &b, 1,
                     on_stdin_written) < 0)
            close_handle(call, (uv_handle_t *)&call->in);
    }
    rc = 0;
out:
    strvec_free(&env);
    strvec_free(&bw);
    strvec_free(&args);
    return rc;
}

static void prepare_image(uv_work_t *w)
{
    struct call *call = w->data;
    const struct config *cfg = &call->server->cfg;

    call->image_error = image_prepare(cfg->image_dir, cfg->state_dir,
                                      call->req.route.image, &call->image,
                                      call->error, sizeof(call->error));
}

static void image_ready(uv_work_t *w, int status)
{
    struct call *call = w->data;

    if (status < 0 || call->image_error != IMAGE_OK) {
        if (call->image_error == IMAGE_IO)
            log_msg(LOG_LEVEL_ERROR, "image store failure", call->error);
        capacity_release(&call->server->capacity, call->memory);
        respond_error(call, call->image_error == IMAGE_IO ? 500 : 502,
                      call->error, NULL);
        call_free(call);
        return;
    }
    if (call->server->killing) {
        capacity_release(&call->server->capacity, call->memory);
        respond_error(call, 503, "executor is shutting down",
                      "Retry-After: 1\r\n");
        call_free(call);
        return;
    }
    if (spawn(call) < 0) {
        log_msg(LOG_LEVEL_ERROR, "cannot start a sandbox", call->error);
        if (call->has_cgroup) {
            cgroup_destroy(&call->cgroup);
            call->has_cgroup = 0;
        }
        capacity_release(&call->server->capacity, call->memory);
        respond_error(call, 500, call->error, NULL);
        call_free(call);
    }
}

static void on_capacity(struct capacity_waiter *w, enum capacity_result res)
{
    struct call *call = w->data;
    char msg[160];

    call->wait_ms = w->wait_ms;
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
                                 : "server too busy", "Retry-After: 1\r\n");
        call_free(call);
        return;
    }
    call->work.data = call;
    if (uv_queue_work(call->server->loop, &call->work, prepare_image,
                      image_ready) < 0) {
        capacity_release(&call->server->capacity, call->memory);
        respond_error(call, 500, "cannot queue work", NULL);
        call_free(call);
    }
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
    if (call->req.route.format != ROUTE_FORMAT_DEFAULT) {
        snprintf(err, sizeof(err), "format \"%s\" is not supported by this "
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
        if (call->open_handles == 0 || call->exited)
            continue;   /* waiting for capacity or its image, or ending */
        call->stopped = 1;
        if (call->has_cgroup)
            cgroup_kill_all(&call->cgroup);
        uv_process_kill(&call->proc, SIGKILL);
    }
    return n;
}
