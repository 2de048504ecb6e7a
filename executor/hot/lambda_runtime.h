/*
 * The Lambda Runtime API one instance of format lambda talks to: an HTTP
 * server on the socket its sandbox's init made listen on 127.0.0.1 in the
 * sandbox's own network (sandbox_listen()), so that nothing but that
 * instance reaches it.  What a request means is lambda_format.c's; what
 * becomes of it is the instance's (hot.c), through the callbacks.
 *
 * One event at a time: lambda_runtime_deliver() hands the next one over,
 * to the "next" request that waits for it or to the next one that comes.
 */
#ifndef EXECUTOR_LAMBDA_RUNTIME_H
#define EXECUTOR_LAMBDA_RUNTIME_H

#include <stddef.h>
#include <uv.h>

/* The port of 127.0.0.1 the Runtime API listens on in each sandbox. */
#define LAMBDA_RUNTIME_PORT 9001

struct lambda_runtime;

struct lambda_runtime_cbs {
    /* a "next" waits: the runtime is ready for an event */
    void (*next)(void *arg);
    /* the result of the event with that id: 0 taken, -1 refused (not the
     * event being handled, or answered already) */
    int (*response)(void *arg, const char *id, const char *body,
                    size_t len);
    int (*error)(void *arg, const char *id, const char *body, size_t len,
                 const char *error_type);
    /* the runtime could not start */
    void (*init_error)(void *arg, const char *body, size_t len,
                       const char *error_type);
};

/*
 * Serves the Runtime API on fd (a listening socket, now the runtime's):
 * requests of at most max_body bytes of body.  NULL with err.
 */
struct lambda_runtime *lambda_runtime_start(uv_loop_t *loop, int fd,
                                            size_t max_body,
                                            const struct lambda_runtime_cbs
                                                *cbs,
                                            void *arg, char *err,
                                            size_t errlen);

/*
 * The next event: its request id, deadline (Unix ms), function ARN and
 * body (taken: freed by the runtime).  0, or -1 (one is still out, or
 * out of memory; body is freed).
 */
int lambda_runtime_deliver(struct lambda_runtime *rt, const char *id,
                           long long deadline_ms, const char *arn,
                           char *body, size_t len);

/* Whether a "next" waits now. */
int lambda_runtime_waiting(const struct lambda_runtime *rt);

/* Closes everything; closed(arg) runs once all is closed, then rt is
 * freed. */
void lambda_runtime_close(struct lambda_runtime *rt,
                          void (*closed)(void *arg));

#endif
