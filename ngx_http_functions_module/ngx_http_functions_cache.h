
/*
 * The route cache in shared memory (ngx_http_functions_cache.c).
 */


#ifndef _NGX_HTTP_FUNCTIONS_CACHE_H_INCLUDED_
#define _NGX_HTTP_FUNCTIONS_CACHE_H_INCLUDED_


#include "ngx_http_functions_module.h"


/* app (30) + NUL + path (255) */
#define NGX_HTTP_FUNCTIONS_KEY_MAX  287


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

char *ngx_http_functions_route_cache(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


#endif /* _NGX_HTTP_FUNCTIONS_CACHE_H_INCLUDED_ */
