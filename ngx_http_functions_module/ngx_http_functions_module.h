
/*
 * ngx_http_functions_module: its configuration, which every file reads.
 * Each file's own declarations are in a header of its own.
 */


#ifndef _NGX_HTTP_FUNCTIONS_MODULE_H_INCLUDED_
#define _NGX_HTTP_FUNCTIONS_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


#define NGX_HTTP_FUNCTIONS_VERSION  "0.1.0"


/* functions_mysql (ngx_http_functions_db.h) */
typedef struct ngx_http_functions_db_conf_s  ngx_http_functions_db_conf_t;


/* functions_api_list_max: the default */
#define NGX_HTTP_FUNCTIONS_LIST_MAX  10000


typedef struct {
    ngx_http_functions_db_conf_t   *db;
    ngx_shm_zone_t                 *cache_zone;
    ngx_array_t                     guarded;    /* of ngx_str_t */
    ngx_str_t                       direct;     /* functions_direct */
    ngx_flag_t                      routing;    /* functions_route used */
    ngx_flag_t                      api;        /* functions_api used */
    ngx_flag_t                      api_auth;   /* functions_api_auth on
                                                 * somewhere */
    ngx_array_t                    *api_tokens; /* of SHA-256 digests */
    ngx_str_t                       api_jwt_key;    /* HS256, "": none */
    void                           *amqp;       /* async calls (_async.c) */
    ngx_str_t                       async_key;  /* seals async call ids;
                                                 * "": calls recorded */
    ngx_open_file_t                *log_file;   /* functions_log */
    ngx_uint_t                      log_level;
    ngx_shm_zone_t                 *metrics_zone;
    ngx_uint_t                      metrics_max_apps;
    ngx_uint_t                      metrics_max_executors;
    ngx_msec_t                      metrics_interval;   /* 0: no lines */
    ngx_flag_t                      metrics_shown;  /* functions_metrics */
    ngx_int_t                       api_list_max;   /* unpaged lists */
    ngx_array_t                    *image_registries;   /* of ngx_str_t;
                                                     * NULL: not known */
} ngx_http_functions_main_conf_t;


typedef struct {
    ngx_flag_t                      route;
    ngx_str_t                       prefix;     /* the location's name */
    ngx_flag_t                      api;        /* functions_api here */
    ngx_flag_t                      api_auth;   /* functions_api_auth */
    ngx_flag_t                      jwt_require_exp;
    time_t                          jwt_max_lifetime;   /* 0: none */
    ngx_flag_t                      async_credentials;
} ngx_http_functions_loc_conf_t;


extern ngx_module_t  ngx_http_functions_module;


#endif /* _NGX_HTTP_FUNCTIONS_MODULE_H_INCLUDED_ */
