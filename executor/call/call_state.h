/*
 * A call inside the executor: its state, and what the cold path (call.c)
 * and the hot path (call_hot.c) share to answer and free it
 * (call_state.c).  Private to those files.
 */
#ifndef EXECUTOR_CALL_STATE_H
#define EXECUTOR_CALL_STATE_H

#include "call.h"
#include "call_request.h"
#include "capacity.h"
#include "hot.h"
#include "http_conn.h"
#include "image_store.h"
#include "metrics.h"
#include "sandbox.h"
#include "sandbox_args.h"
#include "user_log.h"

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

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
    struct call *next, *prev;   /* in calls->all */
    struct calls *calls;
    struct http_conn *conn;     /* the caller: a connection, */
    struct call_reply *reply;   /* or inside the process (async) */
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
    int async;                  /* its caller is the async consumer */
    int waited;                 /* it went through the capacity wait */
    uint64_t image_at_ms;       /* uv_now() when its image was asked for */
    int image_asked;
    /* while its image is prepared on the thread pool: in calls->preparing,
     * with the calls of the same image parked until it is done */
    struct call *prep_next, *parked, *parked_next;
    uint64_t image_ms;          /* the wait for it (a pull, an unpack) */
    int64_t exec_ms;            /* how long it ran, or -1 */
    int outcome_set;
    enum metrics_outcome outcome;

    struct user_log ulog;       /* stderr, logged line by line */
    char *log;                  /* and kept, for GET /calls/<id>/log */
    size_t log_len;
    size_t log_cap;
    int log_capped;
};

/* The first answer decides the call's outcome. */
void call_set_outcome(struct call *call, enum metrics_outcome o);

/* 1 while someone waits for the call's answer. */
int call_has_caller(const struct call *call);

/* Answers the caller; headers: header lines, each ending in CRLF. */
void call_answer(struct call *call, int status, const char *content_type,
                 const char *headers, const char *body, size_t len);

/*
 * Keeps the function's log (buf: malloc()ed, taken) for GET
 * /calls/<id>/log when log_retention_ms allows, and for an in-process
 * caller always.
 */
void call_save_log(struct call *call, char *buf, size_t len);

/* Answers an error (JSON, with the call id); extra: more header lines. */
void call_respond_error(struct call *call, int status, const char *msg,
                        const char *extra);

/* Answers a request that is no call (no valid id): not counted. */
void call_refuse(struct call *call, int status, const char *msg);

/* Unlinks, counts in the metrics and frees. */
void call_free(struct call *call);

/* The wall clock seconds from now, as Fn-Deadline writes it. */
void call_deadline(char *out, size_t size, unsigned seconds);

/* Hands a hot call (format http) to its route's pool (call_hot.c). */
void call_hot_submit(struct call *call);

#endif
