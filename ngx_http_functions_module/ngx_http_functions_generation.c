
/*
 * Keeping the route cache true to the database: each nginx instance
 * checks the generation counter at most once a second (one worker does
 * it, claimed through the shared zone), and drops the cache entries of
 * the routes changed since it last looked (route_changes).  When those
 * rows are gone (pruned), the whole cache is dropped.
 */


#include "ngx_http_functions_module.h"
#include "ngx_http_functions_cache.h"
#include "ngx_http_functions_query.h"
#include "ngx_http_functions_generation.h"

#include <mysql.h>


static void ngx_http_functions_generation_tick(ngx_event_t *ev);
static void ngx_http_functions_generation_read(ngx_http_functions_query_t *q);
static void ngx_http_functions_changes_read(ngx_http_functions_query_t *q);


static ngx_event_t                  ngx_http_functions_generation_timer;
static ngx_http_functions_query_t   ngx_http_functions_generation_query;
static ngx_http_functions_query_t   ngx_http_functions_changes_query;
static uint64_t                     ngx_http_functions_generation_seen;
static uint64_t                     ngx_http_functions_generation_new;
static ngx_uint_t                   ngx_http_functions_generation_busy;
static u_char                       ngx_http_functions_changes_sql[160];


ngx_int_t
ngx_http_functions_generation_init(ngx_cycle_t *cycle)
{
    ngx_event_t                     *ev = &ngx_http_functions_generation_timer;
    ngx_http_functions_main_conf_t  *fmcf;

    fmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_functions_module);

    if (fmcf == NULL || fmcf->db == NULL || fmcf->cache_zone == NULL) {
        return NGX_OK;
    }

    ev->handler = ngx_http_functions_generation_tick;
    ev->log = cycle->log;
    ev->data = fmcf;
    ev->cancelable = 1;

    ngx_add_timer(ev, 1000);

    return NGX_OK;
}


static void
ngx_http_functions_generation_tick(ngx_event_t *ev)
{
    ngx_http_functions_query_t      *q = &ngx_http_functions_generation_query;
    ngx_http_functions_main_conf_t  *fmcf = ev->data;

    if (ngx_exiting) {
        return;
    }

    ngx_add_timer(ev, 1000);

    if (ngx_http_functions_generation_busy) {
        return;
    }

    if (!ngx_http_functions_cache_check_due(fmcf->cache_zone,
                                    &ngx_http_functions_generation_seen))
    {
        return;
    }

    ngx_str_set(&q->sql, "SELECT value FROM generation WHERE id = 1");
    q->handler = ngx_http_functions_generation_read;
    q->data = fmcf;

    ngx_http_functions_generation_busy = 1;
    ngx_http_functions_query_post(fmcf->db, q);
}


static void
ngx_http_functions_generation_read(ngx_http_functions_query_t *q)
{
    uint64_t                         value;
    MYSQL_ROW                        row;
    ngx_http_functions_query_t      *cq = &ngx_http_functions_changes_query;
    ngx_http_functions_main_conf_t  *fmcf = q->data;

    row = (q->rc == NGX_OK && q->res) ? mysql_fetch_row(q->res) : NULL;

    if (row == NULL || row[0] == NULL) {
        ngx_http_functions_query_free(q);
        ngx_http_functions_generation_busy = 0;
        return;
    }

    value = ngx_atoof((u_char *) row[0], ngx_strlen(row[0]));
    ngx_http_functions_query_free(q);

    if (value == (uint64_t) NGX_ERROR
        || value == ngx_http_functions_generation_seen)
    {
        ngx_http_functions_generation_busy = 0;
        return;
    }

    if (ngx_http_functions_generation_seen == 0
        || value < ngx_http_functions_generation_seen)
    {
        /* nothing known to compare with (a fresh zone), or the database
         * was replaced: start over */
        ngx_http_functions_cache_flush(fmcf->cache_zone);
        ngx_http_functions_cache_set_generation(fmcf->cache_zone, value);
        ngx_http_functions_generation_busy = 0;
        return;
    }

    ngx_http_functions_generation_new = value;

    cq->sql.data = ngx_http_functions_changes_sql;
    cq->sql.len = ngx_sprintf(ngx_http_functions_changes_sql,
                              "SELECT app_name, path FROM route_changes"
                              " WHERE generation > %uL"
                              " AND generation <= %uL",
                              ngx_http_functions_generation_seen, value)
                  - ngx_http_functions_changes_sql;
    cq->handler = ngx_http_functions_changes_read;
    cq->data = fmcf;

    ngx_http_functions_query_post(fmcf->db, cq);
}


static void
ngx_http_functions_changes_read(ngx_http_functions_query_t *q)
{
    uint64_t                         rows;
    MYSQL_ROW                        row;
    ngx_str_t                        app, path;
    unsigned long                   *lengths;
    ngx_http_functions_main_conf_t  *fmcf = q->data;

    ngx_http_functions_generation_busy = 0;

    if (q->rc != NGX_OK || q->res == NULL) {
        ngx_http_functions_query_free(q);
        return;     /* the next tick tries again */
    }

    rows = mysql_num_rows(q->res);

    if (rows != ngx_http_functions_generation_new
                - ngx_http_functions_generation_seen)
    {
        /* some changes are not recorded any more: drop everything */
        ngx_http_functions_cache_flush(fmcf->cache_zone);

    } else {
        while ((row = mysql_fetch_row(q->res)) != NULL) {
            lengths = mysql_fetch_lengths(q->res);

            if (row[0] == NULL) {
                continue;
            }

            app.data = (u_char *) row[0];
            app.len = lengths[0];

            if (row[1] == NULL) {
                ngx_http_functions_cache_drop(fmcf->cache_zone, &app, NULL);

            } else {
                path.data = (u_char *) row[1];
                path.len = lengths[1];
                ngx_http_functions_cache_drop(fmcf->cache_zone, &app, &path);
            }
        }
    }

    ngx_http_functions_query_free(q);

    ngx_http_functions_cache_set_generation(fmcf->cache_zone,
                                        ngx_http_functions_generation_new);
}
