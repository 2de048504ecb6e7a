
/*
 * /v1/apps and /v1/apps/{app}: list, create, read, update (config
 * merged), delete (only without routes).
 */


#include "ngx_http_functions_api.h"

#include <mysql.h>


#define NGX_HTTP_FUNCTIONS_APP_COLUMNS                                        \
    "SELECT a.name, a.config, "                                               \
    NGX_HTTP_FUNCTIONS_SQL_TIME("a.created_at") ", "                          \
    NGX_HTTP_FUNCTIONS_SQL_TIME("a.updated_at")                               \
    " FROM apps a"


static const char *const  ngx_http_functions_app_fields[] = {
    "name", "config", "created_at", "updated_at", NULL
};


static json_t *ngx_http_functions_app_json(ngx_http_functions_api_t *api,
    char **row, unsigned long *lengths);
static void ngx_http_functions_app_select(ngx_http_functions_api_t *api,
    ngx_http_functions_api_step_pt next, ngx_uint_t lock);
static void ngx_http_functions_apps_listed(ngx_http_functions_api_t *api);
static void ngx_http_functions_app_created(ngx_http_functions_api_t *api);
static void ngx_http_functions_app_answer(ngx_http_functions_api_t *api);
static void ngx_http_functions_app_patch_read(ngx_http_functions_api_t *api);
static void ngx_http_functions_app_patched(ngx_http_functions_api_t *api);
static void ngx_http_functions_app_deleted(ngx_http_functions_api_t *api);


/* a row of NGX_HTTP_FUNCTIONS_APP_COLUMNS as the API shows it */

static json_t *
ngx_http_functions_app_json(ngx_http_functions_api_t *api, char **row,
    unsigned long *lengths)
{
    json_t  *config;

    config = ngx_http_functions_api_column(row[1], lengths[1]);
    if (config == NULL) {
        return NULL;
    }

    return json_pack("{s:s%, s:o, s:s, s:s}",
                     "name", row[0], (size_t) lengths[0],
                     "config", config,
                     "created_at", row[2] ? row[2] : "",
                     "updated_at", row[3] ? row[3] : "");
}


/* lock: the row stays locked for the operation's change */

static void
ngx_http_functions_app_select(ngx_http_functions_api_t *api,
    ngx_http_functions_api_step_pt next, ngx_uint_t lock)
{
    ngx_http_functions_sql_t  sql;

    ngx_http_functions_api_sql_init(api, &sql);
    ngx_http_functions_sql_raw(&sql, NGX_HTTP_FUNCTIONS_APP_COLUMNS
                                     " WHERE a.name = ");
    ngx_http_functions_sql_str(&sql, api->app.data, api->app.len);

    if (lock) {
        ngx_http_functions_sql_raw(&sql, " FOR UPDATE");
        ngx_http_functions_api_lock(api, &sql, next);
        return;
    }

    ngx_http_functions_api_query(api, &sql, next);
}


/* ------------------------------------------------------------------ list */

void
ngx_http_functions_api_apps_list(ngx_http_functions_api_t *api)
{
    ngx_http_functions_sql_t  sql;

    ngx_http_functions_api_sql_init(api, &sql);
    ngx_http_functions_sql_raw(&sql, NGX_HTTP_FUNCTIONS_APP_COLUMNS);

    ngx_http_functions_sql_and(&sql, " WHERE a.name > ", &api->cursor);
    ngx_http_functions_sql_raw(&sql, " ORDER BY a.name LIMIT ");
    ngx_http_functions_sql_uint(&sql, api->per_page + 1);

    ngx_http_functions_api_query(api, &sql,
                                 ngx_http_functions_apps_listed);
}


static void
ngx_http_functions_apps_listed(ngx_http_functions_api_t *api)
{
    ngx_http_functions_api_rows(api, "Successfully listed applications",
                                "apps", ngx_http_functions_app_json);
}


/* ---------------------------------------------------------------- create */

void
ngx_http_functions_api_app_create(ngx_http_functions_api_t *api)
{
    json_t                    *app, *name, *config;
    char                      *dump;
    ngx_http_functions_sql_t   sql;
    char                       err[256];

    app = ngx_http_functions_api_wrapped(api, "app",
                                        ngx_http_functions_app_fields);
    if (app == NULL) {
        return;
    }

    name = json_object_get(app, "name");

    if (!json_is_string(name)
        || ngx_strlen(json_string_value(name)) != json_string_length(name)
        || !route_app_name_valid(json_string_value(name)))
    {
        ngx_http_functions_api_fail(api, NGX_HTTP_BAD_REQUEST,
                                    "app field \"name\" must be 1 to 30 of "
                                    "[A-Za-z0-9_-]");
        return;
    }

    config = json_object_get(app, "config");

    if (route_config_check(config, "app", "config", err, sizeof(err)) != 0) {
        ngx_http_functions_api_fail(api, NGX_HTTP_BAD_REQUEST, "%s", err);
        return;
    }

    api->app.len = json_string_length(name);
    api->app.data = ngx_pnalloc(api->pool, api->app.len);
    dump = (config && !json_is_null(config))
           ? json_dumps(config, JSON_COMPACT) : strdup("{}");

    if (api->app.data == NULL || dump == NULL) {
        free(dump);
        ngx_http_functions_api_no_memory(api);
        return;
    }

    ngx_memcpy(api->app.data, json_string_value(name), api->app.len);

    /* no route changes: an app alone is nothing to route to */
    ngx_http_functions_api_sql_init(api, &sql);
    ngx_http_functions_sql_raw(&sql,
                               "INSERT INTO apps (name, config) VALUES (");
    ngx_http_functions_sql_str(&sql, api->app.data, api->app.len);
    ngx_http_functions_sql_raw(&sql, ", ");
    ngx_http_functions_sql_str(&sql, (u_char *) dump, ngx_strlen(dump));
    ngx_http_functions_sql_raw(&sql, ")");

    free(dump);

    ngx_http_functions_api_query(api, &sql,
                                 ngx_http_functions_app_created);
}


static void
ngx_http_functions_app_created(ngx_http_functions_api_t *api)
{
    ngx_http_functions_query_t  *q = &api->query;

    if (q->rc == NGX_DECLINED
        && q->error == NGX_HTTP_FUNCTIONS_ER_DUP_ENTRY)
    {
        ngx_http_functions_api_fail(api, NGX_HTTP_CONFLICT,
                                    "App already exists");
        return;
    }

    if (ngx_http_functions_api_wrote(api) != NGX_OK) {
        return;
    }

    api->message = "App successfully created";

    ngx_http_functions_app_select(api, ngx_http_functions_app_answer, 0);
}


/* ------------------------------------------------------------------ read */

void
ngx_http_functions_api_app_get(ngx_http_functions_api_t *api)
{
    ngx_http_functions_app_select(api, ngx_http_functions_app_answer, 0);
}


/* The app as stored, after a read, a create or an update: 200 each
 * time, as IronFunctions answered, with its message. */

static void
ngx_http_functions_app_answer(ngx_http_functions_api_t *api)
{
    ngx_http_functions_api_one(api, "App not found",
                               ngx_http_functions_app_json,
                               "Successfully loaded app", "app",
                               "the stored app is unreadable");
}


/* ---------------------------------------------------------------- update */

void
ngx_http_functions_api_app_patch(ngx_http_functions_api_t *api)
{
    json_t  *app, *name, *config;

    app = ngx_http_functions_api_wrapped(api, "app",
                                        ngx_http_functions_app_fields);
    if (app == NULL) {
        return;
    }

    name = json_object_get(app, "name");

    if (name != NULL
        && (!json_is_string(name)
            || json_string_length(name) != api->app.len
            || ngx_strncmp(json_string_value(name), api->app.data,
                           api->app.len) != 0))
    {
        ngx_http_functions_api_fail(api, NGX_HTTP_BAD_REQUEST,
                                    "Could not update app - name is "
                                    "immutable");
        return;
    }

    config = json_object_get(app, "config");

    if (config != NULL && !json_is_object(config) && !json_is_null(config)) {
        ngx_http_functions_api_fail(api, NGX_HTTP_BAD_REQUEST,
                                    "app field \"config\" must be an "
                                    "object");
        return;
    }

    ngx_http_functions_app_select(api, ngx_http_functions_app_patch_read, 1);
}


/* The app as stored, locked: merge, check, write, and commit. */

static void
ngx_http_functions_app_patch_read(ngx_http_functions_api_t *api)
{
    char                        *dump;
    json_t                      *stored, *patch;
    MYSQL_ROW                    row;
    unsigned long               *lengths;
    ngx_http_functions_sql_t     sql;
    ngx_http_functions_query_t  *q = &api->query;
    char                         err[256];

    row = ngx_http_functions_api_row(api, "App not found", &lengths);
    if (row == NULL) {
        return;
    }

    stored = ngx_http_functions_api_column(row[1], lengths[1]);

    ngx_http_functions_query_free(q);

    if (stored == NULL) {
        ngx_http_functions_api_fail(api, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                    "the stored app is unreadable");
        return;
    }

    patch = json_object_get(json_object_get(api->body, "app"), "config");

    if (json_is_object(patch)
        && ngx_http_functions_api_merge_map(stored, patch) != NGX_OK)
    {
        json_decref(stored);
        ngx_http_functions_api_no_memory(api);
        return;
    }

    if (route_config_check(stored, "app", "config", err, sizeof(err)) != 0) {
        json_decref(stored);
        ngx_http_functions_api_fail(api, NGX_HTTP_BAD_REQUEST, "%s", err);
        return;
    }

    dump = json_dumps(stored, JSON_COMPACT);
    json_decref(stored);

    if (dump == NULL) {
        ngx_http_functions_api_no_memory(api);
        return;
    }

    /* in the transaction that locked the row */
    ngx_http_functions_api_sql_init(api, &sql);
    ngx_http_functions_api_sql_begin(api, &sql);
    ngx_http_functions_sql_raw(&sql, "UPDATE apps SET config = ");
    ngx_http_functions_sql_str(&sql, (u_char *) dump, ngx_strlen(dump));
    ngx_http_functions_sql_raw(&sql, ", updated_at = CURRENT_TIMESTAMP(6)"
                                     " WHERE name = ");
    ngx_http_functions_sql_str(&sql, api->app.data, api->app.len);
    ngx_http_functions_api_sql_commit(&sql, &api->app, NULL);

    free(dump);

    ngx_http_functions_api_query(api, &sql,
                                 ngx_http_functions_app_patched);
}


static void
ngx_http_functions_app_patched(ngx_http_functions_api_t *api)
{
    if (ngx_http_functions_api_wrote(api) != NGX_OK) {
        return;
    }

    ngx_http_functions_api_changed(api, NULL);

    api->message = "App successfully updated";

    ngx_http_functions_app_select(api, ngx_http_functions_app_answer, 0);
}


/* ---------------------------------------------------------------- delete */

void
ngx_http_functions_api_app_delete(ngx_http_functions_api_t *api)
{
    ngx_http_functions_sql_t  sql;

    /* the foreign key refuses it while the app has routes */
    ngx_http_functions_api_sql_init(api, &sql);
    ngx_http_functions_sql_raw(&sql, "DELETE FROM apps WHERE name = ");
    ngx_http_functions_sql_str(&sql, api->app.data, api->app.len);

    ngx_http_functions_api_query(api, &sql,
                                 ngx_http_functions_app_deleted);
}


static void
ngx_http_functions_app_deleted(ngx_http_functions_api_t *api)
{
    ngx_http_functions_query_t  *q = &api->query;

    if (q->rc == NGX_DECLINED
        && q->error == NGX_HTTP_FUNCTIONS_ER_ROW_IS_REFERENCED)
    {
        ngx_http_functions_api_fail(api, NGX_HTTP_BAD_REQUEST,
                                    "Cannot remove apps with routes");
        return;
    }

    if (ngx_http_functions_api_wrote(api) != NGX_OK) {
        return;
    }

    if (q->affected == 0) {
        ngx_http_functions_api_fail(api, NGX_HTTP_NOT_FOUND,
                                    "App not found");
        return;
    }

    ngx_http_functions_api_answer(api, NGX_HTTP_OK,
        json_pack("{s:s}", "message", "App deleted"));
}
