
/*
 * The module's log lines in logfmt (common/logfmt.c): to the file of
 * "functions_log FILE [level]" as whole lines ("time=... level=... msg=...
 * key=value..."), or, without it, to nginx's error log after the prefix
 * nginx writes ("functions: msg=... key=value...").
 */


#ifndef _NGX_HTTP_FUNCTIONS_LOG_H_INCLUDED_
#define _NGX_HTTP_FUNCTIONS_LOG_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "logfmt.h"


#define NGX_HTTP_FUNCTIONS_LOG_MAX  2048


typedef struct {
    ngx_uint_t                      level;
    ngx_uint_t                      active;
    struct logfmt_buf               buf;
    char                            data[NGX_HTTP_FUNCTIONS_LOG_MAX];
} ngx_http_functions_log_t;


char *ngx_http_functions_log(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
ngx_int_t ngx_http_functions_log_init_module(ngx_cycle_t *cycle);
void ngx_http_functions_log_init_process(ngx_cycle_t *cycle);

/* 1 if a line of this level is written (then add pairs and end it) */
ngx_uint_t ngx_http_functions_log_begin(ngx_http_functions_log_t *l,
    ngx_log_t *log, ngx_uint_t level, const char *msg);
void ngx_http_functions_log_str(ngx_http_functions_log_t *l, const char *key,
    ngx_str_t *value);
void ngx_http_functions_log_cstr(ngx_http_functions_log_t *l,
    const char *key, const char *value);
void ngx_http_functions_log_int(ngx_http_functions_log_t *l,
    const char *key, int64_t value);
void ngx_http_functions_log_end(ngx_http_functions_log_t *l, ngx_log_t *log);

/* Shorthand: a line with a message and an optional error string. */
void ngx_http_functions_log_msg(ngx_log_t *log, ngx_uint_t level,
    const char *msg, const char *error);

/* Metric lines: each gets time, level and "msg=metric" in front. */
void ngx_http_functions_log_lines(ngx_log_t *log, ngx_uint_t level,
    u_char *data, size_t len);


#endif /* _NGX_HTTP_FUNCTIONS_LOG_H_INCLUDED_ */
