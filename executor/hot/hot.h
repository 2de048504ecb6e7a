/*
 * Hot functions (formats http, json, http-stream and lambda): instances
 * that stay alive and serve call after call, one at a time.  Each call is an
 * HTTP/1.1 request (http) or a JSON object (json, json_format.h) on the
 * instance's stdin and its answer the same on its stdout; or, for
 * http-stream (stream_format.h), an HTTP/1.1 request over a kept-alive
 * connection to the Unix socket the instance listens on inside its
 * sandbox, which the sandbox's init connects to and hands over (the
 * executor never opens a path the function controls), and its answer on
 * that connection; its stdout and stderr are its log.  A lambda instance
 * asks for its calls instead, over the Runtime API the executor serves on
 * the loopback of the instance's own network (lambda_runtime.h).
 *
 * An instance is a sandbox (sandbox.c) running one long-lived process.
 * Instances are pooled by key (app, path, image digest, format, memory,
 * config): up to max_concurrency per pool, an idle one is reused before a
 * new one starts, and one idle for idle_timeout is stopped.  Each holds
 * executor capacity (a slot and its memory) for its whole life; when a
 * call must wait for capacity, the longest idle instance of any pool is
 * stopped to make room.
 *
 * An instance that answers garbage, answers twice, answers too much, runs
 * past the call's timeout, or exits is killed and removed; it never serves
 * another call.
 *
 * Leases (direct dispatch, direct.h): with direct on, an http-format
 * instance reads its calls and writes its answers on one socket (its
 * stdin and stdout) instead of two pipes.  A job with lease set asks for an
 * instance instead of running a call: the instance is handed over as it
 * is (idle, or new), and while it is leased the executor neither reads nor
 * writes that socket; its holder gives it back (hot_lease_end) at a call's
 * boundary, or has it killed.  A leased instance still counts in its pool
 * and holds its capacity; when a call of its pool waits, or capacity is
 * short, or the executor drains or reloads, its holder is asked to give it
 * back (revoke).
 */
#ifndef EXECUTOR_HOT_H
#define EXECUTOR_HOT_H

#include "capacity.h"
#include "http_response.h"
#include "config.h"
#include "sandbox.h"

#include <stdint.h>
#include <uv.h>

enum hot_outcome {
    HOT_OK,                 /* res holds the function's answer */
    HOT_BUSY,               /* no instance in time: 503, Retry-After */
    HOT_TOO_LARGE,          /* memory over the executor's whole budget */
    HOT_STOPPED,            /* the executor is shutting down */
    HOT_TIMEOUT,
    HOT_OOM,
    HOT_BAD_ANSWER,         /* malformed or oversized: message says */
    HOT_EXITED,             /* the instance died under the call */
    HOT_FAILED,             /* the executor could not start one */
};

enum hot_format {
    HOT_FORMAT_HTTP,
    HOT_FORMAT_JSON,
    HOT_FORMAT_STREAM,      /* Fn's http-stream */
    HOT_FORMAT_LAMBDA,      /* AWS Lambda's Runtime API: the instance asks
                             * for its calls (lambda_runtime.h) */
};

struct hot_job;
typedef void (*hot_done_cb)(struct hot_job *job);

struct hot_pool;
struct hot_instance;

/* The executor's hot pools, and what they draw on. */
struct hot_pools {
    uv_loop_t *loop;
    const struct config *cfg;           /* the running one */
    struct capacity *capacity;          /* instances hold a share */
    struct sandbox_pool *sandboxes;     /* instances are sandboxes */
    const int *draining;                /* set: no instance goes idle */
    const int *killing;                 /* set: calls are being stopped */
    int direct;                         /* http-format instances talk over
                                         * a socket, and may be leased */
    struct hot_pool *pools;
    struct hot_instance *idle_head;     /* idle instances, newest */
    struct hot_instance *idle_tail;     /* first */
};

struct hot_job {
    /* set by the caller, alive until done runs */
    struct hot_pools *hot;
    const char *key;
    struct sandbox_params sandbox;      /* for a new instance */
    const char *cwd;                    /* its process (argv NULL: an idle
                                         * instance is there) */
    char *const *argv;
    char *const *env;
    unsigned max_concurrency;
    uint64_t idle_timeout_ms;
    uint64_t timeout_ms;
    enum hot_format format;
    int lambda_apigw;                   /* lambda: the function answers as
                                         * API Gateway's proxy */
    const char *head;                   /* the request: head, then body
                                         * (lambda: the event) */
    size_t head_len;
    size_t deadline_at;                 /* where in head the call's
                                         * deadline is (RFC 3339, 20
                                         * bytes), written again when an
                                         * instance takes the call (its
                                         * timeout starts then); SIZE_MAX:
                                         * nowhere */
    const char *body;
    size_t body_len;
    const char *call_id;                /* for logs */
    const char *app, *path;
    hot_done_cb done;
    void *data;
    int lease;                          /* hand an instance over instead
                                         * of running a call */

    /* the answer */
    enum hot_outcome outcome;
    char message[256];
    struct http_response res;
    uint64_t wait_ms;                   /* until an instance was assigned */
    char sandbox_id[ULID_LEN + 1];      /* the instance's sandbox */
    char *log;                          /* its stderr during the call */
    size_t log_len;
    struct hot_instance *leased;        /* lease, HOT_OK: the instance */

    /* the pool's */
    struct hot_pool *pool;
    struct hot_job *next;
    uv_timer_t wait_timer;
    int has_timer;
    int waiting;
    struct capacity_waiter cw;
    uint64_t queued_at;
    size_t log_cap;
};

/* Whether a job for key would find an idle instance now (then its
 * sandbox, cwd, argv and env are not needed). */
int hot_idle_available(struct hot_pools *s, const char *key);

/* Serves job; job->done runs once, possibly before this returns. */
void hot_submit(struct hot_job *job);

/* Shutdown: waiting jobs and running calls end HOT_STOPPED. */
void hot_stop_all(struct hot_pools *s);

/* Stops every idle instance (reload, drain). */
void hot_close_idle(struct hot_pools *s);

/* The capacity pressure hook (capacity.h; arg: the hot_pools): stops the
 * longest idle instance. */
void hot_on_pressure(void *arg);

/* What a lease's holder is told: give the instance back (once), or it
 * is gone (it exited, or was killed: the holder's socket is dead). */
struct hot_lease_ops {
    void (*revoke)(struct hot_instance *in, void *arg);
    void (*gone)(struct hot_instance *in, void *arg);
};

/* A leased instance: the executor's end of its socket (the holder gets
 * its own copy), its sandbox's id, and who holds it. */
int hot_lease_fd(const struct hot_instance *in);
const char *hot_lease_sandbox(const struct hot_instance *in);
void hot_lease_hold(struct hot_instance *in, const struct hot_lease_ops *ops,
                    void *arg);

/* The holder is done with in: kill_why NULL gives it back at a call's
 * boundary (it serves again, or goes idle); else it is killed for that
 * reason.  Its ops are not called after this. */
void hot_lease_end(struct hot_instance *in, const char *kill_why);

/* Instances idle and busy (leased ones too) now (for the metrics). */
void hot_counts(struct hot_pools *s, uint64_t *idle, uint64_t *busy);

#endif
