/*
 * The executor's capacity: at most max_sandboxes sandboxes and
 * memory_budget bytes of their memory limits at once.  Calls beyond that
 * wait in a bounded FIFO queue, each for at most queue_timeout.
 */
#ifndef EXECUTOR_CAPACITY_H
#define EXECUTOR_CAPACITY_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

enum capacity_result {
    CAPACITY_GRANTED,
    CAPACITY_QUEUE_FULL,
    CAPACITY_TIMEOUT,
    CAPACITY_TOO_LARGE,         /* more memory than the whole budget */
    CAPACITY_CANCELLED,
};

struct capacity_waiter;
typedef void (*capacity_cb)(struct capacity_waiter *w,
                            enum capacity_result result);

struct capacity_waiter {
    uint64_t memory;
    capacity_cb cb;
    void *data;
    uv_timer_t timer;
    uint64_t queued_at;         /* uv_now() */
    uint64_t wait_ms;           /* set when granted or refused */
    enum capacity_result result;
    struct capacity *owner;
    int queued;
    struct capacity_waiter *next;
};

struct capacity {
    uv_loop_t *loop;
    unsigned max_sandboxes;
    uint64_t memory_budget;
    size_t queue_size;
    uint64_t queue_timeout_ms;
    unsigned used_sandboxes;
    uint64_t used_memory;
    struct capacity_waiter *head, *tail;
    size_t queued;
    /* told when a request has to wait: whoever holds capacity it could
     * give back (idle hot instances) may do so */
    void (*on_pressure)(void *arg);
    void *pressure_arg;
};

void capacity_init(struct capacity *c, uv_loop_t *loop);

/* Asks for one sandbox with memory bytes; cb runs once with the answer
 * (possibly before this returns).  The waiter must live until then; its
 * timer is closed by the time cb runs. */
void capacity_acquire(struct capacity *c, struct capacity_waiter *w,
                      uint64_t memory, capacity_cb cb, void *data);

/* Gives back what a granted waiter held and serves the queue. */
void capacity_release(struct capacity *c, uint64_t memory);

/* Refuses every queued waiter with CAPACITY_CANCELLED (draining). */
void capacity_cancel_all(struct capacity *c);

#endif
