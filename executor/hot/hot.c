/*
 * Hot function pools and instances.
 */
#include "hot.h"
#include "json_format.h"
#include "lambda_format.h"
#include "lambda_runtime.h"
#include "stream_format.h"
#include "cgroup.h"
#include "log.h"
#include "metrics.h"
#include "read_buf.h"
#include "route_def.h"
#include "user_log.h"
#include "utc_time.h"
#include "errf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* How long an http-stream instance waits before asking again whether its
 * function listens: from the first to the last, doubling. */
#define CONNECT_RETRY_FIRST_MS 5
#define CONNECT_RETRY_MAX_MS 100
/* A connection lost during a call is often the process's end (an exit, an
 * OOM kill): this long for that end to tell why, before the call is
 * answered with the lost connection. */
#define CONN_LOST_GRACE_MS 200
/* A leased instance asked back comes back within its route's timeout
 * (its call's end), and this, or it is stopped. */
#define LEASE_GRACE_MS 5000

enum instance_state {
    INSTANCE_STARTING,
    INSTANCE_IDLE,
    INSTANCE_BUSY,
    INSTANCE_LEASED,        /* its socket is its holder's (hot.h) */
    INSTANCE_DEAD,          /* killed or exited; removed when all closed */
};

struct hot_pool {
    struct hot_pool *next, *prev;       /* owner->pools */
    struct hot_pools *owner;
    char *key;
    char app[ROUTE_APP_MAX + 1];        /* for the log */
    char path[ROUTE_PATH_MAX + 1];
    struct hot_instance *instances;
    unsigned ninstances;                /* starting ones too */
    unsigned max_concurrency;
    struct hot_job *head, *tail;        /* jobs waiting for an instance */
    size_t nwaiting;
};

struct hot_instance {
    struct hot_instance *next, *prev;   /* pool->instances */
    struct hot_instance *idle_next, *idle_prev; /* of every pool, newest
                                                 * first */
    struct hot_pool *pool;
    struct sandbox *sb;
    enum instance_state state;
    uint64_t memory;                    /* capacity held */
    uint64_t idle_timeout_ms;
    struct hot_job *job;
    long oom_base;
    int timed_out;
    int answered;                       /* the job has its answer */
    uv_pipe_t in, out, err;
    uv_timer_t timer;                   /* the call's timeout, or idle */
    uv_write_t write_req;
    char *wbuf;                         /* what is being written */
    size_t wlen;
    int writing;
    int open_handles;
    int sandbox_done;
    int started;                        /* its process ran */
    enum hot_format format;
    uv_pipe_t conn;                     /* http-stream: its connection */
    int conn_open;                      /* conn carries calls */
    int conn_lost;                      /* it closed during the call */
    int connecting;                     /* a CONNECT is out, or its retry
                                         * timer runs */
    uv_timer_t retry;                   /* the next CONNECT */
    uint64_t listen_deadline;           /* it must listen by then */
    uint64_t retry_ms;
    struct lambda_runtime *rt;          /* lambda: its Runtime API */
    int event_out;                      /* lambda: the call's event is
                                         * delivered, its result awaited */
    struct http_response_parser rp;     /* its answer (http, stream;
                                         * lambda: res alone) */
    struct json_answer_parser jp;       /* its answer (json) */
    struct user_log ulog;               /* its stderr */
    int sock;                           /* http, direct: in and out are
                                         * one socket */
    const struct hot_lease_ops *lease_ops;  /* leased: its holder */
    void *lease_arg;
    int revoked;                        /* the holder was asked */
    int revoked_for_capacity;           /* then: stop it when it is back */
    uint64_t lease_grace_ms;            /* asked back: it must come back
                                         * within this (its route's
                                         * timeout, and 5 s) */
};

static void on_wait_timer_closed(uv_handle_t *h)
{
    struct hot_job *job = h->data;

    job->done(job);
}

/* Tells the caller; a job that waited closes its timer first. */
static void finish_job(struct hot_job *job, enum hot_outcome outcome,
                       const char *msg)
{
    job->outcome = outcome;
    if (msg != NULL)
        snprintf(job->message, sizeof(job->message), "%s", msg);
    if (job->has_timer) {
        job->has_timer = 0;
        job->wait_timer.data = job;
        uv_close((uv_handle_t *)&job->wait_timer, on_wait_timer_closed);
        return;
    }
    job->done(job);
}

/* --------------------------------------------------------------- pools */

static struct hot_pool *pool_get(struct hot_pools *hp,
                                 const struct hot_job *job)
{
    const char *key = job->key;
    struct hot_pool *p;

    for (p = hp->pools; p != NULL; p = p->next) {
        if (strcmp(p->key, key) == 0)
            return p;
    }
    p = calloc(1, sizeof(*p));
    if (p == NULL || (p->key = strdup(key)) == NULL) {
        free(p);
        return NULL;
    }
    p->owner = hp;
    snprintf(p->app, sizeof(p->app), "%s", job->app);
    snprintf(p->path, sizeof(p->path), "%s", job->path);
    p->next = hp->pools;
    if (hp->pools)
        hp->pools->prev = p;
    hp->pools = p;
    return p;
}

static void pool_maybe_free(struct hot_pool *p)
{
    struct hot_pools *hp = p->owner;

    if (p->ninstances > 0 || p->head != NULL)
        return;
    if (p->prev)
        p->prev->next = p->next;
    else
        hp->pools = p->next;
    if (p->next)
        p->next->prev = p->prev;
    free(p->key);
    free(p);
}

static void idle_remove(struct hot_instance *in)
{
    struct hot_pools *hp = in->pool->owner;

    if (in->idle_prev)
        in->idle_prev->idle_next = in->idle_next;
    else if (hp->idle_head == in)
        hp->idle_head = in->idle_next;
    else
        return;             /* not in the list */
    if (in->idle_next)
        in->idle_next->idle_prev = in->idle_prev;
    else
        hp->idle_tail = in->idle_prev;
    in->idle_next = in->idle_prev = NULL;
}

static void idle_push(struct hot_instance *in)
{
    struct hot_pools *hp = in->pool->owner;

    in->idle_prev = NULL;
    in->idle_next = hp->idle_head;
    if (hp->idle_head)
        hp->idle_head->idle_prev = in;
    else
        hp->idle_tail = in;
    hp->idle_head = in;
}

static struct hot_job *pool_pop_waiter(struct hot_pool *p)
{
    struct hot_job *job = p->head;

    if (job == NULL)
        return NULL;
    p->head = job->next;
    if (p->head == NULL)
        p->tail = NULL;
    p->nwaiting--;
    job->next = NULL;
    job->waiting = 0;
    uv_timer_stop(&job->wait_timer);
    return job;
}

/* ------------------------------------------------------- instance end */

static void start_instance(struct hot_pool *p, struct hot_job *job);
static void assign(struct hot_instance *in, struct hot_job *job);

/* One of the instance's handles (or its Runtime API) is closed. */
static void instance_handle_gone(struct hot_instance *in)
{
    struct hot_pool *p = in->pool;
    struct hot_pools *hp = p->owner;
    struct hot_job *job;

    if (--in->open_handles > 0 || !in->sandbox_done)
        return;
    /* everything of it is closed: free it, and serve a waiter */
    if (in->started)
        metrics_count(METRICS_HOT_STOPPED);
    if (in->sb != NULL)
        sandbox_release(in->sb, 0);
    if (in->memory > 0)
        capacity_release(hp->capacity, in->memory);
    http_response_parser_free(&in->rp);
    json_answer_free(&in->jp);
    free(in->wbuf);
    if (in->prev)
        in->prev->next = in->next;
    else
        p->instances = in->next;
    if (in->next)
        in->next->prev = in->prev;
    p->ninstances--;
    free(in);
    if (p->head != NULL && p->ninstances < p->max_concurrency
        && !*hp->killing) {
        job = pool_pop_waiter(p);
        p->ninstances++;
        start_instance(p, job);
        return;
    }
    pool_maybe_free(p);
}

static void on_instance_handle_closed(uv_handle_t *h)
{
    instance_handle_gone(h->data);
}

static void on_runtime_closed(void *arg)
{
    instance_handle_gone(arg);
}

static void close_instance_handle(struct hot_instance *in, uv_handle_t *h)
{
    h->data = in;
    if (!uv_is_closing(h))
        uv_close(h, on_instance_handle_closed);
}

/* The handles every instance has from its start: its timer, and its
 * connection and the timer of its CONNECTs (used by http-stream). */
static void close_own_handles(struct hot_instance *in)
{
    struct lambda_runtime *rt = in->rt;

    close_instance_handle(in, (uv_handle_t *)&in->timer);
    close_instance_handle(in, (uv_handle_t *)&in->conn);
    close_instance_handle(in, (uv_handle_t *)&in->retry);
    if (rt != NULL) {
        in->rt = NULL;
        lambda_runtime_close(rt, on_runtime_closed);
    }
}

static void log_instance(struct hot_instance *in, const char *msg,
                         const char *why)
{
    struct log_record r;

    if (log_begin(&r, LOG_LEVEL_WARN, msg)) {
        if (in->job != NULL)
            log_str(&r, "call_id", in->job->call_id);
        log_str(&r, "app", in->pool->app);
        log_str(&r, "path", in->pool->path);
        log_str(&r, "sandbox", in->sb != NULL ? in->sb->id : "");
        log_str(&r, "reason", why);
        log_end(&r);
    }
}

/* The instance must not serve again: its processes are killed, and it
 * is removed once its sandbox reports the end. */
static void kill_instance(struct hot_instance *in, const char *why)
{
    if (in->state == INSTANCE_DEAD)
        return;
    if (in->state == INSTANCE_IDLE)
        idle_remove(in);
    in->state = INSTANCE_DEAD;
    log_instance(in, "hot instance stopped", why);
    uv_timer_stop(&in->timer);
    uv_timer_stop(&in->retry);
    if (in->sb != NULL)
        sandbox_kill(in->sb);
}

/* The call on in has its answer (or its error). */
static void answer(struct hot_instance *in, enum hot_outcome outcome,
                   const char *msg)
{
    struct hot_job *job = in->job;

    if (job == NULL || in->answered)
        return;
    in->answered = 1;
    in->job = NULL;
    uv_timer_stop(&in->timer);
    if (outcome == HOT_OK) {
        if (in->format == HOT_FORMAT_JSON) {
            job->res = in->jp.res;
            memset(&in->jp.res, 0, sizeof(in->jp.res));
        } else {
            job->res = in->rp.res;
            memset(&in->rp.res, 0, sizeof(in->rp.res));
        }
    }
    finish_job(job, outcome, msg);
}

/* The function process ended (or its sandbox died). */
static void on_process_done(struct sandbox *sb, int lost, int32_t status,
                            int clean, void *arg)
{
    struct hot_instance *in = arg;
    long oom = cgroup_oom_kills(&sb->cgroup) - in->oom_base;
    char msg[160];

    (void)clean;
    in->sandbox_done = 1;
    if (in->state == INSTANCE_IDLE)
        idle_remove(in);
    if (in->lease_ops != NULL) {
        const struct hot_lease_ops *ops = in->lease_ops;

        in->lease_ops = NULL;
        if (in->state == INSTANCE_LEASED)
            log_instance(in, "hot instance exited", "while leased");
        in->state = INSTANCE_DEAD;
        ops->gone(in, in->lease_arg);
    }
    if (in->job != NULL) {
        if (in->timed_out) {
            errf(msg, sizeof(msg), "function timed out after %llu s",
                 (unsigned long long)in->job->timeout_ms / 1000);
            answer(in, HOT_TIMEOUT, msg);
        } else if (oom > 0) {
            errf(msg, sizeof(msg), "function was killed: out of memory "
                 "(limit %llu MiB)",
                 (unsigned long long)in->memory >> 20);
            answer(in, HOT_OOM, msg);
        } else if (!lost && WIFEXITED(status)) {
            errf(msg, sizeof(msg), "function exited with status %d "
                 "during the call", WEXITSTATUS(status));
            answer(in, HOT_EXITED, msg);
        } else if (!lost && WIFSIGNALED(status)) {
            errf(msg, sizeof(msg), "function was killed by signal %d "
                 "during the call", WTERMSIG(status));
            answer(in, HOT_EXITED, msg);
        } else {
            answer(in, HOT_EXITED, "the function's sandbox died during "
                   "the call");
        }
    } else if (in->state != INSTANCE_DEAD) {
        log_instance(in, "hot instance exited", "between calls");
    }
    in->state = INSTANCE_DEAD;
    /* whatever is left of it goes */
    sandbox_kill(sb);
    close_own_handles(in);
    close_instance_handle(in, (uv_handle_t *)&in->in);
    close_instance_handle(in, (uv_handle_t *)&in->out);
    close_instance_handle(in, (uv_handle_t *)&in->err);
}

/* ---------------------------------------------------------------- I/O */

static void on_idle_timeout(uv_timer_t *t);
static void close_conn(struct hot_instance *in);

static void become_idle(struct hot_instance *in)
{
    struct hot_pool *p = in->pool;
    struct hot_pools *hp = p->owner;

    if (in->format == HOT_FORMAT_STREAM && !in->rp.keep_alive)
        close_conn(in);     /* it said so: the next call connects again */
    http_response_parser_reset(&in->rp);
    json_answer_reset(&in->jp);
    user_log_start(&in->ulog, NULL);
    if (in->sb->generation != hp->sandboxes->generation) {
        /* made before a reload: its sandbox has the old settings (a
         * waiting call gets a new instance once this one is gone) */
        kill_instance(in, "the configuration changed");
        return;
    }
    if (p->head != NULL) {
        assign(in, pool_pop_waiter(p));
        return;
    }
    if (*hp->killing || *hp->draining || in->idle_timeout_ms == 0) {
        kill_instance(in, "no longer needed");
        return;
    }
    in->state = INSTANCE_IDLE;
    idle_push(in);
    uv_timer_start(&in->timer, on_idle_timeout, in->idle_timeout_ms, 0);
}

/* Whether s is only whitespace, as JSON reads it. */
static int blank(const char *s, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++) {
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
            return 0;
    }
    return 1;
}

/* Bytes of the answer to the call on in (its stdout, or its connection). */
static void take_answer(struct hot_instance *in, const char *data, size_t n)
{
    int json = in->format == HOT_FORMAT_JSON, complete;
    const char *error;
    char msg[160];
    size_t used;

    if (in->state == INSTANCE_DEAD)
        return;
    if (in->state != INSTANCE_BUSY || in->answered) {
        if (json && blank(data, n))
            return;     /* the newline after a json answer */
        kill_instance(in, "answered with no call");
        return;
    }
    if (json) {
        used = json_answer_feed(&in->jp, data, n);
        error = in->jp.error;
        complete = in->jp.complete;
    } else {
        used = http_response_feed(&in->rp, data, n);
        error = in->rp.error;
        complete = in->rp.complete;
    }
    if (error[0] != '\0') {
        answer(in, HOT_BAD_ANSWER, error);
        kill_instance(in, "bad answer");
        return;
    }
    if (!complete)
        return;
    if (in->format == HOT_FORMAT_STREAM
        && stream_format_answer(&in->rp.res, msg, sizeof(msg)) < 0) {
        answer(in, HOT_BAD_ANSWER, msg);
        kill_instance(in, "bad answer");
        return;
    }
    answer(in, HOT_OK, NULL);
    if (used < n && !(json && blank(data + used, n - used)))
        kill_instance(in, "answered more than once");
    else if (in->writing)
        /* the rest of this call's input would start the next one */
        kill_instance(in, "answered before reading its whole input");
    else
        become_idle(in);
}

static void on_stdout(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    struct hot_instance *in = st->data;

    if (n < 0) {
        /* closed: the process is ending (its end answers the call), or it
         * will not answer and meets the call's timeout */
        close_instance_handle(in, (uv_handle_t *)st);
        return;
    }
    if (n > 0)
        take_answer(in, buf->base, (size_t)n);
}

/* stderr: logged line by line, with the call's id while there is a call,
 * up to log_max_per_call bytes per call (or between calls). */
static void on_stderr(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    struct hot_instance *in = st->data;
    size_t keep;

    if (n > 0) {
        keep = user_log_write(&in->ulog, buf->base, (size_t)n);
        if (in->job != NULL)
            user_log_keep(&in->job->log, &in->job->log_len,
                          &in->job->log_cap, buf->base, keep);
    }
    if (n < 0) {
        user_log_flush(&in->ulog);
        close_instance_handle(in, (uv_handle_t *)st);
    }
}

static void on_call_timeout(uv_timer_t *t);

static void on_written(uv_write_t *w, int status)
{
    struct hot_instance *in = w->data;

    in->writing = 0;
    free(in->wbuf);
    in->wbuf = NULL;
    /* a function that stopped reading its stdin is dying, or will be
     * killed by the timeout; its end answers the call */
    if (status < 0 && status != UV_ECANCELED && in->state == INSTANCE_BUSY) {
        if (in->format != HOT_FORMAT_STREAM) {
            kill_instance(in, "its input closed");
        } else if (!in->conn_lost && !in->answered) {
            in->conn_lost = 1;      /* as on_conn_read */
            uv_timer_start(&in->timer, on_call_timeout, CONN_LOST_GRACE_MS,
                           0);
        }
    }
}

static void on_call_timeout(uv_timer_t *t)
{
    struct hot_instance *in = t->data;

    if (in->conn_lost) {
        /* the process lives on: the lost connection is the reason */
        answer(in, HOT_EXITED, "the function closed its connection during "
               "the call");
        kill_instance(in, "connection closed during a call");
        return;
    }
    in->timed_out = 1;
    kill_instance(in, "call timeout");
}

static void on_idle_timeout(uv_timer_t *t)
{
    struct hot_instance *in = t->data;

    kill_instance(in, "idle timeout");
}

/* Writes the call (in->wbuf) to the instance: stdin, or its connection. */
static void send_call(struct hot_instance *in)
{
    uv_buf_t buf = uv_buf_init(in->wbuf, (unsigned)in->wlen);
    uv_stream_t *to = in->format == HOT_FORMAT_STREAM
                      ? (uv_stream_t *)&in->conn : (uv_stream_t *)&in->in;

    if (uv_write(&in->write_req, to, &buf, 1, on_written) < 0) {
        in->writing = 0;
        free(in->wbuf);
        in->wbuf = NULL;
        kill_instance(in, "cannot write the call");
    }
}

/* ------------------------------------------------- http-stream sockets */

static void on_conn_closed(uv_handle_t *h)
{
    struct hot_instance *in = h->data;

    if (in->state == INSTANCE_DEAD) {
        /* it ends: this was one of its handles */
        on_instance_handle_closed(h);
        return;
    }
    /* ready for the next connection */
    uv_pipe_init(in->pool->owner->loop, &in->conn, 0);
    in->conn.data = in;
}

/* Its connection is done with (it closed it, or said it would). */
static void close_conn(struct hot_instance *in)
{
    if (!in->conn_open)
        return;
    in->conn_open = 0;
    in->conn.data = in;
    uv_close((uv_handle_t *)&in->conn, on_conn_closed);
}

static void on_conn_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    struct hot_instance *in = st->data;

    if (n > 0) {
        take_answer(in, buf->base, (size_t)n);
        return;
    }
    if (n == 0 || in->state == INSTANCE_DEAD)
        return;
    close_conn(in);
    /* between calls a server may close an idle connection; during one,
     * the call is lost with it (see on_call_timeout) */
    if (in->state == INSTANCE_BUSY && !in->answered) {
        in->conn_lost = 1;
        uv_timer_start(&in->timer, on_call_timeout, CONN_LOST_GRACE_MS, 0);
    }
}

static void stream_connect(struct hot_instance *in);

static void on_retry(uv_timer_t *t)
{
    struct hot_instance *in = t->data;

    if (in->state != INSTANCE_DEAD)
        stream_connect(in);
}

/* The function listens (fd), or not yet (err). */
static void on_connected(struct sandbox *sb, int fd, int err, void *arg)
{
    struct hot_instance *in = arg;
    struct hot_pools *hp = in->pool->owner;
    struct hot_job *job;
    char msg[200];

    (void)sb;
    if (in->state == INSTANCE_DEAD) {
        if (fd >= 0)
            close(fd);
        return;
    }
    if (fd < 0) {
        if (uv_now(hp->loop) < in->listen_deadline) {
            /* not yet (no socket, nobody listening, a full backlog) */
            uv_timer_start(&in->retry, on_retry, in->retry_ms, 0);
            in->retry_ms = in->retry_ms * 2 > CONNECT_RETRY_MAX_MS
                           ? CONNECT_RETRY_MAX_MS : in->retry_ms * 2;
            return;
        }
        in->connecting = 0;
        errf(msg, sizeof(msg), "the function did not listen on FN_LISTENER "
             "(unix:%s) within %llu ms: %s", SANDBOX_FN_LISTENER,
             (unsigned long long)hp->cfg->listen_timeout_ms, strerror(err));
        answer(in, HOT_EXITED, msg);
        kill_instance(in, "did not listen");
        return;
    }
    in->connecting = 0;
    if (uv_pipe_open(&in->conn, fd) < 0) {
        close(fd);
        answer(in, HOT_FAILED, "cannot use the function's connection");
        kill_instance(in, "cannot use its connection");
        return;
    }
    in->conn_open = 1;
    in->conn.data = in;
    if (uv_read_start((uv_stream_t *)&in->conn, read_buf_alloc,
                      on_conn_read) < 0) {
        answer(in, HOT_FAILED, "cannot read the function's connection");
        kill_instance(in, "cannot read its connection");
        return;
    }
    if (in->state == INSTANCE_STARTING && in->job == NULL) {
        /* its first call was answered meanwhile (stopped) */
        kill_instance(in, "its call is gone");
    } else if (in->state == INSTANCE_STARTING) {
        /* a new instance: its first call */
        job = in->job;
        in->job = NULL;
        assign(in, job);
    } else if (in->state == INSTANCE_BUSY && in->writing) {
        send_call(in);
    }
}

/* Asks the sandbox's init for a connection to the function's socket. */
static void stream_connect(struct hot_instance *in)
{
    if (in->retry_ms == 0 || !in->connecting)
        in->retry_ms = CONNECT_RETRY_FIRST_MS;
    in->connecting = 1;
    if (sandbox_connect(in->sb, SANDBOX_FN_LISTENER, on_connected, in) < 0) {
        answer(in, HOT_FAILED, "cannot reach the function's sandbox");
        kill_instance(in, "cannot reach its sandbox");
    }
}

/* The call's deadline (now and its timeout) over the one its request was
 * written with: "YYYY-MM-DDTHH:MM:SSZ", 20 bytes. */
static void write_deadline(char *at, uint64_t timeout_ms)
{
    struct timeval tv;
    char dl[UTC_TIME_LEN + 1];

    gettimeofday(&tv, NULL);
    utc_time((int64_t)tv.tv_sec + (int64_t)(timeout_ms / 1000), dl);
    memcpy(at, dl, UTC_TIME_LEN);
}

/* The lease job asked for: in is its holder's until hot_lease_end(). */
static void lease(struct hot_instance *in, struct hot_job *job)
{
    struct hot_pools *hp = in->pool->owner;

    job->wait_ms = uv_now(hp->loop) - job->queued_at;
    memcpy(job->sandbox_id, in->sb->id, sizeof(in->sb->id));
    if (!in->sock) {
        /* made before direct was turned on */
        in->state = INSTANCE_BUSY;
        kill_instance(in, "cannot be leased");
        finish_job(job, HOT_FAILED, "the instance cannot be leased");
        return;
    }
    uv_read_stop((uv_stream_t *)&in->out);
    in->lease_grace_ms = job->timeout_ms + LEASE_GRACE_MS;
    in->state = INSTANCE_LEASED;
    in->revoked = 0;
    in->revoked_for_capacity = 0;
    in->job = NULL;
    user_log_start(&in->ulog, NULL);
    job->leased = in;
    finish_job(job, HOT_OK, NULL);
}

/* Hands job to the instance: the wait is over, the timeout starts. */
static void assign(struct hot_instance *in, struct hot_job *job)
{
    struct hot_pools *hp = in->pool->owner;

    if (in->state == INSTANCE_IDLE)
        idle_remove(in);
    uv_timer_stop(&in->timer);
    if (job->lease) {
        lease(in, job);
        return;
    }
    in->state = INSTANCE_BUSY;
    in->job = job;
    /* the answer to a HEAD has no body, whatever its length says */
    in->rp.head_request = job->head_len >= 5
                          && memcmp(job->head, "HEAD ", 5) == 0;
    in->answered = 0;
    in->timed_out = 0;
    in->conn_lost = 0;
    user_log_start(&in->ulog, job->call_id);
    in->ulog.max = hp->cfg->log_max_per_call;
    job->wait_ms = uv_now(hp->loop) - job->queued_at;
    /* a ULID: it fits */
    memcpy(job->sandbox_id, in->sb->id, sizeof(in->sb->id));
    uv_timer_start(&in->timer, on_call_timeout, job->timeout_ms, 0);
    /* a copy of its own: the write may outlive the job */
    in->wbuf = malloc(job->head_len + job->body_len + 1);
    if (in->wbuf == NULL) {
        answer(in, HOT_FAILED, "out of memory");
        kill_instance(in, "out of memory");
        return;
    }
    memcpy(in->wbuf, job->head, job->head_len);
    if (job->deadline_at != SIZE_MAX && job->deadline_at + 20 <= job->head_len)
        write_deadline(in->wbuf + job->deadline_at, job->timeout_ms);
    if (job->body_len > 0)
        memcpy(in->wbuf + job->head_len, job->body, job->body_len);
    in->wlen = job->head_len + job->body_len;
    if (in->format == HOT_FORMAT_LAMBDA) {
        /* to the runtime's "next", now or when it asks */
        char *event = in->wbuf;
        struct timeval tv;

        in->wbuf = NULL;
        gettimeofday(&tv, NULL);
        if (in->rt == NULL
            || lambda_runtime_deliver(in->rt, job->call_id,
                                      (long long)tv.tv_sec * 1000
                                      + tv.tv_usec / 1000
                                      + (long long)job->timeout_ms,
                                      NULL, event, in->wlen) < 0) {
            answer(in, HOT_FAILED, "cannot hand the call to the runtime");
            kill_instance(in, "cannot hand a call over");
            return;
        }
        in->event_out = 1;
        return;
    }
    in->write_req.data = in;
    in->writing = 1;
    if (in->format == HOT_FORMAT_STREAM && !in->conn_open) {
        /* its connection closed since the last call: a new one first */
        in->listen_deadline = uv_now(hp->loop) + hp->cfg->listen_timeout_ms;
        stream_connect(in);
        return;
    }
    send_call(in);
}

/* ------------------------------------------------- lambda: Runtime API */

/* res: status, application/json, a copy of body.  0, or -1. */
static int res_json(struct http_response *res, int status, const char *body,
                    size_t len)
{
    res->body = malloc(len + 1);
    if (res->body == NULL
        || http_response_add(res, "Content-Type", "application/json") < 0) {
        http_response_free(res);
        return -1;
    }
    res->status = status;
    memcpy(res->body, body, len);
    res->body[len] = '\0';
    res->body_len = len;
    return 0;
}

/* The call of in whose event is out, if id names it. */
static struct hot_job *lambda_current(struct hot_instance *in,
                                      const char *id)
{
    if (in->state != INSTANCE_BUSY || in->answered || in->job == NULL
        || !in->event_out || strcmp(in->job->call_id, id) != 0)
        return NULL;
    return in->job;
}

/* The call has its result; the runtime asks for the next one. */
static void lambda_answered(struct hot_instance *in,
                            enum hot_outcome outcome, const char *msg)
{
    in->event_out = 0;
    answer(in, outcome, msg);
    if (in->state == INSTANCE_BUSY)
        become_idle(in);
}

/* A runtime's error, as the client's 502. */
static int lambda_error_answer(struct hot_instance *in, const char *what,
                               const char *body, size_t len,
                               const char *type)
{
    struct lambda_error e;
    size_t n = 0;
    char *s;
    int rc;

    lambda_error_read(body, len, type, &e);
    s = lambda_error_body(&e, what, &n);
    http_response_free(&in->rp.res);
    rc = s != NULL ? res_json(&in->rp.res, 502, s, n) : -1;
    free(s);
    return rc;
}

static void rt_next(void *arg)
{
    struct hot_instance *in = arg;
    struct hot_job *job = in->job;

    /* idle or busy: the event comes when there is one */
    if (in->state != INSTANCE_STARTING || job == NULL)
        return;
    /* a new instance's runtime is up: its first call */
    uv_timer_stop(&in->retry);
    in->job = NULL;
    assign(in, job);
}

static int rt_response(void *arg, const char *id, const char *body,
                       size_t len)
{
    struct hot_instance *in = arg;
    struct hot_job *job = lambda_current(in, id);
    struct http_response *res = &in->rp.res;
    char msg[160];

    if (job == NULL)
        return -1;
    http_response_free(res);
    if (job->lambda_apigw) {
        if (lambda_apigw_answer(body, len, HTTP_RESPONSE_HEAD_MAX,
                                in->pool->owner->cfg->max_response_body,
                                res, msg, sizeof(msg)) < 0) {
            lambda_answered(in, HOT_BAD_ANSWER, msg);
            return 0;
        }
    } else if (res_json(res, 200, body, len) < 0) {
        lambda_answered(in, HOT_FAILED, "out of memory");
        return 0;
    }
    lambda_answered(in, HOT_OK, NULL);
    return 0;
}

static int rt_error(void *arg, const char *id, const char *body, size_t len,
                    const char *type)
{
    struct hot_instance *in = arg;

    if (lambda_current(in, id) == NULL)
        return -1;
    if (lambda_error_answer(in, "the function failed", body, len, type) < 0)
        lambda_answered(in, HOT_FAILED, "out of memory");
    else
        lambda_answered(in, HOT_OK, NULL);
    return 0;
}

static void rt_init_error(void *arg, const char *body, size_t len,
                          const char *type)
{
    struct hot_instance *in = arg;

    if (in->job != NULL && !in->answered) {
        if (lambda_error_answer(in, "the function could not start", body,
                                len, type) < 0)
            answer(in, HOT_FAILED, "out of memory");
        else
            answer(in, HOT_OK, NULL);
    }
    kill_instance(in, "its runtime could not start");
}

static const struct lambda_runtime_cbs runtime_cbs = {
    rt_next, rt_response, rt_error, rt_init_error,
};

/* A new instance whose runtime never asks for its first call. */
static void on_runtime_late(uv_timer_t *t)
{
    struct hot_instance *in = t->data;
    char msg[200];

    if (in->state != INSTANCE_STARTING || in->job == NULL)
        return;
    errf(msg, sizeof(msg), "the Lambda runtime did not ask for its event "
         "(GET /2018-06-01/runtime/invocation/next) within %llu ms",
         (unsigned long long)in->pool->owner->cfg->listen_timeout_ms);
    answer(in, HOT_EXITED, msg);
    kill_instance(in, "its runtime did not ask for work");
}

/* ------------------------------------------------------------ starting */

static int open_pipe(struct hot_instance *in, uv_pipe_t *p, int fd)
{
    uv_pipe_init(in->pool->owner->loop, p, 0);
    p->data = in;
    in->open_handles++;
    if (uv_pipe_open(p, fd) < 0) {
        close(fd);
        return -1;
    }
    return 0;
}

static void on_ready(struct sandbox *sb, int ok, void *arg);

/* Lambda: the socket of the Runtime API, from the sandbox's init. */
static void on_listening(struct sandbox *sb, int fd, int err, void *arg)
{
    struct hot_instance *in = arg;
    struct hot_pools *hp = in->pool->owner;
    struct hot_job *job = in->job;
    char msg[200];

    if (in->state == INSTANCE_DEAD || job == NULL) {
        if (fd >= 0)
            close(fd);
        return;
    }
    if (fd < 0) {
        errf(msg, sizeof(msg), "cannot listen for the Lambda Runtime API "
             "in the sandbox: %s", strerror(err));
    } else {
        in->rt = lambda_runtime_start(hp->loop, fd,
                                      hp->cfg->max_response_body,
                                      &runtime_cbs, in, msg, sizeof(msg));
    }
    if (in->rt == NULL) {
        in->state = INSTANCE_BUSY;
        if (*hp->killing) {
            answer(in, HOT_STOPPED, "the call was stopped: the executor is "
                   "shutting down");
        } else {
            log_msg(LOG_LEVEL_ERROR, "cannot start a hot instance", msg);
            answer(in, HOT_FAILED, msg);
        }
        kill_instance(in, "cannot start");
        in->sandbox_done = 1;
        close_own_handles(in);
        return;
    }
    in->open_handles++;         /* closed with the others */
    on_ready(sb, 1, in);        /* now its process */
}

static void on_ready(struct sandbox *sb, int ok, void *arg)
{
    struct hot_instance *in = arg;
    struct hot_job *job = in->job;
    struct hot_pool *p = in->pool;
    struct hot_pools *hp = p->owner;
    int fds[3][2] = { { -1, -1 }, { -1, -1 }, { -1, -1 } }, far[3], i;
    char err[256];

    in->job = NULL;
    if (!ok) {
        in->sb = NULL;
        in->sandbox_done = 1;
        capacity_release(hp->capacity, in->memory);
        in->memory = 0;
        in->state = INSTANCE_DEAD;
        close_own_handles(in);
        finish_job(job, *hp->killing ? HOT_STOPPED : HOT_FAILED,
                   *hp->killing ? "the call was stopped: the executor is "
                   "shutting down" : "the sandbox could not be created; "
                   "see the executor's log");
        return;
    }
    if (in->format == HOT_FORMAT_LAMBDA && in->rt == NULL) {
        /* its Runtime API first: the runtime reaches for it at once */
        in->job = job;
        if (sandbox_listen(sb, LAMBDA_RUNTIME_PORT, on_listening, in) < 0) {
            in->job = NULL;
            goto failed;
        }
        return;
    }
    if (in->format == HOT_FORMAT_HTTP && hp->direct) {
        /* one socket, its stdin and stdout: a holder of a lease speaks
         * to it as the executor does (our end twice: libuv watches an fd
         * once) */
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds[1]) < 0)
            goto failed;
        fds[0][0] = fds[1][1];
        fds[1][1] = -1;
        fds[0][1] = fcntl(fds[1][0], F_DUPFD_CLOEXEC, 3);
        if (fds[0][1] < 0 || pipe2(fds[2], O_CLOEXEC) < 0)
            goto failed;
        in->sock = 1;
        far[0] = far[1] = fds[0][0];
    } else {
        for (i = 0; i < 3; i++) {
            if (pipe2(fds[i], O_CLOEXEC) < 0)
                goto failed;
        }
        far[0] = fds[0][0];
        far[1] = fds[1][1];
    }
    far[2] = fds[2][1];
    /* http-stream, lambda: its stdout is a log, as its stderr */
    if (in->format == HOT_FORMAT_STREAM || in->format == HOT_FORMAT_LAMBDA)
        far[1] = fds[2][1];
    /* an OOM kill ends the process: counting at its start is enough */
    in->oom_base = cgroup_oom_kills(&sb->cgroup);
    in->ulog.sandbox = sb->id;
    if (job->argv == NULL) {
        errno = EINVAL;
        goto failed;
    }
    if (sandbox_run(sb, job->cwd, job->argv, job->env, far, on_process_done,
                    in, err, sizeof(err)) < 0)
        goto failed;
    in->started = 1;
    metrics_count(METRICS_HOT_STARTED);
    close(fds[0][0]);
    if (fds[1][1] >= 0)
        close(fds[1][1]);
    close(fds[2][1]);
    /* all three are opened (and so can be closed) whatever fails */
    i = open_pipe(in, &in->in, fds[0][1]);
    i |= open_pipe(in, &in->out, fds[1][0]);
    i |= open_pipe(in, &in->err, fds[2][0]);
    if (i < 0
        || uv_read_start((uv_stream_t *)&in->out, read_buf_alloc,
                         on_stdout) < 0
        || uv_read_start((uv_stream_t *)&in->err, read_buf_alloc,
                         on_stderr) < 0) {
        /* its pipes are useless: it dies, the job with it */
        in->job = job;
        in->state = INSTANCE_BUSY;
        kill_instance(in, "cannot read its pipes");
        return;
    }
    if (*hp->killing) {
        in->job = job;
        in->state = INSTANCE_BUSY;
        answer(in, HOT_STOPPED, "the call was stopped: the executor is "
               "shutting down");
        kill_instance(in, "shutting down");
        return;
    }
    if (in->format == HOT_FORMAT_STREAM) {
        /* its first call once it listens */
        in->job = job;
        in->listen_deadline = uv_now(hp->loop) + hp->cfg->listen_timeout_ms;
        stream_connect(in);
        return;
    }
    if (in->format == HOT_FORMAT_LAMBDA) {
        /* its first call once its runtime asks (rt_next) */
        in->job = job;
        uv_timer_start(&in->retry, on_runtime_late,
                       hp->cfg->listen_timeout_ms, 0);
        return;
    }
    assign(in, job);
    return;

failed:
    log_msg(LOG_LEVEL_ERROR, "cannot start a hot instance", strerror(errno));
    for (i = 0; i < 3; i++) {
        if (fds[i][0] >= 0)
            close(fds[i][0]);
        if (fds[i][1] >= 0)
            close(fds[i][1]);
    }
    in->job = job;
    in->state = INSTANCE_BUSY;
    answer(in, HOT_FAILED, "cannot start the function");
    kill_instance(in, "cannot start");
    /* nothing runs in the sandbox: release it, the instance ends */
    in->sandbox_done = 1;
    close_own_handles(in);
}

static void on_capacity(struct capacity_waiter *w, enum capacity_result res)
{
    struct hot_job *job = w->data;
    struct hot_pool *p = job->pool;
    struct hot_pools *hp = p->owner;
    struct hot_instance *in;
    char err[256];

    job->wait_ms = w->wait_ms;
    if (res != CAPACITY_GRANTED) {
        p->ninstances--;
        pool_maybe_free(p);
        if (res == CAPACITY_TOO_LARGE)
            finish_job(job, HOT_TOO_LARGE, NULL);
        else if (res == CAPACITY_CANCELLED)
            finish_job(job, HOT_STOPPED, "executor is shutting down");
        else
            finish_job(job, HOT_BUSY, "server too busy");
        return;
    }
    in = calloc(1, sizeof(*in));
    if (in == NULL) {
        capacity_release(hp->capacity, job->sandbox.memory);
        p->ninstances--;
        pool_maybe_free(p);
        finish_job(job, HOT_FAILED, "out of memory");
        return;
    }
    in->pool = p;
    in->ulog.app = p->app;
    in->ulog.path = p->path;
    in->ulog.max = hp->cfg->log_max_per_call;
    in->memory = job->sandbox.memory;
    in->idle_timeout_ms = job->idle_timeout_ms;
    in->state = INSTANCE_STARTING;
    in->job = job;
    in->format = job->format;
    http_response_parser_init(&in->rp, HTTP_RESPONSE_HEAD_MAX,
                              hp->cfg->max_response_body);
    /* Fn's FDKs answer in chunks */
    in->rp.allow_chunked = in->format == HOT_FORMAT_STREAM;
    /* a json answer: its body escaped (at most 6 bytes a byte) and head */
    json_answer_init(&in->jp, HTTP_RESPONSE_HEAD_MAX
                              + 6 * hp->cfg->max_response_body + 1024,
                     hp->cfg->max_response_body);
    uv_timer_init(hp->loop, &in->timer);
    uv_timer_init(hp->loop, &in->retry);
    uv_pipe_init(hp->loop, &in->conn, 0);
    in->timer.data = in->retry.data = in->conn.data = in;
    in->open_handles = 3;       /* close_own_handles */
    in->next = p->instances;
    if (p->instances)
        p->instances->prev = in;
    p->instances = in;
    in->sb = sandbox_start(hp->sandboxes, &job->sandbox, on_ready, in, err,
                           sizeof(err));
    if (in->sb == NULL) {
        log_msg(LOG_LEVEL_ERROR, "cannot start a hot instance", err);
        in->job = NULL;
        in->sandbox_done = 1;
        in->state = INSTANCE_DEAD;
        close_own_handles(in);
        finish_job(job, HOT_FAILED, err);
    }
}

/* A new instance for job (counted in p->ninstances already). */
static void start_instance(struct hot_pool *p, struct hot_job *job)
{
    capacity_acquire(p->owner->capacity, &job->cw, job->sandbox.memory,
                     on_capacity, job);
}

/* ------------------------------------------------------------- leases */

/* Asked back and not given back in time: stopped, its holder told. */
static void on_lease_late(uv_timer_t *t)
{
    struct hot_instance *in = t->data;
    const struct hot_lease_ops *ops = in->lease_ops;
    void *arg = in->lease_arg;

    if (in->state != INSTANCE_LEASED)
        return;
    in->lease_ops = NULL;
    in->lease_arg = NULL;
    in->state = INSTANCE_BUSY;
    in->answered = 1;
    kill_instance(in, "not given back in time");
    if (ops != NULL)
        ops->gone(in, arg);
}

/* Asks in's holder to give it back; 1 if asked now. */
static int ask_back(struct hot_instance *in)
{
    if (in->state != INSTANCE_LEASED || in->lease_ops == NULL
        || in->revoked)
        return 0;
    in->revoked = 1;
    uv_timer_start(&in->timer, on_lease_late, in->lease_grace_ms, 0);
    in->lease_ops->revoke(in, in->lease_arg);
    return 1;
}

/* A call of p waits: one of its leased instances is asked back. */
static void revoke_one(struct hot_pool *p)
{
    struct hot_instance *in;

    for (in = p->instances; in != NULL; in = in->next) {
        if (ask_back(in))
            return;
    }
}

int hot_lease_fd(const struct hot_instance *in)
{
    uv_os_fd_t fd;

    if (uv_fileno((const uv_handle_t *)&in->out, &fd) < 0)
        return -1;
    return fd;
}

const char *hot_lease_sandbox(const struct hot_instance *in)
{
    return in->sb->id;
}

void hot_lease_hold(struct hot_instance *in, const struct hot_lease_ops *ops,
                    void *arg)
{
    struct hot_pools *hp = in->pool->owner;

    in->lease_ops = ops;
    in->lease_arg = arg;
    /* asked back before it was held: asked now */
    if (in->revoked) {
        in->revoked = 0;
        ask_back(in);
    } else if (in->pool->head != NULL || *hp->draining
               || in->sb->generation != hp->sandboxes->generation) {
        ask_back(in);
    }
}

void hot_lease_end(struct hot_instance *in, const char *kill_why)
{
    in->lease_ops = NULL;
    in->lease_arg = NULL;
    if (in->state != INSTANCE_LEASED)
        return;         /* it ended meanwhile */
    uv_timer_stop(&in->timer);      /* a revoke's deadline */
    in->state = INSTANCE_BUSY;
    in->answered = 1;
    if (kill_why == NULL && in->revoked_for_capacity
        && in->pool->head == NULL)
        kill_why = "capacity needed elsewhere";
    if (kill_why != NULL) {
        kill_instance(in, kill_why);
        return;
    }
    /* whatever it wrote past the holder's last answer is read now: an
     * answer with no call, which kills it */
    if (uv_read_start((uv_stream_t *)&in->out, read_buf_alloc,
                      on_stdout) < 0) {
        kill_instance(in, "cannot read its socket");
        return;
    }
    become_idle(in);
}

/* ------------------------------------------------------------- waiting */

static void on_wait_timeout(uv_timer_t *t)
{
    struct hot_job *job = t->data, **pp;
    struct hot_pool *p = job->pool;

    for (pp = &p->head; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == job) {
            *pp = job->next;
            break;
        }
    }
    p->tail = NULL;
    for (pp = &p->head; *pp != NULL; pp = &(*pp)->next)
        p->tail = *pp;
    p->nwaiting--;
    job->waiting = 0;
    job->wait_ms = uv_now(p->owner->loop) - job->queued_at;
    finish_job(job, HOT_BUSY, "server too busy");
}

int hot_idle_available(struct hot_pools *hp, const char *key)
{
    struct hot_instance *in;
    struct hot_pool *p;

    for (p = hp->pools; p != NULL; p = p->next) {
        if (strcmp(p->key, key) != 0)
            continue;
        for (in = p->instances; in != NULL; in = in->next) {
            if (in->state == INSTANCE_IDLE)
                return 1;
        }
    }
    return 0;
}

void hot_submit(struct hot_job *job)
{
    struct hot_pools *hp = job->hot;
    struct hot_instance *in;
    struct hot_pool *p;

    job->queued_at = uv_now(hp->loop);
    job->outcome = HOT_FAILED;
    p = pool_get(hp, job);
    if (p == NULL) {
        finish_job(job, HOT_FAILED, "out of memory");
        return;
    }
    job->pool = p;
    p->max_concurrency = job->max_concurrency;
    for (in = p->instances; in != NULL; in = in->next) {
        if (in->state == INSTANCE_IDLE) {
            assign(in, job);
            return;
        }
    }
    if (p->ninstances < p->max_concurrency) {
        p->ninstances++;
        start_instance(p, job);
        return;
    }
    if (p->nwaiting >= hp->cfg->queue_size) {
        finish_job(job, HOT_BUSY, "server too busy");
        return;
    }
    /* every instance busy: wait for one, as long as for capacity (a
     * leased one is asked back) */
    revoke_one(p);
    uv_timer_init(hp->loop, &job->wait_timer);
    job->has_timer = 1;
    job->wait_timer.data = job;
    uv_timer_start(&job->wait_timer, on_wait_timeout,
                   hp->cfg->queue_timeout_ms, 0);
    job->waiting = 1;
    job->next = NULL;
    if (p->tail)
        p->tail->next = job;
    else
        p->head = job;
    p->tail = job;
    p->nwaiting++;
}

/* ------------------------------------------------------------ stopping */

void hot_close_idle(struct hot_pools *hp)
{
    struct hot_instance *in;
    struct hot_pool *p;

    while (hp->idle_head != NULL)
        kill_instance(hp->idle_head, "closing idle instances");
    /* leased ones come back, and are stopped then (become_idle) */
    for (p = hp->pools; p != NULL; p = p->next) {
        for (in = p->instances; in != NULL; in = in->next)
            ask_back(in);
    }
}

void hot_on_pressure(void *arg)
{
    struct hot_pools *hp = arg;
    struct hot_instance *in;
    struct hot_pool *p;

    if (hp->idle_tail != NULL) {
        kill_instance(hp->idle_tail, "capacity needed elsewhere");
        return;
    }
    /* none idle: a leased one is asked back, and stopped once it is
     * (unless a call of its own route waits for it then) */
    for (p = hp->pools; p != NULL; p = p->next) {
        for (in = p->instances; in != NULL; in = in->next) {
            if (ask_back(in)) {
                in->revoked_for_capacity = 1;
                return;
            }
        }
    }
}

void hot_stop_all(struct hot_pools *hp)
{
    struct hot_instance *in, *next;
    struct hot_pool *p, *pn;
    struct hot_job *job;

    for (p = hp->pools; p != NULL; p = pn) {
        pn = p->next;
        while ((job = pool_pop_waiter(p)) != NULL)
            finish_job(job, HOT_STOPPED, "executor is shutting down");
        for (in = p->instances; in != NULL; in = next) {
            next = in->next;
            /* (a new http-stream instance holds its first call while
             * it waits for the function to listen) */
            if (in->job != NULL && (in->state == INSTANCE_BUSY
                                    || (in->state == INSTANCE_STARTING
                                        && in->started)))
                answer(in, HOT_STOPPED, "the call was stopped: the "
                       "executor is shutting down");
            /* a sandbox still starting answers its job once it ends */
            if (in->state == INSTANCE_STARTING && !in->started)
                sandbox_kill(in->sb);
            else
                kill_instance(in, "shutting down");
        }
        pool_maybe_free(p);
    }
}

void hot_counts(struct hot_pools *hp, uint64_t *idle, uint64_t *busy)
{
    struct hot_pool *p;
    struct hot_instance *in;

    *idle = *busy = 0;
    for (p = hp->pools; p != NULL; p = p->next) {
        for (in = p->instances; in != NULL; in = in->next) {
            if (in->state == INSTANCE_IDLE)
                (*idle)++;
            else if (in->state == INSTANCE_BUSY
                     || in->state == INSTANCE_LEASED)
                (*busy)++;
        }
    }
}
