/*
 * The executor's capacity and its queue.
 */
#include "capacity.h"
#include "metrics.h"

#include <string.h>

void capacity_init(struct capacity *c, uv_loop_t *loop)
{
    memset(c, 0, sizeof(*c));
    c->loop = loop;
}

static int fits(const struct capacity *c, uint64_t memory)
{
    return c->used_sandboxes < c->max_sandboxes
           && c->used_memory + memory <= c->memory_budget;
}

static void unlink_waiter(struct capacity *c, struct capacity_waiter *w)
{
    struct capacity_waiter **p;

    for (p = &c->head; *p != NULL; p = &(*p)->next) {
        if (*p == w) {
            *p = w->next;
            if (c->tail == w) {
                struct capacity_waiter *t = c->head;
                while (t != NULL && t->next != NULL)
                    t = t->next;
                c->tail = t;
            }
            c->queued--;
            w->queued = 0;
            w->next = NULL;
            return;
        }
    }
}

static void on_timer_closed(uv_handle_t *h)
{
    struct capacity_waiter *w = h->data;

    w->cb(w, w->result);
}

/* Answers a queued waiter once its timer is closed. */
static void answer_queued(struct capacity *c, struct capacity_waiter *w,
                          enum capacity_result r)
{
    unlink_waiter(c, w);
    w->wait_ms = uv_now(c->loop) - w->queued_at;
    uv_timer_stop(&w->timer);
    w->result = r;
    uv_close((uv_handle_t *)&w->timer, on_timer_closed);
}

static void on_timeout(uv_timer_t *t)
{
    struct capacity_waiter *w = t->data;

    metrics_count(METRICS_QUEUE_TIMEOUT);
    answer_queued(w->owner, w, CAPACITY_TIMEOUT);
}

static void grant(struct capacity *c, uint64_t memory)
{
    c->used_sandboxes++;
    c->used_memory += memory;
}

void capacity_acquire(struct capacity *c, struct capacity_waiter *w,
                      uint64_t memory, capacity_cb cb, void *data)
{
    w->memory = memory;
    w->cb = cb;
    w->data = data;
    w->next = NULL;
    w->queued = 0;
    w->wait_ms = 0;
    w->queued_at = uv_now(c->loop);
    w->owner = c;

    if (memory > c->memory_budget) {
        cb(w, CAPACITY_TOO_LARGE);
        return;
    }
    if (c->head == NULL && fits(c, memory)) {
        grant(c, memory);
        cb(w, CAPACITY_GRANTED);
        return;
    }
    if (c->queued >= c->queue_size) {
        metrics_count(METRICS_QUEUE_FULL);
        cb(w, CAPACITY_QUEUE_FULL);
        return;
    }
    uv_timer_init(c->loop, &w->timer);
    w->timer.data = w;
    uv_timer_start(&w->timer, on_timeout, c->queue_timeout_ms, 0);
    w->queued = 1;
    if (c->tail != NULL)
        c->tail->next = w;
    else
        c->head = w;
    c->tail = w;
    c->queued++;
    if (c->on_pressure != NULL)
        c->on_pressure(c->pressure_arg);
}

void capacity_release(struct capacity *c, uint64_t memory)
{
    c->used_sandboxes--;
    c->used_memory -= memory;
    /* first come, first served: the head waits until it fits */
    while (c->head != NULL && fits(c, c->head->memory)) {
        struct capacity_waiter *w = c->head;

        grant(c, w->memory);
        answer_queued(c, w, CAPACITY_GRANTED);
    }
}

void capacity_cancel_all(struct capacity *c)
{
    while (c->head != NULL)
        answer_queued(c, c->head, CAPACITY_CANCELLED);
}
