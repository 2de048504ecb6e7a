
/*
 * The retry guard of the executors' upstreams: a call that started is
 * never sent to a second executor (ngx_http_functions_guard.c).
 */


#ifndef _NGX_HTTP_FUNCTIONS_GUARD_H_INCLUDED_
#define _NGX_HTTP_FUNCTIONS_GUARD_H_INCLUDED_


#include "ngx_http_functions_module.h"


ngx_int_t ngx_http_functions_guard_init(ngx_conf_t *cf);


#endif /* _NGX_HTTP_FUNCTIONS_GUARD_H_INCLUDED_ */
