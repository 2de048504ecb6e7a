
/*
 * The request's context of this module, made with its call id (a ULID)
 * when first needed.  An internal redirect (error_page) clears module
 * contexts; a context kept with ngx_http_functions_ctx_keep() is found
 * again through its pool cleanup, so that the error page and the access
 * log still show the call id, app and path.
 */


#include "ngx_http_functions_ctx.h"
#include "ngx_http_functions_log.h"



static void ngx_http_functions_ctx_cleanup(void *data);


ngx_http_functions_ctx_t *
ngx_http_functions_ctx_find(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t        *cln;
    ngx_http_functions_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_functions_module);
    if (ctx != NULL) {
        return ctx;
    }

    for (cln = r->pool->cleanup; cln; cln = cln->next) {
        if (cln->handler == ngx_http_functions_ctx_cleanup) {
            ctx = cln->data;
            ngx_http_set_ctx(r, ctx, ngx_http_functions_module);
            return ctx;
        }
    }

    return NULL;
}


ngx_http_functions_ctx_t *
ngx_http_functions_ctx_get(ngx_http_request_t *r)
{
    ngx_http_functions_ctx_t  *ctx;

    ctx = ngx_http_functions_ctx_find(r);
    if (ctx != NULL) {
        return ctx;
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_functions_ctx_t));
    if (ctx == NULL) {
        return NULL;
    }

    ctx->request = r;

    if (ngx_http_functions_new_id(ctx->call_id) != NGX_OK) {
        return NULL;
    }

    ngx_http_set_ctx(r, ctx, ngx_http_functions_module);

    return ctx;
}


/* The context outlives internal redirects; done() runs when r is freed. */

ngx_int_t
ngx_http_functions_ctx_keep(ngx_http_request_t *r,
    ngx_http_functions_ctx_t *ctx, ngx_http_functions_ctx_done_pt done)
{
    ngx_pool_cleanup_t  *cln;

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_http_functions_ctx_cleanup;
    cln->data = ctx;
    ctx->done = done;

    return NGX_OK;
}


static void
ngx_http_functions_ctx_cleanup(void *data)
{
    ngx_http_functions_ctx_t  *ctx = data;

    if (ctx->done != NULL) {
        ctx->done(ctx);
    }
}


/*
 * A ULID (common/ulid.c): 48 bits of milliseconds, 80 bits from the
 * kernel's CSPRNG, taken from a pool refilled 4 KiB at a time.  Without
 * random bytes there is no id (NGX_ERROR): bytes are never used twice.
 */

ngx_int_t
ngx_http_functions_new_id(u_char *id)
{
    static u_char   pool[4096];
    static size_t   left;

    ngx_time_t     *tp;

    if (left < ULID_RANDOM_BYTES) {
        if (ulid_random(pool, sizeof(pool)) != 0) {
            ngx_http_functions_log_msg(ngx_cycle->log, NGX_LOG_ALERT,
                                       "getrandom() failed, no call id",
                                       strerror(ngx_errno));
            return NGX_ERROR;
        }

        left = sizeof(pool);
    }

    tp = ngx_timeofday();

    ulid_encode((char *) id, (uint64_t) tp->sec * 1000 + tp->msec,
                pool + sizeof(pool) - left);
    left -= ULID_RANDOM_BYTES;

    return NGX_OK;
}
