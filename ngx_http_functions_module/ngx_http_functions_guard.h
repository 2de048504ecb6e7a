
/*
 * The retry guard of the executors' upstreams: a call that started is
 * never sent to a second executor (ngx_http_functions_guard.c).
 */


#ifndef _NGX_HTTP_FUNCTIONS_GUARD_H_INCLUDED_
#define _NGX_HTTP_FUNCTIONS_GUARD_H_INCLUDED_


#include "ngx_http_functions_module.h"
#include "ngx_http_functions_direct.h"


ngx_int_t ngx_http_functions_guard_init(ngx_conf_t *cf);

/* The request's try on a leased instance, or NULL (none: the executor's
 * way, or not an upstream the guard wraps). */
ngx_http_functions_direct_call_t *ngx_http_functions_guard_direct(
    ngx_http_request_t *r);


#endif /* _NGX_HTTP_FUNCTIONS_GUARD_H_INCLUDED_ */
