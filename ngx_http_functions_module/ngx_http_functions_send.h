
/*
 * Answers the module writes itself: ngx_http_functions_send.c.
 */


#ifndef _NGX_HTTP_FUNCTIONS_SEND_H_INCLUDED_
#define _NGX_HTTP_FUNCTIONS_SEND_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


ngx_int_t ngx_http_functions_send_json(ngx_http_request_t *r,
    ngx_uint_t status, u_char *body, size_t len, ngx_uint_t retry);
ngx_int_t ngx_http_functions_send(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *type, ngx_buf_t *b);


#endif /* _NGX_HTTP_FUNCTIONS_SEND_H_INCLUDED_ */
