
/*
 * The route cache: a shared memory zone common to all worker processes.
 *
 *     functions_route_cache zone=routes:10m valid=60s not_found=5s
 *                           [not_found_max=N];
 *
 * The zone keeps its contents across reloads as long as its size does not
 * change.  Routes found and "not found" answers live on LRU lists of their
 * own.  At most not_found_max answers of the second kind are kept (by
 * default one per 4k of the zone, an eighth of it at most): a flood of
 * unknown paths pushes out older "not found" answers, never a route; and a
 * route that needs room takes it from "not found" answers first.  When an
 * app does not exist at all, one entry for the app answers every path of
 * it.
 */


#include "ngx_http_functions_module.h"
#include "ngx_http_functions_cache.h"
#include "ngx_http_functions_log.h"


#define NGX_HTTP_FUNCTIONS_CACHE_VALID      60
#define NGX_HTTP_FUNCTIONS_CACHE_NOT_FOUND  5

/* bytes of zone per "not found" answer kept by default: the slab slot of
 * the longest key (512 bytes) in an eighth of the zone */
#define NGX_HTTP_FUNCTIONS_CACHE_NOT_FOUND_SHARE  4096


static void ngx_http_functions_cache_rbtree_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);
static ngx_int_t ngx_http_functions_cache_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);


char *
ngx_http_functions_route_cache(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_functions_main_conf_t *fmcf = conf;

    u_char                      *p;
    time_t                       t, valid, not_found;
    ssize_t                      size;
    ngx_int_t                    n;
    ngx_str_t                   *value, name, s;
    ngx_uint_t                   i, not_found_max;
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
    not_found_max = NGX_CONF_UNSET_UINT;

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

        if (ngx_strncmp(value[i].data, "not_found_max=", 14) == 0) {

            n = ngx_atoi(value[i].data + 14, value[i].len - 14);
            if (n == NGX_ERROR) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid number in \"%V\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            not_found_max = n;
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
    cache->not_found_max = (not_found_max != NGX_CONF_UNSET_UINT)
                           ? not_found_max
                           : (ngx_uint_t) size
                             / NGX_HTTP_FUNCTIONS_CACHE_NOT_FOUND_SHARE;

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
                    ngx_http_functions_cache_rbtree_insert);
    ngx_queue_init(&cache->sh->lru);
    ngx_queue_init(&cache->sh->not_found_lru);
    cache->sh->not_found_count = 0;
    cache->sh->generation = 0;
    cache->sh->next_check = 0;
    cache->sh->drops = 0;

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


/*
 * An entry: the key ("app\0path") and what is known of the route, in one
 * slab allocation, on the LRU list (most recently used first).
 */

typedef struct {
    u_char                          color;
    u_char                          found;
    u_char                          async;
    u_char                          dummy;
    u_short                         key_len;
    u_short                         image_len;
    ngx_queue_t                     lru;
    time_t                          expires;
    uint32_t                        json_len;
    u_short                         jwt_len;
    u_char                          data[1];    /* key, json, image, jwt */
} ngx_http_functions_cache_node_t;


#define ngx_http_functions_cache_entry(node)                                 \
    ((ngx_http_functions_cache_node_t *) &(node)->color)


static void
ngx_http_functions_cache_rbtree_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t               **p;
    ngx_http_functions_cache_node_t  *n, *t;

    for ( ;; ) {

        if (node->key < temp->key) {
            p = &temp->left;

        } else if (node->key > temp->key) {
            p = &temp->right;

        } else {
            n = ngx_http_functions_cache_entry(node);
            t = ngx_http_functions_cache_entry(temp);

            p = (ngx_memn2cmp(n->data, t->data, n->key_len, t->key_len) < 0)
                ? &temp->left : &temp->right;
        }

        if (*p == sentinel) {
            break;
        }

        temp = *p;
    }

    *p = node;
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    ngx_rbt_red(node);
}


static ngx_rbtree_node_t *
ngx_http_functions_cache_find(ngx_http_functions_cache_t *cache,
    ngx_str_t *key, uint32_t hash)
{
    ngx_int_t                         rc;
    ngx_rbtree_node_t                *node, *sentinel;
    ngx_http_functions_cache_node_t  *n;

    node = cache->sh->rbtree.root;
    sentinel = cache->sh->rbtree.sentinel;

    while (node != sentinel) {

        if (hash < node->key) {
            node = node->left;
            continue;
        }

        if (hash > node->key) {
            node = node->right;
            continue;
        }

        n = ngx_http_functions_cache_entry(node);

        rc = ngx_memn2cmp(key->data, n->data, key->len, n->key_len);

        if (rc == 0) {
            return node;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    return NULL;
}


static void
ngx_http_functions_cache_remove(ngx_http_functions_cache_t *cache,
    ngx_rbtree_node_t *node)
{
    ngx_http_functions_cache_node_t  *n;

    n = ngx_http_functions_cache_entry(node);

    if (!n->found) {
        cache->sh->not_found_count--;
    }

    ngx_queue_remove(&n->lru);
    ngx_rbtree_delete(&cache->sh->rbtree, node);
    ngx_slab_free_locked(cache->shpool, node);
}


/* The least recently used entry of an LRU list goes. */

static void
ngx_http_functions_cache_evict(ngx_http_functions_cache_t *cache,
    ngx_queue_t *lru)
{
    ngx_queue_t                      *q;
    ngx_http_functions_cache_node_t  *n;

    q = ngx_queue_last(lru);
    n = ngx_queue_data(q, ngx_http_functions_cache_node_t, lru);

    ngx_http_functions_cache_remove(cache,
                    (ngx_rbtree_node_t *)
                    ((u_char *) n - offsetof(ngx_rbtree_node_t, color)));
}


/* Every entry of an LRU list whose key is "app\0...", or every one. */

static void
ngx_http_functions_cache_drop_list(ngx_http_functions_cache_t *cache,
    ngx_queue_t *lru, ngx_str_t *app)
{
    ngx_queue_t                      *q, *next;
    ngx_http_functions_cache_node_t  *n;

    for (q = ngx_queue_head(lru);
         q != ngx_queue_sentinel(lru);
         q = next)
    {
        next = ngx_queue_next(q);
        n = ngx_queue_data(q, ngx_http_functions_cache_node_t, lru);

        if (app == NULL
            || (n->key_len > app->len
                && ngx_memcmp(n->data, app->data, app->len) == 0
                && n->data[app->len] == '\0'))
        {
            ngx_http_functions_cache_remove(cache,
                    (ngx_rbtree_node_t *)
                    ((u_char *) n - offsetof(ngx_rbtree_node_t, color)));
        }
    }
}


/*
 * The entry of key ("app\0path"), else the "no such app" entry of its app
 * ("app\0"), or NULL.
 */

static ngx_rbtree_node_t *
ngx_http_functions_cache_lookup(ngx_http_functions_cache_t *cache,
    ngx_str_t *key)
{
    u_char             *nul;
    ngx_str_t           app;
    ngx_rbtree_node_t  *node;

    node = ngx_http_functions_cache_find(cache, key,
                                         ngx_crc32_short(key->data,
                                                         key->len));
    if (node != NULL) {
        return node;
    }

    nul = ngx_strlchr(key->data, key->data + key->len, '\0');
    if (nul == NULL) {
        return NULL;
    }

    app.data = key->data;
    app.len = nul + 1 - key->data;

    return ngx_http_functions_cache_find(cache, &app,
                                         ngx_crc32_short(app.data, app.len));
}


ngx_int_t
ngx_http_functions_cache_get(ngx_shm_zone_t *zone, ngx_str_t *key,
    ngx_http_functions_route_t *route, ngx_pool_t *pool)
{
    u_char                           *p;
    ngx_rbtree_node_t                *node;
    ngx_http_functions_cache_t       *cache = zone->data;
    ngx_http_functions_cache_node_t  *n;

    ngx_shmtx_lock(&cache->shpool->mutex);

    node = ngx_http_functions_cache_lookup(cache, key);

    if (node == NULL) {
        ngx_shmtx_unlock(&cache->shpool->mutex);
        return 0;
    }

    n = ngx_http_functions_cache_entry(node);

    p = ngx_pnalloc(pool, n->json_len + n->image_len + n->jwt_len + 1);
    if (p == NULL) {
        ngx_shmtx_unlock(&cache->shpool->mutex);
        return NGX_ERROR;
    }

    route->found = n->found;
    route->no_app = (n->key_len < key->len);
    route->async = n->async;
    route->expires = n->expires;
    route->json.data = p;
    route->json.len = n->json_len;
    p = ngx_cpymem(p, n->data + n->key_len, n->json_len);
    route->image.data = p;
    route->image.len = n->image_len;
    p = ngx_cpymem(p, n->data + n->key_len + n->json_len, n->image_len);
    route->jwt_key.data = p;
    route->jwt_key.len = n->jwt_len;
    ngx_memcpy(p, n->data + n->key_len + n->json_len + n->image_len,
               n->jwt_len);

    ngx_queue_remove(&n->lru);
    ngx_queue_insert_head(n->found ? &cache->sh->lru
                                   : &cache->sh->not_found_lru,
                          &n->lru);

    ngx_shmtx_unlock(&cache->shpool->mutex);

    return 1;
}


/*
 * The count of drops so far.  A lookup reads it when it starts and
 * passes it to ngx_http_functions_cache_put(): if an entry was dropped
 * meanwhile (a write may have raced the lookup's read), the answer is
 * not cached.
 */

uint64_t
ngx_http_functions_cache_epoch(ngx_shm_zone_t *zone)
{
    uint64_t                     epoch;
    ngx_http_functions_cache_t  *cache = zone->data;

    ngx_shmtx_lock(&cache->shpool->mutex);
    epoch = cache->sh->drops;
    ngx_shmtx_unlock(&cache->shpool->mutex);

    return epoch;
}


/*
 * Caches what a lookup found: a route, or its absence (under "app\0" when
 * the app itself does not exist).  Room for a route is taken from "not
 * found" answers first, then from the least recently used routes; room
 * for a "not found" answer only ever from other such answers, of which
 * at most not_found_max are kept.
 */

void
ngx_http_functions_cache_put(ngx_shm_zone_t *zone, ngx_str_t *key,
    ngx_http_functions_route_t *route, uint64_t epoch)
{
    u_char                           *p, *nul;
    size_t                            size;
    uint32_t                          hash;
    ngx_str_t                         k;
    ngx_uint_t                        evicted;
    ngx_rbtree_node_t                *node;
    ngx_http_functions_log_t          l;
    ngx_http_functions_cache_t       *cache = zone->data;
    ngx_http_functions_cache_node_t  *n;

    k = *key;

    if (!route->found) {
        if (cache->not_found_max == 0) {
            return;
        }

        if (route->no_app) {
            nul = ngx_strlchr(k.data, k.data + k.len, '\0');
            if (nul == NULL) {
                return;
            }

            k.len = nul + 1 - k.data;
        }
    }

    if (k.len > 65535 || route->image.len > 65535
        || route->jwt_key.len > 65535)
    {
        return;
    }

    hash = ngx_crc32_short(k.data, k.len);

    size = offsetof(ngx_rbtree_node_t, color)
           + offsetof(ngx_http_functions_cache_node_t, data)
           + k.len + route->json.len + route->image.len
           + route->jwt_key.len;

    ngx_shmtx_lock(&cache->shpool->mutex);

    if (cache->sh->drops != epoch) {
        ngx_shmtx_unlock(&cache->shpool->mutex);
        return;
    }

    node = ngx_http_functions_cache_find(cache, &k, hash);
    if (node != NULL) {
        ngx_http_functions_cache_remove(cache, node);
    }

    if (!route->found) {
        while (cache->sh->not_found_count >= cache->not_found_max
               && !ngx_queue_empty(&cache->sh->not_found_lru))
        {
            ngx_http_functions_cache_evict(cache,
                                           &cache->sh->not_found_lru);
        }
    }

    /* full: "not found" answers make room first; routes only for a route,
     * and only so many at once */
    evicted = 0;

    for ( ;; ) {
        node = ngx_slab_alloc_locked(cache->shpool, size);
        if (node != NULL) {
            break;
        }

        if (!ngx_queue_empty(&cache->sh->not_found_lru)) {
            ngx_http_functions_cache_evict(cache,
                                           &cache->sh->not_found_lru);
            continue;
        }

        if (route->found && !ngx_queue_empty(&cache->sh->lru)
            && evicted++ < 64)
        {
            ngx_http_functions_cache_evict(cache, &cache->sh->lru);
            continue;
        }

        break;
    }

    if (node == NULL) {
        ngx_shmtx_unlock(&cache->shpool->mutex);
        if (route->found
            && ngx_http_functions_log_begin(&l, ngx_cycle->log, NGX_LOG_WARN,
                                            "route cache full"))
        {
            ngx_http_functions_log_str(&l, "zone", &zone->shm.name);
            ngx_http_functions_log_int(&l, "route_bytes", size);
            ngx_http_functions_log_end(&l, ngx_cycle->log);
        }
        return;
    }

    node->key = hash;

    n = ngx_http_functions_cache_entry(node);
    n->found = (u_char) route->found;
    n->async = (u_char) route->async;
    n->key_len = (u_short) k.len;
    n->image_len = (u_short) route->image.len;
    n->json_len = (uint32_t) route->json.len;
    n->jwt_len = (u_short) route->jwt_key.len;
    n->expires = route->expires;

    /* a "no such route" entry has neither json nor image */
    p = ngx_cpymem(n->data, k.data, k.len);
    if (route->json.len) {
        p = ngx_cpymem(p, route->json.data, route->json.len);
    }
    if (route->image.len) {
        p = ngx_cpymem(p, route->image.data, route->image.len);
    }
    if (route->jwt_key.len) {
        ngx_memcpy(p, route->jwt_key.data, route->jwt_key.len);
    }

    ngx_rbtree_insert(&cache->sh->rbtree, node);

    if (route->found) {
        ngx_queue_insert_head(&cache->sh->lru, &n->lru);

    } else {
        ngx_queue_insert_head(&cache->sh->not_found_lru, &n->lru);
        cache->sh->not_found_count++;
    }

    ngx_shmtx_unlock(&cache->shpool->mutex);
}


void
ngx_http_functions_cache_drop(ngx_shm_zone_t *zone, ngx_str_t *app,
    ngx_str_t *path)
{
    u_char                           *p;
    ngx_str_t                         key;
    ngx_rbtree_node_t                *node;
    ngx_http_functions_cache_t       *cache = zone->data;
    u_char                            buf[NGX_HTTP_FUNCTIONS_KEY_MAX];

    ngx_shmtx_lock(&cache->shpool->mutex);

    cache->sh->drops++;

    if (path != NULL) {
        if (app->len + 1 + path->len <= sizeof(buf)) {
            p = ngx_cpymem(buf, app->data, app->len);
            *p++ = '\0';

            /* the app's "no such app" entry, then the route's */
            key.data = buf;
            key.len = p - buf;

            node = ngx_http_functions_cache_find(cache, &key,
                                        ngx_crc32_short(key.data, key.len));
            if (node != NULL) {
                ngx_http_functions_cache_remove(cache, node);
            }

            p = ngx_cpymem(p, path->data, path->len);
            key.len = p - buf;

            node = ngx_http_functions_cache_find(cache, &key,
                                        ngx_crc32_short(key.data, key.len));
            if (node != NULL) {
                ngx_http_functions_cache_remove(cache, node);
            }
        }

        ngx_shmtx_unlock(&cache->shpool->mutex);
        return;
    }

    /* the whole app: every key "app\0..." */
    ngx_http_functions_cache_drop_list(cache, &cache->sh->lru, app);
    ngx_http_functions_cache_drop_list(cache, &cache->sh->not_found_lru, app);

    ngx_shmtx_unlock(&cache->shpool->mutex);
}


void
ngx_http_functions_cache_flush(ngx_shm_zone_t *zone)
{
    ngx_http_functions_cache_t  *cache = zone->data;

    ngx_shmtx_lock(&cache->shpool->mutex);

    cache->sh->drops++;

    ngx_http_functions_cache_drop_list(cache, &cache->sh->lru, NULL);
    ngx_http_functions_cache_drop_list(cache, &cache->sh->not_found_lru,
                                       NULL);

    ngx_shmtx_unlock(&cache->shpool->mutex);
}


ngx_int_t
ngx_http_functions_cache_check_due(ngx_shm_zone_t *zone,
    uint64_t *generation)
{
    ngx_int_t                    due;
    ngx_msec_t                   now;
    ngx_http_functions_cache_t  *cache = zone->data;

    now = ngx_current_msec;

    ngx_shmtx_lock(&cache->shpool->mutex);

    due = (ngx_msec_int_t) (now - cache->sh->next_check) >= 0;
    if (due) {
        cache->sh->next_check = now + 1000;
    }

    *generation = cache->sh->generation;

    ngx_shmtx_unlock(&cache->shpool->mutex);

    return due;
}


uint64_t
ngx_http_functions_cache_generation(ngx_shm_zone_t *zone)
{
    uint64_t                     generation;
    ngx_http_functions_cache_t  *cache = zone->data;

    ngx_shmtx_lock(&cache->shpool->mutex);
    generation = cache->sh->generation;
    ngx_shmtx_unlock(&cache->shpool->mutex);

    return generation;
}


void
ngx_http_functions_cache_set_generation(ngx_shm_zone_t *zone,
    uint64_t generation)
{
    ngx_http_functions_cache_t  *cache = zone->data;

    ngx_shmtx_lock(&cache->shpool->mutex);
    cache->sh->generation = generation;
    ngx_shmtx_unlock(&cache->shpool->mutex);
}
