
/*
 * A call runs once, and a function's answer is never taken for the
 * executor's:
 *
 *     functions_executors executors;
 *
 * wraps the named upstream's balancer and the proxy's response reader.
 *
 * - The upstream may fail over to the next executor only while the call
 *   was not sent whole (an executor starts a call only once it has read
 *   all of it), or when the executor answered that it did not start it:
 *   503 with its own mark, Fn-Executor-Busy, which it never lets a
 *   function send.  nginx itself retries a sent request unless its method
 *   is POST, LOCK or PATCH; a function call may be a GET.
 * - Any other answer is the function's, whatever its status or headers:
 *   it goes to the client as it is (no proxy_next_upstream condition
 *   applies to it), and nginx acts on none of its X-Accel-* headers.
 * - An executor that answered is alive: only no answer at all (refused,
 *   reset, timed out) counts towards max_fails.  A function's 503, or an
 *   answer nginx cannot read, never takes an executor out of rotation.
 */


#include "ngx_http_functions_module.h"
#include "ngx_http_functions_direct.h"
#include "ngx_http_functions_guard.h"
#include "ngx_http_functions_headers.h"


typedef struct {
    ngx_http_request_t                *request;
    void                              *data;
    ngx_event_get_peer_pt              get;
    ngx_event_free_peer_pt             free;
    ngx_event_notify_peer_pt           notify;
    ngx_int_t                        (*process_header)(ngx_http_request_t *r);
    ngx_http_functions_direct_call_t  *direct;  /* the first try went to a
                                                 * leased instance */

    /* what nginx's X-Accel-* handlers change while the head is parsed */
    size_t                             limit_rate;
    ngx_str_t                         *override_charset;
    unsigned                           limit_rate_set:1;
    unsigned                           buffering:1;
#if (NGX_HTTP_SSL)
    ngx_event_set_peer_session_pt      set_session;
    ngx_event_save_peer_session_pt     save_session;
#endif
} ngx_http_functions_guard_peer_t;


static ngx_int_t ngx_http_functions_guard_init_peer(ngx_http_request_t *r,
    ngx_http_upstream_srv_conf_t *us);
static ngx_int_t ngx_http_functions_guard_get(ngx_peer_connection_t *pc,
    void *data);
static void ngx_http_functions_guard_free(ngx_peer_connection_t *pc,
    void *data, ngx_uint_t state);
static void ngx_http_functions_guard_notify(ngx_peer_connection_t *pc,
    void *data, ngx_uint_t type);
static ngx_uint_t ngx_http_functions_guard_peer_closed(ngx_connection_t *c);
static ngx_int_t ngx_http_functions_guard_process_header(
    ngx_http_request_t *r);
#if (NGX_HTTP_SSL)
static ngx_int_t ngx_http_functions_guard_set_session(
    ngx_peer_connection_t *pc, void *data);
static void ngx_http_functions_guard_save_session(ngx_peer_connection_t *pc,
    void *data);
#endif


/* A guard per wrapped upstream: its original init, by the upstream. */

typedef struct {
    ngx_http_upstream_srv_conf_t      *us;
    ngx_http_upstream_init_peer_pt     init;
} ngx_http_functions_guard_t;


static ngx_array_t  *ngx_http_functions_guards;


ngx_int_t
ngx_http_functions_guard_init(ngx_conf_t *cf)
{
    ngx_str_t                        *name;
    ngx_uint_t                        i, j;
    ngx_http_upstream_srv_conf_t    **uscfp;
    ngx_http_upstream_main_conf_t    *umcf;
    ngx_http_functions_guard_t       *g;
    ngx_http_functions_main_conf_t   *fmcf;

    fmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_functions_module);

    if (fmcf->guarded.nelts == 0) {
        return NGX_OK;
    }

    umcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_upstream_module);
    uscfp = umcf->upstreams.elts;

    ngx_http_functions_guards = ngx_array_create(cf->pool,
                                     fmcf->guarded.nelts,
                                     sizeof(ngx_http_functions_guard_t));
    if (ngx_http_functions_guards == NULL) {
        return NGX_ERROR;
    }

    name = fmcf->guarded.elts;

    for (i = 0; i < fmcf->guarded.nelts; i++) {

        for (j = 0; j < umcf->upstreams.nelts; j++) {
            if (uscfp[j]->host.len == name[i].len
                && ngx_strncasecmp(uscfp[j]->host.data, name[i].data,
                                   name[i].len) == 0
                && uscfp[j]->peer.init != NULL)
            {
                break;
            }
        }

        if (j == umcf->upstreams.nelts) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "functions_executors: no upstream \"%V\"",
                               &name[i]);
            return NGX_ERROR;
        }

        g = ngx_array_push(ngx_http_functions_guards);
        if (g == NULL) {
            return NGX_ERROR;
        }

        g->us = uscfp[j];
        g->init = uscfp[j]->peer.init;
        uscfp[j]->peer.init = ngx_http_functions_guard_init_peer;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_functions_guard_init_peer(ngx_http_request_t *r,
    ngx_http_upstream_srv_conf_t *us)
{
    ngx_uint_t                        i;
    ngx_http_upstream_t              *u = r->upstream;
    ngx_http_functions_guard_t       *g;
    ngx_http_functions_guard_peer_t  *gp;

    g = ngx_http_functions_guards->elts;

    for (i = 0; i < ngx_http_functions_guards->nelts; i++) {
        if (g[i].us == us) {
            break;
        }
    }

    if (i == ngx_http_functions_guards->nelts) {
        return NGX_ERROR;
    }

    if (g[i].init(r, us) != NGX_OK) {
        return NGX_ERROR;
    }

    gp = ngx_palloc(r->pool, sizeof(ngx_http_functions_guard_peer_t));
    if (gp == NULL) {
        return NGX_ERROR;
    }

    /* every callback of the balancer gets its own data back */
    gp->request = r;
    gp->process_header = NULL;
    gp->direct = NULL;
    gp->data = u->peer.data;
    gp->get = u->peer.get;
    gp->free = u->peer.free;
    gp->notify = u->peer.notify;

    u->peer.data = gp;
    u->peer.get = ngx_http_functions_guard_get;
    u->peer.free = ngx_http_functions_guard_free;

    if (gp->notify) {
        u->peer.notify = ngx_http_functions_guard_notify;
    }

#if (NGX_HTTP_SSL)
    gp->set_session = u->peer.set_session;
    gp->save_session = u->peer.save_session;

    if (gp->set_session) {
        u->peer.set_session = ngx_http_functions_guard_set_session;
    }

    if (gp->save_session) {
        u->peer.save_session = ngx_http_functions_guard_save_session;
    }
#endif

    return NGX_OK;
}


static ngx_int_t
ngx_http_functions_guard_get(ngx_peer_connection_t *pc, void *data)
{
    ngx_int_t                         rc;
    ngx_http_functions_guard_peer_t  *gp = data;
    ngx_http_upstream_t              *u = gp->request->upstream;

    /* the proxy sets its reader anew for every try */
    if (u->process_header != ngx_http_functions_guard_process_header) {
        gp->process_header = u->process_header;
        u->process_header = ngx_http_functions_guard_process_header;
    }

    gp->limit_rate = gp->request->limit_rate;
    gp->limit_rate_set = gp->request->limit_rate_set;
    gp->override_charset = gp->request->headers_out.override_charset;
    gp->buffering = u->buffering;

    /* a leased instance of the route, if one is idle */
    rc = ngx_http_functions_direct_get(gp->request, pc, &gp->direct);

    if (rc != NGX_DECLINED) {
        return rc;
    }

    rc = gp->get(pc, gp->data);

    if (rc == NGX_DONE
        && ngx_http_functions_guard_peer_closed(pc->connection))
    {
        /*
         * a kept-alive connection the executor has closed (it drains, or
         * it was restarted) while its notice waits in this worker's
         * events: a call written on it would be reset after it was sent,
         * and could go nowhere else; a new connection to the same
         * executor instead, refused if it is gone, so the next one is
         * tried
         */
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, pc->log, 0,
                       "functions: kept-alive executor connection closed");

        ngx_destroy_pool(pc->connection->pool);
        ngx_close_connection(pc->connection);

        pc->connection = NULL;
        pc->cached = 0;
        rc = NGX_OK;
    }

    return rc;
}


/* The peer closed (or reset, or wrote into) an idle connection. */

static ngx_uint_t
ngx_http_functions_guard_peer_closed(ngx_connection_t *c)
{
    u_char     buf;
    ssize_t    n;
    ngx_err_t  err;

#if (NGX_SSL)
    if (c->ssl) {
        /* nginx's keepalive module watches those */
        return 0;
    }
#endif

    n = recv(c->fd, &buf, 1, MSG_PEEK);

    if (n == -1) {
        err = ngx_socket_errno;
        return err != NGX_EAGAIN && err != NGX_EINTR;
    }

    /* 0: closed; 1: bytes nobody asked for, as nginx's keepalive module
     * also drops such a connection */
    return 1;
}


/* The executor's answer that it did not start the call. */

static ngx_uint_t
ngx_http_functions_guard_not_started(ngx_http_upstream_t *u)
{
    ngx_table_elt_t               *h;
    ngx_http_functions_headers_t   it;

    if (u->headers_in.status_n != NGX_HTTP_SERVICE_UNAVAILABLE) {
        return 0;
    }

    ngx_http_functions_headers_start(&it, &u->headers_in.headers);

    while ((h = ngx_http_functions_headers_next(&it)) != NULL) {
        if (ngx_http_functions_header_is(h, "Fn-Executor-Busy",
                                         sizeof("Fn-Executor-Busy") - 1))
        {
            return 1;
        }
    }

    return 0;
}


static ngx_int_t
ngx_http_functions_guard_process_header(ngx_http_request_t *r)
{
    ngx_int_t                         rc;
    ngx_http_upstream_t              *u = r->upstream;
    ngx_http_functions_guard_peer_t  *gp = u->peer.data;

    rc = gp->process_header(r);

    /* the proxy moves on from its status line to its headers */
    if (u->process_header != ngx_http_functions_guard_process_header) {
        gp->process_header = u->process_header;
        u->process_header = ngx_http_functions_guard_process_header;
    }

    if (rc != NGX_OK) {
        return rc;
    }

    /*
     * the whole head is read: nothing in it steers nginx (X-Accel-Limit-Rate,
     * -Buffering and -Charset took effect while it was parsed: undone; the
     * others act later: forgotten)
     */

    u->headers_in.x_accel_redirect = NULL;
    u->headers_in.x_accel_expires = NULL;
    u->headers_in.x_accel_limit_rate = NULL;

    r->limit_rate = gp->limit_rate;
    r->limit_rate_set = gp->limit_rate_set;
    r->headers_out.override_charset = gp->override_charset;
    u->buffering = gp->buffering;

    if (gp->direct && gp->direct->lease) {
        /* the function's, straight from it: what of it reaches the
         * client is decided here, as the executor would; no retry */
        u->peer.tries = 1;
        return ngx_http_functions_direct_header(r, gp->direct);
    }

    /* whose answer is it? */

    if (!ngx_http_functions_guard_not_started(u)) {
        /* the function's: this try is the last, so no status of its
         * makes nginx go to the next executor */
        u->peer.tries = 1;
    }

    return NGX_OK;
}


/* This executor sent bytes of an answer during this try. */

static ngx_uint_t
ngx_http_functions_guard_answered(ngx_http_upstream_t *u)
{
    return u->buffer.start != NULL && u->buffer.last > u->buffer.start;
}


static void
ngx_http_functions_guard_free(ngx_peer_connection_t *pc, void *data,
    ngx_uint_t state)
{
    ngx_http_functions_guard_peer_t  *gp = data;
    ngx_http_upstream_t              *u = gp->request->upstream;

    if (gp->direct && gp->direct->lease) {
        /* the executor's balancer had no part in this try */
        ngx_http_functions_direct_free(gp->request, pc, gp->direct, state);

        if (state & (NGX_PEER_FAILED|NGX_PEER_NEXT)) {
            /* it may have run: nowhere else */
            pc->tries = 0;
        }

        return;
    }

    if ((state & NGX_PEER_FAILED) && ngx_http_functions_guard_answered(u)) {
        /* alive: not a failure of the executor (the connection is not
         * kept all the same: the keepalive module keeps only answers read
         * whole) */
        state &= ~NGX_PEER_FAILED;
        state |= NGX_PEER_NEXT;
    }

    gp->free(pc, gp->data, state);

    if ((state & (NGX_PEER_FAILED|NGX_PEER_NEXT)) && u->request_body_sent
        && !ngx_http_functions_guard_not_started(u))
    {
        /*
         * it may have run: no other executor gets it (nginx gives a
         * failed keepalive connection another try after this; "cached"
         * off keeps that from happening)
         */
        pc->tries = 0;
        pc->cached = 0;
    }
}


static void
ngx_http_functions_guard_notify(ngx_peer_connection_t *pc, void *data,
    ngx_uint_t type)
{
    ngx_http_functions_guard_peer_t  *gp = data;

    gp->notify(pc, gp->data, type);
}


#if (NGX_HTTP_SSL)

static ngx_int_t
ngx_http_functions_guard_set_session(ngx_peer_connection_t *pc, void *data)
{
    ngx_http_functions_guard_peer_t  *gp = data;

    return gp->set_session(pc, gp->data);
}


static void
ngx_http_functions_guard_save_session(ngx_peer_connection_t *pc, void *data)
{
    ngx_http_functions_guard_peer_t  *gp = data;

    gp->save_session(pc, gp->data);
}

#endif
