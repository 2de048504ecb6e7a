/*
 * The executor's listeners: a Unix socket for nginx on the same host and,
 * optionally, TCP for nginx on other hosts (callers there must present the
 * shared secret).  The server also holds the parts its requests reach,
 * each with state of its own (calls, hot pools, sandboxes, the capacity
 * they share, images resolved lately), and wires them together: a lower
 * part sees only what it is handed.
 */
#ifndef EXECUTOR_SERVER_H
#define EXECUTOR_SERVER_H

#include "call.h"
#include "capacity.h"
#include "config.h"
#include "direct.h"
#include "hot.h"
#include "http_conn.h"
#include "image_cache.h"
#include "sandbox.h"

#include <sys/types.h>
#include <uv.h>

#define SERVER_SECRET_MAX 512
#define SERVER_SECRET_MIN 16

/* The header that carries the shared secret on TCP. */
#define SERVER_SECRET_HEADER "Fn-Executor-Secret"

struct server {
    uv_loop_t *loop;
    struct config cfg;
    uv_pipe_t unix_listener;
    uv_tcp_t tcp_listener;
    int unix_open;
    int tcp_open;
    uv_tcp_t metrics_listener;  /* metrics_listen: GET /metrics only */
    int metrics_open;
    dev_t unix_dev;             /* the socket file we made, to remove it */
    ino_t unix_ino;
    char secret[SERVER_SECRET_MAX];
    size_t secret_len;
    struct http_conn *conns;
    size_t nconns;
    struct http_conn_owner conn_owner;  /* what its connections see */
    int draining;
    void (*on_drained)(struct server *s);
    struct capacity capacity;   /* shared by calls and hot instances */
    struct image_cache images;  /* images resolved lately */
    struct sandbox_pool sandboxes;
    struct hot_pools hot;
    struct calls calls;
    struct direct *direct;      /* direct_listen, or NULL */
};

/* Binds the listeners of cfg and starts accepting.  0, or -1 with err. */
int server_start(struct server *s, uv_loop_t *loop, const struct config *cfg,
                 char *err, size_t errlen);

/*
 * Takes the settings of a new configuration that apply without new
 * listeners; says in err what needs a restart.  Returns 0, or 1 when some
 * change was not applied.
 */
int server_reconfigure(struct server *s, const struct config *cfg,
                       char *err, size_t errlen);

/*
 * Stops accepting and closes idle connections; busy ones close after their
 * response.  on_drained runs when none is left.
 */
void server_drain(struct server *s, void (*on_drained)(struct server *s));

/* Closes every connection at once, busy or not. */
void server_close_all(struct server *s);

/* Called by a connection with a complete request. */
void server_dispatch(struct server *s, struct http_conn *c);

/* Called by a connection once its handle is closed. */
void server_conn_closed(struct server *s, struct http_conn *c);

#endif
