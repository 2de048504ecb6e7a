
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


/*
 * The route cache header in shared memory.  It is created once and reused
 * across reloads while the zone keeps its size.  Routes and "not found"
 * answers are on LRU lists of their own: the second is bounded, so that
 * unknown paths never push out real routes.
 */
typedef struct {
    ngx_rbtree_t                    rbtree;
    ngx_rbtree_node_t               sentinel;
    ngx_queue_t                     lru;        /* routes found */
    ngx_queue_t                     not_found_lru;
    ngx_uint_t                      not_found_count;
    uint64_t                        generation;
    uint64_t                        drops;      /* see cache_epoch() */
    ngx_msec_t                      next_check;
} ngx_http_functions_cache_sh_t;


typedef struct {
    ngx_http_functions_cache_sh_t  *sh;
    ngx_slab_pool_t                *shpool;
    time_t                          valid;
    time_t                          not_found;
    ngx_uint_t                      not_found_max;
} ngx_http_functions_cache_t;


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


/* A query, posted to the worker's connections (..._query.c). */

typedef struct ngx_http_functions_query_s  ngx_http_functions_query_t;

typedef void (*ngx_http_functions_query_handler_pt)(
    ngx_http_functions_query_t *q);

struct ngx_http_functions_query_s {
    ngx_str_t                       sql;
    ngx_http_functions_query_handler_pt  handler;
    void                           *data;
    /* NGX_OK; NGX_DECLINED: the server refused the statement (error);
     * NGX_ERROR: no answer (connection, timeout) */
    ngx_int_t                       rc;
    void                           *res;        /* MYSQL_RES *, on NGX_OK */
    uint64_t                        affected;   /* rows, without a result */
    ngx_uint_t                      error;      /* server error number */
    ngx_uint_t                      quiet;      /* refusals are expected */
    /* keep the connection when it ends: the next query of this struct
     * runs there, in the same transaction (..._query.c) */
    ngx_uint_t                      hold;
    void                           *conn;       /* the connection held */
    ngx_queue_t                     queue;
    ngx_uint_t                      queued;
    ngx_event_t                     timer;
};


/* A statement under construction (..._query.c). */

typedef struct {
    ngx_pool_t                     *pool;
    u_char                         *data;
    size_t                          len;
    size_t                          cap;
    ngx_uint_t                      failed;
} ngx_http_functions_sql_t;


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

ngx_int_t ngx_http_functions_query_post(ngx_http_functions_db_conf_t *dcf,
    ngx_http_functions_query_t *q);
void ngx_http_functions_query_exit(void);
void ngx_http_functions_query_free(ngx_http_functions_query_t *q);
void ngx_http_functions_query_release(ngx_http_functions_query_t *q);
size_t ngx_http_functions_query_escape(u_char *dst, ngx_str_t *src);

void ngx_http_functions_sql_raw(ngx_http_functions_sql_t *sql,
    const char *s);
void ngx_http_functions_sql_str(ngx_http_functions_sql_t *sql, u_char *data,
    size_t len);
void ngx_http_functions_sql_uint(ngx_http_functions_sql_t *sql, uint64_t n);
ngx_int_t ngx_http_functions_sql_done(ngx_http_functions_sql_t *sql,
    ngx_str_t *out);

/* 1 and the route copied into pool, or 0 if not cached at all */
ngx_int_t ngx_http_functions_cache_get(ngx_shm_zone_t *zone, ngx_str_t *key,
    ngx_http_functions_route_t *route, ngx_pool_t *pool);
uint64_t ngx_http_functions_cache_epoch(ngx_shm_zone_t *zone);
void ngx_http_functions_cache_put(ngx_shm_zone_t *zone, ngx_str_t *key,
    ngx_http_functions_route_t *route, uint64_t epoch);
/* path NULL: every route of app */
void ngx_http_functions_cache_drop(ngx_shm_zone_t *zone, ngx_str_t *app,
    ngx_str_t *path);
void ngx_http_functions_cache_flush(ngx_shm_zone_t *zone);
/* the generation seen, and whether this worker is to check it now */
ngx_int_t ngx_http_functions_cache_check_due(ngx_shm_zone_t *zone,
    uint64_t *generation);
uint64_t ngx_http_functions_cache_generation(ngx_shm_zone_t *zone);
void ngx_http_functions_cache_set_generation(ngx_shm_zone_t *zone,
    uint64_t generation);

ngx_int_t ngx_http_functions_route_init(ngx_conf_t *cf);
ngx_int_t ngx_http_functions_async_init(ngx_conf_t *cf);
ngx_int_t ngx_http_functions_async_call(ngx_http_request_t *r,
    u_char *call_id, ngx_str_t *app, ngx_str_t *path, ngx_str_t *route);
ngx_int_t ngx_http_functions_route_add_variables(ngx_conf_t *cf);
ngx_int_t ngx_http_functions_generation_init(ngx_cycle_t *cycle);
ngx_int_t ngx_http_functions_guard_init(ngx_conf_t *cf);


extern ngx_module_t  ngx_http_functions_module;


#endif /* _NGX_HTTP_FUNCTIONS_MODULE_H_INCLUDED_ */
