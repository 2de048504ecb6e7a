/*
 * Async calls: consumed from RabbitMQ, handed to the loop thread through
 * the call inbox (the same capacity, sandboxes and hot instances as sync
 * calls), recorded in MySQL, and acknowledged only once their record is
 * stored.  Threads of their own; the event loop never waits on them.
 */
#ifndef EXECUTOR_ASYNC_H
#define EXECUTOR_ASYNC_H

#include "call_inbox.h"
#include "config.h"

#include <stdint.h>

/*
 * Starts the consumer when amqp_url is set; its calls go to inbox.  0, or
 * -1 (logged).
 */
int async_start(const struct config *cfg, struct call_inbox *inbox);

/* Stops consuming: messages not acknowledged go back to the queue. */
void async_stop(void);

/* At exit: waits up to ms for the calls being recorded to be recorded and
 * acknowledged. */
void async_wait(uint64_t ms);

/* Messages delivered to this executor and not yet acknowledged. */
unsigned async_in_flight(void);

#endif
