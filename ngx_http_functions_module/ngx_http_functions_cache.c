
/*
 * The route cache: a shared memory zone common to all worker processes.
 *
 *     functions_route_cache zone=routes:10m valid=60s not_found=5s;
 *
 * The zone keeps its contents across reloads as long as its size does not
 * change.
 */


#include "ngx_http_functions_module.h"


#define NGX_HTTP_FUNCTIONS_CACHE_VALID      60
#define NGX_HTTP_FUNCTIONS_CACHE_NOT_FOUND  5


static ngx_int_t ngx_http_functions_cache_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);


char *
ngx_http_functions_route_cache(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_functions_main_conf_t *fmcf = conf;

    u_char                      *p;
    time_t                       t, valid, not_found;
    ssize_t                      size;
    ngx_str_t                   *value, name, s;
    ngx_uint_t                   i;
    ngx_shm_zone_t              *shm_zone;
    ngx_http_functions_cache_t  *cache;

    if (fmcf->cache_zone != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;

    name.len = 0;
    size = 0;
    valid = NGX_HTTP_FUNCTIONS_CACHE_VALID;
    not_found = NGX_HTTP_FUNCTIONS_CACHE_NOT_FOUND;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "zone=", 5) == 0) {

            name.data = value[i].data + 5;

            p = (u_char *) ngx_strchr(name.data, ':');

            if (p == NULL) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid zone size \"%V\", "
                                   "expected zone=name:size", &value[i]);
                return NGX_CONF_ERROR;
            }

            name.len = p - name.data;

            s.data = p + 1;
            s.len = value[i].data + value[i].len - s.data;

            size = ngx_parse_size(&s);

            if (name.len == 0 || size == NGX_ERROR) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid zone \"%V\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            if (size < (ssize_t) (8 * ngx_pagesize)) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "zone \"%V\" is too small, "
                                   "it needs at least %uzk",
                                   &value[i], 8 * ngx_pagesize / 1024);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "valid=", 6) == 0
            || ngx_strncmp(value[i].data, "not_found=", 10) == 0)
        {
            p = ngx_strlchr(value[i].data, value[i].data + value[i].len, '=');

            s.data = p + 1;
            s.len = value[i].data + value[i].len - s.data;

            t = ngx_parse_time(&s, 1);
            if (t == (time_t) NGX_ERROR || t == 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid time in \"%V\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            if (value[i].data[0] == 'v') {
                valid = t;

            } else {
                not_found = t;
            }

            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    if (name.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" must have \"zone\" parameter",
                           &cmd->name);
        return NGX_CONF_ERROR;
    }

    cache = ngx_pcalloc(cf->pool, sizeof(ngx_http_functions_cache_t));
    if (cache == NULL) {
        return NGX_CONF_ERROR;
    }

    cache->valid = valid;
    cache->not_found = not_found;

    shm_zone = ngx_shared_memory_add(cf, &name, size,
                                     &ngx_http_functions_module);
    if (shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (shm_zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\" is already used", &name);
        return NGX_CONF_ERROR;
    }

    shm_zone->init = ngx_http_functions_cache_init_zone;
    shm_zone->data = cache;

    fmcf->cache_zone = shm_zone;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_functions_cache_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_functions_cache_t  *ocache = data;

    size_t                       len;
    ngx_http_functions_cache_t  *cache;

    cache = shm_zone->data;

    if (ocache) {
        /* a reload: the entries cached so far stay */
        cache->sh = ocache->sh;
        cache->shpool = ocache->shpool;
        return NGX_OK;
    }

    cache->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        cache->sh = cache->shpool->data;
        return NGX_OK;
    }

    cache->sh = ngx_slab_alloc(cache->shpool,
                               sizeof(ngx_http_functions_cache_sh_t));
    if (cache->sh == NULL) {
        return NGX_ERROR;
    }

    cache->shpool->data = cache->sh;

    ngx_rbtree_init(&cache->sh->rbtree, &cache->sh->sentinel,
                    ngx_rbtree_insert_value);
    ngx_queue_init(&cache->sh->lru);
    cache->sh->generation = 0;

    len = sizeof(" in functions route cache zone \"\"")
          + shm_zone->shm.name.len;

    cache->shpool->log_ctx = ngx_slab_alloc(cache->shpool, len);
    if (cache->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(cache->shpool->log_ctx,
                " in functions route cache zone \"%V\"%Z",
                &shm_zone->shm.name);

    cache->shpool->log_nomem = 0;

    return NGX_OK;
}
