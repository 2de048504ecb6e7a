
/*
 * Queries to MariaDB from nginx's event loop, and the statements they run
 * (ngx_http_functions_query.c).
 */


#ifndef _NGX_HTTP_FUNCTIONS_QUERY_H_INCLUDED_
#define _NGX_HTTP_FUNCTIONS_QUERY_H_INCLUDED_


#include "ngx_http_functions_module.h"
#include "ngx_http_functions_db.h"


/* server errors the query layer acts on */
#define NGX_HTTP_FUNCTIONS_ER_NOT_READY  1047    /* a Galera node out of
                                                    the primary component */
#define NGX_HTTP_FUNCTIONS_ER_COMMIT     1180    /* the same, at a commit */
#define NGX_HTTP_FUNCTIONS_ER_DEADLOCK   1213    /* or Galera's certification
                                                    failure */


/* A query, posted to the worker's connections (..._query.c). */

typedef struct ngx_http_functions_query_s  ngx_http_functions_query_t;

typedef void (*ngx_http_functions_query_handler_pt)(
    ngx_http_functions_query_t *q);

struct ngx_http_functions_query_s {
    ngx_str_t                       sql;
    ngx_http_functions_query_handler_pt  handler;
    void                           *data;
    /* NGX_OK; NGX_DECLINED: the server refused the statement (error);
     * NGX_ERROR: no answer (connection, timeout) */
    ngx_int_t                       rc;
    void                           *res;        /* MYSQL_RES *, on NGX_OK */
    uint64_t                        affected;   /* rows, without a result */
    ngx_uint_t                      error;      /* server error number */
    ngx_uint_t                      quiet;      /* refusals are expected */
    /* keep the connection when it ends: the next query of this struct
     * runs there, in the same transaction (..._query.c) */
    ngx_uint_t                      hold;
    void                           *conn;       /* the connection held */
    ngx_queue_t                     queue;
    ngx_uint_t                      queued;
    ngx_event_t                     timer;
    ngx_uint_t                      tries;      /* posted again */
    ngx_uint_t                      continued;  /* on a held connection */
};


/* A statement under construction (..._query.c). */

typedef struct {
    ngx_pool_t                     *pool;
    u_char                         *data;
    size_t                          len;
    size_t                          cap;
    ngx_uint_t                      failed;
} ngx_http_functions_sql_t;


ngx_int_t ngx_http_functions_query_post(ngx_http_functions_db_conf_t *dcf,
    ngx_http_functions_query_t *q);
void ngx_http_functions_query_exit(void);
void ngx_http_functions_query_free(ngx_http_functions_query_t *q);
void ngx_http_functions_query_release(ngx_http_functions_query_t *q);
size_t ngx_http_functions_query_escape(u_char *dst, ngx_str_t *src);

void ngx_http_functions_sql_raw(ngx_http_functions_sql_t *sql,
    const char *s);
void ngx_http_functions_sql_str(ngx_http_functions_sql_t *sql, u_char *data,
    size_t len);
/* cond and value quoted, when value is not empty: an optional filter */
void ngx_http_functions_sql_and(ngx_http_functions_sql_t *sql, const char *cond,
    ngx_str_t *value);
void ngx_http_functions_sql_uint(ngx_http_functions_sql_t *sql, uint64_t n);
ngx_int_t ngx_http_functions_sql_done(ngx_http_functions_sql_t *sql,
    ngx_str_t *out);


#endif /* _NGX_HTTP_FUNCTIONS_QUERY_H_INCLUDED_ */
