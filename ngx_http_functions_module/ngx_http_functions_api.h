
/*
 * The /v1 management API: what its files share.
 *
 * ngx_http_functions_api.c        the HTTP side: URIs, auth, bodies,
 *                                 answers, the life of an operation
 * ngx_http_functions_api_apps.c   /v1/apps[/{app}]
 * ngx_http_functions_api_routes.c /v1/apps/{app}/routes[/{path...}]
 * ngx_http_functions_api_calls.c  /v1/apps/{app}/calls[/{id}[/log]]
 */


#ifndef _NGX_HTTP_FUNCTIONS_API_H_INCLUDED_
#define _NGX_HTTP_FUNCTIONS_API_H_INCLUDED_


#include "ngx_http_functions_module.h"
#include "ngx_http_functions_query.h"
#include "route_def.h"

#include <jansson.h>


#define NGX_HTTP_FUNCTIONS_PER_PAGE      30
#define NGX_HTTP_FUNCTIONS_PER_PAGE_MAX  100

/* a list asked without paging: at most functions_api_list_max items, and
 * this header ("true") when there were more */
#define NGX_HTTP_FUNCTIONS_TRUNCATED     "Fn-List-Truncated"

#define NGX_HTTP_FUNCTIONS_JWT_KEY_MAX   1024

/* functions_api_jwt_key: the bytes of the key */
#define NGX_HTTP_FUNCTIONS_API_JWT_KEY_MIN  16
#define NGX_HTTP_FUNCTIONS_API_JWT_KEY_MAX  1024

/* what a stored jwt_key reads as; written back in a PATCH, it keeps it */
#define NGX_HTTP_FUNCTIONS_JWT_MASK      "********"

/* the error a change block signals when its row is not there (any more) */
#define NGX_HTTP_FUNCTIONS_ER_NO_ROW     30404

/* server errors the API maps to answers */
#define NGX_HTTP_FUNCTIONS_ER_DUP_ENTRY  1062
#define NGX_HTTP_FUNCTIONS_ER_ROW_IS_REFERENCED  1451
#define NGX_HTTP_FUNCTIONS_ER_NO_REFERENCED_ROW  1452

/* times as RFC 3339 in UTC (connections use time_zone +00:00) */
#define NGX_HTTP_FUNCTIONS_SQL_TIME(col)                                      \
    "DATE_FORMAT(" col ", '%Y-%m-%dT%H:%i:%s.%fZ')"


typedef struct ngx_http_functions_api_s  ngx_http_functions_api_t;


/* a change that locked rows is tried at most so many times */
#define NGX_HTTP_FUNCTIONS_API_TRIES  4

typedef void (*ngx_http_functions_api_step_pt)(ngx_http_functions_api_t *api);

/* an endpoint's own query arguments; NGX_ERROR with a message */
typedef ngx_int_t (*ngx_http_functions_api_args_pt)(ngx_http_request_t *r,
    ngx_http_functions_api_t *api, const char **error);

/* a row of a result (a MYSQL_ROW) as the API shows it */
typedef json_t *(*ngx_http_functions_api_item_pt)(
    ngx_http_functions_api_t *api, char **row, unsigned long *lengths);


/*
 * One API request's operation.  It lives in a pool of its own, so that a
 * query in flight never points into a request that went away: then
 * "request" is NULL and the operation ends when the query does.
 */

struct ngx_http_functions_api_s {
    ngx_pool_t                       *pool;
    ngx_http_request_t               *request;
    ngx_pool_cleanup_t               *cleanup;    /* in the request's pool */
    ngx_http_functions_main_conf_t   *fmcf;

    ngx_http_functions_query_t        query;
    ngx_uint_t                        busy;       /* query in flight */
    ngx_http_functions_api_step_pt    next;       /* when it ends */

    ngx_uint_t                        method;
    ngx_str_t                         app;
    ngx_str_t                         path;       /* a route's path, a call
                                                     id, or empty */
    json_t                           *body;       /* the request's JSON */
    json_t                           *object;     /* what is written */
    const char                       *message;    /* of a success */

    /* ngx_http_functions_api_lock(): the locking read, and its step */
    ngx_str_t                         locked_sql;
    ngx_http_functions_api_step_pt    locked_next;
    ngx_uint_t                        tries;      /* started again */

    ngx_uint_t                        per_page;
    unsigned                          paged:1;    /* per_page or cursor */
    unsigned                          unpaged:1;  /* every item, capped */
    ngx_str_t                         cursor;     /* decoded */
    ngx_str_t                         image;      /* routes ?image= */

    /* calls: ?path=, ?status=, ?from_time=, ?to_time= (Unix seconds) */
    ngx_str_t                         filter_path;
    ngx_str_t                         status;
    time_t                            from_time;
    time_t                            to_time;
};


/* ngx_http_functions_api.c */

char *ngx_http_functions_api(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_functions_api_tokens(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_functions_api_jwt_key(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/* ngx_http_functions_api_op.c: an operation's steps */

/* a query argument URI-unescaped, NUL-terminated, in the operation's pool;
 * NGX_DECLINED when absent */
ngx_int_t ngx_http_functions_api_arg(ngx_http_request_t *r,
    ngx_http_functions_api_t *api, char *name, ngx_str_t *value);
void ngx_http_functions_api_query(ngx_http_functions_api_t *api,
    ngx_http_functions_sql_t *sql, ngx_http_functions_api_step_pt next);
void ngx_http_functions_api_lock(ngx_http_functions_api_t *api,
    ngx_http_functions_sql_t *sql, ngx_http_functions_api_step_pt next);
void ngx_http_functions_api_answer(ngx_http_functions_api_t *api,
    ngx_uint_t status, json_t *out);
void ngx_http_functions_api_fail(ngx_http_functions_api_t *api,
    ngx_uint_t status, const char *fmt, ...);
void ngx_http_functions_api_db_failed(ngx_http_functions_api_t *api);
void ngx_http_functions_api_no_memory(ngx_http_functions_api_t *api);
/* a statement that writes, ended: NGX_OK once its result is freed, or
 * NGX_ERROR once its failure is answered */
ngx_int_t ngx_http_functions_api_wrote(ngx_http_functions_api_t *api);
/* the one row of the result as item(), answered as by _api_object(); no
 * row: 404 not_found */
void ngx_http_functions_api_one(ngx_http_functions_api_t *api,
    const char *not_found, ngx_http_functions_api_item_pt item,
    const char *message, const char *name, const char *error);
/* 200 {"message": the operation's message or message, name: o} once the
 * result is freed; o NULL: 500 with error */
void ngx_http_functions_api_object(ngx_http_functions_api_t *api,
    const char *message, const char *name, json_t *o, const char *error);
void ngx_http_functions_api_sql_init(ngx_http_functions_api_t *api,
    ngx_http_functions_sql_t *sql);
void ngx_http_functions_api_sql_begin(ngx_http_functions_api_t *api,
    ngx_http_functions_sql_t *sql);
void ngx_http_functions_api_sql_require_row(ngx_http_functions_sql_t *sql);
void ngx_http_functions_api_sql_commit(ngx_http_functions_sql_t *sql,
    ngx_str_t *app, ngx_str_t *path);
json_t *ngx_http_functions_api_wrapped(ngx_http_functions_api_t *api,
    const char *name, const char *const *fields);
json_t *ngx_http_functions_api_column(const char *s, unsigned long len);
char **ngx_http_functions_api_row(ngx_http_functions_api_t *api,
    const char *not_found, unsigned long **lengths);
void ngx_http_functions_api_rows(ngx_http_functions_api_t *api,
    const char *message, const char *name,
    ngx_http_functions_api_item_pt item);
ngx_int_t ngx_http_functions_api_merge_map(json_t *stored, json_t *patch);
void ngx_http_functions_api_changed(ngx_http_functions_api_t *api,
    ngx_str_t *path);

/* ngx_http_functions_api_calls.c */

ngx_int_t ngx_http_functions_api_call_args(ngx_http_request_t *r,
    ngx_http_functions_api_t *api, const char **error);
void ngx_http_functions_api_calls_list(ngx_http_functions_api_t *api);
void ngx_http_functions_api_call_get(ngx_http_functions_api_t *api);
void ngx_http_functions_api_call_log(ngx_http_functions_api_t *api);

/* ngx_http_functions_api_apps.c */

void ngx_http_functions_api_apps_list(ngx_http_functions_api_t *api);
void ngx_http_functions_api_app_create(ngx_http_functions_api_t *api);
void ngx_http_functions_api_app_get(ngx_http_functions_api_t *api);
void ngx_http_functions_api_app_patch(ngx_http_functions_api_t *api);
void ngx_http_functions_api_app_delete(ngx_http_functions_api_t *api);

/* ngx_http_functions_api_routes.c */

void ngx_http_functions_api_routes_list(ngx_http_functions_api_t *api);
void ngx_http_functions_api_route_create(ngx_http_functions_api_t *api);
void ngx_http_functions_api_route_get(ngx_http_functions_api_t *api);
void ngx_http_functions_api_route_patch(ngx_http_functions_api_t *api);
void ngx_http_functions_api_route_delete(ngx_http_functions_api_t *api);


/* The HTTP side's own answers, and its cleanup (..._api_op.c). */
ngx_int_t ngx_http_functions_api_send(ngx_http_request_t *r,
    ngx_uint_t status, json_t *out);
ngx_int_t ngx_http_functions_api_send_error(ngx_http_request_t *r,
    ngx_uint_t status, const char *message);
void ngx_http_functions_api_cleanup(void *data);

/* 401 with its challenge; functions_api_auth's handler and filter. */
ngx_int_t ngx_http_functions_api_refuse(ngx_http_request_t *r,
    ngx_int_t rc, const char *reason);
ngx_int_t ngx_http_functions_api_auth_init(ngx_conf_t *cf);


#endif /* _NGX_HTTP_FUNCTIONS_API_H_INCLUDED_ */
