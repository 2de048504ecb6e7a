
/*
 * Async calls: functions_amqp, and routes published to RabbitMQ
 * (ngx_http_functions_async.c).
 */


#ifndef _NGX_HTTP_FUNCTIONS_ASYNC_H_INCLUDED_
#define _NGX_HTTP_FUNCTIONS_ASYNC_H_INCLUDED_


#include "ngx_http_functions_module.h"


char *ngx_http_functions_amqp(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_functions_async_key(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/* Publishes the call; answers 202 once the broker has it. */
ngx_int_t ngx_http_functions_async_call(ngx_http_request_t *r,
    u_char *call_id, ngx_str_t *app, ngx_str_t *path, ngx_str_t *route);


#endif /* _NGX_HTTP_FUNCTIONS_ASYNC_H_INCLUDED_ */
