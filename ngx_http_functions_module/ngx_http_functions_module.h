
/*
 * ngx_http_functions_module: shared declarations.
 */


#ifndef _NGX_HTTP_FUNCTIONS_MODULE_H_INCLUDED_
#define _NGX_HTTP_FUNCTIONS_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


#define NGX_HTTP_FUNCTIONS_VERSION  "0.1.0"


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
 * across reloads while the zone keeps its size.
 */
typedef struct {
    ngx_rbtree_t                    rbtree;
    ngx_rbtree_node_t               sentinel;
    ngx_queue_t                     lru;
    uint64_t                        generation;
} ngx_http_functions_cache_sh_t;


typedef struct {
    ngx_http_functions_cache_sh_t  *sh;
    ngx_slab_pool_t                *shpool;
    time_t                          valid;
    time_t                          not_found;
} ngx_http_functions_cache_t;


typedef struct {
    ngx_http_functions_db_conf_t   *db;
    ngx_shm_zone_t                 *cache_zone;
} ngx_http_functions_main_conf_t;


char *ngx_http_functions_db(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_functions_route_cache(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


extern ngx_module_t  ngx_http_functions_module;


#endif /* _NGX_HTTP_FUNCTIONS_MODULE_H_INCLUDED_ */
