/*
 * One call of a function with the default format: a fresh sandboxed
 * process, the request body on its stdin, the response body from its
 * stdout, its stderr logged.
 */
#ifndef EXECUTOR_CALL_H
#define EXECUTOR_CALL_H

#include "capacity.h"
#include "config.h"
#include "hot.h"
#include "http_conn.h"
#include "image_cache.h"
#include "request_parser.h"
#include "sandbox.h"

#include <stddef.h>
#include <stdint.h>

/*
 * The end of a call whose caller is inside this process (call_inbox.c):
 * what an HTTP caller would have read.  Filled on the loop thread.
 */
#define CALL_REPLY_BODY_MAX 4096    /* of the answer, kept: enough for an
                                     * error message */
struct call_reply {
    int64_t enqueued_ms;        /* the call's acceptance by nginx */
    int status;                 /* 0 until answered */
    char *body;                 /* malloc()ed, the first bytes */
    size_t body_len;
    char *log;                  /* malloc()ed: the function's stderr, */
    size_t log_len;             /* as kept for GET /calls/<id>/log */
    void (*done)(struct call_reply *r);     /* once, at the call's end */
    int lease;                  /* set: a lease (direct.h), not a call:
                                 * an http route's instance, not run */
    struct hot_instance *instance;  /* lease, status 200: the instance */
};

struct call;

/* The executor's calls, and what they draw on. */
struct calls {
    uv_loop_t *loop;
    const struct config *cfg;           /* the running one */
    struct capacity *capacity;
    struct image_cache *images;
    struct sandbox_pool *sandboxes;     /* cold calls */
    struct hot_pools *hot;              /* hot calls */
    struct call *all;                   /* from request to answer */
    struct call *preparing;             /* their images on the pool */
    int killing;                        /* call_stop_all: being stopped */
};

/*
 * Serves a call: req is POST /call as nginx sends it (its body becomes
 * the call's).  The caller is either the connection c, answered when the
 * call is over, or reply, told through reply->done.
 */
void call_start(struct calls *s, struct http_conn *c,
                struct http_request *req, struct call_reply *reply);

/*
 * Stops every call (shutdown after the drain deadline): running
 * sandboxes are killed, calls not started yet are not started.  Each call
 * still answers (503) and cleans up through its normal path.  Returns how
 * many calls there were.
 */
size_t call_stop_all(struct calls *s);

#endif
