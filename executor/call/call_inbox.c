/*
 * Calls from other threads (call_inbox.h).
 */
#include "call_inbox.h"
#include "json_out.h"

#include <stdlib.h>
#include <string.h>

struct call_inbox_item {
    struct call_inbox_item *next;
    struct call_inbox *inbox;
    struct http_request *req;
    struct call_reply reply;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int over;
};

/* The caller's thread wakes up with its answer. */
static void wake_caller(struct call_inbox_item *it)
{
    pthread_mutex_lock(&it->mu);
    it->over = 1;
    pthread_cond_signal(&it->cv);
    pthread_mutex_unlock(&it->mu);
}

static void on_call_done(struct call_reply *r)
{
    struct call_inbox_item *it = (struct call_inbox_item *)
        ((char *)r - offsetof(struct call_inbox_item, reply));
    struct call_inbox *in = it->inbox;

    wake_caller(it);
    if (--in->running == 0 && in->idle != NULL)
        in->idle(in);
}

/* An answer of the executor's own, as the HTTP endpoints give it. */
static void answer(struct call_inbox_item *it, int status, const char *msg)
{
    size_t n = json_error_body(NULL, 0, msg, NULL);

    it->reply.status = status;
    it->reply.body = malloc(n + 1);
    if (it->reply.body != NULL) {
        json_error_body(it->reply.body, n + 1, msg, NULL);
        it->reply.body_len = n;
    }
    wake_caller(it);
}

static void start(struct call_inbox *in, struct call_inbox_item *it)
{
    struct calls *calls = in->calls;

    if (*in->draining) {
        /* not started: the consumer puts it back in the queue */
        answer(it, 503, "executor is shutting down");
        return;
    }
    if (it->req->body_len > calls->cfg->max_request_body) {
        answer(it, 413, "request body too large");
        return;
    }
    in->running++;
    call_start(calls, NULL, it->req, &it->reply);
}

static void on_wake(uv_async_t *h)
{
    struct call_inbox *in = h->data;
    struct call_inbox_item *todo, *it;

    pthread_mutex_lock(&in->mu);
    todo = in->todo;
    in->todo = in->todo_tail = NULL;
    pthread_mutex_unlock(&in->mu);
    while ((it = todo) != NULL) {
        todo = it->next;
        start(in, it);
    }
}

int call_inbox_init(struct call_inbox *in, struct calls *calls,
                    const int *draining)
{
    int rc;

    memset(in, 0, sizeof(*in));
    in->calls = calls;
    in->draining = draining;
    rc = uv_async_init(calls->loop, &in->wake, on_wake);
    if (rc < 0)
        return rc;
    in->wake.data = in;
    pthread_mutex_init(&in->mu, NULL);
    in->open = 1;
    return 0;
}

void call_inbox_close(struct call_inbox *in)
{
    struct call_inbox_item *todo, *it;

    pthread_mutex_lock(&in->mu);
    in->open = 0;
    todo = in->todo;
    in->todo = in->todo_tail = NULL;
    pthread_mutex_unlock(&in->mu);
    while ((it = todo) != NULL) {
        todo = it->next;
        wake_caller(it);
    }
}

void call_inbox_run(struct call_inbox *in, struct http_request *req,
                    int64_t enqueued_ms, struct call_reply *out)
{
    struct call_inbox_item it;
    int open;

    memset(&it, 0, sizeof(it));
    it.inbox = in;
    it.req = req;
    it.reply.enqueued_ms = enqueued_ms;
    it.reply.done = on_call_done;
    pthread_mutex_init(&it.mu, NULL);
    pthread_cond_init(&it.cv, NULL);

    pthread_mutex_lock(&in->mu);
    open = in->open;
    if (open) {
        if (in->todo_tail != NULL)
            in->todo_tail->next = &it;
        else
            in->todo = &it;
        in->todo_tail = &it;
        /* under mu: the handle is not closed before open is 0 */
        uv_async_send(&in->wake);
    }
    pthread_mutex_unlock(&in->mu);

    if (open) {
        pthread_mutex_lock(&it.mu);
        while (!it.over)
            pthread_cond_wait(&it.cv, &it.mu);
        pthread_mutex_unlock(&it.mu);
    }
    pthread_cond_destroy(&it.cv);
    pthread_mutex_destroy(&it.mu);
    *out = it.reply;
    out->done = NULL;
}
