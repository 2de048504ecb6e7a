
/*
 * The request's one context of this module (ngx_http_functions_ctx.c):
 * its call id, the route found for it, and the operation it runs (an API
 * request or an async publish), each in a field of its own type.
 */


#ifndef _NGX_HTTP_FUNCTIONS_CTX_H_INCLUDED_
#define _NGX_HTTP_FUNCTIONS_CTX_H_INCLUDED_


#include "ngx_http_functions_module.h"
#include "ngx_http_functions_cache.h"
#include "ulid.h"


typedef struct ngx_http_functions_ctx_s     ngx_http_functions_ctx_t;
typedef struct ngx_http_functions_lookup_s  ngx_http_functions_lookup_t;
typedef struct ngx_http_functions_publish_s ngx_http_functions_publish_t;
struct ngx_http_functions_api_s;

typedef void (*ngx_http_functions_ctx_done_pt)(ngx_http_functions_ctx_t *ctx);


struct ngx_http_functions_ctx_s {
    ngx_http_request_t                *request;
    ngx_str_t                          app;
    ngx_str_t                          path;
    ngx_str_t                          key;        /* app "\0" path */
    u_char                             call_id[ULID_LEN];
    ngx_http_functions_route_t         route;
    ngx_uint_t                         have_route;
    ngx_int_t                          status;     /* an error to answer */
    const char                        *message;
    ngx_http_functions_lookup_t       *lookup;     /* waiting for it */
    ngx_queue_t                        queue;      /* in lookup->waiters */
    ngx_uint_t                         started;    /* routing began */
    ngx_uint_t                         id_asked;   /* $fn_call_id, before */
    ngx_uint_t                         id_sent;    /* Fn-Call-Id added */
    ngx_uint_t                         api_authorized; /* functions_api_auth
                                                        * passed */
    const char                        *cache;      /* hit, miss or stale */
    struct ngx_http_functions_api_s   *api;        /* an API request */
    ngx_http_functions_publish_t      *publish;    /* an async call */
    void                              *direct;     /* a try on a leased
                                                    * instance (_direct.c) */
    ngx_http_functions_ctx_done_pt     done;       /* the request is freed */
};


/* A new ULID (ULID_LEN bytes): NGX_OK, or NGX_ERROR without randomness. */
ngx_int_t ngx_http_functions_new_id(u_char *id);

ngx_http_functions_ctx_t *ngx_http_functions_ctx_find(ngx_http_request_t *r);
ngx_http_functions_ctx_t *ngx_http_functions_ctx_get(ngx_http_request_t *r);
ngx_int_t ngx_http_functions_ctx_keep(ngx_http_request_t *r,
    ngx_http_functions_ctx_t *ctx, ngx_http_functions_ctx_done_pt done);


#endif /* _NGX_HTTP_FUNCTIONS_CTX_H_INCLUDED_ */
