
/*
 * Async calls: a route of type "async" is answered 202 {"call_id"} only
 * once RabbitMQ confirmed the call's persistent message.
 *
 *     functions_amqp url=amqp://user:password@127.0.0.1:5672/vhost
 *                    [exchange=functions] [queue=functions.calls]
 *                    [queue_type=quorum|classic] [connect_timeout=2s]
 *                    [confirm_timeout=5s] [max_pending=1024];
 *     functions_async_key <file>;
 *     functions_async_credentials off|on;     (http, server, location)
 *
 * The request body is read and the message built; the worker's publisher
 * (ngx_http_functions_publisher.c, a thread: rabbitmq-c blocks) publishes
 * it.  The call must be known to GET /v1/apps/{app}/calls/{id} as soon
 * as its id is out, in one of two ways:
 *
 *   - with functions_async_key, its id is sealed before it is published
 *     (ngx_http_functions_call_tag.h): the id itself proves the call
 *     accepted, and the calls API answers "queued" for it until an
 *     executor writes its row.  Nothing is written to MySQL;
 *   - without, the event loop records the call as "queued" in MySQL
 *     (ngx_http_functions_query.c, non-blocking) while the broker
 *     confirms.  A worker writes one INSERT at a time: the next one
 *     records every call that came meanwhile (a group commit).  The
 *     answer waits for both; a call the broker did not take has its
 *     record removed.
 *
 * A call the broker did not take is answered 503 (its Fn-Call-Id is the
 * request's id, never a sealed one: that is handed out with a 202 only,
 * and logged with the call's other lines).  The client's
 * Authorization, Proxy-Authorization and Cookie headers are left out of
 * the message unless functions_async_credentials is on.
 */


#include "ngx_http_functions_ctx.h"
#include "ngx_http_functions_headers.h"
#include "ngx_http_functions_log.h"
#include "ngx_http_functions_metrics.h"
#include "ngx_http_functions_send.h"
#include "ngx_http_functions_async.h"
#include "ngx_http_functions_db.h"
#include "ngx_http_functions_query.h"
#include "ngx_http_functions_publisher.h"

#include "ngx_http_functions_call_tag.h"
#include "ngx_http_functions_conf_file.h"

#include "amqp_link.h"
#include "ulid.h"

#include <jansson.h>
#include <mysql.h>


#define NGX_HTTP_FUNCTIONS_MAX_PENDING  1024

/* functions_async_key: as long as an HMAC-SHA256 key needs, at least */
#define NGX_HTTP_FUNCTIONS_ASYNC_KEY_MIN  32
#define NGX_HTTP_FUNCTIONS_ASYNC_KEY_MAX  1024

/* the rows of one INSERT of records, at most */
#define NGX_HTTP_FUNCTIONS_RECORD_ROWS   1024


typedef struct {
    struct amqp_settings            settings;
    ngx_uint_t                      max_pending;    /* a worker's */
} ngx_http_functions_amqp_conf_t;


struct ngx_http_functions_publish_s {
    ngx_http_request_t             *request;
    ngx_http_functions_pub_t        pub;
    ngx_http_functions_query_t      record;
    char                            call_id[ULID_LEN + 1];
    ngx_str_t                       app;
    ngx_str_t                       path;
    ngx_str_t                       route;          /* its JSON */
    ngx_uint_t                      waiting;        /* publish, record */
    ngx_uint_t                      recorded;
    ngx_queue_t                     queue;          /* for its record */
    ngx_msec_t                      start;
};


/* one INSERT of the records of calls that waited for it */
typedef struct {
    ngx_http_functions_query_t      query;
    ngx_pool_t                     *pool;
    ngx_queue_t                     calls;
    ngx_uint_t                      n;
} ngx_http_functions_records_t;


static void ngx_http_functions_async_body(ngx_http_request_t *r);
static char *ngx_http_functions_async_message(ngx_http_request_t *r,
    ngx_http_functions_publish_t *p);
static ngx_int_t ngx_http_functions_async_record(
    ngx_http_functions_publish_t *p);
static void ngx_http_functions_async_records(ngx_log_t *log);
static void ngx_http_functions_async_recorded(ngx_http_functions_query_t *q);
static ngx_int_t ngx_http_functions_async_unrecord(
    ngx_http_functions_publish_t *p);
static void ngx_http_functions_async_unrecorded(
    ngx_http_functions_query_t *q);
static void ngx_http_functions_async_published(ngx_http_functions_pub_t *m);
static void ngx_http_functions_async_finish(ngx_http_functions_publish_t *p);
static void ngx_http_functions_async_log(ngx_http_functions_publish_t *p,
    ngx_log_t *log, ngx_uint_t level, const char *msg, const char *error);
static ngx_int_t ngx_http_functions_async_answer(ngx_http_request_t *r,
    ngx_uint_t status, const char *body);
static ngx_uint_t ngx_http_functions_async_credential(ngx_str_t *name);


/* the worker's calls held (publishing, recording), those waiting for
 * their records, and whether an INSERT runs */
static ngx_uint_t    ngx_http_functions_async_held;
static ngx_queue_t   ngx_http_functions_async_unrecorded_calls;
static ngx_uint_t    ngx_http_functions_async_recording;


char *
ngx_http_functions_amqp(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_functions_main_conf_t *fmcf = conf;

    u_char                          *eq;
    ngx_str_t                       *value, name, arg;
    ngx_int_t                        ms, n;
    ngx_uint_t                       i;
    ngx_http_functions_amqp_conf_t  *acf;
    char                             buf[1024], err[256];

    if (fmcf->amqp != NULL) {
        return "is duplicate";
    }

    acf = ngx_pcalloc(cf->pool, sizeof(ngx_http_functions_amqp_conf_t));
    if (acf == NULL) {
        return NGX_CONF_ERROR;
    }

    amqp_settings_init(&acf->settings);
    acf->max_pending = NGX_HTTP_FUNCTIONS_MAX_PENDING;

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        eq = ngx_strlchr(value[i].data, value[i].data + value[i].len, '=');
        if (eq == NULL || value[i].len >= sizeof(buf)) {
            goto invalid;
        }

        name.data = value[i].data;
        name.len = eq - value[i].data;
        arg.data = eq + 1;
        arg.len = value[i].data + value[i].len - arg.data;

        ngx_cpystrn((u_char *) buf, arg.data, arg.len + 1);

        if (name.len == 3 && ngx_strncmp(name.data, "url", 3) == 0) {
            if (amqp_settings_url(&acf->settings, buf, err, sizeof(err))
                != 0)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%s", err);
                return NGX_CONF_ERROR;
            }

        } else if (name.len == 8 && ngx_strncmp(name.data, "exchange", 8) == 0
                   && amqp_name_valid(buf))
        {
            ngx_cpystrn((u_char *) acf->settings.exchange, (u_char *) buf,
                        sizeof(acf->settings.exchange));

        } else if (name.len == 5 && ngx_strncmp(name.data, "queue", 5) == 0
                   && amqp_name_valid(buf))
        {
            ngx_cpystrn((u_char *) acf->settings.queue, (u_char *) buf,
                        sizeof(acf->settings.queue));

        } else if (name.len == 10
                   && ngx_strncmp(name.data, "queue_type", 10) == 0
                   && (ngx_strcmp(buf, "quorum") == 0
                       || ngx_strcmp(buf, "classic") == 0))
        {
            acf->settings.quorum = (buf[0] == 'q');

        } else if (name.len == 15
                   && ngx_strncmp(name.data, "connect_timeout", 15) == 0)
        {
            ms = ngx_parse_time(&arg, 0);
            if (ms == NGX_ERROR || ms == 0) {
                goto invalid;
            }

            acf->settings.connect_timeout_ms = ms;

        } else if (name.len == 15
                   && ngx_strncmp(name.data, "confirm_timeout", 15) == 0)
        {
            ms = ngx_parse_time(&arg, 0);
            if (ms == NGX_ERROR || ms == 0) {
                goto invalid;
            }

            acf->settings.confirm_timeout_ms = ms;

        } else if (name.len == 11
                   && ngx_strncmp(name.data, "max_pending", 11) == 0)
        {
            n = ngx_atoi(arg.data, arg.len);
            if (n == NGX_ERROR || n == 0) {
                goto invalid;
            }

            acf->max_pending = n;

        } else {
            goto invalid;
        }
    }

    if (acf->settings.nbrokers == 0 || cf->args->nelts < 2
        || ngx_strncmp(value[1].data, "url=", 4) != 0)
    {
        return "needs url=amqp://... first";
    }

    fmcf->amqp = acf;

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid parameter \"%V\"",
                       &value[i]);
    return NGX_CONF_ERROR;
}


/*
 * functions_async_key <file>: the key that seals async call ids, one line
 * of at least 32 bytes (scripts/secret makes one).  Every nginx that
 * accepts async calls or answers the calls API of the same database needs
 * the same key: an id sealed under another key is not known until its
 * call runs.
 */

char *
ngx_http_functions_async_key(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_functions_main_conf_t *fmcf = conf;

    ngx_str_t  *value, name;

    if (fmcf->async_key.data != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;
    name = value[1];

    if (ngx_http_functions_conf_read_key(cf, &name,
                                         NGX_HTTP_FUNCTIONS_ASYNC_KEY_MIN,
                                         NGX_HTTP_FUNCTIONS_ASYNC_KEY_MAX,
                                         "can make call ids the calls API "
                                         "shows as queued",
                                         &fmcf->async_key)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * The route handler found an async route: read the body, then publish.
 * Returns NGX_DONE, or an HTTP status for nginx to answer.
 */

ngx_int_t
ngx_http_functions_async_call(ngx_http_request_t *r, u_char *call_id,
    ngx_str_t *app, ngx_str_t *path, ngx_str_t *route)
{
    ngx_int_t                      rc;
    ngx_http_functions_ctx_t      *ctx;
    ngx_http_functions_publish_t  *p;

    p = ngx_pcalloc(r->pool, sizeof(ngx_http_functions_publish_t));
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p->request = r;
    ngx_memcpy(p->call_id, call_id, ULID_LEN);
    p->call_id[ULID_LEN] = '\0';
    p->app = *app;
    p->path = *path;
    p->route = *route;

    ctx = ngx_http_functions_ctx_get(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->publish = p;

    r->request_body_in_single_buf = 1;

    rc = ngx_http_read_client_request_body(r, ngx_http_functions_async_body);
    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    /* a phase handler's NGX_DONE finalizes nothing: the count the body
     * reading took is given back here, the answer takes the last one */
    ngx_http_finalize_request(r, NGX_DONE);

    return NGX_DONE;
}


static void
ngx_http_functions_async_body(ngx_http_request_t *r)
{
    ngx_http_functions_ctx_t        *ctx;
    ngx_http_functions_publish_t    *p;
    ngx_http_functions_amqp_conf_t  *acf;
    ngx_http_functions_main_conf_t  *fmcf;

    fmcf = ngx_http_get_module_main_conf(r, ngx_http_functions_module);
    acf = fmcf->amqp;

    if (ngx_http_functions_async_held >= acf->max_pending) {
        ngx_http_finalize_request(r,
            ngx_http_functions_async_answer(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                "{\"error\":{\"message\":\"too many async calls at "
                "once\"}}"));
        return;
    }

    ctx = ngx_http_functions_ctx_find(r);
    p = (ctx != NULL) ? ctx->publish : NULL;

    if (p == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    /* the message's id proves the call accepted: the request's own
     * ($fn_call_id, Fn-Call-Id, the access log) becomes it with the 202
     * only (ngx_http_functions_async_finish()) */
    if (fmcf->async_key.len
        && functions_call_tag_seal(p->call_id, fmcf->async_key.data,
                                   fmcf->async_key.len,
                                   (char *) p->app.data, p->app.len)
           != 0)
    {
        ngx_http_finalize_request(r,
            ngx_http_functions_async_answer(r, NGX_HTTP_INTERNAL_SERVER_ERROR,
                "{\"error\":{\"message\":\"cannot seal the call id\"}}"));
        return;
    }

    /* the body (perhaps in a temporary file) is read by the publisher */
    p->pub.head = ngx_http_functions_async_message(r, p);
    if (p->pub.head == NULL) {
        ngx_http_finalize_request(r,
            ngx_http_functions_async_answer(r, NGX_HTTP_INTERNAL_SERVER_ERROR,
                "{\"error\":{\"message\":\"cannot build the call\"}}"));
        return;
    }

    p->pub.body = r->request_body ? r->request_body->bufs : NULL;
    p->pub.message_id = p->call_id;
    p->pub.handler = ngx_http_functions_async_published;
    p->pub.data = p;
    p->start = ngx_current_msec;

    if (ngx_http_functions_pub_post(&p->pub, &acf->settings,
                                    r->connection->log)
        != NGX_OK)
    {
        free(p->pub.head);
        p->pub.head = NULL;
        ngx_http_finalize_request(r,
            ngx_http_functions_async_answer(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                "{\"error\":{\"message\":\"the async call could not be "
                "queued, try again\"}}"));
        return;
    }

    /* the request stays until the broker answered and the record is
     * written (counted first: a record that fails at once finishes its
     * part before this returns) */
    r->main->blocked++;
    ngx_http_functions_async_held++;
    p->waiting = 2;

    /* the record is written while the broker confirms: so that the caller
     * can look the call up as soon as it has its id, at the cost of one
     * round trip rather than two */
    if (ngx_http_functions_async_record(p) == NGX_DECLINED) {
        p->waiting--;
    }
}


/*
 * {"call_id","app","path","route":{...},"method","url","headers":[[name,
 * value],...],"attempt":1,"enqueued_at":<ms>}: the message but its
 * "body", which the task adds (ngx_http_functions_publish_body()).
 */

static char *
ngx_http_functions_async_message(ngx_http_request_t *r,
    ngx_http_functions_publish_t *p)
{
    char                           *dump;
    u_char                         *url;
    size_t                          len;
    ssize_t                         n;
    json_t                         *o, *headers, *rt;
    ngx_time_t                     *tp;
    ngx_table_elt_t                *h;
    ngx_http_functions_headers_t    it;
    ngx_http_functions_loc_conf_t  *lcf;

    /* the URL as the function sees it: scheme://host/uri */
    len = sizeof("https://") - 1 + r->headers_in.server.len
          + r->unparsed_uri.len;
    url = ngx_pnalloc(r->pool, len);
    if (url == NULL) {
        return NULL;
    }

    n = ngx_sprintf(url, "%s://%V%V",
#if (NGX_HTTP_SSL)
                    r->connection->ssl ? "https" : "http",
#else
                    "http",
#endif
                    &r->headers_in.server, &r->unparsed_uri) - url;

    rt = json_loadb((char *) p->route.data, p->route.len, 0, NULL);
    headers = json_array();
    tp = ngx_timeofday();

    o = json_pack("{s:s, s:s%, s:s%, s:o, s:s%, s:s%, s:o, s:i, s:I}",
                  "call_id", p->call_id,
                  "app", p->app.data, p->app.len,
                  "path", p->path.data, p->path.len,
                  "route", rt,
                  "method", r->method_name.data, r->method_name.len,
                  "url", url, (size_t) n,
                  "headers", headers,
                  "attempt", 1,
                  "enqueued_at", (json_int_t) tp->sec * 1000 + tp->msec);

    if (o == NULL) {
        return NULL;
    }

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_functions_module);

    /* the client's headers (its Fn-* ones are gone already), credentials
     * only if asked for: the message waits in the broker, perhaps in its
     * dead-letter queue, where whoever reads the queues reads it */
    ngx_http_functions_headers_start(&it, &r->headers_in.headers);

    while ((h = ngx_http_functions_headers_next(&it)) != NULL) {

        if (h->hash == 0) {
            continue;
        }

        if (!lcf->async_credentials
            && ngx_http_functions_async_credential(&h->key))
        {
            continue;
        }

        json_array_append_new(headers,
            json_pack("[s%, s%]", h->key.data, h->key.len,
                      h->value.data, h->value.len));
    }

    dump = json_dumps(o, JSON_COMPACT);
    json_decref(o);

    return dump;
}


/* Authorization, Proxy-Authorization, Cookie: a client's credentials. */

static ngx_uint_t
ngx_http_functions_async_credential(ngx_str_t *name)
{
    ngx_uint_t  i;

    static ngx_str_t  credentials[] = {
        ngx_string("Authorization"),
        ngx_string("Proxy-Authorization"),
        ngx_string("Cookie"),
    };

    for (i = 0; i < sizeof(credentials) / sizeof(ngx_str_t); i++) {
        if (name->len == credentials[i].len
            && ngx_strncasecmp(name->data, credentials[i].data, name->len)
               == 0)
        {
            return 1;
        }
    }

    return 0;
}


/* A line about a call: its id, app and path, and the error. */

static void
ngx_http_functions_async_log(ngx_http_functions_publish_t *p, ngx_log_t *log,
    ngx_uint_t level, const char *msg, const char *error)
{
    ngx_http_functions_log_t  l;

    if (ngx_http_functions_log_begin(&l, log, level, msg)) {
        ngx_http_functions_log_cstr(&l, "call_id", p->call_id);
        ngx_http_functions_log_str(&l, "app", &p->app);
        ngx_http_functions_log_str(&l, "path", &p->path);

        if (error != NULL) {
            ngx_http_functions_log_cstr(&l, "error", error);
        }

        ngx_http_functions_log_end(&l, log);
    }
}


/*
 * The call recorded "queued": it waits for an INSERT of its own and of
 * the others waiting.  NGX_DECLINED: its id is sealed (nothing to record),
 * or no functions_mysql (nothing to record in).
 */

static ngx_int_t
ngx_http_functions_async_record(ngx_http_functions_publish_t *p)
{
    ngx_queue_t                     *waiting;
    ngx_http_functions_main_conf_t  *fmcf;

    fmcf = ngx_http_get_module_main_conf(p->request, ngx_http_functions_module);

    if (fmcf->async_key.len || fmcf->db == NULL) {
        return NGX_DECLINED;
    }

    waiting = &ngx_http_functions_async_unrecorded_calls;

    if (waiting->next == NULL) {
        ngx_queue_init(waiting);
    }

    ngx_queue_insert_tail(waiting, &p->queue);

    if (!ngx_http_functions_async_recording) {
        ngx_http_functions_async_records(p->request->connection->log);
    }

    return NGX_OK;
}


/* An INSERT of the records waiting (up to RECORD_ROWS of them). */

static void
ngx_http_functions_async_records(ngx_log_t *log)
{
    ngx_pool_t                      *pool;
    ngx_queue_t                     *waiting, *qn;
    ngx_http_functions_sql_t         sql;
    ngx_http_functions_publish_t    *p;
    ngx_http_functions_records_t    *rec;
    ngx_http_functions_main_conf_t  *fmcf;

    waiting = &ngx_http_functions_async_unrecorded_calls;

    if (ngx_queue_empty(waiting)) {
        return;
    }

    p = ngx_queue_data(ngx_queue_head(waiting), ngx_http_functions_publish_t,
                       queue);
    fmcf = ngx_http_get_module_main_conf(p->request, ngx_http_functions_module);

    pool = ngx_create_pool(4096, ngx_cycle->log);
    if (pool == NULL) {
        goto failed;
    }

    rec = ngx_pcalloc(pool, sizeof(ngx_http_functions_records_t));
    if (rec == NULL) {
        ngx_destroy_pool(pool);
        goto failed;
    }

    rec->pool = pool;
    ngx_queue_init(&rec->calls);

    ngx_memzero(&sql, sizeof(ngx_http_functions_sql_t));
    sql.pool = pool;

    ngx_http_functions_sql_raw(&sql, "INSERT IGNORE INTO calls (id, "
                               "app_name, path, status) VALUES ");

    while (!ngx_queue_empty(waiting)
           && rec->n < NGX_HTTP_FUNCTIONS_RECORD_ROWS)
    {
        qn = ngx_queue_head(waiting);
        ngx_queue_remove(qn);
        ngx_queue_insert_tail(&rec->calls, qn);

        p = ngx_queue_data(qn, ngx_http_functions_publish_t, queue);

        ngx_http_functions_sql_raw(&sql, rec->n++ ? ", (" : "(");
        ngx_http_functions_sql_str(&sql, (u_char *) p->call_id, ULID_LEN);
        ngx_http_functions_sql_raw(&sql, ", ");
        ngx_http_functions_sql_str(&sql, p->app.data, p->app.len);
        ngx_http_functions_sql_raw(&sql, ", ");
        ngx_http_functions_sql_str(&sql, p->path.data, p->path.len);
        ngx_http_functions_sql_raw(&sql, ", 'queued')");
    }

    rec->query.handler = ngx_http_functions_async_recorded;
    rec->query.data = rec;

    if (ngx_http_functions_sql_done(&sql, &rec->query.sql) != NGX_OK
        || ngx_http_functions_query_post(fmcf->db, &rec->query) != NGX_OK)
    {
        /* the calls go on without records */
        rec->query.rc = NGX_ERROR;
        ngx_http_functions_async_recording = 1;
        ngx_http_functions_async_recorded(&rec->query);
        return;
    }

    ngx_http_functions_async_recording = 1;

    return;

failed:

    /* no memory: every call waiting goes on without its record */
    while (!ngx_queue_empty(waiting)) {
        qn = ngx_queue_head(waiting);
        ngx_queue_remove(qn);

        p = ngx_queue_data(qn, ngx_http_functions_publish_t, queue);

        ngx_http_functions_async_log(p, log, NGX_LOG_WARN,
                                     "async call not recorded",
                                     "out of memory");

        if (--p->waiting == 0) {
            ngx_http_functions_async_finish(p);
        }
    }
}


static void
ngx_http_functions_async_recorded(ngx_http_functions_query_t *q)
{
    ngx_http_functions_records_t  *rec = q->data;

    ngx_uint_t                     all;
    ngx_queue_t                   *qn;
    ngx_http_functions_publish_t  *p;

    /* an id already there (INSERT IGNORE) is not this call's record: when
     * one was, no record of the group is removed if its call fails; an
     * INSERT without an answer may have been committed: its records are
     * removed if their calls fail */
    all = (q->rc == NGX_OK && q->affected == rec->n) || q->rc == NGX_ERROR;

    ngx_http_functions_query_free(q);
    ngx_http_functions_async_recording = 0;

    while (!ngx_queue_empty(&rec->calls)) {
        qn = ngx_queue_head(&rec->calls);
        ngx_queue_remove(qn);

        p = ngx_queue_data(qn, ngx_http_functions_publish_t, queue);
        p->recorded = all;

        if (q->rc != NGX_OK) {
            ngx_http_functions_async_log(p, p->request->connection->log,
                                         NGX_LOG_WARN,
                                         "async call not recorded",
                                         q->rc == NGX_DECLINED
                                         ? "refused by the server"
                                         : "no answer from the server");
        }

        if (--p->waiting == 0) {
            ngx_http_functions_async_finish(p);
        }
    }

    ngx_destroy_pool(rec->pool);

    /* the calls that came meanwhile (unless an answer above, running the
     * next request of its connection, started an INSERT already) */
    if (!ngx_http_functions_async_recording) {
        ngx_http_functions_async_records(ngx_cycle->log);
    }
}


/* The record of a call the broker did not take: removed. */

static ngx_int_t
ngx_http_functions_async_unrecord(ngx_http_functions_publish_t *p)
{
    ngx_http_request_t              *r = p->request;
    ngx_http_functions_sql_t         sql;
    ngx_http_functions_query_t      *q = &p->record;
    ngx_http_functions_main_conf_t  *fmcf;

    fmcf = ngx_http_get_module_main_conf(r, ngx_http_functions_module);

    ngx_memzero(&sql, sizeof(ngx_http_functions_sql_t));
    sql.pool = r->pool;

    ngx_http_functions_sql_raw(&sql, "DELETE FROM calls WHERE id = ");
    ngx_http_functions_sql_str(&sql, (u_char *) p->call_id, ULID_LEN);
    ngx_http_functions_sql_raw(&sql, " AND status = 'queued'");

    if (ngx_http_functions_sql_done(&sql, &q->sql) != NGX_OK) {
        ngx_http_functions_async_log(p, r->connection->log, NGX_LOG_WARN,
                                     "async call record not removed",
                                     "out of memory");
        return NGX_ERROR;
    }

    q->handler = ngx_http_functions_async_unrecorded;
    q->data = p;

    return ngx_http_functions_query_post(fmcf->db, q);
}


static void
ngx_http_functions_async_unrecorded(ngx_http_functions_query_t *q)
{
    ngx_http_functions_publish_t  *p = q->data;

    if (q->rc != NGX_OK) {
        ngx_http_functions_async_log(p, p->request->connection->log,
                                     NGX_LOG_WARN,
                                     "async call record not removed",
                                     q->rc == NGX_DECLINED
                                     ? "refused by the server"
                                     : "no answer from the server");
    }

    ngx_http_functions_query_free(q);

    if (--p->waiting == 0) {
        ngx_http_functions_async_finish(p);
    }
}


/* ------------------------------------------------ the answers, back */

static void
ngx_http_functions_async_published(ngx_http_functions_pub_t *m)
{
    ngx_http_functions_publish_t  *p = m->data;

    free(m->head);
    m->head = NULL;

    ngx_http_functions_metrics_observe(NGX_HTTP_FUNCTIONS_H_PUBLISH,
                                       ngx_current_msec - p->start);
    ngx_http_functions_metrics_count(m->ok
                                     ? NGX_HTTP_FUNCTIONS_M_ASYNC_ACCEPTED
                                     : NGX_HTTP_FUNCTIONS_M_ASYNC_FAILED);

    if (--p->waiting == 0) {
        ngx_http_functions_async_finish(p);
    }
}


/* Both answers are in: the client's. */

static void
ngx_http_functions_async_finish(ngx_http_functions_publish_t *p)
{
    ngx_connection_t          *c;
    ngx_http_request_t        *r;
    ngx_http_functions_ctx_t  *ctx;
    u_char                     buf[64];

    r = p->request;
    c = r->connection;

    if (!p->pub.ok && p->recorded) {
        /* not accepted: no record of it (unless an executor ran it after
         * all, from a confirm that came too late) */
        p->recorded = 0;

        if (ngx_http_functions_async_unrecord(p) == NGX_OK) {
            p->waiting = 1;
            return;
        }
    }

    r->main->blocked--;
    ngx_http_functions_async_held--;

    if (c->error) {
        /* the request was ended meanwhile: nothing to answer */
        ngx_http_functions_async_log(p, c->log, NGX_LOG_INFO,
                                     p->pub.ok ? "async call accepted, its "
                                                 "client gone"
                                               : "async call not accepted, "
                                                 "its client gone", NULL);
        ngx_http_finalize_request(r, NGX_ERROR);
        ngx_http_run_posted_requests(c);
        return;
    }

    if (!p->pub.ok) {
        ngx_http_functions_async_log(p, c->log, NGX_LOG_ERR,
                                     "async call not accepted", p->pub.err);

        ngx_http_finalize_request(r,
            ngx_http_functions_async_answer(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                "{\"error\":{\"message\":\"the async call could not be "
                "queued, try again\"}}"));

    } else {
        ctx = ngx_http_functions_ctx_find(r);
        if (ctx != NULL) {
            ngx_memcpy(ctx->call_id, p->call_id, ULID_LEN);
        }

        ngx_sprintf(buf, "{\"call_id\":\"%s\"}%Z", p->call_id);
        ngx_http_finalize_request(r,
            ngx_http_functions_async_answer(r, NGX_HTTP_ACCEPTED,
                                            (char *) buf));
    }

    ngx_http_run_posted_requests(c);
}


static ngx_int_t
ngx_http_functions_async_answer(ngx_http_request_t *r, ngx_uint_t status,
    const char *body)
{
    return ngx_http_functions_send_json(r, status, (u_char *) body,
                                        ngx_strlen(body),
                                        status == NGX_HTTP_SERVICE_UNAVAILABLE);
}
