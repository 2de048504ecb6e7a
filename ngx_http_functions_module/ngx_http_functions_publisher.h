
/*
 * A worker's AMQP publisher: one thread with one link to the broker,
 * messages pipelined on it, confirms awaited together
 * (ngx_http_functions_publisher.c).
 */


#ifndef _NGX_HTTP_FUNCTIONS_PUBLISHER_H_INCLUDED_
#define _NGX_HTTP_FUNCTIONS_PUBLISHER_H_INCLUDED_


#include "ngx_http_functions_module.h"

#include "amqp_link.h"


typedef struct ngx_http_functions_pub_s  ngx_http_functions_pub_t;

typedef void (*ngx_http_functions_pub_handler_pt)(ngx_http_functions_pub_t *m);


struct ngx_http_functions_pub_s {
    /* the caller's, untouched until the handler runs */
    char                               *head;       /* the message but its
                                                       "body": a compact JSON
                                                       object (malloc()ed) */
    ngx_chain_t                        *body;       /* in memory or a file */
    const char                         *message_id;
    ngx_http_functions_pub_handler_pt   handler;    /* in the event loop */
    void                               *data;

    /* the outcome: confirmed and routed, or err */
    ngx_uint_t                          ok;
    char                                err[256];

    /* the publisher's */
    ngx_http_functions_pub_t           *next;
    char                               *message;
    size_t                              len;
    uint64_t                            tag;
    long long                           deadline;   /* of its confirm, ms */
    ngx_uint_t                          tries;
    ngx_uint_t                          returned;
    void                               *state;      /* its thread's */
    double t[3];
};


/*
 * Publishes m with settings (functions_amqp's, of the worker's cycle: the
 * first call starts the thread with them): its handler runs in the event
 * loop once the broker confirmed it (m->ok) or it failed (m->err).
 * NGX_ERROR: no publisher (its thread could not start).
 */
ngx_int_t ngx_http_functions_pub_post(ngx_http_functions_pub_t *m,
    struct amqp_settings *settings, ngx_log_t *log);

/* exit_process: the thread ends once what it holds is answered */
void ngx_http_functions_pub_exit(void);


#endif /* _NGX_HTTP_FUNCTIONS_PUBLISHER_H_INCLUDED_ */
