
/*
 * Async calls: a route of type "async" is answered 202 {"call_id"} only
 * once RabbitMQ confirmed the call's persistent message.
 *
 *     functions_amqp url=amqp://user:password@127.0.0.1:5672/vhost
 *                    [exchange=functions] [queue=functions.calls]
 *                    [queue_type=quorum|classic] [connect_timeout=2s]
 *                    [confirm_timeout=5s] [thread_pool=default];
 *     functions_async_credentials off|on;     (http, server, location)
 *
 * rabbitmq-c blocks, so the event loop never calls it: the request body is
 * read, the message is built, and a task of nginx's thread pool publishes
 * it on a connection of its own thread (common/amqp_link.c) and, while
 * the broker confirms, records the call as "queued" in MySQL so that it
 * can be looked up at once (and removes that record if the broker does not
 * confirm).  The answer is sent when the task is back in the event loop.
 * The client's Authorization, Proxy-Authorization and Cookie headers are
 * left out of the message unless functions_async_credentials is on.
 */


#include "ngx_http_functions_ctx.h"
#include "ngx_http_functions_headers.h"
#include "ngx_http_functions_log.h"
#include "ngx_http_functions_metrics.h"
#include "ngx_http_functions_send.h"
#include "ngx_http_functions_async.h"
#include "ngx_http_functions_db.h"

#include "amqp_link.h"
#include "ulid.h"

#include <jansson.h>
#include <mysql.h>


typedef struct {
    struct amqp_settings            settings;
    ngx_thread_pool_t              *pool;

    /* the database, as C strings for the threads' own connections */
    char                           *db_host;
    char                           *db_socket;
    char                           *db_user;
    char                           *db_password;
    char                           *db_name;
    unsigned int                    db_port;
    unsigned int                    db_timeout;     /* seconds */
} ngx_http_functions_amqp_conf_t;


typedef struct {
    ngx_http_request_t             *request;
    ngx_http_functions_amqp_conf_t *conf;
    char                            call_id[ULID_LEN + 1];
    char                           *app;
    char                           *path;
    ngx_str_t                       route;          /* its JSON */
    char                           *head;           /* the message but
                                                       its body (jansson) */
    ngx_chain_t                    *body;           /* the request body */
    char                           *message;        /* malloc()ed JSON */
    size_t                          len;
    ngx_int_t                       ok;
    ngx_int_t                       recorded;
    ngx_msec_t                      start;
    char                            err[256];
} ngx_http_functions_publish_t;


static void ngx_http_functions_async_body(ngx_http_request_t *r);
static char *ngx_http_functions_async_message(ngx_http_request_t *r,
    ngx_http_functions_publish_t *p);
static void ngx_http_functions_publish_thread(void *data, ngx_log_t *log);
static ngx_int_t ngx_http_functions_publish_body(
    ngx_http_functions_publish_t *p);
static void ngx_http_functions_publish_done(ngx_event_t *ev);
static void ngx_http_functions_async_log(ngx_http_functions_publish_t *p,
    ngx_log_t *log, ngx_uint_t level, const char *msg, const char *error);
static ngx_int_t ngx_http_functions_async_answer(ngx_http_request_t *r,
    ngx_uint_t status, const char *body);
static ngx_uint_t ngx_http_functions_async_credential(ngx_str_t *name);


/* a thread's own links: the thread pool's threads live as long as the
 * worker */
static __thread struct amqp_link   ngx_http_functions_amqp_link;
static __thread MYSQL             *ngx_http_functions_amqp_db;


char *
ngx_http_functions_amqp(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_functions_main_conf_t *fmcf = conf;

    u_char                          *eq;
    ngx_str_t                       *value, name, arg, pool;
    ngx_int_t                        ms;
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
    ngx_str_set(&pool, "default");

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
                   && ngx_strncmp(name.data, "thread_pool", 11) == 0
                   && arg.len)
        {
            pool = arg;

        } else {
            goto invalid;
        }
    }

    if (acf->settings.host[0] == '\0' || cf->args->nelts < 2
        || ngx_strncmp(value[1].data, "url=", 4) != 0)
    {
        return "needs url=amqp://... first";
    }

    acf->pool = ngx_thread_pool_add(cf, &pool);
    if (acf->pool == NULL) {
        return NGX_CONF_ERROR;
    }

    fmcf->amqp = acf;

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid parameter \"%V\"",
                       &value[i]);
    return NGX_CONF_ERROR;
}


static char *
ngx_http_functions_async_cstr(ngx_conf_t *cf, ngx_str_t *s)
{
    u_char  *p;

    p = ngx_pnalloc(cf->pool, s->len + 1);
    if (p == NULL) {
        return NULL;
    }

    ngx_cpystrn(p, s->data, s->len + 1);

    return (char *) p;
}


/* postconfiguration: the database settings the threads use */

ngx_int_t
ngx_http_functions_async_init(ngx_conf_t *cf)
{
    ngx_http_functions_db_conf_t    *dcf;
    ngx_http_functions_amqp_conf_t  *acf;
    ngx_http_functions_main_conf_t  *fmcf;

    fmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_functions_module);
    acf = fmcf->amqp;
    dcf = fmcf->db;

    if (acf == NULL || dcf == NULL) {
        return NGX_OK;
    }

    acf->db_host = ngx_http_functions_async_cstr(cf, &dcf->host);
    acf->db_socket = ngx_http_functions_async_cstr(cf, &dcf->socket);
    acf->db_user = ngx_http_functions_async_cstr(cf, &dcf->user);
    acf->db_password = ngx_http_functions_async_cstr(cf, &dcf->password);
    acf->db_name = ngx_http_functions_async_cstr(cf, &dcf->database);

    if (acf->db_host == NULL || acf->db_socket == NULL
        || acf->db_user == NULL || acf->db_password == NULL
        || acf->db_name == NULL)
    {
        return NGX_ERROR;
    }

    acf->db_port = dcf->port;
    acf->db_timeout = ngx_max(dcf->timeout / 1000, 1);

    return NGX_OK;
}


/*
 * The route handler found an async route: read the body, then publish.
 * Returns NGX_DONE, or an HTTP status for nginx to answer.
 */

ngx_int_t
ngx_http_functions_async_call(ngx_http_request_t *r, u_char *call_id,
    ngx_str_t *app, ngx_str_t *path, ngx_str_t *route)
{
    ngx_http_functions_ctx_t        *ctx;
    ngx_int_t                        rc;
    ngx_thread_task_t               *task;
    ngx_http_functions_publish_t    *p;
    ngx_http_functions_main_conf_t  *fmcf;

    fmcf = ngx_http_get_module_main_conf(r, ngx_http_functions_module);

    task = ngx_thread_task_alloc(r->pool,
                                 sizeof(ngx_http_functions_publish_t));
    if (task == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = task->ctx;
    p->request = r;
    p->conf = fmcf->amqp;
    ngx_memcpy(p->call_id, call_id, ULID_LEN);
    p->call_id[ULID_LEN] = '\0';

    p->app = (char *) ngx_pnalloc(r->pool, app->len + 1);
    p->path = (char *) ngx_pnalloc(r->pool, path->len + 1);
    if (p->app == NULL || p->path == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_cpystrn((u_char *) p->app, app->data, app->len + 1);
    ngx_cpystrn((u_char *) p->path, path->data, path->len + 1);

    p->route = *route;

    ctx = ngx_http_functions_ctx_get(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->publish = task;

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
    ngx_thread_task_t             *task;
    ngx_http_functions_ctx_t      *ctx;
    ngx_http_functions_publish_t  *p;

    ctx = ngx_http_functions_ctx_find(r);
    task = (ctx != NULL) ? ctx->publish : NULL;

    if (task == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    p = task->ctx;

    /* the body (perhaps in a temporary file) is read in the task */
    p->head = ngx_http_functions_async_message(r, p);
    if (p->head == NULL) {
        ngx_http_finalize_request(r,
            ngx_http_functions_async_answer(r, NGX_HTTP_INTERNAL_SERVER_ERROR,
                "{\"error\":{\"message\":\"cannot build the call\"}}"));
        return;
    }

    p->body = r->request_body ? r->request_body->bufs : NULL;

    task->handler = ngx_http_functions_publish_thread;
    task->event.handler = ngx_http_functions_publish_done;
    task->event.data = p;
    p->start = ngx_current_msec;

    if (ngx_thread_task_post(p->conf->pool, task) != NGX_OK) {
        free(p->head);
        p->head = NULL;
        ngx_http_finalize_request(r,
            ngx_http_functions_async_answer(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                "{\"error\":{\"message\":\"too many async calls at once\"}}"));
        return;
    }

    /* the request stays until the task is back */
    r->main->blocked++;
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

    o = json_pack("{s:s, s:s, s:s, s:o, s:s%, s:s%, s:o, s:i, s:I}",
                  "call_id", p->call_id,
                  "app", p->app,
                  "path", p->path,
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
        ngx_http_functions_log_cstr(&l, "app", p->app);
        ngx_http_functions_log_cstr(&l, "path", p->path);

        if (error != NULL) {
            ngx_http_functions_log_cstr(&l, "error", error);
        }

        ngx_http_functions_log_end(&l, log);
    }
}


/* ------------------------------------------------------ in a thread */

static void
ngx_http_functions_publish_record(ngx_http_functions_publish_t *p,
    ngx_log_t *log, ngx_uint_t queued)
{
    MYSQL                           *db = ngx_http_functions_amqp_db;
    char                            *q, *e;
    size_t                           len;
    ngx_http_functions_amqp_conf_t  *acf = p->conf;
    char                             esc[2 * 256 + 1];

    if (acf->db_name == NULL) {
        return;     /* no functions_mysql: nothing to record in */
    }

    if (db == NULL) {
        db = mysql_init(NULL);
        if (db == NULL) {
            return;
        }

        mysql_options(db, MYSQL_OPT_CONNECT_TIMEOUT, &acf->db_timeout);
        mysql_options(db, MYSQL_OPT_READ_TIMEOUT, &acf->db_timeout);
        mysql_options(db, MYSQL_OPT_WRITE_TIMEOUT, &acf->db_timeout);
        mysql_options(db, MYSQL_SET_CHARSET_NAME, "utf8mb4");
        mysql_options(db, MYSQL_INIT_COMMAND, "SET time_zone = '+00:00'");

        if (mysql_real_connect(db, acf->db_socket[0] ? NULL : acf->db_host,
                               acf->db_user, acf->db_password, acf->db_name,
                               acf->db_port,
                               acf->db_socket[0] ? acf->db_socket : NULL, 0)
            == NULL)
        {
            ngx_http_functions_async_log(p, log, NGX_LOG_WARN,
                                         "async call not recorded as queued",
                                         mysql_error(db));
            mysql_close(db);
            return;
        }

        ngx_http_functions_amqp_db = db;
    }

    len = sizeof("INSERT IGNORE INTO calls (id, app_name, path, status) "
                 "VALUES ('', '', '', 'queued')") + ULID_LEN + 2 * 30 + 2 * 255;

    q = malloc(len + sizeof(esc) * 2);
    if (q == NULL) {
        return;
    }

    e = q;

    if (queued) {
        e += sprintf(e, "INSERT IGNORE INTO calls (id, app_name, path, "
                     "status) VALUES ('%s', '", p->call_id);
        e += mysql_real_escape_string(db, e, p->app, strlen(p->app));
        e += sprintf(e, "', '");
        e += mysql_real_escape_string(db, e, p->path, strlen(p->path));
        e += sprintf(e, "', 'queued')");

    } else {
        e += sprintf(e, "DELETE FROM calls WHERE id = '%s' AND "
                     "status = 'queued'", p->call_id);
    }

    if (mysql_real_query(db, q, e - q) != 0) {
        ngx_http_functions_async_log(p, log, NGX_LOG_WARN,
                                     queued ? "async call not recorded"
                                            : "async call record not removed",
                                     mysql_error(db));
        mysql_close(db);
        ngx_http_functions_amqp_db = NULL;

    } else {
        p->recorded = queued;
    }

    free(q);
}


/*
 * The whole message: the head, and the body read (from memory or from
 * its temporary file: here, off the event loop) and base64-encoded.  The
 * request is blocked while the task runs, so its buffers stay.
 */

static ngx_int_t
ngx_http_functions_publish_body(ngx_http_functions_publish_t *p)
{
    u_char       *d;
    size_t        hlen, size;
    ssize_t       n;
    ngx_str_t     raw, b64;
    ngx_chain_t  *cl;

    size = 0;
    for (cl = p->body; cl; cl = cl->next) {
        size += ngx_buf_size(cl->buf);
    }

    raw.len = 0;
    raw.data = malloc(size + 1);
    b64.data = malloc(ngx_base64_encoded_length(size) + 1);
    hlen = ngx_strlen(p->head);
    p->message = malloc(hlen + ngx_base64_encoded_length(size)
                        + sizeof(",\"body\":\"\"}"));

    if (raw.data == NULL || b64.data == NULL || p->message == NULL) {
        ngx_cpystrn((u_char *) p->err, (u_char *) "out of memory",
                    sizeof(p->err));
        goto failed;
    }

    for (cl = p->body; cl; cl = cl->next) {
        if (cl->buf->in_file) {
            n = ngx_read_file(cl->buf->file, raw.data + raw.len,
                              cl->buf->file_last - cl->buf->file_pos,
                              cl->buf->file_pos);
            if (n != cl->buf->file_last - cl->buf->file_pos) {
                ngx_cpystrn((u_char *) p->err,
                            (u_char *) "cannot read the request body",
                            sizeof(p->err));
                goto failed;
            }

            raw.len += n;

        } else if (cl->buf->last != cl->buf->pos) {
            /* a chunked body ends with an empty buffer (pos NULL) */
            ngx_memcpy(raw.data + raw.len, cl->buf->pos,
                       cl->buf->last - cl->buf->pos);
            raw.len += cl->buf->last - cl->buf->pos;
        }
    }

    ngx_encode_base64(&b64, &raw);

    /* the head is compact JSON: its object ends with its last byte */
    d = ngx_cpymem(p->message, p->head, hlen - 1);
    d = ngx_cpymem(d, ",\"body\":\"", sizeof(",\"body\":\"") - 1);
    d = ngx_cpymem(d, b64.data, b64.len);
    *d++ = '"';
    *d++ = '}';
    p->len = d - (u_char *) p->message;

    free(raw.data);
    free(b64.data);

    return NGX_OK;

failed:

    free(raw.data);
    free(b64.data);
    free(p->message);
    p->message = NULL;

    return NGX_ERROR;
}


static void
ngx_http_functions_publish_thread(void *data, ngx_log_t *log)
{
    ngx_http_functions_publish_t  *p = data;

    int                    rc;
    uint64_t               tag;
    ngx_uint_t             try;
    struct amqp_settings  *s = &p->conf->settings;
    struct amqp_link      *l = &ngx_http_functions_amqp_link;

    if (ngx_http_functions_publish_body(p) != NGX_OK) {
        return;
    }

    /* a link found broken at publish time (or failing to open) gets one
     * fresh try */
    for (try = 0; try < 2 && !p->ok; try++) {

        /* opening races others declaring the same queues at times */
        if (!l->open
            && amqp_link_open(l, s, 1, p->err, sizeof(p->err)) != 0)
        {
            continue;
        }

        if (amqp_link_send(l, s->exchange, s->queue, p->message, p->len,
                           p->call_id, NULL, &tag, p->err, sizeof(p->err))
            != 0)
        {
            continue;
        }

        /* the record is written while the broker confirms: so that the
         * caller can look the call up as soon as it has its id, at the
         * cost of one round trip rather than two */
        if (!p->recorded) {
            ngx_http_functions_publish_record(p, log, 1);
        }

        rc = amqp_link_confirm(l, s, tag, s->exchange, s->queue, p->err,
                               sizeof(p->err));
        if (rc == 0) {
            p->ok = 1;
            break;
        }

        /* a nack (a queue not ready yet) stored nothing: again is safe */
        if (rc != -2 && l->open) {
            break;      /* unroutable: the broker's answer */
        }
    }

    if (!p->ok && p->recorded) {
        /* not accepted: no record of it (unless an executor ran it
         * after all, from a confirm that came too late) */
        ngx_http_functions_publish_record(p, log, 0);
    }
}


/* ------------------------------------------------- back in the loop */

static void
ngx_http_functions_publish_done(ngx_event_t *ev)
{
    ngx_connection_t              *c;
    ngx_http_request_t            *r;
    ngx_http_functions_publish_t  *p = ev->data;
    u_char                         buf[64];

    r = p->request;
    c = r->connection;

    r->main->blocked--;

    free(p->head);
    p->head = NULL;
    free(p->message);
    p->message = NULL;

    ngx_http_functions_metrics_observe(NGX_HTTP_FUNCTIONS_H_PUBLISH,
                                       ngx_current_msec - p->start);
    ngx_http_functions_metrics_count(p->ok
                                     ? NGX_HTTP_FUNCTIONS_M_ASYNC_ACCEPTED
                                     : NGX_HTTP_FUNCTIONS_M_ASYNC_FAILED);

    if (c->error) {
        /* the request was ended meanwhile: nothing to answer */
        ngx_http_functions_async_log(p, c->log, NGX_LOG_INFO,
                                     p->ok ? "async call accepted, its "
                                             "client gone"
                                           : "async call not accepted, its "
                                             "client gone", NULL);
        ngx_http_finalize_request(r, NGX_ERROR);
        ngx_http_run_posted_requests(c);
        return;
    }

    if (!p->ok) {
        ngx_http_functions_async_log(p, c->log, NGX_LOG_ERR,
                                     "async call not accepted", p->err);

        ngx_http_finalize_request(r,
            ngx_http_functions_async_answer(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                "{\"error\":{\"message\":\"the async call could not be "
                "queued, try again\"}}"));

    } else {
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
