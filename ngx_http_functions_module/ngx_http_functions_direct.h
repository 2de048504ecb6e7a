
/*
 * Direct dispatch (ngx_http_functions_direct.c): a worker leases hot
 * instances of http-format routes from the local executor and writes
 * their calls to them itself.
 *
 *     functions_direct /run/functions/direct.sock;
 */


#ifndef _NGX_HTTP_FUNCTIONS_DIRECT_H_INCLUDED_
#define _NGX_HTTP_FUNCTIONS_DIRECT_H_INCLUDED_


#include "ngx_http_functions_module.h"


typedef struct ngx_http_functions_direct_lease_s
    ngx_http_functions_direct_lease_t;


/* A call's try on a leased instance (the guard's, per request). */
typedef struct {
    ngx_http_functions_direct_lease_t   *lease;     /* NULL: over */
    ngx_chain_t                         *exec_head; /* the executor's
                                                     * request head */
    ngx_event_t                          timer;     /* the route's timeout */
    off_t                                max_body;
    size_t                               received;  /* of the function's
                                                     * head */
    unsigned                             refused:1; /* its answer was bad */
    unsigned                             timed_out:1;
    unsigned                             synthetic:1;   /* the answer is the
                                                         * executor's, made
                                                         * here */
} ngx_http_functions_direct_call_t;


char *ngx_http_functions_direct(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_functions_direct_init_process(ngx_cycle_t *cycle);
void ngx_http_functions_direct_exit_process(ngx_cycle_t *cycle);

/*
 * The balancer's try: NGX_DONE with pc->connection an idle leased
 * instance of the request's route and the request rewritten for it (*dc
 * set), or NGX_DECLINED: the executor's way (a lease may be asked for,
 * for the calls after this one).  NGX_ERROR: out of memory.
 */
ngx_int_t ngx_http_functions_direct_get(ngx_http_request_t *r,
    ngx_peer_connection_t *pc, ngx_http_functions_direct_call_t **dc);

/* The function's head is read: what of it reaches the client.  NGX_OK,
 * or NGX_HTTP_UPSTREAM_INVALID_HEADER (a 502). */
ngx_int_t ngx_http_functions_direct_header(ngx_http_request_t *r,
    ngx_http_functions_direct_call_t *dc);

/* The try is over: the instance is kept for the next call, or killed. */
void ngx_http_functions_direct_free(ngx_http_request_t *r,
    ngx_peer_connection_t *pc, ngx_http_functions_direct_call_t *dc,
    ngx_uint_t state);


#endif /* _NGX_HTTP_FUNCTIONS_DIRECT_H_INCLUDED_ */
