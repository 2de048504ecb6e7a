
/*
 * The module's metrics, kept in one shared memory zone so that every
 * worker adds to the same numbers (atomic adds, no lock on the way).
 */


#ifndef _NGX_HTTP_FUNCTIONS_METRICS_H_INCLUDED_
#define _NGX_HTTP_FUNCTIONS_METRICS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


typedef enum {
    NGX_HTTP_FUNCTIONS_M_CACHE_HIT = 0,
    NGX_HTTP_FUNCTIONS_M_CACHE_MISS,
    NGX_HTTP_FUNCTIONS_M_CACHE_STALE,
    NGX_HTTP_FUNCTIONS_M_LOOKUP_ERRORS,
    NGX_HTTP_FUNCTIONS_M_ASYNC_ACCEPTED,
    NGX_HTTP_FUNCTIONS_M_ASYNC_FAILED,
    NGX_HTTP_FUNCTIONS_M_COUNTERS
} ngx_http_functions_counter_e;


typedef enum {
    NGX_HTTP_FUNCTIONS_H_LOOKUP = 0,        /* a route's database query */
    NGX_HTTP_FUNCTIONS_H_PUBLISH,           /* an async call's publish */
    NGX_HTTP_FUNCTIONS_H_REQUEST,           /* a routed request, whole */
    NGX_HTTP_FUNCTIONS_H_COUNT
} ngx_http_functions_hist_e;


char *ngx_http_functions_metrics_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_functions_metrics(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_functions_metrics_init(ngx_conf_t *cf);
ngx_int_t ngx_http_functions_metrics_init_process(ngx_cycle_t *cycle);

void ngx_http_functions_metrics_count(ngx_http_functions_counter_e c);
void ngx_http_functions_metrics_observe(ngx_http_functions_hist_e h,
    ngx_msec_t ms);

/* A routed request ends: its outcome by status, per app (NULL: no
 * route), and its executors' errors. */
void ngx_http_functions_metrics_request(ngx_http_request_t *r,
    ngx_str_t *app);


#endif /* _NGX_HTTP_FUNCTIONS_METRICS_H_INCLUDED_ */
