
/*
 * A list of headers (request or upstream: ngx_list_t of ngx_table_elt_t)
 * walked one header at a time, nginx's part-by-part loop written once.
 */


#ifndef _NGX_HTTP_FUNCTIONS_HEADERS_H_INCLUDED_
#define _NGX_HTTP_FUNCTIONS_HEADERS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


typedef struct {
    ngx_list_part_t                *part;
    ngx_uint_t                      i;
} ngx_http_functions_headers_t;


static ngx_inline void
ngx_http_functions_headers_start(ngx_http_functions_headers_t *it,
    ngx_list_t *list)
{
    it->part = &list->part;
    it->i = 0;
}


/* the next header, or NULL after the last */

static ngx_inline ngx_table_elt_t *
ngx_http_functions_headers_next(ngx_http_functions_headers_t *it)
{
    while (it->i >= it->part->nelts) {
        if (it->part->next == NULL) {
            return NULL;
        }

        it->part = it->part->next;
        it->i = 0;
    }

    return (ngx_table_elt_t *) it->part->elts + it->i++;
}


/* name is name (its length, case-insensitively) */

static ngx_inline ngx_uint_t
ngx_http_functions_header_is(ngx_table_elt_t *h, const char *name,
    size_t len)
{
    return h->key.len == len
           && ngx_strncasecmp(h->key.data, (u_char *) name, len) == 0;
}


/*
 * Drops every header of list for which drop() says so; the list is
 * rebuilt from pool only when one is there.  NGX_OK or NGX_ERROR.
 */
static ngx_inline ngx_int_t
ngx_http_functions_headers_drop(ngx_list_t *list, ngx_pool_t *pool,
    ngx_uint_t (*drop)(ngx_table_elt_t *h))
{
    ngx_list_t                     kept;
    ngx_table_elt_t               *h, *nh;
    ngx_http_functions_headers_t   it;

    ngx_http_functions_headers_start(&it, list);

    do {
        h = ngx_http_functions_headers_next(&it);
    } while (h != NULL && !drop(h));

    if (h == NULL) {
        return NGX_OK;
    }

    if (ngx_list_init(&kept, pool, 20, sizeof(ngx_table_elt_t)) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_http_functions_headers_start(&it, list);

    while ((h = ngx_http_functions_headers_next(&it)) != NULL) {

        if (drop(h)) {
            continue;
        }

        nh = ngx_list_push(&kept);
        if (nh == NULL) {
            return NGX_ERROR;
        }

        *nh = *h;
    }

    *list = kept;

    /* a list's last part may be its own first one: not kept's */
    if (kept.last == &kept.part) {
        list->last = &list->part;
    }

    return NGX_OK;
}


#endif /* _NGX_HTTP_FUNCTIONS_HEADERS_H_INCLUDED_ */
