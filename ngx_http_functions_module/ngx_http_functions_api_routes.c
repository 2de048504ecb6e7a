
/*
 * /v1/apps/{app}/routes and /v1/apps/{app}/routes/{path...}: list,
 * create (the app too, if missing), read, update (fields merged), delete.
 *
 * A route is checked by the same code as the executor checks the route a
 * call carries (common/route_def.c): one list of formats, types and
 * limits everywhere.
 */


#include "ngx_http_functions_api.h"
#include "image_ref.h"

#include <mysql.h>


/* the columns of a route; after a LEFT JOIN from apps, NULL: none */
#define NGX_HTTP_FUNCTIONS_ROUTE_COLUMNS                                      \
    "SELECT r.path, r.image, r.memory, r.type, r.format, r.timeout,"          \
    " r.idle_timeout, r.max_concurrency, r.headers, r.config, r.jwt_key, "    \
    NGX_HTTP_FUNCTIONS_SQL_TIME("r.created_at") ", "                          \
    NGX_HTTP_FUNCTIONS_SQL_TIME("r.updated_at")


static const char *const  ngx_http_functions_route_fields[] = {
    "app_name", "path", "image", "memory", "type", "format", "timeout",
    "idle_timeout", "max_concurrency", "headers", "config", "jwt_key",
    "created_at", "updated_at", NULL
};

/* what a PATCH sets as given (null: back to the default) */
static const char *const  ngx_http_functions_route_scalars[] = {
    "image", "memory", "type", "format", "timeout", "idle_timeout",
    "max_concurrency", NULL
};

/* what a PATCH merges key by key */
static const char *const  ngx_http_functions_route_maps[] = {
    "headers", "config", NULL
};


static json_t *ngx_http_functions_route_json(ngx_str_t *app, MYSQL_ROW row,
    unsigned long *lengths, ngx_uint_t mask);
static void ngx_http_functions_route_select(ngx_http_functions_api_t *api,
    ngx_http_functions_api_step_pt next, ngx_uint_t lock);
static ngx_int_t ngx_http_functions_route_differs(json_t *route,
    const char *field, ngx_str_t *s);
static json_t *ngx_http_functions_route_body(ngx_http_functions_api_t *api,
    const char *app_error);
static char *ngx_http_functions_route_map(json_t *o, const char *field);
static void ngx_http_functions_route_column(ngx_http_functions_sql_t *sql,
    ngx_uint_t create, const char *column);
static void ngx_http_functions_route_write(ngx_http_functions_api_t *api);
static void ngx_http_functions_routes_listed(ngx_http_functions_api_t *api);
static json_t *ngx_http_functions_route_item(ngx_http_functions_api_t *api,
    char **row, unsigned long *lengths);
static void ngx_http_functions_route_written(ngx_http_functions_api_t *api);
static json_t *ngx_http_functions_route_read(ngx_http_functions_api_t *api);
static void ngx_http_functions_route_answer(ngx_http_functions_api_t *api);
static ngx_int_t ngx_http_functions_route_registry(
    ngx_http_functions_api_t *api, const char *image);
static void ngx_http_functions_route_patch_read(
    ngx_http_functions_api_t *api);
static void ngx_http_functions_route_deleted(ngx_http_functions_api_t *api);


/*
 * A row as a list shows it (mask: jwt_key as NGX_HTTP_FUNCTIONS_JWT_MASK
 * when set), or as one route's answer shows it and a PATCH merges into it
 * (the key itself).
 */

static json_t *
ngx_http_functions_route_json(ngx_str_t *app, MYSQL_ROW row,
    unsigned long *lengths, ngx_uint_t mask)
{
    json_t      *headers, *config;
    const char  *jwt;
    size_t       jwt_len;

    headers = ngx_http_functions_api_column(row[8], lengths[8]);
    config = ngx_http_functions_api_column(row[9], lengths[9]);

    if (headers == NULL || config == NULL) {
        json_decref(headers);
        json_decref(config);
        return NULL;
    }

    jwt = row[10] ? row[10] : "";
    jwt_len = lengths[10];

    if (mask && jwt_len) {
        jwt = NGX_HTTP_FUNCTIONS_JWT_MASK;
        jwt_len = sizeof(NGX_HTTP_FUNCTIONS_JWT_MASK) - 1;
    }

    return json_pack("{s:s%, s:s%, s:s%, s:I, s:s, s:s, s:I, s:I, s:I,"
                     " s:o, s:o, s:s%, s:s, s:s}",
                     "app_name", app->data, app->len,
                     "path", row[0], (size_t) lengths[0],
                     "image", row[1] ? row[1] : "", (size_t) lengths[1],
                     "memory", (json_int_t) (row[2] ? atoll(row[2]) : 0),
                     "type", row[3] ? row[3] : "",
                     "format", row[4] ? row[4] : "",
                     "timeout", (json_int_t) (row[5] ? atoll(row[5]) : 0),
                     "idle_timeout",
                     (json_int_t) (row[6] ? atoll(row[6]) : 0),
                     "max_concurrency",
                     (json_int_t) (row[7] ? atoll(row[7]) : 0),
                     "headers", headers,
                     "config", config,
                     "jwt_key", jwt, jwt_len,
                     "created_at", row[11] ? row[11] : "",
                     "updated_at", row[12] ? row[12] : "");
}


/* lock: the row stays locked for the operation's change */

static void
ngx_http_functions_route_select(ngx_http_functions_api_t *api,
    ngx_http_functions_api_step_pt next, ngx_uint_t lock)
{
    ngx_http_functions_sql_t  sql;

    ngx_http_functions_api_sql_init(api, &sql);
    ngx_http_functions_sql_raw(&sql, NGX_HTTP_FUNCTIONS_ROUTE_COLUMNS
                                     " FROM routes r WHERE r.app_name = ");
    ngx_http_functions_sql_str(&sql, api->app.data, api->app.len);
    ngx_http_functions_sql_raw(&sql, " AND r.path = ");
    ngx_http_functions_sql_str(&sql, api->path.data, api->path.len);

    if (lock) {
        ngx_http_functions_sql_raw(&sql, " FOR UPDATE");
        ngx_http_functions_api_lock(api, &sql, next);
        return;
    }

    ngx_http_functions_api_query(api, &sql, next);
}


/* the route gives field, and not as s */

static ngx_int_t
ngx_http_functions_route_differs(json_t *route, const char *field,
    ngx_str_t *s)
{
    json_t  *v;

    v = json_object_get(route, field);

    return v != NULL
           && !(json_is_string(v) && json_string_length(v) == s->len
                && ngx_strncmp(json_string_value(v), s->data, s->len) == 0);
}


/* the request's route object, whose app_name (if given) is the URL's; NULL
 * when the request was answered */

static json_t *
ngx_http_functions_route_body(ngx_http_functions_api_t *api,
    const char *app_error)
{
    json_t  *route;

    route = ngx_http_functions_api_wrapped(api, "route",
                                        ngx_http_functions_route_fields);

    if (route != NULL
        && ngx_http_functions_route_differs(route, "app_name", &api->app))
    {
        ngx_http_functions_api_fail(api, NGX_HTTP_BAD_REQUEST, app_error);
        return NULL;
    }

    return route;
}


/* ------------------------------------------------------------------ list */

void
ngx_http_functions_api_routes_list(ngx_http_functions_api_t *api)
{
    ngx_http_functions_sql_t  sql;

    /* no row: no such app; one row of NULLs: an app without routes */
    ngx_http_functions_api_sql_init(api, &sql);
    ngx_http_functions_sql_raw(&sql, NGX_HTTP_FUNCTIONS_ROUTE_COLUMNS
                               " FROM apps a LEFT JOIN routes r"
                               " ON r.app_name = a.name");

    ngx_http_functions_sql_and(&sql, " AND r.path > ", &api->cursor);
    ngx_http_functions_sql_and(&sql, " AND r.image = ", &api->image);
    ngx_http_functions_sql_raw(&sql, " WHERE a.name = ");
    ngx_http_functions_sql_str(&sql, api->app.data, api->app.len);
    ngx_http_functions_sql_raw(&sql, " ORDER BY r.path LIMIT ");
    ngx_http_functions_sql_uint(&sql, api->per_page + 1);

    ngx_http_functions_api_query(api, &sql,
                                 ngx_http_functions_routes_listed);
}


static void
ngx_http_functions_routes_listed(ngx_http_functions_api_t *api)
{
    ngx_http_functions_query_t  *q = &api->query;

    if (q->rc == NGX_OK && q->res != NULL && mysql_num_rows(q->res) == 0) {
        ngx_http_functions_query_free(q);
        ngx_http_functions_api_fail(api, NGX_HTTP_NOT_FOUND,
                                    "App not found");
        return;
    }

    /* an app without (such) routes: one row of NULLs, an empty list */
    ngx_http_functions_api_rows(api, "Successfully listed routes", "routes",
                                ngx_http_functions_route_item);
}


/* a route of a list: jwt_key masked */

static json_t *
ngx_http_functions_route_item(ngx_http_functions_api_t *api, char **row,
    unsigned long *lengths)
{
    return ngx_http_functions_route_json(&api->app, row, lengths, 1);
}


/* ---------------------------------------------------------------- create */

void
ngx_http_functions_api_route_create(ngx_http_functions_api_t *api)
{
    json_t  *route, *v;

    route = ngx_http_functions_route_body(api, "route field \"app_name\" "
                                          "is not the app of the URL");
    if (route == NULL) {
        return;
    }

    v = json_object_get(route, "jwt_key");

    if (json_is_string(v)
        && ngx_strcmp(json_string_value(v), NGX_HTTP_FUNCTIONS_JWT_MASK)
           == 0)
    {
        ngx_http_functions_api_fail(api, NGX_HTTP_BAD_REQUEST,
                                    "route field \"jwt_key\": \""
                                    NGX_HTTP_FUNCTIONS_JWT_MASK "\" is how a "
                                    "key reads back, not a key");
        return;
    }

    api->object = json_deep_copy(route);

    if (api->object == NULL) {
        ngx_http_functions_api_no_memory(api);
        return;
    }

    api->message = "Route successfully created";

    ngx_http_functions_route_write(api);
}


/* A map field of the route as stored: its JSON text ("{}" if none). */

static char *
ngx_http_functions_route_map(json_t *o, const char *field)
{
    json_t  *m;

    m = json_object_get(o, field);

    return json_is_object(m) ? json_dumps(m, JSON_COMPACT) : strdup("{}");
}


/* Before each value: ", " in an insert, ", <column> = " in an update. */

static void
ngx_http_functions_route_column(ngx_http_functions_sql_t *sql,
    ngx_uint_t create, const char *column)
{
    if (create) {
        ngx_http_functions_sql_raw(sql, ", ");
        return;
    }

    /* "image" comes first */
    ngx_http_functions_sql_raw(sql, ngx_strcmp(column, "image") ? ", " : " ");
    ngx_http_functions_sql_raw(sql, column);
    ngx_http_functions_sql_raw(sql, " = ");
}


/*
 * Checks api->object (the whole route: as given, or as merged) and writes
 * it: an insert for a create (with its app, if missing), else an update of
 * the row read, in the transaction that locked it.
 */

static void
ngx_http_functions_route_write(ngx_http_functions_api_t *api)
{
    char                      *headers, *config;
    json_t                    *o = api->object, *jwt;
    ngx_int_t                  create;
    ngx_str_t                  key;
    struct route_def           def;
    ngx_http_functions_sql_t   sql;
    char                       err[256];

    create = (api->path.len == 0);

    jwt = json_object_get(o, "jwt_key");

    if (jwt != NULL && !json_is_null(jwt)
        && (!json_is_string(jwt)
            || json_string_length(jwt) > NGX_HTTP_FUNCTIONS_JWT_KEY_MAX))
    {
        ngx_http_functions_api_fail(api, NGX_HTTP_BAD_REQUEST,
                                    "route field \"jwt_key\" must be a "
                                    "string of at most %d bytes",
                                    NGX_HTTP_FUNCTIONS_JWT_KEY_MAX);
        return;
    }

    if (json_object_set_new(o, "app", json_stringn((char *) api->app.data,
                                                   api->app.len))
        != 0)
    {
        ngx_http_functions_api_no_memory(api);
        return;
    }

    if (route_def_from_json(o, &def, err, sizeof(err)) != 0) {
        ngx_http_functions_api_fail(api, NGX_HTTP_BAD_REQUEST, "%s", err);
        return;
    }

    route_def_free(&def);       /* only its scalars are used below */

    /* valid, but what no executor can run yet is not stored */
    if (route_runnable(&def, err, sizeof(err)) != 0) {
        ngx_http_functions_api_fail(api, NGX_HTTP_BAD_REQUEST, "%s", err);
        return;
    }

    if (ngx_http_functions_route_registry(api, def.image) != NGX_OK) {
        return;
    }

    if (create) {
        api->path.len = ngx_strlen(def.path);
        api->path.data = ngx_pnalloc(api->pool, api->path.len);
        if (api->path.data == NULL) {
            ngx_http_functions_api_no_memory(api);
            return;
        }

        ngx_memcpy(api->path.data, def.path, api->path.len);
    }

    headers = ngx_http_functions_route_map(o, "headers");
    config = ngx_http_functions_route_map(o, "config");

    if (headers == NULL || config == NULL) {
        free(headers);
        free(config);
        ngx_http_functions_api_no_memory(api);
        return;
    }

    if (json_is_string(jwt)) {
        key.data = (u_char *) json_string_value(jwt);
        key.len = json_string_length(jwt);

    } else {
        ngx_str_null(&key);
    }

    ngx_http_functions_api_sql_init(api, &sql);
    ngx_http_functions_api_sql_begin(api, &sql);

    if (create) {
        ngx_http_functions_sql_raw(&sql,
                                   "INSERT IGNORE INTO apps (name) VALUES (");
        ngx_http_functions_sql_str(&sql, api->app.data, api->app.len);
        ngx_http_functions_sql_raw(&sql,
            "); INSERT INTO routes (app_name, path, image, memory, type,"
            " format, timeout, idle_timeout, max_concurrency, headers,"
            " config, jwt_key) VALUES (");
        ngx_http_functions_sql_str(&sql, api->app.data, api->app.len);
        ngx_http_functions_sql_raw(&sql, ", ");
        ngx_http_functions_sql_str(&sql, api->path.data, api->path.len);

    } else {
        ngx_http_functions_sql_raw(&sql, "UPDATE routes SET");
    }

    ngx_http_functions_route_column(&sql, create, "image");
    ngx_http_functions_sql_str(&sql, (u_char *) def.image,
                               ngx_strlen(def.image));
    ngx_http_functions_route_column(&sql, create, "memory");
    ngx_http_functions_sql_uint(&sql, def.memory_mb);
    ngx_http_functions_route_column(&sql, create, "type");
    ngx_http_functions_sql_str(&sql, (u_char *) route_type_name(def.type),
                               ngx_strlen(route_type_name(def.type)));
    ngx_http_functions_route_column(&sql, create, "format");
    ngx_http_functions_sql_str(&sql,
                               (u_char *) route_format_name(def.format),
                               ngx_strlen(route_format_name(def.format)));
    ngx_http_functions_route_column(&sql, create, "timeout");
    ngx_http_functions_sql_uint(&sql, def.timeout_s);
    ngx_http_functions_route_column(&sql, create, "idle_timeout");
    ngx_http_functions_sql_uint(&sql, def.idle_timeout_s);
    ngx_http_functions_route_column(&sql, create, "max_concurrency");
    ngx_http_functions_sql_uint(&sql, def.max_concurrency);
    ngx_http_functions_route_column(&sql, create, "headers");
    ngx_http_functions_sql_str(&sql, (u_char *) headers, ngx_strlen(headers));
    ngx_http_functions_route_column(&sql, create, "config");
    ngx_http_functions_sql_str(&sql, (u_char *) config, ngx_strlen(config));
    ngx_http_functions_route_column(&sql, create, "jwt_key");
    ngx_http_functions_sql_str(&sql, key.data, key.len);

    free(headers);
    free(config);

    if (create) {
        ngx_http_functions_sql_raw(&sql, ")");
    }

    if (!create) {
        ngx_http_functions_sql_raw(&sql,
            ", updated_at = CURRENT_TIMESTAMP(6) WHERE app_name = ");
        ngx_http_functions_sql_str(&sql, api->app.data, api->app.len);
        ngx_http_functions_sql_raw(&sql, " AND path = ");
        ngx_http_functions_sql_str(&sql, api->path.data, api->path.len);
    }

    ngx_http_functions_api_sql_commit(&sql, &api->app, &api->path);

    ngx_http_functions_api_query(api, &sql,
                                 ngx_http_functions_route_written);
}


static void
ngx_http_functions_route_written(ngx_http_functions_api_t *api)
{
    ngx_http_functions_query_t  *q = &api->query;

    if (q->rc == NGX_DECLINED) {

        switch (q->error) {

        case NGX_HTTP_FUNCTIONS_ER_DUP_ENTRY:
            ngx_http_functions_api_fail(api, NGX_HTTP_CONFLICT,
                                        "Route already exists");
            return;

        case NGX_HTTP_FUNCTIONS_ER_NO_REFERENCED_ROW:
            ngx_http_functions_api_fail(api, NGX_HTTP_CONFLICT,
                                        "the app was deleted meanwhile, "
                                        "try again");
            return;
        }
    }

    if (ngx_http_functions_api_wrote(api) != NGX_OK) {
        return;
    }

    ngx_http_functions_api_changed(api, &api->path);

    ngx_http_functions_route_select(api, ngx_http_functions_route_answer,
                                    0);
}


/* ------------------------------------------------------------------ read */

void
ngx_http_functions_api_route_get(ngx_http_functions_api_t *api)
{
    ngx_http_functions_route_select(api, ngx_http_functions_route_answer,
                                    0);
}


/*
 * The route the query read, as JSON with its key (as IronFunctions
 * answered one route: its CLI signs calls with it; lists mask it); NULL
 * when the operation has ended (no such route, or unreadable).
 */

static json_t *
ngx_http_functions_route_read(ngx_http_functions_api_t *api)
{
    json_t                      *route;
    MYSQL_ROW                    row;
    unsigned long               *lengths;
    ngx_http_functions_query_t  *q = &api->query;

    row = ngx_http_functions_api_row(api, "Route not found", &lengths);
    if (row == NULL) {
        return NULL;
    }

    route = ngx_http_functions_route_json(&api->app, row, lengths, 0);

    ngx_http_functions_query_free(q);

    if (route == NULL) {
        ngx_http_functions_api_fail(api, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                    "the stored route is unreadable");
    }

    return route;
}


static void
ngx_http_functions_route_answer(ngx_http_functions_api_t *api)
{
    json_t  *route;

    route = ngx_http_functions_route_read(api);
    if (route == NULL) {
        return;
    }

    ngx_http_functions_api_object(api, "Successfully loaded route", "route",
                                  route, "out of memory");
}


/* ---------------------------------------------------------------- update */

void
ngx_http_functions_api_route_patch(ngx_http_functions_api_t *api)
{
    json_t             *route, *v;
    const char *const  *f;

    route = ngx_http_functions_route_body(api, "Could not update route - "
                                          "app_name is immutable");
    if (route == NULL) {
        return;
    }

    if (ngx_http_functions_route_differs(route, "path", &api->path)) {
        ngx_http_functions_api_fail(api, NGX_HTTP_BAD_REQUEST,
                                    "Could not update route - path is "
                                    "immutable");
        return;
    }

    /* maps merge: each must be an object (or null) */
    for (f = ngx_http_functions_route_maps; *f; f++) {
        v = json_object_get(route, *f);

        if (v != NULL && !json_is_object(v) && !json_is_null(v)) {
            ngx_http_functions_api_fail(api, NGX_HTTP_BAD_REQUEST,
                                        "route field \"%s\" must be an "
                                        "object", *f);
            return;
        }
    }

    api->message = "Route successfully updated";

    ngx_http_functions_route_select(api,
                                    ngx_http_functions_route_patch_read, 1);
}


/* The route as stored, locked: the patch goes over it, then it is
 * written. */

static void
ngx_http_functions_route_patch_read(ngx_http_functions_api_t *api)
{
    json_t             *o, *patch, *v, *map;
    const char *const  *f;

    o = ngx_http_functions_route_read(api);
    if (o == NULL) {
        return;
    }

    api->object = o;

    json_object_del(o, "app_name");
    json_object_del(o, "created_at");
    json_object_del(o, "updated_at");

    patch = json_object_get(api->body, "route");

    /* scalars: as given; null: back to the default */
    for (f = ngx_http_functions_route_scalars; *f; f++) {
        v = json_object_get(patch, *f);

        if (v == NULL) {
            continue;
        }

        if (json_is_null(v)) {
            json_object_del(o, *f);

        } else if (json_object_set(o, *f, v) != 0) {
            ngx_http_functions_api_no_memory(api);
            return;
        }
    }

    /* maps: key by key; "" or null removes a key, null all of them */
    for (f = ngx_http_functions_route_maps; *f; f++) {
        v = json_object_get(patch, *f);
        map = json_object_get(o, *f);

        if (json_is_null(v)) {
            json_object_clear(map);

        } else if (json_is_object(v)
                   && ngx_http_functions_api_merge_map(map, v) != NGX_OK)
        {
            ngx_http_functions_api_no_memory(api);
            return;
        }
    }

    /* jwt_key: the mask keeps it, "" or null removes it */
    v = json_object_get(patch, "jwt_key");

    if (v != NULL
        && !(json_is_string(v)
             && ngx_strcmp(json_string_value(v), NGX_HTTP_FUNCTIONS_JWT_MASK)
                == 0))
    {
        if (json_object_set(o, "jwt_key", v) != 0) {
            ngx_http_functions_api_no_memory(api);
            return;
        }
    }

    ngx_http_functions_route_write(api);
}


/* ---------------------------------------------------------------- delete */

void
ngx_http_functions_api_route_delete(ngx_http_functions_api_t *api)
{
    ngx_http_functions_sql_t  sql;

    ngx_http_functions_api_sql_init(api, &sql);
    ngx_http_functions_api_sql_begin(api, &sql);
    ngx_http_functions_sql_raw(&sql, "DELETE FROM routes WHERE app_name = ");
    ngx_http_functions_sql_str(&sql, api->app.data, api->app.len);
    ngx_http_functions_sql_raw(&sql, " AND path = ");
    ngx_http_functions_sql_str(&sql, api->path.data, api->path.len);
    ngx_http_functions_api_sql_require_row(&sql);
    ngx_http_functions_api_sql_commit(&sql, &api->app, &api->path);

    ngx_http_functions_api_query(api, &sql,
                                 ngx_http_functions_route_deleted);
}


static void
ngx_http_functions_route_deleted(ngx_http_functions_api_t *api)
{
    ngx_http_functions_query_t  *q = &api->query;

    if (q->rc == NGX_DECLINED && q->error == NGX_HTTP_FUNCTIONS_ER_NO_ROW) {
        ngx_http_functions_api_fail(api, NGX_HTTP_NOT_FOUND,
                                    "Route not found");
        return;
    }

    if (ngx_http_functions_api_wrote(api) != NGX_OK) {
        return;
    }

    ngx_http_functions_api_changed(api, &api->path);

    ngx_http_functions_api_answer(api, NGX_HTTP_OK,
        json_pack("{s:s}", "message", "Route deleted"));
}


/*
 * With functions_image_registries, an image that names its registry must
 * name one of those (an image without one is in each executor's default
 * registry, always allowed there).  NGX_OK, or NGX_ERROR answered 400.
 */

static ngx_int_t
ngx_http_functions_route_registry(ngx_http_functions_api_t *api,
    const char *image)
{
    size_t            len;
    ngx_str_t        *reg;
    ngx_uint_t        i;
    struct image_ref  ref;
    char              why[256];

    static const char  none[] = "registry.invalid";

    if (api->fmcf->image_registries == NULL
        || !image_ref_is_registry(image)
        || image_ref_parse(image, none, "", &ref, why, sizeof(why)) != 0
        || ngx_strcmp(ref.registry, none) == 0)
    {
        return NGX_OK;
    }

    len = ngx_strlen(ref.registry);
    reg = api->fmcf->image_registries->elts;

    for (i = 0; i < api->fmcf->image_registries->nelts; i++) {
        if (reg[i].len == len
            && ngx_strncasecmp(reg[i].data, (u_char *) ref.registry, len)
               == 0)
        {
            return NGX_OK;
        }
    }

    ngx_http_functions_api_fail(api, NGX_HTTP_BAD_REQUEST,
                                "route field \"image\": the registry %s "
                                "is not one this platform pulls from "
                                "(functions_image_registries)",
                                ref.registry);

    return NGX_ERROR;
}
