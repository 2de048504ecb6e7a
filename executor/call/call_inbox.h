/*
 * Calls from other threads of this process: the async consumer's workers
 * hand a call to the loop thread, which runs it as it runs nginx's, and
 * wait for its end.  No socket, no header a caller outside could send.
 */
#ifndef EXECUTOR_CALL_INBOX_H
#define EXECUTOR_CALL_INBOX_H

#include "call.h"
#include "request_parser.h"

#include <pthread.h>
#include <stddef.h>
#include <uv.h>

struct call_inbox_item;

struct call_inbox {
    uv_async_t wake;
    struct calls *calls;
    const int *draining;        /* set: calls are answered 503 */
    pthread_mutex_t mu;
    struct call_inbox_item *todo, *todo_tail;   /* under mu */
    int open;                                   /* under mu */
    size_t running;             /* started, not ended: loop thread only */
    void (*idle)(struct call_inbox *in);        /* running fell to 0 */
};

/*
 * On the loop thread, before any caller: calls go to s, until *draining
 * is set.  0, or a libuv error.
 */
int call_inbox_init(struct call_inbox *in, struct calls *s,
                    const int *draining);

/*
 * On the loop thread, before its handles close: calls not started are
 * answered with status 0, later ones at once.  Calls running end as
 * usual.
 */
void call_inbox_close(struct call_inbox *in);

/*
 * On any other thread: runs the call req describes (POST /call as nginx
 * sends it; its body is taken) and returns once it is over, with out
 * filled (status 0: not run; out->body and out->log to free()).
 */
void call_inbox_run(struct call_inbox *in, struct http_request *req,
                    int64_t enqueued_ms, struct call_reply *out);

#endif
