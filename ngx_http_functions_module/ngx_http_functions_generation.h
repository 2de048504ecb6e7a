
/*
 * The cache generation: the routes changed on another nginx reach this
 * one's cache (ngx_http_functions_generation.c).
 */


#ifndef _NGX_HTTP_FUNCTIONS_GENERATION_H_INCLUDED_
#define _NGX_HTTP_FUNCTIONS_GENERATION_H_INCLUDED_


#include "ngx_http_functions_module.h"


ngx_int_t ngx_http_functions_generation_init(ngx_cycle_t *cycle);


#endif /* _NGX_HTTP_FUNCTIONS_GENERATION_H_INCLUDED_ */
