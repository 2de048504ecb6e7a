
/*
 * An API operation once its request is read (ngx_http_functions_api.c):
 * its statements, run through the non-blocking query layer, the rows they
 * return as JSON, and its answer.  The endpoints (..._api_apps.c,
 * ..._api_routes.c, ..._api_calls.c) are written with these steps.
 */


#include "ngx_http_functions_api.h"
#include "ngx_http_functions_cache.h"
#include "ngx_http_functions_ctx.h"
#include "ngx_http_functions_log.h"
#include "ngx_http_functions_send.h"

#include <mysql.h>


static void ngx_http_functions_api_run(ngx_http_functions_api_t *api,
    ngx_http_functions_api_step_pt next, ngx_uint_t hold);
static void ngx_http_functions_api_locked(ngx_http_functions_api_t *api);
static void ngx_http_functions_api_query_done(ngx_http_functions_query_t *q);
static void ngx_http_functions_api_again(ngx_http_functions_api_t *api);
static void ngx_http_functions_api_destroy(ngx_http_functions_api_t *api);


/* -------------------------------------------------------------- answers */

ngx_int_t
ngx_http_functions_api_send(ngx_http_request_t *r, ngx_uint_t status,
    json_t *out)
{
    char       *dump;
    ngx_int_t   rc;

    dump = out ? json_dumps(out, JSON_COMPACT) : NULL;
    json_decref(out);

    if (dump == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_functions_send_json(r, status, (u_char *) dump,
                                      ngx_strlen(dump),
                                      status == NGX_HTTP_SERVICE_UNAVAILABLE);
    free(dump);

    return rc;
}


/* An error before the body is read: nothing of it is kept. */

ngx_int_t
ngx_http_functions_api_send_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *message)
{
    ngx_int_t  rc;

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_http_functions_api_send(r, status,
               json_pack("{s:{s:s}}", "error", "message", message));
}


/* The operation's answer: out is consumed; the operation ends here. */

void
ngx_http_functions_api_answer(ngx_http_functions_api_t *api,
    ngx_uint_t status, json_t *out)
{
    ngx_int_t                  rc;
    ngx_http_request_t        *r = api->request;
    ngx_http_functions_ctx_t  *ctx;

    api->cleanup->handler = NULL;
    ctx = ngx_http_functions_ctx_find(r);
    if (ctx != NULL) {
        ctx->api = NULL;
    }
    ngx_http_functions_api_destroy(api);

    rc = ngx_http_functions_api_send(r, status, out);

    ngx_http_finalize_request(r, rc);
}


void
ngx_http_functions_api_fail(ngx_http_functions_api_t *api, ngx_uint_t status,
    const char *fmt, ...)
{
    u_char   *p, *q;
    va_list   args;
    u_char    message[512];

    va_start(args, fmt);
    p = ngx_vslprintf(message, message + sizeof(message) - 1, fmt, args);
    va_end(args);

    *p = '\0';

    /* a message may quote the client's bytes (a JSON parser's "near
     * ..."): keep it printable ASCII, so that it is valid JSON text */
    for (q = message; q < p; q++) {
        if (*q < 0x20 || *q >= 0x7f) {
            *q = '?';
        }
    }

    ngx_http_functions_api_answer(api, status,
        json_pack("{s:{s:s}}", "error", "message", (char *) message));
}


void
ngx_http_functions_api_no_memory(ngx_http_functions_api_t *api)
{
    ngx_http_functions_api_fail(api, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                "out of memory");
}


ngx_int_t
ngx_http_functions_api_wrote(ngx_http_functions_api_t *api)
{
    if (api->query.rc != NGX_OK) {
        ngx_http_functions_api_db_failed(api);
        return NGX_ERROR;
    }

    ngx_http_functions_query_free(&api->query);

    return NGX_OK;
}


void
ngx_http_functions_api_one(ngx_http_functions_api_t *api,
    const char *not_found, ngx_http_functions_api_item_pt item,
    const char *message, const char *name, const char *error)
{
    MYSQL_ROW       row;
    unsigned long  *lengths;

    row = ngx_http_functions_api_row(api, not_found, &lengths);
    if (row == NULL) {
        return;
    }

    ngx_http_functions_api_object(api, message, name,
                                  item(api, row, lengths), error);
}


void
ngx_http_functions_api_object(ngx_http_functions_api_t *api,
    const char *message, const char *name, json_t *o, const char *error)
{
    ngx_http_functions_query_free(&api->query);

    if (o == NULL) {
        ngx_http_functions_api_fail(api, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                    "%s", error);
        return;
    }

    ngx_http_functions_api_answer(api, NGX_HTTP_OK,
        json_pack("{s:s, s:o}", "message",
                  api->message ? api->message : message, name, o));
}


/* A query that did not give what the endpoint knows how to answer. */

void
ngx_http_functions_api_db_failed(ngx_http_functions_api_t *api)
{
    ngx_http_functions_log_t     l;
    ngx_http_functions_query_t  *q = &api->query;

    ngx_http_functions_query_free(q);

    if (q->rc == NGX_ERROR
        || (q->rc == NGX_DECLINED
            && (q->error == 1205
                || q->error == NGX_HTTP_FUNCTIONS_ER_DEADLOCK
                || q->error == NGX_HTTP_FUNCTIONS_ER_NOT_READY
                || q->error == NGX_HTTP_FUNCTIONS_ER_COMMIT)))
    {
        /* unreachable, frozen, a lock wait, or a node out of its cluster:
         * worth another try */
        ngx_http_functions_api_fail(api, NGX_HTTP_SERVICE_UNAVAILABLE,
                                    "the database is unavailable, "
                                    "try again");
        return;
    }

    if (ngx_http_functions_log_begin(&l, api->request->connection->log,
                                     NGX_LOG_ERR,
                                     "api: unexpected database answer"))
    {
        ngx_http_functions_log_int(&l, "mysql_error", q->error);
        ngx_http_functions_log_end(&l, api->request->connection->log);
    }

    ngx_http_functions_api_fail(api, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                "database error");
}


/* --------------------------------------------------------------- queries */

void
ngx_http_functions_api_sql_init(ngx_http_functions_api_t *api,
    ngx_http_functions_sql_t *sql)
{
    ngx_memzero(sql, sizeof(ngx_http_functions_sql_t));
    sql->pool = api->pool;
}


/*
 * A change is one compound statement: its own transaction (or, after
 * ngx_http_functions_api_lock(), the one that locked the rows read),
 * rolled back and re-signalled (with the server's error number) on any
 * error, and committed with the generation bump that tells every nginx
 * instance.
 */

void
ngx_http_functions_api_sql_begin(ngx_http_functions_api_t *api,
    ngx_http_functions_sql_t *sql)
{
    ngx_http_functions_sql_raw(sql,
        "BEGIN NOT ATOMIC"
        " DECLARE EXIT HANDLER FOR SQLEXCEPTION"
        " BEGIN ROLLBACK; RESIGNAL; END; ");

    if (api->query.conn == NULL) {
        ngx_http_functions_sql_raw(sql, "START TRANSACTION; ");
    }
}


/* The statement before changed no row: the whole change fails. */

void
ngx_http_functions_api_sql_require_row(ngx_http_functions_sql_t *sql)
{
    ngx_http_functions_sql_raw(sql,
        "; IF ROW_COUNT() = 0 THEN SIGNAL SQLSTATE '45000'"
        " SET MYSQL_ERRNO = 30404, MESSAGE_TEXT = 'no such row'; END IF");
}


/* path NULL: the whole app changed. */

void
ngx_http_functions_api_sql_commit(ngx_http_functions_sql_t *sql,
    ngx_str_t *app, ngx_str_t *path)
{
    ngx_http_functions_sql_raw(sql,
        "; UPDATE generation SET value = value + 1 WHERE id = 1"
        "; INSERT INTO route_changes (generation, app_name, path)"
        " SELECT value, ");
    ngx_http_functions_sql_str(sql, app->data, app->len);
    ngx_http_functions_sql_raw(sql, ", ");

    if (path != NULL) {
        ngx_http_functions_sql_str(sql, path->data, path->len);

    } else {
        ngx_http_functions_sql_raw(sql, "NULL");
    }

    ngx_http_functions_sql_raw(sql,
        " FROM generation WHERE id = 1; COMMIT; END");
}


/*
 * Runs the statement; next goes on with its answer.  A statement that
 * cannot even be posted (no memory) ends the operation with a 500.
 */

void
ngx_http_functions_api_query(ngx_http_functions_api_t *api,
    ngx_http_functions_sql_t *sql, ngx_http_functions_api_step_pt next)
{
    if (ngx_http_functions_sql_done(sql, &api->query.sql) != NGX_OK) {
        ngx_http_functions_api_no_memory(api);
        return;
    }

    ngx_http_functions_api_run(api, next, 0);
}


/*
 * Runs sql, a SELECT ... FOR UPDATE, in a transaction of its own: next
 * has its answer with the rows locked.  The operation holds the
 * connection until its next change statement commits the transaction
 * (ngx_http_functions_api_sql_begin() starts none then), or until it
 * ends otherwise: then the transaction is rolled back.
 */

void
ngx_http_functions_api_lock(ngx_http_functions_api_t *api,
    ngx_http_functions_sql_t *sql, ngx_http_functions_api_step_pt next)
{
    if (ngx_http_functions_sql_done(sql, &api->locked_sql) != NGX_OK) {
        ngx_http_functions_api_no_memory(api);
        return;
    }

    api->locked_next = next;

    ngx_str_set(&api->query.sql, "START TRANSACTION");

    ngx_http_functions_api_run(api, ngx_http_functions_api_locked, 1);
}


static void
ngx_http_functions_api_locked(ngx_http_functions_api_t *api)
{
    ngx_http_functions_query_t  *q = &api->query;

    if (ngx_http_functions_api_wrote(api) != NGX_OK) {
        return;
    }

    q->sql = api->locked_sql;

    ngx_http_functions_api_run(api, api->locked_next, 1);
}


/* Posts api->query; hold: its connection stays with the operation. */

static void
ngx_http_functions_api_run(ngx_http_functions_api_t *api,
    ngx_http_functions_api_step_pt next, ngx_uint_t hold)
{
    ngx_http_functions_query_t  *q = &api->query;

    q->handler = ngx_http_functions_api_query_done;
    q->data = api;
    q->quiet = 1;
    q->hold = hold;

    api->next = next;
    api->busy = 1;

    if (ngx_http_functions_query_post(api->fmcf->db, q) != NGX_OK) {
        api->busy = 0;
        ngx_http_functions_api_no_memory(api);
    }
}


static void
ngx_http_functions_api_query_done(ngx_http_functions_query_t *q)
{
    ngx_connection_t          *c;
    ngx_http_functions_api_t  *api = q->data;

    api->busy = 0;

    if (api->request == NULL) {
        /* the request went away meanwhile; a write is done all the same */
        ngx_http_functions_query_free(q);
        ngx_http_functions_api_destroy(api);
        return;
    }

    c = api->request->connection;

    /* a statement of the locked transaction, which did not commit */
    if (api->locked_next != NULL
        && q->continued
        && q->rc == NGX_DECLINED
        && (q->error == NGX_HTTP_FUNCTIONS_ER_DEADLOCK
            || q->error == NGX_HTTP_FUNCTIONS_ER_NOT_READY)
        && api->tries + 1 < NGX_HTTP_FUNCTIONS_API_TRIES)
    {
        ngx_http_functions_api_again(api);
        ngx_http_run_posted_requests(c);
        return;
    }

    api->next(api);

    ngx_http_run_posted_requests(c);
}


/*
 * A change that locked rows first lost its transaction before it
 * committed: to another node's commit of the same rows (Galera's
 * certification, error 1213) or to its node leaving the cluster (1047).
 * Nothing of it was written: it starts again from the locking read.
 */

static void
ngx_http_functions_api_again(ngx_http_functions_api_t *api)
{
    ngx_http_functions_log_t     l;
    ngx_http_functions_query_t  *q = &api->query;

    if (ngx_http_functions_log_begin(&l, api->request->connection->log,
                                     NGX_LOG_WARN, "api: change tried again"))
    {
        ngx_http_functions_log_int(&l, "mysql_error", q->error);
        ngx_http_functions_log_end(&l, api->request->connection->log);
    }

    api->tries++;

    ngx_http_functions_query_free(q);

    /* the step after the lock makes it again */
    json_decref(api->object);
    api->object = NULL;

    ngx_str_set(&q->sql, "START TRANSACTION");

    ngx_http_functions_api_run(api, ngx_http_functions_api_locked, 1);
}


void
ngx_http_functions_api_cleanup(void *data)
{
    ngx_http_functions_api_t  *api = data;

    if (api->busy) {
        api->request = NULL;
        return;
    }

    ngx_http_functions_api_destroy(api);
}


static void
ngx_http_functions_api_destroy(ngx_http_functions_api_t *api)
{
    /* a transaction it still holds is rolled back */
    ngx_http_functions_query_release(&api->query);

    json_decref(api->body);
    json_decref(api->object);
    ngx_destroy_pool(api->pool);
}


/* ------------------------------------------------------------ JSON bits */

/*
 * {"<name>": {...}} with only the keys in fields (NULL-terminated): the
 * object inside, or NULL (answered 400).  Beside it, the wrapper may hold
 * "message" and "error", as IronFunctions' answers do (its spec declares
 * them in the wrappers): a client that sends back what it read is not
 * refused, and they are ignored.
 */

json_t *
ngx_http_functions_api_wrapped(ngx_http_functions_api_t *api,
    const char *name, const char *const *fields)
{
    json_t             *inner, *v;
    const char         *key;
    const char *const  *f;

    inner = json_object_get(api->body, name);

    if (!json_is_object(api->body) || !json_is_object(inner)) {
        ngx_http_functions_api_fail(api, NGX_HTTP_BAD_REQUEST,
                                    "the body must be {\"%s\": {...}}",
                                    name);
        return NULL;
    }

    json_object_foreach(api->body, key, v) {
        if (ngx_strcmp(key, name) != 0 && ngx_strcmp(key, "message") != 0
            && ngx_strcmp(key, "error") != 0)
        {
            ngx_http_functions_api_fail(api, NGX_HTTP_BAD_REQUEST,
                                        "the body must be {\"%s\": {...}}"
                                        " (beside it, only \"message\" and"
                                        " \"error\")", name);
            return NULL;
        }
    }

    json_object_foreach(inner, key, v) {
        for (f = fields; *f; f++) {
            if (ngx_strcmp(key, *f) == 0) {
                break;
            }
        }

        if (*f == NULL) {
            ngx_http_functions_api_fail(api, NGX_HTTP_BAD_REQUEST,
                                        "%s field \"%*s\" is unknown", name,
                                        ngx_min(ngx_strlen(key), 64), key);
            return NULL;
        }
    }

    return inner;
}


/* A JSON column (config, headers): an object, {} if NULL or broken. */

json_t *
ngx_http_functions_api_column(const char *s, unsigned long len)
{
    json_t  *v;

    if (s == NULL) {
        return json_object();
    }

    v = json_loadb(s, len, JSON_REJECT_DUPLICATES, NULL);

    if (!json_is_object(v)) {
        json_decref(v);
        return NULL;
    }

    return v;
}


/*
 * The first row of the query's result, and its lengths; or NULL, and the
 * operation answered: the database failed, or there is no row (404 with
 * not_found).  The result stays until ngx_http_functions_query_free().
 */

char **
ngx_http_functions_api_row(ngx_http_functions_api_t *api,
    const char *not_found, unsigned long **lengths)
{
    MYSQL_ROW                    row;
    ngx_http_functions_query_t  *q = &api->query;

    if (q->rc != NGX_OK || q->res == NULL) {
        ngx_http_functions_api_db_failed(api);
        return NULL;
    }

    row = mysql_fetch_row(q->res);

    if (row == NULL) {
        ngx_http_functions_query_free(q);
        ngx_http_functions_api_fail(api, NGX_HTTP_NOT_FOUND, "%s",
                                    not_found);
        return NULL;
    }

    *lengths = mysql_fetch_lengths(q->res);

    return row;
}


/*
 * A page of a list query (up to per_page + 1 rows, or until a row whose
 * first column is NULL, as a LEFT JOIN gives): {"message", "<name>":
 * [items], "next_cursor"}, where the cursor is the first column of the
 * last row shown, when there is more.  A list asked without paging that
 * the cap cut also says so in a header, NGX_HTTP_FUNCTIONS_TRUNCATED.
 */

void
ngx_http_functions_api_rows(ngx_http_functions_api_t *api,
    const char *message, const char *name,
    ngx_http_functions_api_item_pt item)
{
    json_t                      *items, *one, *out;
    MYSQL_ROW                    row;
    ngx_str_t                    last, cursor;
    ngx_table_elt_t             *h;
    ngx_uint_t                   n, more;
    unsigned long               *lengths;
    ngx_http_functions_query_t  *q = &api->query;

    if (q->rc != NGX_OK || q->res == NULL) {
        ngx_http_functions_api_db_failed(api);
        return;
    }

    items = json_array();
    ngx_str_null(&last);
    more = 0;
    n = 0;

    while (items != NULL && (row = mysql_fetch_row(q->res)) != NULL) {
        if (row[0] == NULL) {
            break;
        }

        if (n++ == api->per_page) {
            more = 1;
            break;
        }

        lengths = mysql_fetch_lengths(q->res);
        one = item(api, row, lengths);

        last.data = ngx_pnalloc(api->pool, lengths[0]);

        if (one == NULL || json_array_append_new(items, one) != 0
            || last.data == NULL)
        {
            json_decref(items);
            items = NULL;
            break;
        }

        ngx_memcpy(last.data, row[0], lengths[0]);
        last.len = lengths[0];
    }

    ngx_http_functions_query_free(q);

    out = items ? json_pack("{s:s, s:o}", "message", message, name, items)
                : NULL;

    if (out != NULL && more) {
        cursor.data = ngx_pnalloc(api->pool,
                                  ngx_base64_encoded_length(last.len));
        if (cursor.data == NULL) {
            json_decref(out);
            out = NULL;

        } else {
            ngx_encode_base64url(&cursor, &last);

            if (json_object_set_new(out, "next_cursor",
                                    json_stringn((char *) cursor.data,
                                                 cursor.len))
                != 0)
            {
                json_decref(out);
                out = NULL;
            }
        }
    }

    if (out != NULL && more && api->unpaged) {
        h = ngx_list_push(&api->request->headers_out.headers);
        if (h == NULL) {
            json_decref(out);
            out = NULL;

        } else {
            h->hash = 1;
            ngx_str_set(&h->key, NGX_HTTP_FUNCTIONS_TRUNCATED);
            ngx_str_set(&h->value, "true");
        }
    }

    if (out == NULL) {
        ngx_http_functions_api_fail(api, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                    "cannot list the %s", name);
        return;
    }

    ngx_http_functions_api_answer(api, NGX_HTTP_OK, out);
}


/* PATCH: keys of patch override stored ones; "", [] or null removes one. */

ngx_int_t
ngx_http_functions_api_merge_map(json_t *stored, json_t *patch)
{
    json_t      *v;
    const char  *key;

    json_object_foreach(patch, key, v) {
        if (json_is_null(v)
            || (json_is_string(v) && json_string_length(v) == 0)
            || (json_is_array(v) && json_array_size(v) == 0))
        {
            json_object_del(stored, key);
            continue;
        }

        if (json_object_set(stored, key, v) != 0) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/* A write went through: this instance forgets the old at once (the
 * others within a second, through the generation). */

void
ngx_http_functions_api_changed(ngx_http_functions_api_t *api,
    ngx_str_t *path)
{
    if (api->fmcf->cache_zone != NULL) {
        ngx_http_functions_cache_drop(api->fmcf->cache_zone, &api->app, path);
    }
}


ngx_int_t
ngx_http_functions_api_arg(ngx_http_request_t *r,
    ngx_http_functions_api_t *api, char *name, ngx_str_t *value)
{
    u_char     *dst, *src;
    ngx_str_t   raw;

    if (ngx_http_arg(r, (u_char *) name, ngx_strlen(name), &raw) != NGX_OK) {
        return NGX_DECLINED;
    }

    dst = ngx_pnalloc(api->pool, raw.len + 1);
    if (dst == NULL) {
        return NGX_ERROR;
    }

    value->data = dst;
    src = raw.data;
    ngx_unescape_uri(&dst, &src, raw.len, NGX_UNESCAPE_URI);
    *dst = '\0';
    value->len = dst - value->data;

    return NGX_OK;
}
