
/*
 * Answers the module writes itself (errors, 202s, the API, /metrics): the
 * whole body in one buffer.  Depends on nothing else of the module.
 */


#include "ngx_http_functions_send.h"


/*
 * Sends a JSON answer of the module (errors, 202s, the API): body and a
 * newline, application/json, and Retry-After: 1 when retry is set.
 * Returns what nginx's filters return, for ngx_http_finalize_request().
 */

ngx_int_t
ngx_http_functions_send_json(ngx_http_request_t *r, ngx_uint_t status,
    u_char *body, size_t len, ngx_uint_t retry)
{
    ngx_buf_t        *b;
    ngx_str_t         type = ngx_string("application/json");
    ngx_table_elt_t  *h;

    b = ngx_create_temp_buf(r->pool, len + 1);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->last = ngx_cpymem(b->last, body, len);
    *b->last++ = '\n';

    if (retry) {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "Retry-After");
        ngx_str_set(&h->value, "1");
    }

    return ngx_http_functions_send(r, status, &type, b);
}


/*
 * Sends b, the whole body, with status and content type.  Returns what
 * nginx's filters return, for ngx_http_finalize_request().
 */

ngx_int_t
ngx_http_functions_send(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *type, ngx_buf_t *b)
{
    ngx_int_t    rc;
    ngx_chain_t  out;

    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    r->headers_out.status = status;
    r->headers_out.content_length_n = b->last - b->pos;
    r->headers_out.content_type = *type;
    r->headers_out.content_type_len = type->len;

    rc = ngx_http_send_header(r);
    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}
