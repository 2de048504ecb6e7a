/*
 * One HTTP/1.1 connection to the executor (Unix socket or TCP): reads
 * requests with http-parser, hands each complete request to its owner
 * (the listener that accepted it), writes the response, and keeps the
 * connection alive between requests.  Requests on one connection are
 * served one at a time, in order.  It knows nothing of its owner but
 * struct http_conn_owner.
 */
#ifndef EXECUTOR_HTTP_CONN_H
#define EXECUTOR_HTTP_CONN_H

#include "config.h"
#include "request_parser.h"

#include <stddef.h>
#include <uv.h>

struct http_conn;

/* What a connection needs of the listener that accepted it. */
struct http_conn_owner {
    const struct config *cfg;   /* limits and read_timeout, as reloaded */
    const int *draining;        /* set: every answer closes its connection */
    void (*dispatch)(struct http_conn *c);  /* a whole request was read */
    void (*closed)(struct http_conn *c);    /* c is freed once this returns */
    void *data;                 /* the owner's */
};

enum http_conn_state {
    HTTP_CONN_READING,          /* between requests or inside one */
    HTTP_CONN_BUSY,             /* a request is being served */
    HTTP_CONN_CLOSING,
};

struct http_conn {
    union {
        uv_stream_t stream;
        uv_pipe_t pipe;
        uv_tcp_t tcp;
    } h;
    uv_timer_t timer;           /* read_timeout while reading */
    int open_handles;
    const struct http_conn_owner *owner;
    int is_tcp;
    int is_metrics;             /* from metrics_listen: /metrics only */
    enum http_conn_state state;
    struct request_parser rp;   /* rp.req: the request being served */
    int keep_alive;
    char *pending;              /* bytes read past the current request */
    size_t pending_len;
    int reading;                /* uv_read_start is in effect */
    int written;                /* its answer went out at once: waits
                                 * in the written list (http_conn.c) */
    int written_close;          /* then: close after it */
    struct http_conn *written_next;
    int peer_done;              /* the peer closed (or failed) while a
                                 * request was served: what it sent before
                                 * is served, then the connection closes */
    int request_due;            /* accepted as its listener closed: a
                                 * request is on its way, never idle */
    struct http_conn *prev, *next;
    /* told when the connection closes while a request is served */
    void (*on_close)(void *arg);
    void *on_close_arg;
};

/* Starts reading an accepted stream (stream and timer initialised). */
void http_conn_start(struct http_conn *c);

/*
 * Answers the request being served.  extra_headers, if not NULL, is a
 * block of "Name: value\r\n" lines.  The body is copied.
 */
void http_conn_respond(struct http_conn *c, int status,
                       const char *content_type, const char *extra_headers,
                       const char *body, size_t body_len);

/* Answers {"error":{"message":...}} with the given status. */
void http_conn_respond_error(struct http_conn *c, int status,
                             const char *message);

/* Closes the connection now (what is being written is dropped). */
void http_conn_close(struct http_conn *c);

/*
 * Whether the peer sent bytes this side has not read yet (in the kernel's
 * buffer or kept in pending): closing it now would reset a request the
 * peer believes delivered.
 */
int http_conn_has_input(struct http_conn *c);


#endif
