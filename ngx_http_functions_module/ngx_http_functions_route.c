
/*
 * Routing: /r/<app>/<path> to a route, from the shared cache or one query.
 *
 *     location /r/ {
 *         functions_route;
 *         proxy_pass http://executors$fn_executor_uri;
 *         ...
 *     }
 *
 * A preaccess phase handler gives each request a call id, drops client
 * headers named Fn-*, and finds the route: a fresh cache entry answers at
 * once; else one query per route and worker runs (requests for the same
 * route wait for it), without blocking the event loop.  When the database
 * fails, an expired entry is served (stale-if-error); with none, 503.  The
 * route reaches the executor through variables ($fn_route, $fn_call_id...).
 */


#include "ngx_http_functions_ctx.h"
#include "ngx_http_functions_cache.h"
#include "ngx_http_functions_headers.h"
#include "ngx_http_functions_query.h"
#include "ngx_http_functions_jwt.h"
#include "ngx_http_functions_log.h"
#include "ngx_http_functions_metrics.h"
#include "ngx_http_functions_send.h"
#include "ngx_http_functions_async.h"
#include "ngx_http_functions_route.h"

#include "ulid.h"

#include <jansson.h>
#include <mysql.h>


struct ngx_http_functions_lookup_s {
    ngx_queue_t                     queue;      /* in flight, per worker */
    ngx_pool_t                     *pool;
    ngx_str_t                       key;
    ngx_str_t                       app;
    ngx_str_t                       path;
    ngx_http_functions_query_t      query;
    ngx_queue_t                     waiters;
    ngx_http_functions_route_t      stale;
    ngx_uint_t                      have_stale;
    ngx_http_functions_route_t      route;
    ngx_int_t                       status;
    const char                     *message;
    uint64_t                        epoch;      /* the cache's, at start */
    ngx_msec_t                      start;
};


static ngx_http_output_header_filter_pt  ngx_http_functions_next_header_filter;
static ngx_queue_t  ngx_http_functions_lookups;
static ngx_uint_t   ngx_http_functions_lookups_init;


static ngx_int_t ngx_http_functions_route_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_functions_call_id_filter(ngx_http_request_t *r);
static ngx_int_t ngx_http_functions_call_id_header(ngx_http_request_t *r,
    ngx_http_functions_ctx_t *ctx);
static void ngx_http_functions_request_done(ngx_http_functions_ctx_t *ctx);
static ngx_int_t ngx_http_functions_parse_uri(ngx_http_request_t *r,
    ngx_http_functions_loc_conf_t *lcf, ngx_http_functions_ctx_t *ctx);
static ngx_int_t ngx_http_functions_strip_headers(ngx_http_request_t *r);
static ngx_uint_t ngx_http_functions_fn_header(ngx_table_elt_t *h);
static ngx_int_t ngx_http_functions_start_lookup(ngx_http_request_t *r,
    ngx_http_functions_ctx_t *ctx, ngx_http_functions_route_t *stale);
static void ngx_http_functions_lookup_done(ngx_http_functions_query_t *q);
static ngx_int_t ngx_http_functions_route_from_row(
    ngx_http_functions_lookup_t *lk, MYSQL_ROW row, unsigned long *lengths);
static void ngx_http_functions_waiter_cleanup(void *data);
static ngx_int_t ngx_http_functions_send_error(ngx_http_request_t *r,
    ngx_http_functions_ctx_t *ctx, ngx_int_t status, const char *message);
static ngx_int_t ngx_http_functions_answer(ngx_http_request_t *r,
    ngx_http_functions_ctx_t *ctx, ngx_int_t status, const char *message);
static ngx_int_t ngx_http_functions_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_functions_copy_route(ngx_pool_t *pool,
    ngx_http_functions_route_t *dst, ngx_http_functions_route_t *src);
static ngx_int_t ngx_http_functions_check_jwt(ngx_http_request_t *r,
    ngx_http_functions_ctx_t *ctx);


/* What the variables report, by index. */
enum {
    NGX_HTTP_FUNCTIONS_VAR_APP = 0,
    NGX_HTTP_FUNCTIONS_VAR_PATH,
    NGX_HTTP_FUNCTIONS_VAR_CALL_ID,
    NGX_HTTP_FUNCTIONS_VAR_ROUTE,
    NGX_HTTP_FUNCTIONS_VAR_IMAGE,
    NGX_HTTP_FUNCTIONS_VAR_EXECUTOR_URI,
    NGX_HTTP_FUNCTIONS_VAR_ROUTE_CACHE,
    NGX_HTTP_FUNCTIONS_VAR_EXECUTORS
};


static ngx_http_variable_t  ngx_http_functions_vars[] = {

    { ngx_string("fn_app"), NULL, ngx_http_functions_variable,
      NGX_HTTP_FUNCTIONS_VAR_APP, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("fn_path"), NULL, ngx_http_functions_variable,
      NGX_HTTP_FUNCTIONS_VAR_PATH, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("fn_call_id"), NULL, ngx_http_functions_variable,
      NGX_HTTP_FUNCTIONS_VAR_CALL_ID, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("fn_route"), NULL, ngx_http_functions_variable,
      NGX_HTTP_FUNCTIONS_VAR_ROUTE, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("fn_image"), NULL, ngx_http_functions_variable,
      NGX_HTTP_FUNCTIONS_VAR_IMAGE, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("fn_executor_uri"), NULL, ngx_http_functions_variable,
      NGX_HTTP_FUNCTIONS_VAR_EXECUTOR_URI, 0, 0 },

    { ngx_string("fn_route_cache"), NULL, ngx_http_functions_variable,
      NGX_HTTP_FUNCTIONS_VAR_ROUTE_CACHE, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    /* the upstream functions_executors names (the first, if several) */
    { ngx_string("fn_executors"), NULL, ngx_http_functions_variable,
      NGX_HTTP_FUNCTIONS_VAR_EXECUTORS, 0, 0 },

      ngx_http_null_variable
};


ngx_int_t
ngx_http_functions_route_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_functions_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_functions_route_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_PREACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_functions_route_handler;

    ngx_http_functions_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_functions_call_id_filter;

    return NGX_OK;
}


/*
 * Routing adds Fn-Call-Id itself.  A request refused before it (nginx
 * answers 413 for a Content-Length over client_max_body_size before any
 * phase handler) gets the call id its error page asked for with
 * $fn_call_id.
 */

static ngx_int_t
ngx_http_functions_call_id_filter(ngx_http_request_t *r)
{
    ngx_http_functions_ctx_t  *ctx;

    ctx = (r == r->main)
          ? ngx_http_get_module_ctx(r, ngx_http_functions_module) : NULL;

    if (ctx != NULL && ctx->id_asked && !ctx->started && !ctx->id_sent) {
        if (ngx_http_functions_call_id_header(r, ctx) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return ngx_http_functions_next_header_filter(r);
}


/* Fn-Call-Id: the request's call id, once. */

static ngx_int_t
ngx_http_functions_call_id_header(ngx_http_request_t *r,
    ngx_http_functions_ctx_t *ctx)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Fn-Call-Id");
    h->value.data = ctx->call_id;
    h->value.len = ULID_LEN;
    ctx->id_sent = 1;

    return NGX_OK;
}


static ngx_int_t
ngx_http_functions_route_handler(ngx_http_request_t *r)
{
    ngx_int_t                        rc;
    ngx_http_functions_ctx_t        *ctx;
    ngx_http_functions_route_t       route;
    ngx_http_functions_loc_conf_t   *lcf;
    ngx_http_functions_main_conf_t  *fmcf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_functions_module);

    /* the API's location answers itself, even inside a routed one */
    if (!lcf->route || lcf->api || r != r->main) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_functions_ctx_get(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (!ctx->started) {
        ctx->started = 1;

        /* counted when the request is freed: after error_page
         * redirects (which drop module contexts) and logging */
        if (ngx_http_functions_ctx_keep(r, ctx,
                                        ngx_http_functions_request_done)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        /* every answer carries the call id, error pages too (they lose
         * the module's context, not the response headers) */
        if (ngx_http_functions_call_id_header(r, ctx) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (ngx_http_functions_strip_headers(r) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        rc = ngx_http_functions_parse_uri(r, lcf, ctx);
        if (rc != NGX_OK) {
            return ngx_http_functions_answer(r, ctx, NGX_HTTP_NOT_FOUND,
                                                 "no such route");
        }

        fmcf = ngx_http_get_module_main_conf(r, ngx_http_functions_module);

        rc = ngx_http_functions_cache_get(fmcf->cache_zone, &ctx->key,
                                          &route, r->pool);
        if (rc == NGX_ERROR) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (rc == 1 && route.expires > ngx_time()) {
            ctx->route = route;
            ctx->have_route = 1;
            ctx->cache = "hit";
            ngx_http_functions_metrics_count(NGX_HTTP_FUNCTIONS_M_CACHE_HIT);

        } else {
            ctx->cache = "miss";
            ngx_http_functions_metrics_count(
                NGX_HTTP_FUNCTIONS_M_CACHE_MISS);

            rc = ngx_http_functions_start_lookup(r, ctx,
                                                 rc == 1 ? &route : NULL);
            if (rc != NGX_OK) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            return NGX_DONE;
        }
    }

    if (ctx->lookup != NULL) {
        return NGX_DONE;    /* still waiting */
    }

    if (ctx->status) {
        return ngx_http_functions_answer(r, ctx, ctx->status,
                                             ctx->message);
    }

    if (!ctx->route.found) {
        return ngx_http_functions_answer(r, ctx, NGX_HTTP_NOT_FOUND,
                                             "no such route");
    }

    if (ctx->route.jwt_key.len
        && !ctx->api_authorized
        && ngx_http_functions_check_jwt(r, ctx) != NGX_OK)
    {
        return ngx_http_functions_answer(r, ctx, NGX_HTTP_UNAUTHORIZED,
                                         ctx->message);
    }

    if (ctx->route.async) {
        fmcf = ngx_http_get_module_main_conf(r, ngx_http_functions_module);

        if (fmcf->amqp == NULL) {
            return ngx_http_functions_answer(r, ctx,
                                             NGX_HTTP_SERVICE_UNAVAILABLE,
                                             "async not enabled");
        }

        if (ctx->publish != NULL) {
            return NGX_DONE;    /* published, or being published */
        }

        return ngx_http_functions_async_call(r, ctx->call_id, &ctx->app,
                                             &ctx->path, &ctx->route.json);
    }

    return NGX_DECLINED;
}


/*
 * A route with a jwt_key: the call needs "Authorization: Bearer <JWT>"
 * signed with it (ngx_http_functions_jwt.c).  NGX_OK, or NGX_DECLINED
 * with the reason in ctx->message.
 */

static ngx_int_t
ngx_http_functions_check_jwt(ngx_http_request_t *r,
    ngx_http_functions_ctx_t *ctx)
{
    u_char                          *p, *end;
    ngx_table_elt_t                 *h;
    struct functions_jwt_rules       rules;
    ngx_http_functions_loc_conf_t   *lcf;
    static char                      reason[64];

    h = r->headers_in.authorization;

    if (h == NULL || h->value.len < sizeof("Bearer ") - 1
        || ngx_strncasecmp(h->value.data, (u_char *) "Bearer ",
                           sizeof("Bearer ") - 1) != 0)
    {
        ctx->message = "this route needs a Bearer token";
        return NGX_DECLINED;
    }

    p = h->value.data + sizeof("Bearer ") - 1;
    end = h->value.data + h->value.len;

    while (p < end && *p == ' ') {
        p++;
    }

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_functions_module);

    rules.require_exp = lcf->jwt_require_exp ? 1 : 0;
    rules.max_lifetime = (long) lcf->jwt_max_lifetime;
    rules.check_iat = 0;

    if (functions_jwt_verify((char *) p, end - p, ctx->route.jwt_key.data,
                             ctx->route.jwt_key.len, &rules,
                             (long) ngx_time(), reason, sizeof(reason))
        != 0)
    {
        ctx->message = reason;
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* /<prefix><app>[/<path>]: app [A-Za-z0-9_-]{1,30}, path "/" if none. */

static ngx_int_t
ngx_http_functions_parse_uri(ngx_http_request_t *r,
    ngx_http_functions_loc_conf_t *lcf, ngx_http_functions_ctx_t *ctx)
{
    u_char      *p, *end, *app, *key;
    size_t       len;
    ngx_uint_t   i;

    p = r->uri.data;
    end = r->uri.data + r->uri.len;

    if (r->uri.len < lcf->prefix.len
        || ngx_strncmp(p, lcf->prefix.data, lcf->prefix.len) != 0)
    {
        return NGX_DECLINED;
    }

    p += lcf->prefix.len;
    if (p < end && *p == '/') {
        p++;
    }

    app = p;
    while (p < end && *p != '/') {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
              || (*p >= '0' && *p <= '9') || *p == '_' || *p == '-'))
        {
            return NGX_DECLINED;
        }
        p++;
    }

    len = p - app;
    if (len == 0 || len > 30) {
        return NGX_DECLINED;
    }

    ctx->app.data = app;
    ctx->app.len = len;

    if (p == end) {
        ctx->path.data = (u_char *) "/";
        ctx->path.len = 1;

    } else {
        ctx->path.data = p;
        ctx->path.len = end - p;

        /* "/hello/" is the route "/hello" */
        while (ctx->path.len > 1
               && ctx->path.data[ctx->path.len - 1] == '/')
        {
            ctx->path.len--;
        }
    }

    if (ctx->path.len > 255) {
        return NGX_DECLINED;
    }

    /* what a route path may hold (as the executor checks it): printable
     * ASCII but for space, "?", "#", "%" and "\", no empty, "." or ".."
     * segment */
    for (i = 0; i < ctx->path.len; i++) {
        u_char  c = ctx->path.data[i];

        if (c <= ' ' || c >= 0x7f || c == '?' || c == '#' || c == '%'
            || c == '\\')
        {
            return NGX_DECLINED;
        }

        if (c == '/' && i + 1 < ctx->path.len
            && (ctx->path.data[i + 1] == '/'
                || (ctx->path.data[i + 1] == '.'
                    && (i + 2 == ctx->path.len
                        || ctx->path.data[i + 2] == '/'
                        || (ctx->path.data[i + 2] == '.'
                            && (i + 3 == ctx->path.len
                                || ctx->path.data[i + 3] == '/'))))))
        {
            return NGX_DECLINED;
        }
    }

    key = ngx_pnalloc(r->pool, ctx->app.len + 1 + ctx->path.len);
    if (key == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(key, ctx->app.data, ctx->app.len);
    *p++ = '\0';
    p = ngx_cpymem(p, ctx->path.data, ctx->path.len);

    ctx->key.data = key;
    ctx->key.len = p - key;

    return NGX_OK;
}


/* Client headers named Fn-* would pose as the module's: they go. */

static ngx_int_t
ngx_http_functions_strip_headers(ngx_http_request_t *r)
{
    return ngx_http_functions_headers_drop(&r->headers_in.headers, r->pool,
                                           ngx_http_functions_fn_header);
}


static ngx_uint_t
ngx_http_functions_fn_header(ngx_table_elt_t *h)
{
    return h->key.len >= 3
           && ngx_strncasecmp(h->key.data, (u_char *) "fn-", 3) == 0;
}


/* ------------------------------------------------------------ lookups */

static ngx_int_t
ngx_http_functions_start_lookup(ngx_http_request_t *r,
    ngx_http_functions_ctx_t *ctx, ngx_http_functions_route_t *stale)
{
    u_char                          *p;
    uint64_t                         epoch;
    ngx_queue_t                     *q;
    ngx_pool_t                      *pool;
    ngx_pool_cleanup_t              *cln;
    ngx_http_functions_lookup_t     *lk;
    ngx_http_functions_main_conf_t  *fmcf;
    static const char                select[] =
        "SELECT r.image, r.memory, r.type, r.format, r.timeout,"
        " r.idle_timeout, r.max_concurrency, r.headers, r.config, a.config,"
        " r.jwt_key"
        " FROM apps a LEFT JOIN routes r"
        " ON r.app_name = a.name AND r.path = '";
    static const char                where[] = "' WHERE a.name = '";

    if (!ngx_http_functions_lookups_init) {
        ngx_queue_init(&ngx_http_functions_lookups);
        ngx_http_functions_lookups_init = 1;
    }

    fmcf = ngx_http_get_module_main_conf(r, ngx_http_functions_module);
    epoch = ngx_http_functions_cache_epoch(fmcf->cache_zone);

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    /* a query for this route in flight: wait for it */
    for (q = ngx_queue_head(&ngx_http_functions_lookups);
         q != ngx_queue_sentinel(&ngx_http_functions_lookups);
         q = ngx_queue_next(q))
    {
        lk = ngx_queue_data(q, ngx_http_functions_lookup_t, queue);

        /* not one that started before a change: its answer may be old */
        if (lk->key.len == ctx->key.len
            && ngx_memcmp(lk->key.data, ctx->key.data, ctx->key.len) == 0
            && lk->epoch == epoch)
        {
            goto wait;
        }
    }

    pool = ngx_create_pool(1024, ngx_cycle->log);
    if (pool == NULL) {
        return NGX_ERROR;
    }

    lk = ngx_pcalloc(pool, sizeof(ngx_http_functions_lookup_t));
    if (lk == NULL) {
        ngx_destroy_pool(pool);
        return NGX_ERROR;
    }

    lk->pool = pool;
    lk->epoch = epoch;
    lk->start = ngx_current_msec;
    ngx_queue_init(&lk->waiters);

    lk->key.data = ngx_pnalloc(pool, ctx->key.len);
    p = ngx_pnalloc(pool, sizeof(select) + sizeof(where)
                          + 2 * ctx->key.len + 1);
    if (lk->key.data == NULL || p == NULL) {
        ngx_destroy_pool(pool);
        return NGX_ERROR;
    }

    ngx_memcpy(lk->key.data, ctx->key.data, ctx->key.len);
    lk->key.len = ctx->key.len;
    lk->app.data = lk->key.data;
    lk->app.len = ctx->app.len;
    lk->path.data = lk->key.data + ctx->app.len + 1;
    lk->path.len = ctx->path.len;

    if (stale != NULL) {
        /* copied: the request's pool may go before the lookup ends */
        if (ngx_http_functions_copy_route(pool, &lk->stale, stale)
            != NGX_OK)
        {
            ngx_destroy_pool(pool);
            return NGX_ERROR;
        }

        lk->have_stale = 1;
    }

    /* no row: no such app; a row of NULLs: the app, but no such route */
    lk->query.sql.data = p;
    p = ngx_cpymem(p, select, sizeof(select) - 1);
    p += ngx_http_functions_query_escape(p, &lk->path);
    p = ngx_cpymem(p, where, sizeof(where) - 1);
    p += ngx_http_functions_query_escape(p, &lk->app);
    *p++ = '\'';
    lk->query.sql.len = p - lk->query.sql.data;
    lk->query.handler = ngx_http_functions_lookup_done;
    lk->query.data = lk;

    if (ngx_http_functions_query_post(fmcf->db, &lk->query) != NGX_OK) {
        ngx_destroy_pool(pool);
        return NGX_ERROR;
    }

    /* the query answers from a later event: waiters can join until then */
    ngx_queue_insert_tail(&ngx_http_functions_lookups, &lk->queue);

wait:

    ctx->lookup = lk;
    ngx_queue_insert_tail(&lk->waiters, &ctx->queue);

    cln->handler = ngx_http_functions_waiter_cleanup;
    cln->data = ctx;

    return NGX_OK;
}


/* A routed request is freed: the metrics count it by its final status. */

static void
ngx_http_functions_request_done(ngx_http_functions_ctx_t *ctx)
{
    ngx_http_functions_metrics_request(ctx->request,
        ctx->have_route && ctx->route.found && ctx->status == 0
        ? &ctx->app : NULL);
}


/* A request that ends while waiting leaves the waiters. */

static void
ngx_http_functions_waiter_cleanup(void *data)
{
    ngx_http_functions_ctx_t  *ctx = data;

    if (ctx->lookup != NULL) {
        ngx_queue_remove(&ctx->queue);
        ctx->lookup = NULL;
    }
}


static void
ngx_http_functions_lookup_done(ngx_http_functions_query_t *q)
{
    MYSQL_ROW                        row;
    MYSQL_RES                       *res;
    ngx_queue_t                     *wq;
    unsigned long                   *lengths;
    ngx_connection_t                *c;
    ngx_http_request_t              *r;
    ngx_http_functions_ctx_t        *ctx;
    ngx_http_functions_lookup_t     *lk = q->data;
    ngx_http_functions_main_conf_t  *fmcf;
    ngx_http_functions_cache_t      *cache;
    ngx_http_functions_log_t         l;

    ngx_queue_remove(&lk->queue);

    fmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_functions_module);
    cache = fmcf->cache_zone->data;

    ngx_http_functions_metrics_observe(NGX_HTTP_FUNCTIONS_H_LOOKUP,
                                       ngx_current_msec - lk->start);

    if (q->rc != NGX_OK) {
        ngx_http_functions_metrics_count(NGX_HTTP_FUNCTIONS_M_LOOKUP_ERRORS);

        if (lk->have_stale) {
            /* stale-if-error: what was known is better than nothing */
            if (ngx_http_functions_log_begin(&l, ngx_cycle->log,
                                             NGX_LOG_WARN,
                                             "serving a stale route"))
            {
                ngx_http_functions_log_str(&l, "app", &lk->app);
                ngx_http_functions_log_str(&l, "path", &lk->path);
                ngx_http_functions_log_end(&l, ngx_cycle->log);
            }

            lk->route = lk->stale;

        } else {
            lk->status = NGX_HTTP_SERVICE_UNAVAILABLE;
            lk->message = "route lookup is unavailable";
        }

    } else {
        res = q->res;
        row = res ? mysql_fetch_row(res) : NULL;

        if (row == NULL || row[0] == NULL) {
            /* no such route; with no row, not even its app: then one
             * entry answers for every path of the app */
            lk->route.found = 0;
            lk->route.no_app = (row == NULL);
            lk->route.expires = ngx_time() + cache->not_found;

        } else {
            lengths = mysql_fetch_lengths(res);

            if (ngx_http_functions_route_from_row(lk, row, lengths)
                != NGX_OK)
            {
                lk->status = NGX_HTTP_INTERNAL_SERVER_ERROR;
                lk->message = "the route's definition is unusable";

            } else {
                lk->route.found = 1;
                lk->route.expires = ngx_time() + cache->valid;
            }
        }

        ngx_http_functions_query_free(q);

        if (lk->status == 0) {
            ngx_http_functions_cache_put(fmcf->cache_zone, &lk->key,
                                         &lk->route, lk->epoch);
        }
    }

    /* every waiter goes on, with its own copy of the answer */
    while (!ngx_queue_empty(&lk->waiters)) {
        wq = ngx_queue_head(&lk->waiters);
        ngx_queue_remove(wq);

        ctx = ngx_queue_data(wq, ngx_http_functions_ctx_t, queue);
        ctx->lookup = NULL;
        r = ctx->request;

        ctx->status = lk->status;
        ctx->message = lk->message;

        if (q->rc != NGX_OK && lk->have_stale) {
            ctx->cache = "stale";
            ngx_http_functions_metrics_count(
                NGX_HTTP_FUNCTIONS_M_CACHE_STALE);
        }

        if (ngx_http_functions_copy_route(r->pool, &ctx->route, &lk->route)
            != NGX_OK)
        {
            ctx->status = NGX_HTTP_INTERNAL_SERVER_ERROR;
            ctx->message = "out of memory";
        }

        ctx->have_route = 1;

        /* the request may be freed by its phases (an answer on a closing
         * connection): its connection stays */
        c = r->connection;

        ngx_http_core_run_phases(r);
        ngx_http_run_posted_requests(c);
    }

    ngx_destroy_pool(lk->pool);
}


/* A copy of a route in another pool (an absent route has no strings). */

static ngx_int_t
ngx_http_functions_copy_route(ngx_pool_t *pool,
    ngx_http_functions_route_t *dst, ngx_http_functions_route_t *src)
{
    *dst = *src;

    if (src->json.len) {
        dst->json.data = ngx_pstrdup(pool, &src->json);
        if (dst->json.data == NULL) {
            return NGX_ERROR;
        }
    }

    if (src->image.len) {
        dst->image.data = ngx_pstrdup(pool, &src->image);
        if (dst->image.data == NULL) {
            return NGX_ERROR;
        }
    }

    if (src->jwt_key.len) {
        dst->jwt_key.data = ngx_pstrdup(pool, &src->jwt_key);
        if (dst->jwt_key.data == NULL) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/* A JSON column: an object, or the query's row is unusable. */

static json_t *
ngx_http_functions_json_column(const char *s, unsigned long len)
{
    json_t        *v;
    json_error_t   err;

    if (s == NULL) {
        return json_object();
    }

    v = json_loadb(s, len, JSON_REJECT_DUPLICATES, &err);
    if (v == NULL || !json_is_object(v)) {
        json_decref(v);
        return NULL;
    }

    return v;
}


static ngx_int_t
ngx_http_functions_route_from_row(ngx_http_functions_lookup_t *lk,
    MYSQL_ROW row, unsigned long *lengths)
{
    char    *dump;
    size_t   len;
    json_t  *o, *headers, *config, *app_config;

    /* image, memory, type, format, timeout, idle_timeout,
     * max_concurrency, headers, config, app config, jwt_key */

    if (row[0] == NULL || row[2] == NULL || row[3] == NULL) {
        return NGX_ERROR;
    }

    headers = ngx_http_functions_json_column(row[7], lengths[7]);
    config = ngx_http_functions_json_column(row[8], lengths[8]);
    app_config = ngx_http_functions_json_column(row[9], lengths[9]);

    o = json_object();

    if (o == NULL || headers == NULL || config == NULL
        || app_config == NULL)
    {
        json_decref(o);
        json_decref(headers);
        json_decref(config);
        json_decref(app_config);
        return NGX_ERROR;
    }

    json_object_set_new(o, "app", json_stringn((char *) lk->app.data,
                                               lk->app.len));
    json_object_set_new(o, "path", json_stringn((char *) lk->path.data,
                                                lk->path.len));
    json_object_set_new(o, "image", json_stringn(row[0], lengths[0]));
    json_object_set_new(o, "memory",
                        json_integer(row[1] ? atoll(row[1]) : 128));
    json_object_set_new(o, "type", json_stringn(row[2], lengths[2]));
    json_object_set_new(o, "format", json_stringn(row[3], lengths[3]));
    json_object_set_new(o, "timeout",
                        json_integer(row[4] ? atoll(row[4]) : 30));
    json_object_set_new(o, "idle_timeout",
                        json_integer(row[5] ? atoll(row[5]) : 30));
    json_object_set_new(o, "max_concurrency",
                        json_integer(row[6] ? atoll(row[6]) : 1));
    json_object_set_new(o, "headers", headers);
    json_object_set_new(o, "config", config);
    json_object_set_new(o, "app_config", app_config);

    /* one line: it travels as a header */
    dump = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref(o);

    if (dump == NULL) {
        return NGX_ERROR;
    }

    len = ngx_strlen(dump);

    lk->route.json.data = ngx_pnalloc(lk->pool, len);
    lk->route.image.data = ngx_pnalloc(lk->pool, lengths[0]);

    if (lk->route.json.data == NULL || lk->route.image.data == NULL) {
        free(dump);
        return NGX_ERROR;
    }

    ngx_memcpy(lk->route.json.data, dump, len);
    lk->route.json.len = len;
    free(dump);

    ngx_memcpy(lk->route.image.data, row[0], lengths[0]);
    lk->route.image.len = lengths[0];

    if (row[10] != NULL && lengths[10] > 0) {
        lk->route.jwt_key.data = ngx_pnalloc(lk->pool, lengths[10]);
        if (lk->route.jwt_key.data == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(lk->route.jwt_key.data, row[10], lengths[10]);
        lk->route.jwt_key.len = lengths[10];
    }

    lk->route.async = (lengths[2] == 5
                       && ngx_strncmp(row[2], "async", 5) == 0);

    return NGX_OK;
}


/* ------------------------------------------------------------ answers */

/* The module answers the request itself: the phases end here. */

static ngx_int_t
ngx_http_functions_answer(ngx_http_request_t *r,
    ngx_http_functions_ctx_t *ctx, ngx_int_t status, const char *message)
{
    ngx_http_finalize_request(r,
        ngx_http_functions_send_error(r, ctx, status, message));

    return NGX_DONE;
}


static ngx_int_t
ngx_http_functions_send_error(ngx_http_request_t *r,
    ngx_http_functions_ctx_t *ctx, ngx_int_t status, const char *message)
{
    u_char           *body, *last;
    size_t            len, mlen;
    ngx_table_elt_t  *h;

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* escaped, whatever the message holds */
    mlen = ngx_strlen(message);
    len = sizeof("{\"error\":{\"message\":\"\"},\"call_id\":\"\"}") - 1
          + mlen + ngx_escape_json(NULL, (u_char *) message, mlen)
          + ULID_LEN;

    body = ngx_pnalloc(r->pool, len);
    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    last = ngx_cpymem(body, "{\"error\":{\"message\":\"",
                      sizeof("{\"error\":{\"message\":\"") - 1);
    last = (u_char *) ngx_escape_json(last, (u_char *) message, mlen);
    last = ngx_sprintf(last, "\"},\"call_id\":\"%*s\"}",
                       (size_t) ULID_LEN, ctx->call_id);

    if (status == NGX_HTTP_UNAUTHORIZED) {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "WWW-Authenticate");
        ngx_str_set(&h->value, "Bearer error=\"invalid_token\"");
    }

    /* worth another try, but for a route nobody can call async yet */
    return ngx_http_functions_send_json(r, status, body, last - body,
               status == NGX_HTTP_SERVICE_UNAVAILABLE
               && ngx_strcmp(message, "async not enabled") != 0);
}


/* ---------------------------------------------------------- variables */

static ngx_int_t
ngx_http_functions_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t                       *s, uri = ngx_string("/call");
    ngx_str_t                        id;
    ngx_http_functions_ctx_t        *ctx;
    ngx_http_functions_main_conf_t  *fmcf;

    if (data == NGX_HTTP_FUNCTIONS_VAR_EXECUTOR_URI) {
        s = &uri;
        goto found;
    }

    if (data == NGX_HTTP_FUNCTIONS_VAR_EXECUTORS) {
        fmcf = ngx_http_get_module_main_conf(r, ngx_http_functions_module);

        if (fmcf->guarded.nelts == 0) {
            v->not_found = 1;
            return NGX_OK;
        }

        s = fmcf->guarded.elts;
        goto found;
    }

    /* a call id exists wherever it is asked for; the rest with a route */
    ctx = (data == NGX_HTTP_FUNCTIONS_VAR_CALL_ID)
          ? ngx_http_functions_ctx_get(r->main)
          : ngx_http_functions_ctx_find(r->main);

    if (ctx == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    if (data == NGX_HTTP_FUNCTIONS_VAR_CALL_ID && !ctx->started) {
        /* a request refused before routing (its Content-Length over the
         * limit): the answer carries the id its error page shows */
        ctx->id_asked = 1;
    }

    switch (data) {

    case NGX_HTTP_FUNCTIONS_VAR_APP:
        s = &ctx->app;
        break;

    case NGX_HTTP_FUNCTIONS_VAR_PATH:
        s = &ctx->path;
        break;

    case NGX_HTTP_FUNCTIONS_VAR_CALL_ID:
        id.data = ctx->call_id;
        id.len = ULID_LEN;
        s = &id;
        break;

    case NGX_HTTP_FUNCTIONS_VAR_ROUTE:
        if (!ctx->have_route || !ctx->route.found) {
            v->not_found = 1;
            return NGX_OK;
        }
        s = &ctx->route.json;
        break;

    case NGX_HTTP_FUNCTIONS_VAR_ROUTE_CACHE:
        if (ctx->cache == NULL) {
            v->not_found = 1;
            return NGX_OK;
        }
        id.data = (u_char *) ctx->cache;
        id.len = ngx_strlen(ctx->cache);
        s = &id;
        break;

    default: /* NGX_HTTP_FUNCTIONS_VAR_IMAGE */
        if (!ctx->have_route || !ctx->route.found) {
            v->not_found = 1;
            return NGX_OK;
        }
        s = &ctx->route.image;
        break;
    }

found:

    if (s->len == 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->data = s->data;
    v->len = s->len;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    return NGX_OK;
}
