
/*
 * The module's metrics, shared by all workers.
 *
 *     functions_metrics_zone [max_apps=100] [max_executors=32]
 *                            [log_interval=10s|off];      (http)
 *     functions_metrics;                                  (location)
 *
 * One shared zone ("functions_metrics") holds counters, histograms and
 * two tables of labelled counters: requests per app, errors per executor.
 * Workers add with atomic operations; a table row is added under the
 * zone's lock, and once a table is full further names count under
 * "_other", so a client sending random names cannot grow the output.
 * Requests with no route count under app "_none".
 *
 * "functions_metrics" answers GET with the Prometheus text format.  Every
 * log_interval, worker 0 writes the interval's metric lines
 * ("metric=<name> value=<n> type=count|gauge|time unit=<unit>") through
 * the module's log (ngx_http_functions_log.c).
 */


#include "ngx_http_functions_module.h"
#include "ngx_http_functions_cache.h"
#include "ngx_http_functions_log.h"
#include "ngx_http_functions_metrics.h"
#include "ngx_http_functions_send.h"


#define NGX_HTTP_FUNCTIONS_NBOUNDS   14
#define NGX_HTTP_FUNCTIONS_OUTCOMES  6
#define NGX_HTTP_FUNCTIONS_NAME_MAX  128

/* the apps table's fixed rows, before the apps themselves */
#define NGX_HTTP_FUNCTIONS_APP_NONE   0
#define NGX_HTTP_FUNCTIONS_APP_OTHER  1
#define NGX_HTTP_FUNCTIONS_APP_FIRST  2


typedef struct {
    ngx_atomic_t                    len;        /* set last */
    u_char                          name[NGX_HTTP_FUNCTIONS_NAME_MAX];
    ngx_atomic_t                    n[NGX_HTTP_FUNCTIONS_OUTCOMES];
    ngx_atomic_t                    logged[NGX_HTTP_FUNCTIONS_OUTCOMES];
} ngx_http_functions_mrow_t;


typedef struct {
    ngx_atomic_t                    bucket[NGX_HTTP_FUNCTIONS_NBOUNDS + 1];
    ngx_atomic_t                    count;
    ngx_atomic_t                    sum;        /* ms */
    ngx_atomic_t                    logged_count;
    ngx_atomic_t                    logged_sum;
} ngx_http_functions_hist_t;


typedef struct {
    ngx_atomic_t                    counters[NGX_HTTP_FUNCTIONS_M_COUNTERS];
    ngx_atomic_t                    logged[NGX_HTTP_FUNCTIONS_M_COUNTERS];
    ngx_http_functions_hist_t       hist[NGX_HTTP_FUNCTIONS_H_COUNT];
    ngx_atomic_t                    napps;      /* rows added */
    ngx_atomic_t                    nexecutors;
    ngx_uint_t                      max_apps;   /* rows, fixed ones too */
    ngx_uint_t                      max_executors;
    ngx_http_functions_mrow_t       rows[1];    /* apps, then executors */
} ngx_http_functions_metrics_sh_t;


typedef struct {
    ngx_http_functions_metrics_sh_t  *sh;
    ngx_slab_pool_t                  *shpool;
    ngx_uint_t                        max_apps;       /* rows, fixed too */
    ngx_uint_t                        max_executors;
} ngx_http_functions_metrics_t;


static ngx_int_t ngx_http_functions_metrics_init_zone(
    ngx_shm_zone_t *shm_zone, void *data);
static ngx_int_t ngx_http_functions_metrics_handler(ngx_http_request_t *r);
static void ngx_http_functions_metrics_timer(ngx_event_t *ev);


/* in milliseconds, shown in seconds */
static ngx_msec_t  ngx_http_functions_bounds[NGX_HTTP_FUNCTIONS_NBOUNDS] = {
    1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000
};

static const char  *ngx_http_functions_outcomes[] = {
    "success", "accepted", "client_error", "busy", "timeout", "error"
};

static const char  *ngx_http_functions_executor_errors[] = {
    "unreachable", "timeout", "busy"
};

static ngx_http_functions_metrics_t  *ngx_http_functions_metrics_zone_data;
static ngx_event_t                    ngx_http_functions_metrics_ev;
static ngx_msec_t                     ngx_http_functions_metrics_interval;


char *
ngx_http_functions_metrics_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_functions_main_conf_t *fmcf = conf;

    ngx_int_t    n;
    ngx_str_t   *value, s;
    ngx_uint_t   i;

    if (fmcf->metrics_max_apps != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    fmcf->metrics_max_apps = 100;
    fmcf->metrics_max_executors = 32;
    fmcf->metrics_interval = 10000;

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "max_apps=", 9) == 0) {
            n = ngx_atoi(value[i].data + 9, value[i].len - 9);
            if (n < 1 || n > 10000) {
                goto invalid;
            }

            fmcf->metrics_max_apps = n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "max_executors=", 14) == 0) {
            n = ngx_atoi(value[i].data + 14, value[i].len - 14);
            if (n < 1 || n > 1000) {
                goto invalid;
            }

            fmcf->metrics_max_executors = n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "log_interval=", 13) == 0) {
            s.data = value[i].data + 13;
            s.len = value[i].len - 13;

            if (s.len == 3 && ngx_strncmp(s.data, "off", 3) == 0) {
                fmcf->metrics_interval = 0;
                continue;
            }

            n = ngx_parse_time(&s, 0);
            if (n == NGX_ERROR || n < 1000 || n > 3600000) {
                goto invalid;
            }

            fmcf->metrics_interval = n;
            continue;
        }

        goto invalid;
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\" (max_apps=1..10000, "
                       "max_executors=1..1000, log_interval=1s..1h or off)",
                       &value[i]);

    return NGX_CONF_ERROR;
}


char *
ngx_http_functions_metrics(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t        *clcf;
    ngx_http_functions_main_conf_t  *fmcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_functions_metrics_handler;

    fmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_functions_module);
    fmcf->metrics_shown = 1;

    return NGX_CONF_OK;
}


/* The zone, sized for its tables; made when anything of the module is
 * in use. */

ngx_int_t
ngx_http_functions_metrics_init(ngx_conf_t *cf)
{
    size_t                           size;
    ngx_str_t                        name = ngx_string("functions_metrics");
    ngx_http_functions_metrics_t    *m;
    ngx_http_functions_main_conf_t  *fmcf;

    fmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_functions_module);

    if (fmcf->metrics_max_apps == NGX_CONF_UNSET_UINT) {
        fmcf->metrics_max_apps = 100;
        fmcf->metrics_max_executors = 32;
        fmcf->metrics_interval = 10000;
    }

    if (!fmcf->routing && !fmcf->api && !fmcf->metrics_shown) {
        return NGX_OK;
    }

    m = ngx_pcalloc(cf->pool, sizeof(ngx_http_functions_metrics_t));
    if (m == NULL) {
        return NGX_ERROR;
    }

    /* apps: "_none", "_other", the apps; executors: "_other", them */
    m->max_apps = NGX_HTTP_FUNCTIONS_APP_FIRST + fmcf->metrics_max_apps;
    m->max_executors = 1 + fmcf->metrics_max_executors;

    size = sizeof(ngx_http_functions_metrics_sh_t)
           + (m->max_apps + m->max_executors)
             * sizeof(ngx_http_functions_mrow_t);

    /* the slab pool's own pages on top */
    size = ngx_align(size + 8 * ngx_pagesize, ngx_pagesize);

    fmcf->metrics_zone = ngx_shared_memory_add(cf, &name, size,
                                               &ngx_http_functions_module);
    if (fmcf->metrics_zone == NULL) {
        return NGX_ERROR;
    }

    if (fmcf->metrics_zone->data != NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "the shared zone \"functions_metrics\" is "
                           "already in use");
        return NGX_ERROR;
    }

    fmcf->metrics_zone->init = ngx_http_functions_metrics_init_zone;
    fmcf->metrics_zone->data = m;

    return NGX_OK;
}


static ngx_int_t
ngx_http_functions_metrics_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_functions_metrics_t  *old = data;

    ngx_http_functions_metrics_t  *m;

    m = shm_zone->data;
    m->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (old != NULL) {
        /* a reload, the zone of the same size: the counters go on (and
         * the tables keep their split until a restart) */
        m->sh = old->sh;
        return NGX_OK;
    }

    if (shm_zone->shm.exists) {
        m->sh = m->shpool->data;
        return NGX_OK;
    }

    m->sh = ngx_slab_calloc(m->shpool,
                            sizeof(ngx_http_functions_metrics_sh_t)
                            + (m->max_apps + m->max_executors)
                              * sizeof(ngx_http_functions_mrow_t));
    if (m->sh == NULL) {
        return NGX_ERROR;
    }

    m->shpool->data = m->sh;
    m->sh->max_apps = m->max_apps;
    m->sh->max_executors = m->max_executors;

    ngx_memcpy(m->sh->rows[NGX_HTTP_FUNCTIONS_APP_NONE].name, "_none", 5);
    m->sh->rows[NGX_HTTP_FUNCTIONS_APP_NONE].len = 5;
    ngx_memcpy(m->sh->rows[NGX_HTTP_FUNCTIONS_APP_OTHER].name, "_other", 6);
    m->sh->rows[NGX_HTTP_FUNCTIONS_APP_OTHER].len = 6;

    ngx_memcpy(m->sh->rows[m->max_apps].name, "_other", 6);
    m->sh->rows[m->max_apps].len = 6;

    return NGX_OK;
}


ngx_int_t
ngx_http_functions_metrics_init_process(ngx_cycle_t *cycle)
{
    ngx_http_functions_main_conf_t  *fmcf;

    fmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_functions_module);
    if (fmcf == NULL || fmcf->metrics_zone == NULL) {
        return NGX_OK;
    }

    ngx_http_functions_metrics_zone_data = fmcf->metrics_zone->data;
    ngx_http_functions_metrics_interval = fmcf->metrics_interval;

    /* one worker writes the lines of all */
    if (ngx_process != NGX_PROCESS_WORKER || ngx_worker != 0
        || fmcf->metrics_interval == 0)
    {
        return NGX_OK;
    }

    ngx_http_functions_metrics_ev.handler = ngx_http_functions_metrics_timer;
    ngx_http_functions_metrics_ev.log = cycle->log;
    ngx_http_functions_metrics_ev.data = cycle;
    ngx_http_functions_metrics_ev.cancelable = 1;

    ngx_add_timer(&ngx_http_functions_metrics_ev, fmcf->metrics_interval);

    return NGX_OK;
}


void
ngx_http_functions_metrics_count(ngx_http_functions_counter_e c)
{
    if (ngx_http_functions_metrics_zone_data != NULL) {
        (void) ngx_atomic_fetch_add(
                   &ngx_http_functions_metrics_zone_data->sh->counters[c], 1);
    }
}


void
ngx_http_functions_metrics_observe(ngx_http_functions_hist_e h,
    ngx_msec_t ms)
{
    ngx_uint_t                  i;
    ngx_http_functions_hist_t  *hist;

    if (ngx_http_functions_metrics_zone_data == NULL) {
        return;
    }

    hist = &ngx_http_functions_metrics_zone_data->sh->hist[h];

    for (i = 0; i < NGX_HTTP_FUNCTIONS_NBOUNDS; i++) {
        if (ms <= ngx_http_functions_bounds[i]) {
            break;
        }
    }

    (void) ngx_atomic_fetch_add(&hist->bucket[i], 1);
    (void) ngx_atomic_fetch_add(&hist->sum, ms);
    (void) ngx_atomic_fetch_add(&hist->count, 1);
}


/*
 * The row of name in a table (rows first..max-1, *n in use), added if
 * new and there is room, else the table's "_other" row.
 */

static ngx_http_functions_mrow_t *
ngx_http_functions_metrics_row(ngx_str_t *name, ngx_uint_t base,
    ngx_atomic_t *n, ngx_uint_t max, ngx_uint_t other)
{
    size_t                            len;
    ngx_uint_t                        i;
    ngx_http_functions_mrow_t        *row;
    ngx_http_functions_metrics_t     *m;
    ngx_http_functions_metrics_sh_t  *sh;

    m = ngx_http_functions_metrics_zone_data;
    sh = m->sh;
    len = ngx_min(name->len, NGX_HTTP_FUNCTIONS_NAME_MAX);

    for (i = 0; i < *n; i++) {
        row = &sh->rows[base + i];

        if (row->len == len && ngx_memcmp(row->name, name->data, len) == 0) {
            return row;
        }
    }

    ngx_shmtx_lock(&m->shpool->mutex);

    /* another worker may have added it meanwhile */
    for ( /* void */ ; i < *n; i++) {
        row = &sh->rows[base + i];

        if (row->len == len && ngx_memcmp(row->name, name->data, len) == 0) {
            ngx_shmtx_unlock(&m->shpool->mutex);
            return row;
        }
    }

    if (*n >= max) {
        ngx_shmtx_unlock(&m->shpool->mutex);
        return &sh->rows[other];
    }

    row = &sh->rows[base + *n];
    ngx_memcpy(row->name, name->data, len);
    row->len = len;

    /* readers see the row whole, or not at all */
    ngx_memory_barrier();
    (*n)++;

    ngx_shmtx_unlock(&m->shpool->mutex);

    return row;
}


void
ngx_http_functions_metrics_request(ngx_http_request_t *r, ngx_str_t *app)
{
    ngx_msec_int_t                    ms;
    ngx_uint_t                        i, status, outcome, kind;
    ngx_time_t                       *tp;
    ngx_http_upstream_state_t        *st;
    ngx_http_functions_mrow_t        *row;
    ngx_http_functions_metrics_sh_t  *sh;

    if (ngx_http_functions_metrics_zone_data == NULL) {
        return;
    }

    sh = ngx_http_functions_metrics_zone_data->sh;
    status = r->headers_out.status;

    if (status == NGX_HTTP_ACCEPTED) {
        outcome = 1;

    } else if (status == NGX_HTTP_SERVICE_UNAVAILABLE) {
        outcome = 3;

    } else if (status == NGX_HTTP_GATEWAY_TIME_OUT) {
        outcome = 4;

    } else if (status >= NGX_HTTP_INTERNAL_SERVER_ERROR) {
        outcome = 5;

    } else if (status >= NGX_HTTP_BAD_REQUEST || status == 0) {
        outcome = 2;    /* 0: the client went away first */

    } else {
        outcome = 0;
    }

    if (app == NULL) {
        row = &sh->rows[NGX_HTTP_FUNCTIONS_APP_NONE];

    } else {
        row = ngx_http_functions_metrics_row(app,
                  NGX_HTTP_FUNCTIONS_APP_FIRST, &sh->napps,
                  sh->max_apps - NGX_HTTP_FUNCTIONS_APP_FIRST,
                  NGX_HTTP_FUNCTIONS_APP_OTHER);
    }

    (void) ngx_atomic_fetch_add(&row->n[outcome], 1);

    tp = ngx_timeofday();
    ms = (ngx_msec_int_t) ((tp->sec - r->start_sec) * 1000
                           + (tp->msec - r->start_msec));
    ngx_http_functions_metrics_observe(NGX_HTTP_FUNCTIONS_H_REQUEST,
                                       ngx_max(ms, 0));

    if (r->upstream_states == NULL) {
        return;
    }

    st = r->upstream_states->elts;

    for (i = 0; i < r->upstream_states->nelts; i++) {
        if (st[i].peer == NULL) {
            continue;   /* a separator of upstream groups */
        }

        if (st[i].peer->len > 7
            && ngx_strncmp(st[i].peer->data, "direct:", 7) == 0)
        {
            continue;   /* a leased instance: no executor was asked */
        }

        if (st[i].header_time == (ngx_msec_t) -1) {
            /* no answer at all */
            kind = st[i].status == NGX_HTTP_GATEWAY_TIME_OUT ? 1 : 0;

        } else if (st[i].status == NGX_HTTP_SERVICE_UNAVAILABLE) {
            kind = 2;

        } else {
            continue;
        }

        row = ngx_http_functions_metrics_row(st[i].peer, sh->max_apps + 1,
                                             &sh->nexecutors,
                                             sh->max_executors - 1,
                                             sh->max_apps);
        (void) ngx_atomic_fetch_add(&row->n[kind], 1);
    }
}


/* ------------------------------------------------------------ Prometheus */

static u_char *
ngx_http_functions_metrics_head(u_char *p, const char *name,
    const char *type, const char *help)
{
    return ngx_sprintf(p, "# HELP %s %s\n# TYPE %s %s\n", name, help, name,
                       type);
}


/* A label value: the names here are app names and peer addresses, but
 * quotes, backslashes and newlines are escaped all the same. */

static u_char *
ngx_http_functions_metrics_label(u_char *p, u_char *s, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        if (s[i] == '"' || s[i] == '\\') {
            *p++ = '\\';
            *p++ = s[i];

        } else if (s[i] == '\n') {
            *p++ = '\\';
            *p++ = 'n';

        } else {
            *p++ = s[i];
        }
    }

    return p;
}


static u_char *
ngx_http_functions_metrics_hist(u_char *p, const char *name,
    const char *help, ngx_http_functions_hist_t *h)
{
    ngx_uint_t  i, cum;

    p = ngx_http_functions_metrics_head(p, name, "histogram", help);

    cum = 0;

    for (i = 0; i < NGX_HTTP_FUNCTIONS_NBOUNDS; i++) {
        cum += h->bucket[i];
        p = ngx_sprintf(p, "%s_bucket{le=\"%ui.%03ui\"} %ui\n", name,
                        ngx_http_functions_bounds[i] / 1000,
                        ngx_http_functions_bounds[i] % 1000, cum);
    }

    cum += h->bucket[i];

    return ngx_sprintf(p, "%s_bucket{le=\"+Inf\"} %ui\n"
                       "%s_sum %ui.%03ui\n%s_count %ui\n",
                       name, cum, name, (ngx_uint_t) h->sum / 1000,
                       (ngx_uint_t) h->sum % 1000, name, cum);
}


static ngx_int_t
ngx_http_functions_metrics_handler(ngx_http_request_t *r)
{
    size_t                            size;
    u_char                           *p;
    ngx_int_t                         rc;
    ngx_uint_t                        i, k, napps, nexec;
    ngx_buf_t                        *b;
    ngx_str_t                         type;
    ngx_http_functions_mrow_t        *row;
    ngx_http_functions_metrics_sh_t  *sh;
    ngx_http_functions_main_conf_t   *fmcf;

    static const char  *counters[][3] = {
        { "functions_route_cache_hits_total", "counter",
          "Routes answered from the shared cache." },
        { "functions_route_cache_misses_total", "counter",
          "Routes not in the cache (or expired): looked up." },
        { "functions_route_cache_stale_total", "counter",
          "Expired routes served because the database failed." },
        { "functions_route_lookup_errors_total", "counter",
          "Route lookups the database did not answer." },
        { "functions_async_accepted_total", "counter",
          "Async calls confirmed by the broker (202)." },
        { "functions_async_failed_total", "counter",
          "Async calls the broker did not accept (503)." },
    };

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_http_functions_metrics_zone_data == NULL) {
        return NGX_HTTP_NOT_FOUND;
    }

    sh = ngx_http_functions_metrics_zone_data->sh;

    napps = sh->napps;
    nexec = sh->nexecutors;

    /* a line is at most 128 bytes and its label, escaped (an app name
     * is 30 bytes, an address NAME_MAX); the headers fit in 8k */
    size = 8192 + (NGX_HTTP_FUNCTIONS_APP_FIRST + napps)
                  * NGX_HTTP_FUNCTIONS_OUTCOMES * (128 + 2 * 30)
           + (1 + nexec) * 3 * (128 + 2 * NGX_HTTP_FUNCTIONS_NAME_MAX)
           + NGX_HTTP_FUNCTIONS_H_COUNT * (NGX_HTTP_FUNCTIONS_NBOUNDS + 4)
             * 128;

    b = ngx_create_temp_buf(r->pool, size);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = b->last;

    p = ngx_http_functions_metrics_head(p, "functions_requests_total",
            "counter", "Routed requests by app and outcome (app \"_none\": "
            "no such route; \"_other\": apps beyond max_apps).");

    for (i = 0; i < NGX_HTTP_FUNCTIONS_APP_FIRST + napps; i++) {
        row = &sh->rows[i];

        for (k = 0; k < NGX_HTTP_FUNCTIONS_OUTCOMES; k++) {
            if (row->n[k] == 0 && k != 0) {
                continue;
            }

            p = ngx_cpymem(p, "functions_requests_total{app=\"",
                           sizeof("functions_requests_total{app=\"") - 1);
            p = ngx_http_functions_metrics_label(p, row->name, row->len);
            p = ngx_sprintf(p, "\",outcome=\"%s\"} %ui\n",
                            ngx_http_functions_outcomes[k],
                            (ngx_uint_t) row->n[k]);
        }
    }

    p = ngx_http_functions_metrics_head(p,
            "functions_executor_errors_total", "counter",
            "Executors that did not answer (unreachable, timeout) or were "
            "busy (503), by executor address.");

    for (i = 0; i < 1 + nexec; i++) {
        row = &sh->rows[sh->max_apps + i];

        for (k = 0; k < 3; k++) {
            if (row->n[k] == 0 && i == 0) {
                continue;
            }

            p = ngx_cpymem(p, "functions_executor_errors_total{executor=\"",
                    sizeof("functions_executor_errors_total{executor=\"")
                    - 1);
            p = ngx_http_functions_metrics_label(p, row->name, row->len);
            p = ngx_sprintf(p, "\",error=\"%s\"} %ui\n",
                            ngx_http_functions_executor_errors[k],
                            (ngx_uint_t) row->n[k]);
        }
    }

    for (i = 0; i < NGX_HTTP_FUNCTIONS_M_COUNTERS; i++) {
        p = ngx_http_functions_metrics_head(p, counters[i][0],
                                            counters[i][1], counters[i][2]);
        p = ngx_sprintf(p, "%s %ui\n", counters[i][0],
                        (ngx_uint_t) sh->counters[i]);
    }

    fmcf = ngx_http_get_module_main_conf(r, ngx_http_functions_module);

    if (fmcf->cache_zone != NULL) {
        p = ngx_http_functions_metrics_head(p,
                "functions_route_cache_generation", "gauge",
                "The route generation this node's cache has caught up with "
                "(nodes that differ for long: one does not see changes).");
        p = ngx_sprintf(p, "functions_route_cache_generation %uL\n",
                        ngx_http_functions_cache_generation(
                            fmcf->cache_zone));
    }

    p = ngx_http_functions_metrics_hist(p,
            "functions_route_lookup_seconds",
            "Route lookups in the database, query to answer.",
            &sh->hist[NGX_HTTP_FUNCTIONS_H_LOOKUP]);
    p = ngx_http_functions_metrics_hist(p,
            "functions_async_publish_seconds",
            "Async calls, body read to the broker's answer.",
            &sh->hist[NGX_HTTP_FUNCTIONS_H_PUBLISH]);
    p = ngx_http_functions_metrics_hist(p,
            "functions_request_duration_seconds",
            "Routed requests, first byte to the end.",
            &sh->hist[NGX_HTTP_FUNCTIONS_H_REQUEST]);

    b->last = p;

    ngx_str_set(&type, "text/plain; version=0.0.4; charset=utf-8");

    return ngx_http_functions_send(r, NGX_HTTP_OK, &type, b);
}


/* ------------------------------------------------------------ log lines */

static u_char *
ngx_http_functions_metrics_line(u_char *p, const char *name, ngx_str_t *app,
    const char *suffix, ngx_uint_t value, const char *unit)
{
    if (app != NULL) {
        return ngx_sprintf(p, "metric=%s.%V.%s value=%ui type=count "
                           "unit=%s\n", name, app, suffix, value, unit);
    }

    return ngx_sprintf(p, "metric=%s.%s value=%ui type=count unit=%s\n",
                       name, suffix, value, unit);
}


static u_char *
ngx_http_functions_metrics_time(u_char *p, const char *name,
    ngx_http_functions_hist_t *h)
{
    ngx_uint_t  count, sum, mean;

    count = h->count - h->logged_count;
    sum = h->sum - h->logged_sum;
    h->logged_count += count;
    h->logged_sum += sum;

    /* in microseconds, to show three decimals */
    mean = count ? sum * 1000 / count : 0;

    return ngx_sprintf(p, "metric=%s value=%ui.%03ui type=time unit=ms "
                       "count=%ui\n", name, mean / 1000, mean % 1000, count);
}


static void
ngx_http_functions_metrics_timer(ngx_event_t *ev)
{
    u_char                           *p, *start;
    size_t                            size;
    ngx_str_t                         app;
    ngx_uint_t                        i, k, napps, nexec, d, any;
    ngx_uint_t                        total[NGX_HTTP_FUNCTIONS_OUTCOMES];
    ngx_uint_t                        errors[3];
    ngx_http_functions_mrow_t        *row;
    ngx_http_functions_metrics_sh_t  *sh;

    static const char  *names[] = {
        "route_cache.hit", "route_cache.miss", "route_cache.stale",
        "route_lookup.errors", "async.accepted", "async.failed"
    };

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    ngx_add_timer(ev, ngx_http_functions_metrics_interval);

    sh = ngx_http_functions_metrics_zone_data->sh;
    napps = sh->napps;
    nexec = sh->nexecutors;

    size = 4096 + (NGX_HTTP_FUNCTIONS_APP_FIRST + napps)
                  * (NGX_HTTP_FUNCTIONS_OUTCOMES + 1) * 128;

    start = ngx_alloc(size, ev->log);
    if (start == NULL) {
        return;
    }

    p = start;
    ngx_memzero(total, sizeof(total));
    ngx_memzero(errors, sizeof(errors));

    /* per app, only apps with requests in the interval */
    for (i = 0; i < NGX_HTTP_FUNCTIONS_APP_FIRST + napps; i++) {
        row = &sh->rows[i];
        app.data = row->name;
        app.len = row->len;
        any = 0;

        for (k = 0; k < NGX_HTTP_FUNCTIONS_OUTCOMES; k++) {
            d = row->n[k] - row->logged[k];
            row->logged[k] += d;
            total[k] += d;

            if (d) {
                any += d;
                p = ngx_http_functions_metrics_line(p, "nginx", &app,
                        ngx_http_functions_outcomes[k], d, "requests");
            }
        }

        if (any) {
            p = ngx_http_functions_metrics_line(p, "nginx", &app,
                                                "requests", any, "requests");
        }
    }

    d = 0;

    for (k = 0; k < NGX_HTTP_FUNCTIONS_OUTCOMES; k++) {
        d += total[k];
        p = ngx_http_functions_metrics_line(p, "nginx", NULL,
                ngx_http_functions_outcomes[k], total[k], "requests");
    }

    p = ngx_http_functions_metrics_line(p, "nginx", NULL, "requests", d,
                                        "requests");

    for (i = 0; i < 1 + nexec; i++) {
        row = &sh->rows[sh->max_apps + i];

        for (k = 0; k < 3; k++) {
            d = row->n[k] - row->logged[k];
            row->logged[k] += d;
            errors[k] += d;
        }
    }

    for (k = 0; k < 3; k++) {
        p = ngx_http_functions_metrics_line(p, "executor", NULL,
                ngx_http_functions_executor_errors[k], errors[k], "requests");
    }

    for (i = 0; i < NGX_HTTP_FUNCTIONS_M_COUNTERS; i++) {
        d = sh->counters[i] - sh->logged[i];
        sh->logged[i] += d;
        p = ngx_sprintf(p, "metric=%s value=%ui type=count unit=%s\n",
                        names[i], d, i < 3 ? "requests"
                                     : i == 3 ? "lookups" : "calls");
    }

    p = ngx_http_functions_metrics_time(p, "route_lookup.time",
                                    &sh->hist[NGX_HTTP_FUNCTIONS_H_LOOKUP]);
    p = ngx_http_functions_metrics_time(p, "async.publish_time",
                                    &sh->hist[NGX_HTTP_FUNCTIONS_H_PUBLISH]);
    p = ngx_http_functions_metrics_time(p, "nginx.request_time",
                                    &sh->hist[NGX_HTTP_FUNCTIONS_H_REQUEST]);

    ngx_http_functions_log_lines(ev->log, NGX_LOG_INFO, start, p - start);

    ngx_free(start);
}
