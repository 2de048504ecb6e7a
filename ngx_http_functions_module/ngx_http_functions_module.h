
/*
 * ngx_http_functions_module: shared declarations.
 */


#ifndef _NGX_HTTP_FUNCTIONS_MODULE_H_INCLUDED_
#define _NGX_HTTP_FUNCTIONS_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "route_def.h"


#define NGX_HTTP_FUNCTIONS_VERSION  "0.1.0"

/* functions_mysql: a password longer is refused */
#define NGX_HTTP_FUNCTIONS_DB_PASSWORD_MAX  127

/* app (30) + NUL + path (255) */
#define NGX_HTTP_FUNCTIONS_KEY_MAX  287


/*
 * Where route definitions live.  The server address is resolved while the
 * configuration is read, so that connecting later never waits on DNS.
 */
typedef struct {
    ngx_str_t                       host;       /* numeric address, or empty */
    in_port_t                       port;
    ngx_str_t                       socket;     /* Unix socket path, or empty */
    ngx_str_t                       server;     /* as written, for messages */
    ngx_str_t                       user;
    ngx_str_t                       password;
    ngx_str_t                       database;
    ngx_msec_t                      connect_timeout;
    ngx_msec_t                      timeout;
} ngx_http_functions_db_conf_t;


/* functions_api_list_max: the default */
#define NGX_HTTP_FUNCTIONS_LIST_MAX  10000


typedef struct {
    ngx_http_functions_db_conf_t   *db;
    ngx_shm_zone_t                 *cache_zone;
    ngx_array_t                     guarded;    /* of ngx_str_t */
    ngx_flag_t                      routing;    /* functions_route used */
    ngx_flag_t                      api;        /* functions_api used */
    ngx_array_t                    *api_tokens; /* of SHA-256 digests */
    ngx_str_t                       api_jwt_key;    /* HS256, "": none */
    void                           *amqp;       /* async calls (_async.c) */
    ngx_open_file_t                *log_file;   /* functions_log */
    ngx_uint_t                      log_level;
    ngx_shm_zone_t                 *metrics_zone;
    ngx_uint_t                      metrics_max_apps;
    ngx_uint_t                      metrics_max_executors;
    ngx_msec_t                      metrics_interval;   /* 0: no lines */
    ngx_flag_t                      metrics_shown;  /* functions_metrics */
    ngx_int_t                       api_list_max;   /* unpaged lists */
} ngx_http_functions_main_conf_t;


typedef struct {
    ngx_flag_t                      route;
    ngx_str_t                       prefix;     /* the location's name */
    ngx_flag_t                      api;        /* functions_api here */
    ngx_flag_t                      jwt_require_exp;
    time_t                          jwt_max_lifetime;   /* 0: none */
    ngx_flag_t                      async_credentials;
} ngx_http_functions_loc_conf_t;


/* What the cache keeps of a route (or of its absence). */

typedef struct {
    ngx_uint_t                      found;
    ngx_uint_t                      no_app;     /* not found: nor its app */
    ngx_uint_t                      async;
    ngx_str_t                       json;       /* the Fn-Route header */
    ngx_str_t                       image;
    ngx_str_t                       jwt_key;    /* "": calls need no JWT */
    time_t                          expires;
} ngx_http_functions_route_t;


char *ngx_http_functions_db(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_functions_route_cache(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_functions_api(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_functions_amqp(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_functions_api_tokens(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_functions_api_jwt_key(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


ngx_int_t ngx_http_functions_route_init(ngx_conf_t *cf);
ngx_int_t ngx_http_functions_async_init(ngx_conf_t *cf);
ngx_int_t ngx_http_functions_async_call(ngx_http_request_t *r,
    u_char *call_id, ngx_str_t *app, ngx_str_t *path, ngx_str_t *route);
ngx_int_t ngx_http_functions_route_add_variables(ngx_conf_t *cf);
ngx_int_t ngx_http_functions_generation_init(ngx_cycle_t *cycle);
ngx_int_t ngx_http_functions_guard_init(ngx_conf_t *cf);


extern ngx_module_t  ngx_http_functions_module;


#endif /* _NGX_HTTP_FUNCTIONS_MODULE_H_INCLUDED_ */
