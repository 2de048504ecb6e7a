
/*
 * /v1/apps/{app}/calls[/{id}[/log]]: what became of async calls, as Fn
 * showed them.  Records are written by executors ("running", then
 * "success", "error" or "timeout", with the call's stderr log) and, without
 * functions_async_key, by the module ("queued", once RabbitMQ confirmed the
 * call).  With the key, an accepted call's id is sealed
 * (ngx_http_functions_call_tag.h) and no record is written: a sealed id of
 * the app without a row is a call still queued, shown from the id alone
 * (no path, which the id does not hold; lists show rows only).  Lists are
 * newest first (call ids are ULIDs: they sort by time).
 */


#include "ngx_http_functions_api.h"
#include "ngx_http_functions_call_tag.h"
#include "ulid.h"

#include <mysql.h>


#define NGX_HTTP_FUNCTIONS_CALL_COLUMNS                                       \
    "SELECT c.id, c.path, c.status, c.reason, c.error, c.attempt, "           \
    NGX_HTTP_FUNCTIONS_SQL_TIME("c.created_at") ", "                          \
    NGX_HTTP_FUNCTIONS_SQL_TIME("c.started_at") ", "                          \
    NGX_HTTP_FUNCTIONS_SQL_TIME("c.completed_at")                             \
    " FROM calls c"


static const char *const  ngx_http_functions_call_statuses[] = {
    "queued", "running", "success", "error", "timeout", NULL
};


static json_t *ngx_http_functions_call_json(ngx_http_functions_api_t *api,
    char **row, unsigned long *lengths);
static void ngx_http_functions_calls_listed(ngx_http_functions_api_t *api);
static void ngx_http_functions_call_read(ngx_http_functions_api_t *api,
    const char *head, const char *and_app,
    ngx_http_functions_api_step_pt next);
static void ngx_http_functions_call_answer(ngx_http_functions_api_t *api);
static json_t *ngx_http_functions_call_queued(ngx_http_functions_api_t *api);
static void ngx_http_functions_call_log_answer(ngx_http_functions_api_t *api);


ngx_int_t
ngx_http_functions_api_call_args(ngx_http_request_t *r,
    ngx_http_functions_api_t *api, const char **error)
{
    ngx_int_t            rc;
    ngx_str_t            value;
    const char *const   *s;

    rc = ngx_http_functions_api_arg(r, api, "path", &api->filter_path);

    if (rc == NGX_ERROR) {
        *error = "out of memory";
        return NGX_ERROR;
    }

    if (rc == NGX_OK && !route_path_valid((char *) api->filter_path.data)) {
        *error = "path must be a route path";
        return NGX_ERROR;
    }

    if (ngx_http_arg(r, (u_char *) "status", 6, &value) == NGX_OK) {
        for (s = ngx_http_functions_call_statuses; *s; s++) {
            if (value.len == ngx_strlen(*s)
                && ngx_strncmp(value.data, *s, value.len) == 0)
            {
                break;
            }
        }

        if (*s == NULL) {
            *error = "status must be one of queued, running, success, "
                     "error, timeout";
            return NGX_ERROR;
        }

        api->status.data = (u_char *) *s;
        api->status.len = value.len;
    }

    if (ngx_http_arg(r, (u_char *) "from_time", 9, &value) == NGX_OK) {
        api->from_time = ngx_atotm(value.data, value.len);
        if (api->from_time == NGX_ERROR) {
            *error = "from_time must be a Unix time in seconds";
            return NGX_ERROR;
        }
    }

    if (ngx_http_arg(r, (u_char *) "to_time", 7, &value) == NGX_OK) {
        api->to_time = ngx_atotm(value.data, value.len);
        if (api->to_time == NGX_ERROR) {
            *error = "to_time must be a Unix time in seconds";
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static json_t *
ngx_http_functions_call_json(ngx_http_functions_api_t *api, char **row,
    unsigned long *lengths)
{
    json_t  *o;

    o = json_pack("{s:s%, s:s%, s:s%, s:s%, s:I}",
                  "id", row[0], (size_t) lengths[0],
                  "app_name", api->app.data, api->app.len,
                  "path", row[1], (size_t) lengths[1],
                  "status", row[2], (size_t) lengths[2],
                  "attempt", (json_int_t) (row[5] ? atoll(row[5]) : 0));
    if (o == NULL) {
        return NULL;
    }

    /* what is not known yet is absent */
    if (row[3]) {
        json_object_set_new(o, "reason", json_stringn(row[3], lengths[3]));
    }

    if (row[4]) {
        json_object_set_new(o, "error", json_stringn(row[4], lengths[4]));
    }

    if (row[6]) {
        json_object_set_new(o, "created_at", json_string(row[6]));
    }

    if (row[7]) {
        json_object_set_new(o, "started_at", json_string(row[7]));
    }

    if (row[8]) {
        json_object_set_new(o, "completed_at", json_string(row[8]));
    }

    return o;
}


/* ------------------------------------------------------------------ list */

void
ngx_http_functions_api_calls_list(ngx_http_functions_api_t *api)
{
    ngx_http_functions_sql_t  sql;

    ngx_http_functions_api_sql_init(api, &sql);
    ngx_http_functions_sql_raw(&sql, NGX_HTTP_FUNCTIONS_CALL_COLUMNS
                                     " WHERE c.app_name = ");
    ngx_http_functions_sql_str(&sql, api->app.data, api->app.len);

    ngx_http_functions_sql_and(&sql, " AND c.path = ", &api->filter_path);
    ngx_http_functions_sql_and(&sql, " AND c.status = ", &api->status);

    if (api->from_time) {
        ngx_http_functions_sql_raw(&sql, " AND c.created_at >= "
                                         "FROM_UNIXTIME(");
        ngx_http_functions_sql_uint(&sql, api->from_time);
        ngx_http_functions_sql_raw(&sql, ")");
    }

    if (api->to_time) {
        ngx_http_functions_sql_raw(&sql, " AND c.created_at < "
                                         "FROM_UNIXTIME(");
        ngx_http_functions_sql_uint(&sql, api->to_time);
        ngx_http_functions_sql_raw(&sql, ")");
    }

    ngx_http_functions_sql_and(&sql, " AND c.id < ", &api->cursor);
    ngx_http_functions_sql_raw(&sql, " ORDER BY c.id DESC LIMIT ");
    ngx_http_functions_sql_uint(&sql, api->per_page + 1);

    ngx_http_functions_api_query(api, &sql,
                                 ngx_http_functions_calls_listed);
}


static void
ngx_http_functions_calls_listed(ngx_http_functions_api_t *api)
{
    ngx_http_functions_api_rows(api, "Successfully listed calls", "calls",
                                ngx_http_functions_call_json);
}


/* ------------------------------------------------------------------ read */

void
ngx_http_functions_api_call_get(ngx_http_functions_api_t *api)
{
    ngx_http_functions_call_read(api, NGX_HTTP_FUNCTIONS_CALL_COLUMNS
                                      " WHERE c.id = ",
                                 " AND c.app_name = ",
                                 ngx_http_functions_call_answer);
}


/* the call of the URL in the URL's app: head, its id, and, its app */

static void
ngx_http_functions_call_read(ngx_http_functions_api_t *api,
    const char *head, const char *and_app, ngx_http_functions_api_step_pt next)
{
    ngx_http_functions_sql_t  sql;

    ngx_http_functions_api_sql_init(api, &sql);
    ngx_http_functions_sql_raw(&sql, head);
    ngx_http_functions_sql_str(&sql, api->path.data, api->path.len);
    ngx_http_functions_sql_raw(&sql, and_app);
    ngx_http_functions_sql_str(&sql, api->app.data, api->app.len);

    ngx_http_functions_api_query(api, &sql, next);
}


static void
ngx_http_functions_call_answer(ngx_http_functions_api_t *api)
{
    ngx_http_functions_query_t  *q = &api->query;

    if (q->rc == NGX_OK && q->res != NULL && mysql_num_rows(q->res) == 0
        && api->fmcf->async_key.len
        && functions_call_tag_sealed((char *) api->path.data, api->path.len,
                                     api->fmcf->async_key.data,
                                     api->fmcf->async_key.len,
                                     (char *) api->app.data, api->app.len))
    {
        ngx_http_functions_api_object(api, "Successfully loaded call",
                                      "call",
                                      ngx_http_functions_call_queued(api),
                                      "out of memory");
        return;
    }

    ngx_http_functions_api_one(api, "Call not found",
                               ngx_http_functions_call_json,
                               "Successfully loaded call", "call",
                               "out of memory");
}


/* An accepted call no executor took yet: what its sealed id tells. */

static json_t *
ngx_http_functions_call_queued(ngx_http_functions_api_t *api)
{
    time_t      sec;
    uint64_t    ms;
    struct tm   tm;
    char        created[32];

    ms = ulid_time((char *) api->path.data);
    sec = (time_t) (ms / 1000);

    if (gmtime_r(&sec, &tm) == NULL) {
        return NULL;
    }

    /* as the rows' DATETIME(6) show it */
    ngx_sprintf((u_char *) created, "%4d-%02d-%02dT%02d:%02d:%02d.%03ui000Z%Z",
                tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                tm.tm_min, tm.tm_sec, (ngx_uint_t) (ms % 1000));

    return json_pack("{s:s%, s:s%, s:s, s:I, s:s}",
                     "id", api->path.data, api->path.len,
                     "app_name", api->app.data, api->app.len,
                     "status", "queued",
                     "attempt", (json_int_t) 1,
                     "created_at", created);
}


/* ------------------------------------------------------------------- log */

void
ngx_http_functions_api_call_log(ngx_http_functions_api_t *api)
{
    ngx_http_functions_call_read(api, "SELECT log FROM call_logs"
                                      " WHERE call_id = ",
                                 " AND app_name = ",
                                 ngx_http_functions_call_log_answer);
}


static void
ngx_http_functions_call_log_answer(ngx_http_functions_api_t *api)
{
    json_t         *log;
    MYSQL_ROW       row;
    unsigned long  *lengths;

    row = ngx_http_functions_api_row(api, "Log not found", &lengths);
    if (row == NULL) {
        return;
    }

    /* a log is the function's bytes: shown as text, invalid UTF-8
     * replaced */
    log = json_pack("{s:s%, s:s%}", "call_id", api->path.data, api->path.len,
                    "log", row[0], (size_t) lengths[0]);

    if (log == NULL) {
        log = json_pack("{s:s%, s:s}", "call_id", api->path.data,
                        api->path.len, "log",
                        "(the log is not valid UTF-8)");
    }

    ngx_http_functions_api_object(api, "Successfully loaded log", "log", log,
                                  "out of memory");
}
