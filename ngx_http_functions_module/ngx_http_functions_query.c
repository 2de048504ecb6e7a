
/*
 * Queries to MySQL (MariaDB) that never block nginx's event loop.
 *
 * Each worker keeps a few connections made with MariaDB Connector/C's
 * non-blocking API: every call that would wait returns what it waits for
 * (readable, writable), the socket is watched by nginx's event loop
 * (level-triggered, as the library expects), and the call is continued
 * when the event comes.  A deadline timer bounds connecting and each
 * query; when it fires, or anything fails, the connection is closed and
 * its query fails (the next query reconnects).  Queries wait in a FIFO
 * for a free connection, bounded by the same deadline.
 *
 * A transaction spans queries: one posted with "hold" keeps its connection
 * when it ends, and the next query of the same ngx_http_functions_query_t
 * runs there, without waiting in the FIFO, until one without "hold" ends
 * it.  ngx_http_functions_query_release() gives the connection back
 * earlier, with a ROLLBACK.  A held connection that is lost fails the next
 * query of its transaction: nothing of it runs outside the transaction.
 *
 * With several servers (the nodes of a Galera cluster), new connections go
 * to one of them, and to the next once a connection there failed or the
 * node said it is not part of the cluster's primary component (error
 * 1047).  Reads wait until the node has applied every write the cluster
 * committed before them (wsrep_sync_wait; a server without Galera
 * ignores it), so that whatever was written through another node is
 * seen.  A query that is a whole transaction by itself (not the next
 * statement of a held one) and failed on Galera's certification (1213)
 * or on a node out of the cluster (1047) ran nothing: it is posted again,
 * as is one whose connection could not be made, up to
 * NGX_HTTP_FUNCTIONS_QUERY_TRIES times within its deadline.  A node that
 * could not replicate a commit (1180) is left like one out of the
 * cluster, but its statement fails: whether the cluster has it is not
 * known.
 */


#include "ngx_http_functions_module.h"
#include "ngx_http_functions_query.h"
#include "ngx_http_functions_log.h"
#include "ngx_http_functions_db.h"

#include <mysql.h>


typedef enum {
    NGX_HTTP_FUNCTIONS_CONN_CLOSED = 0,
    NGX_HTTP_FUNCTIONS_CONN_CONNECTING,
    NGX_HTTP_FUNCTIONS_CONN_IDLE,
    NGX_HTTP_FUNCTIONS_CONN_QUERYING,
    NGX_HTTP_FUNCTIONS_CONN_STORING,
    NGX_HTTP_FUNCTIONS_CONN_HELD        /* between two queries of a
                                           transaction */
} ngx_http_functions_conn_state_e;


typedef struct {
    MYSQL                              *mysql;
    ngx_uint_t                          server;     /* connected to */
    ngx_connection_t                   *c;
    ngx_event_t                         deadline;
    ngx_http_functions_conn_state_e     state;
    ngx_http_functions_query_t         *query;
    ngx_http_functions_query_t         *holder;     /* in a transaction */
    ngx_http_functions_query_t          rollback;   /* of a released one */
} ngx_http_functions_conn_t;


#define NGX_HTTP_FUNCTIONS_CONNS        4
#define NGX_HTTP_FUNCTIONS_QUERY_TRIES  4


typedef struct {
    ngx_http_functions_db_conf_t       *conf;
    ngx_http_functions_conn_t           conns[NGX_HTTP_FUNCTIONS_CONNS];
    ngx_queue_t                         waiting;
    ngx_uint_t                          initialized;
    ngx_uint_t                          current;    /* server to connect to */

    /* the settings as C strings: the library keeps pointers to them
     * until a connection is made */
    u_char                              user[128];
    u_char                              password[
                                      NGX_HTTP_FUNCTIONS_DB_PASSWORD_MAX + 1];
    u_char                              database[128];
} ngx_http_functions_dbpool_t;


static ngx_http_functions_dbpool_t  ngx_http_functions_dbpool;

/* queries start from a posted event, never inside their caller */
static ngx_event_t                  ngx_http_functions_dispatch_event;


static void ngx_http_functions_conn_drive(ngx_http_functions_conn_t *fc,
    int status);
static void ngx_http_functions_conn_close(ngx_http_functions_conn_t *fc);
static void ngx_http_functions_conn_ended(ngx_http_functions_conn_t *fc,
    ngx_http_functions_query_t *q, ngx_int_t rc);
static void ngx_http_functions_conn_unhold(ngx_http_functions_conn_t *fc);
static void ngx_http_functions_conn_rollback(ngx_http_functions_conn_t *fc);
static void ngx_http_functions_conn_rolled_back(
    ngx_http_functions_query_t *q);
static void ngx_http_functions_query_start(ngx_http_functions_query_t *q);
static ngx_uint_t ngx_http_functions_conn_statement_error(
    ngx_http_functions_conn_t *fc);
static void ngx_http_functions_conn_fail(ngx_http_functions_conn_t *fc,
    const char *what);
static void ngx_http_functions_conn_next_server(ngx_http_functions_conn_t *fc);
static ngx_int_t ngx_http_functions_conn_wait(ngx_http_functions_conn_t *fc,
    int status);
static void ngx_http_functions_conn_read_handler(ngx_event_t *ev);
static void ngx_http_functions_conn_write_handler(ngx_event_t *ev);
static void ngx_http_functions_conn_deadline_handler(ngx_event_t *ev);
static void ngx_http_functions_query_wait_handler(ngx_event_t *ev);
static void ngx_http_functions_query_finish(ngx_http_functions_query_t *q,
    ngx_int_t rc);
static void ngx_http_functions_dbpool_dispatch(void);
static void ngx_http_functions_dispatch_handler(ngx_event_t *ev);


/* The connection a query may start on: idle first, then closed. */

static ngx_http_functions_conn_t *
ngx_http_functions_dbpool_free_conn(void)
{
    ngx_uint_t                  i;
    ngx_http_functions_conn_t  *fc;

    for (i = 0; i < NGX_HTTP_FUNCTIONS_CONNS; i++) {
        fc = &ngx_http_functions_dbpool.conns[i];
        if (fc->state == NGX_HTTP_FUNCTIONS_CONN_IDLE) {
            return fc;
        }
    }

    /* a closed one still reserved for a transaction is not free */
    for (i = 0; i < NGX_HTTP_FUNCTIONS_CONNS; i++) {
        fc = &ngx_http_functions_dbpool.conns[i];
        if (fc->state == NGX_HTTP_FUNCTIONS_CONN_CLOSED
            && fc->holder == NULL && fc->query == NULL)
        {
            return fc;
        }
    }

    return NULL;
}


ngx_int_t
ngx_http_functions_query_post(ngx_http_functions_db_conf_t *dcf,
    ngx_http_functions_query_t *q)
{
    ngx_uint_t                    i;
    ngx_http_functions_dbpool_t  *pool = &ngx_http_functions_dbpool;

    if (!pool->initialized) {
        ngx_queue_init(&pool->waiting);

        for (i = 0; i < NGX_HTTP_FUNCTIONS_CONNS; i++) {
            pool->conns[i].deadline.handler =
                                  ngx_http_functions_conn_deadline_handler;
            pool->conns[i].deadline.data = &pool->conns[i];
            pool->conns[i].deadline.log = ngx_cycle->log;
        }

        ngx_cpystrn(pool->user, dcf->user.data,
                    ngx_min(dcf->user.len + 1, sizeof(pool->user)));
        ngx_cpystrn(pool->password, dcf->password.data,
                    ngx_min(dcf->password.len + 1, sizeof(pool->password)));
        ngx_cpystrn(pool->database, dcf->database.data,
                    ngx_min(dcf->database.len + 1, sizeof(pool->database)));

        pool->conf = dcf;
        pool->initialized = 1;

        ngx_http_functions_dispatch_event.handler =
                                      ngx_http_functions_dispatch_handler;
        ngx_http_functions_dispatch_event.log = ngx_cycle->log;
    }

    q->tries = 0;
    q->continued = (q->conn != NULL);

    ngx_http_functions_query_start(q);

    if (q->conn != NULL) {
        /* the next statement of a transaction: on its connection */
        ((ngx_http_functions_conn_t *) q->conn)->query = q;
        return NGX_OK;
    }

    ngx_queue_insert_tail(&pool->waiting, &q->queue);
    q->queued = 1;

    return NGX_OK;
}


/* A query begins: it ends by its deadline at the latest. */

static void
ngx_http_functions_query_start(ngx_http_functions_query_t *q)
{
    q->rc = NGX_AGAIN;
    q->res = NULL;
    q->affected = 0;
    q->error = 0;
    q->timer.handler = ngx_http_functions_query_wait_handler;
    q->timer.data = q;
    q->timer.log = ngx_cycle->log;

    ngx_add_timer(&q->timer, ngx_http_functions_dbpool.conf->timeout);

    if (!ngx_http_functions_dispatch_event.posted) {
        ngx_post_event(&ngx_http_functions_dispatch_event,
                       &ngx_posted_events);
    }
}


/*
 * The operation that holds a connection ends before its transaction did:
 * the transaction is rolled back, and the connection is free again.
 */

void
ngx_http_functions_query_release(ngx_http_functions_query_t *q)
{
    ngx_http_functions_conn_t  *fc = q->conn;

    if (fc == NULL || fc->query == q) {
        /* none, or its query still runs: it ends the hold itself */
        return;
    }

    ngx_http_functions_conn_unhold(fc);

    if (fc->state == NGX_HTTP_FUNCTIONS_CONN_HELD) {
        ngx_http_functions_conn_rollback(fc);
    }
}


static void
ngx_http_functions_conn_unhold(ngx_http_functions_conn_t *fc)
{
    if (fc->holder != NULL) {
        fc->holder->conn = NULL;
        fc->holder = NULL;
    }
}


/* A ROLLBACK that nobody waits for, on a held connection. */

static void
ngx_http_functions_conn_rollback(ngx_http_functions_conn_t *fc)
{
    ngx_http_functions_query_t  *q = &fc->rollback;

    ngx_str_set(&q->sql, "ROLLBACK");
    q->handler = ngx_http_functions_conn_rolled_back;
    q->data = fc;
    q->hold = 0;
    q->conn = NULL;

    ngx_http_functions_query_start(q);

    fc->query = q;
}


static void
ngx_http_functions_conn_rolled_back(ngx_http_functions_query_t *q)
{
    ngx_http_functions_conn_t  *fc = q->data;

    ngx_http_functions_query_free(q);

    if (q->rc == NGX_DECLINED) {
        /* whatever the transaction left must not reach the next query */
        ngx_http_functions_conn_close(fc);
    }
}


/*
 * The query of fc was answered or refused: the connection stays with its
 * transaction ("hold"), or is free again.  The last statement of a
 * transaction should end it (COMMIT); if it was refused, a ROLLBACK
 * makes sure nothing of it stays open.
 */

static void
ngx_http_functions_conn_ended(ngx_http_functions_conn_t *fc,
    ngx_http_functions_query_t *q, ngx_int_t rc)
{
    ngx_uint_t  held;

    fc->state = NGX_HTTP_FUNCTIONS_CONN_IDLE;

    if (q == NULL || q == &fc->rollback) {
        return;
    }

    if (q->hold) {
        fc->state = NGX_HTTP_FUNCTIONS_CONN_HELD;
        fc->holder = q;
        q->conn = fc;
        return;
    }

    held = (fc->holder != NULL);

    ngx_http_functions_conn_unhold(fc);

    if (held && rc != NGX_OK) {
        fc->state = NGX_HTTP_FUNCTIONS_CONN_HELD;
        ngx_http_functions_conn_rollback(fc);
    }
}


static void
ngx_http_functions_dispatch_handler(ngx_event_t *ev)
{
    ngx_http_functions_dbpool_dispatch();
}


/* At worker exit: connections are closed, so none is left open. */

void
ngx_http_functions_query_exit(void)
{
    ngx_uint_t  i;

    if (!ngx_http_functions_dbpool.initialized) {
        return;
    }

    if (ngx_http_functions_dispatch_event.posted) {
        ngx_delete_posted_event(&ngx_http_functions_dispatch_event);
    }

    for (i = 0; i < NGX_HTTP_FUNCTIONS_CONNS; i++) {
        ngx_http_functions_conn_close(&ngx_http_functions_dbpool.conns[i]);
    }
}


void
ngx_http_functions_query_free(ngx_http_functions_query_t *q)
{
    if (q->res != NULL) {
        mysql_free_result(q->res);
        q->res = NULL;
    }
}


/* Starts waiting queries on free connections. */

static void
ngx_http_functions_dbpool_dispatch(void)
{
    ngx_uint_t                    i;
    ngx_queue_t                  *qn;
    ngx_http_functions_conn_t    *fc;
    ngx_http_functions_query_t   *q;
    ngx_http_functions_dbpool_t  *pool = &ngx_http_functions_dbpool;

    /* the next statements of transactions, on their connections */
    for (i = 0; i < NGX_HTTP_FUNCTIONS_CONNS; i++) {
        fc = &pool->conns[i];
        q = fc->query;

        if (q == NULL) {
            continue;
        }

        if (fc->state == NGX_HTTP_FUNCTIONS_CONN_HELD) {
            fc->state = NGX_HTTP_FUNCTIONS_CONN_QUERYING;
            ngx_add_timer(&fc->deadline, pool->conf->timeout);
            ngx_http_functions_conn_drive(fc, 0);

        } else if (fc->state == NGX_HTTP_FUNCTIONS_CONN_CLOSED) {
            /* lost between two statements: the transaction is gone */
            fc->query = NULL;
            ngx_http_functions_conn_unhold(fc);
            ngx_http_functions_query_finish(q, NGX_ERROR);
        }
    }

    while (!ngx_queue_empty(&pool->waiting)) {

        fc = ngx_http_functions_dbpool_free_conn();
        if (fc == NULL) {
            return;
        }

        qn = ngx_queue_head(&pool->waiting);
        q = ngx_queue_data(qn, ngx_http_functions_query_t, queue);
        ngx_queue_remove(qn);
        q->queued = 0;

        fc->query = q;

        if (fc->state == NGX_HTTP_FUNCTIONS_CONN_CLOSED) {
            fc->state = NGX_HTTP_FUNCTIONS_CONN_CONNECTING;
            ngx_add_timer(&fc->deadline, pool->conf->connect_timeout);
            ngx_http_functions_conn_drive(fc, 0);

        } else {
            fc->state = NGX_HTTP_FUNCTIONS_CONN_QUERYING;
            ngx_add_timer(&fc->deadline, pool->conf->timeout);
            ngx_http_functions_conn_drive(fc, 0);
        }
    }
}


/*
 * Runs the connection's state machine as far as it goes without waiting.
 * status: what was awaited and came (0 to start a step).
 */

static void
ngx_http_functions_conn_drive(ngx_http_functions_conn_t *fc, int status)
{
    int                              err;
    MYSQL                           *ret;
    MYSQL_RES                       *res;
    my_bool                          off;
    ngx_http_functions_query_t      *q;
    ngx_http_functions_dbpool_t     *pool = &ngx_http_functions_dbpool;
    ngx_http_functions_db_conf_t    *dcf = pool->conf;
    ngx_http_functions_db_server_t  *srv;

    for ( ;; ) {

        switch (fc->state) {

        case NGX_HTTP_FUNCTIONS_CONN_CONNECTING:

            if (status == 0) {
                fc->mysql = mysql_init(NULL);
                if (fc->mysql == NULL) {
                    ngx_http_functions_conn_fail(fc, "mysql_init");
                    return;
                }

                off = 0;
                mysql_options(fc->mysql, MYSQL_OPT_NONBLOCK, 0);
                mysql_options(fc->mysql, MYSQL_OPT_RECONNECT, &off);
                mysql_options(fc->mysql, MYSQL_SET_CHARSET_NAME, "utf8mb4");
                /* values are escaped with backslashes (below): make sure
                 * the server reads them so, whatever its sql_mode; times
                 * are stored and shown in UTC; reads see what other
                 * nodes of a Galera cluster committed before them */
                mysql_options(fc->mysql, MYSQL_INIT_COMMAND,
                              "SET SESSION sql_mode = REPLACE(@@sql_mode, "
                              "'NO_BACKSLASH_ESCAPES', ''), "
                              "time_zone = '+00:00', wsrep_sync_wait = 1");

                fc->server = pool->current;
                srv = &dcf->servers[fc->server];

                status = mysql_real_connect_start(&ret, fc->mysql,
                             srv->socket.len ? NULL : (char *) srv->host.data,
                             (char *) pool->user, (char *) pool->password,
                             (char *) pool->database, srv->port,
                             srv->socket.len ? (char *) srv->socket.data
                                             : NULL,
                             CLIENT_FOUND_ROWS);
            } else {
                status = mysql_real_connect_cont(&ret, fc->mysql, status);
            }

            if (status) {
                if (ngx_http_functions_conn_wait(fc, status) != NGX_OK) {
                    ngx_http_functions_conn_fail(fc, "connect");
                }
                return;
            }

            if (ret == NULL) {
                ngx_http_functions_conn_fail(fc, "connect");
                return;
            }

            if (fc->deadline.timer_set) {
                ngx_del_timer(&fc->deadline);
            }

            if (fc->query == NULL) {
                fc->state = NGX_HTTP_FUNCTIONS_CONN_IDLE;
                ngx_http_functions_dbpool_dispatch();
                return;
            }

            fc->state = NGX_HTTP_FUNCTIONS_CONN_QUERYING;
            ngx_add_timer(&fc->deadline, dcf->timeout);
            status = 0;
            continue;

        case NGX_HTTP_FUNCTIONS_CONN_QUERYING:

            if (status == 0) {
                q = fc->query;
                if (q == NULL) {
                    /* cancelled before it started */
                    fc->state = NGX_HTTP_FUNCTIONS_CONN_IDLE;
                    if (fc->deadline.timer_set) {
                        ngx_del_timer(&fc->deadline);
                    }
                    ngx_http_functions_dbpool_dispatch();
                    return;
                }

                status = mysql_real_query_start(&err, fc->mysql,
                                                (char *) q->sql.data,
                                                q->sql.len);
            } else {
                status = mysql_real_query_cont(&err, fc->mysql, status);
            }

            if (status) {
                if (ngx_http_functions_conn_wait(fc, status) != NGX_OK) {
                    ngx_http_functions_conn_fail(fc, "query");
                }
                return;
            }

            if (err) {
                if (ngx_http_functions_conn_statement_error(fc)) {
                    return;
                }

                ngx_http_functions_conn_fail(fc, "query");
                return;
            }

            fc->state = NGX_HTTP_FUNCTIONS_CONN_STORING;
            status = 0;
            continue;

        case NGX_HTTP_FUNCTIONS_CONN_STORING:

            if (status == 0) {
                status = mysql_store_result_start(&res, fc->mysql);
            } else {
                status = mysql_store_result_cont(&res, fc->mysql, status);
            }

            if (status) {
                if (ngx_http_functions_conn_wait(fc, status) != NGX_OK) {
                    ngx_http_functions_conn_fail(fc, "query result");
                }
                return;
            }

            if (res == NULL && mysql_field_count(fc->mysql) != 0) {
                ngx_http_functions_conn_fail(fc, "query result");
                return;
            }

            if (fc->deadline.timer_set) {
                ngx_del_timer(&fc->deadline);
            }

            q = fc->query;
            fc->query = NULL;

            ngx_http_functions_conn_ended(fc, q, NGX_OK);

            if (q == NULL) {
                /* its request went away */
                if (res != NULL) {
                    mysql_free_result(res);
                }

            } else {
                q->res = res;
                q->affected = res ? 0 : mysql_affected_rows(fc->mysql);
                ngx_http_functions_query_finish(q, NGX_OK);
            }

            ngx_http_functions_dbpool_dispatch();
            return;

        default:
            /* an event on an idle connection: the server closed it */
            ngx_http_functions_conn_close(fc);
            return;
        }
    }
}


/*
 * The server refused the statement (a duplicate key, a foreign key, an
 * error the statement signalled...): the connection is still good, and
 * the query ends with NGX_DECLINED and the server's error number.
 * Client-side errors (2000-2999: lost connection, ...) are not this.
 */

static ngx_uint_t
ngx_http_functions_conn_statement_error(ngx_http_functions_conn_t *fc)
{
    ngx_uint_t                    level, out;
    unsigned int                  err;
    ngx_http_functions_log_t      l;
    ngx_http_functions_query_t   *q;
    ngx_http_functions_dbpool_t  *pool = &ngx_http_functions_dbpool;

    err = mysql_errno(fc->mysql);

    if (err == 0 || (err >= 2000 && err < 3000)) {
        return 0;
    }

    if (fc->deadline.timer_set) {
        ngx_del_timer(&fc->deadline);
    }

    q = fc->query;
    fc->query = NULL;

    /* a Galera node out of the primary component: it takes no statement
     * (1047), or could not replicate a commit (1180: whether the cluster
     * has it is not known, so that one is not tried again) */
    out = (err == NGX_HTTP_FUNCTIONS_ER_NOT_READY
           || err == NGX_HTTP_FUNCTIONS_ER_COMMIT);

    if (q != NULL && q != &fc->rollback && !q->continued
        && q->timer.timer_set
        && q->tries + 1 < NGX_HTTP_FUNCTIONS_QUERY_TRIES
        && (err == NGX_HTTP_FUNCTIONS_ER_NOT_READY
            || err == NGX_HTTP_FUNCTIONS_ER_DEADLOCK))
    {
        /* it ran nothing: again, first in line */

        if (ngx_http_functions_log_begin(&l, ngx_cycle->log, NGX_LOG_WARN,
                                         "mysql: statement tried again"))
        {
            ngx_http_functions_log_str(&l, "server",
                                       &pool->conf->servers[fc->server].name);
            ngx_http_functions_log_int(&l, "mysql_error", err);
            ngx_http_functions_log_cstr(&l, "error", mysql_error(fc->mysql));
            ngx_http_functions_log_end(&l, ngx_cycle->log);
        }

        q->tries++;
        ngx_queue_insert_head(&pool->waiting, &q->queue);
        q->queued = 1;

        fc->state = NGX_HTTP_FUNCTIONS_CONN_IDLE;

        if (out) {
            ngx_http_functions_conn_next_server(fc);
            ngx_http_functions_conn_close(fc);
        }

        ngx_http_functions_dbpool_dispatch();

        return 1;
    }

    if (q != NULL) {
        level = q->quiet && !out ? NGX_LOG_INFO : NGX_LOG_ERR;

        if (ngx_http_functions_log_begin(&l, ngx_cycle->log, level,
                                         "mysql: statement refused"))
        {
            ngx_http_functions_log_str(&l, "server",
                                       &pool->conf->servers[fc->server].name);
            ngx_http_functions_log_int(&l, "mysql_error", err);
            ngx_http_functions_log_cstr(&l, "error",
                                        mysql_error(fc->mysql));
            ngx_http_functions_log_end(&l, ngx_cycle->log);
        }
    }

    if (out) {
        /* closing it rolls back whatever transaction was open there */
        ngx_http_functions_conn_next_server(fc);
        ngx_http_functions_conn_unhold(fc);
        ngx_http_functions_conn_close(fc);

    } else {
        ngx_http_functions_conn_ended(fc, q, NGX_DECLINED);
    }

    if (q != NULL) {
        q->error = err;
        ngx_http_functions_query_finish(q, NGX_DECLINED);
    }

    ngx_http_functions_dbpool_dispatch();

    return 1;
}


/* Watches the socket for what the library waits for. */

static ngx_int_t
ngx_http_functions_conn_wait(ngx_http_functions_conn_t *fc, int status)
{
    int                fd;
    ngx_event_t       *rev, *wev;
    ngx_connection_t  *c;

    if (fc->c == NULL) {
        fd = mysql_get_socket(fc->mysql);
        if (fd == -1) {
            return NGX_ERROR;
        }

        c = ngx_get_connection(fd, ngx_cycle->log);
        if (c == NULL) {
            return NGX_ERROR;
        }

        c->data = fc;
        c->read->handler = ngx_http_functions_conn_read_handler;
        c->write->handler = ngx_http_functions_conn_write_handler;
        c->read->log = ngx_cycle->log;
        c->write->log = ngx_cycle->log;

        fc->c = c;
    }

    rev = fc->c->read;
    wev = fc->c->write;

    if ((status & MYSQL_WAIT_READ) && !rev->active) {
        if (ngx_add_event(rev, NGX_READ_EVENT, NGX_LEVEL_EVENT) != NGX_OK) {
            return NGX_ERROR;
        }

    } else if (!(status & MYSQL_WAIT_READ) && rev->active) {
        if (ngx_del_event(rev, NGX_READ_EVENT, 0) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    if ((status & MYSQL_WAIT_WRITE) && !wev->active) {
        if (ngx_add_event(wev, NGX_WRITE_EVENT, NGX_LEVEL_EVENT) != NGX_OK) {
            return NGX_ERROR;
        }

    } else if (!(status & MYSQL_WAIT_WRITE) && wev->active) {
        if (ngx_del_event(wev, NGX_WRITE_EVENT, 0) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static void
ngx_http_functions_conn_read_handler(ngx_event_t *ev)
{
    ngx_connection_t  *c = ev->data;

    ngx_http_functions_conn_drive(c->data, MYSQL_WAIT_READ);
}


static void
ngx_http_functions_conn_write_handler(ngx_event_t *ev)
{
    ngx_connection_t  *c = ev->data;

    ngx_http_functions_conn_drive(c->data, MYSQL_WAIT_WRITE);
}


static void
ngx_http_functions_conn_deadline_handler(ngx_event_t *ev)
{
    ngx_http_functions_conn_t  *fc = ev->data;

    ngx_http_functions_conn_fail(fc, "timed out");
}


/* The connection failed: its query fails, the connection is closed. */

static void
ngx_http_functions_conn_fail(ngx_http_functions_conn_t *fc, const char *what)
{
    ngx_uint_t                     connecting;
    ngx_http_functions_log_t       l;
    ngx_http_functions_query_t    *q;
    ngx_http_functions_dbpool_t   *pool = &ngx_http_functions_dbpool;
    ngx_http_functions_db_conf_t  *dcf = pool->conf;

    connecting = (fc->state == NGX_HTTP_FUNCTIONS_CONN_CONNECTING);

    if (ngx_http_functions_log_begin(&l, ngx_cycle->log, NGX_LOG_ERR,
                                     "mysql: connection failed"))
    {
        ngx_http_functions_log_str(&l, "server",
                                   &dcf->servers[fc->server].name);
        ngx_http_functions_log_cstr(&l, "during", what);
        ngx_http_functions_log_cstr(&l, "error",
                                    fc->mysql ? mysql_error(fc->mysql) : "");
        ngx_http_functions_log_end(&l, ngx_cycle->log);
    }

    q = fc->query;
    fc->query = NULL;

    ngx_http_functions_conn_next_server(fc);

    /* a transaction on it is gone with it */
    ngx_http_functions_conn_unhold(fc);
    ngx_http_functions_conn_close(fc);

    if (q != NULL && connecting && !q->continued && q->timer.timer_set
        && q->tries + 1 < NGX_HTTP_FUNCTIONS_QUERY_TRIES)
    {
        /* nothing of it was sent, and its deadline is still ahead: on the
         * next connection, first in line */
        q->tries++;
        ngx_queue_insert_head(&pool->waiting, &q->queue);
        q->queued = 1;

    } else if (q != NULL) {
        ngx_http_functions_query_finish(q, NGX_ERROR);
    }

    /* queries still waiting may try again on a fresh connection */
    ngx_http_functions_dbpool_dispatch();
}


/*
 * fc's server failed: new connections go to the next one, unless another
 * connection moved on already.
 */

static void
ngx_http_functions_conn_next_server(ngx_http_functions_conn_t *fc)
{
    ngx_uint_t                    i;
    ngx_http_functions_log_t      l;
    ngx_http_functions_conn_t    *other;
    ngx_http_functions_dbpool_t  *pool = &ngx_http_functions_dbpool;

    if (pool->conf->nservers < 2) {
        return;
    }

    /* the idle ones to the same server would fail the same way (a node
     * partitioned away answers, but takes nothing) */
    for (i = 0; i < NGX_HTTP_FUNCTIONS_CONNS; i++) {
        other = &pool->conns[i];

        if (other != fc && other->server == fc->server
            && other->state == NGX_HTTP_FUNCTIONS_CONN_IDLE)
        {
            ngx_http_functions_conn_close(other);
        }
    }

    if (fc->server != pool->current) {
        return;
    }

    pool->current = (pool->current + 1) % pool->conf->nservers;

    if (ngx_http_functions_log_begin(&l, ngx_cycle->log, NGX_LOG_WARN,
                                     "mysql: connecting to the next server"))
    {
        ngx_http_functions_log_str(&l, "failed",
                                   &pool->conf->servers[fc->server].name);
        ngx_http_functions_log_str(&l, "server",
                                   &pool->conf->servers[pool->current].name);
        ngx_http_functions_log_end(&l, ngx_cycle->log);
    }
}


static void
ngx_http_functions_conn_close(ngx_http_functions_conn_t *fc)
{
    int  fd;

    if (fc->deadline.timer_set) {
        ngx_del_timer(&fc->deadline);
    }

    if (fc->c != NULL) {
        if (fc->c->read->active) {
            ngx_del_event(fc->c->read, NGX_READ_EVENT, 0);
        }

        if (fc->c->write->active) {
            ngx_del_event(fc->c->write, NGX_WRITE_EVENT, 0);
        }

        if (fc->c->read->timer_set) {
            ngx_del_timer(fc->c->read);
        }

        /* the library closes the socket itself, below */
        fc->c->fd = (ngx_socket_t) -1;
        ngx_free_connection(fc->c);
        fc->c = NULL;
    }

    if (fc->mysql != NULL) {
        /* no goodbye: the server may be frozen, and closing must not wait */
        fd = mysql_get_socket(fc->mysql);
        if (fd != -1) {
            shutdown(fd, SHUT_RDWR);
        }

        mysql_close(fc->mysql);
        fc->mysql = NULL;
    }

    fc->state = NGX_HTTP_FUNCTIONS_CONN_CLOSED;
}


/* A query waited for a connection until its deadline. */

static void
ngx_http_functions_query_wait_handler(ngx_event_t *ev)
{
    ngx_uint_t                   i;
    ngx_http_functions_conn_t   *fc;
    ngx_http_functions_query_t  *q = ev->data;

    if (q->queued) {
        ngx_queue_remove(&q->queue);
        q->queued = 0;
        ngx_http_functions_query_finish(q, NGX_ERROR);
        return;
    }

    /* running: its connection's own deadline fires too; end it here */
    for (i = 0; i < NGX_HTTP_FUNCTIONS_CONNS; i++) {
        fc = &ngx_http_functions_dbpool.conns[i];
        if (fc->query == q) {
            ngx_http_functions_conn_fail(fc, "timed out");
            return;
        }
    }
}


static void
ngx_http_functions_query_finish(ngx_http_functions_query_t *q, ngx_int_t rc)
{
    if (q->timer.timer_set) {
        ngx_del_timer(&q->timer);
    }

    q->rc = rc;
    q->handler(q);
}


/*
 * Escapes a value for a single-quoted string on a utf8mb4 connection
 * (whose sql_mode has no NO_BACKSLASH_ESCAPES: see the connect options);
 * a quote is doubled, which holds in either mode.  dst has room for
 * 2 * src->len bytes.
 */

size_t
ngx_http_functions_query_escape(u_char *dst, ngx_str_t *src)
{
    u_char      c, *d;
    ngx_uint_t  i;

    d = dst;

    for (i = 0; i < src->len; i++) {
        c = src->data[i];

        switch (c) {
        case '\0':
            c = '0';
            break;
        case '\n':
            c = 'n';
            break;
        case '\r':
            c = 'r';
            break;
        case '\032':
            c = 'Z';
            break;
        case '\'':
            *d++ = '\'';
            *d++ = '\'';
            continue;
        case '\\':
        case '"':
            break;
        default:
            *d++ = c;
            continue;
        }

        *d++ = '\\';
        *d++ = c;
    }

    return d - dst;
}


/* ------------------------------------------------------------ SQL text */

/*
 * Statements built piece by piece in a pool: literal SQL, quoted and
 * escaped values, numbers.  A failed allocation is remembered and
 * reported once, by ngx_http_functions_sql_done().
 */

static u_char *
ngx_http_functions_sql_reserve(ngx_http_functions_sql_t *sql, size_t n)
{
    u_char  *p;
    size_t   cap;

    if (sql->failed) {
        return NULL;
    }

    if (sql->len + n > sql->cap) {
        cap = ngx_max(2 * sql->cap, sql->len + n + 256);

        p = ngx_pnalloc(sql->pool, cap);
        if (p == NULL) {
            sql->failed = 1;
            return NULL;
        }

        if (sql->len) {
            ngx_memcpy(p, sql->data, sql->len);
        }

        sql->data = p;
        sql->cap = cap;
    }

    return sql->data + sql->len;
}


void
ngx_http_functions_sql_raw(ngx_http_functions_sql_t *sql, const char *s)
{
    size_t   n;
    u_char  *p;

    n = ngx_strlen(s);

    p = ngx_http_functions_sql_reserve(sql, n);
    if (p != NULL) {
        ngx_memcpy(p, s, n);
        sql->len += n;
    }
}


void
ngx_http_functions_sql_str(ngx_http_functions_sql_t *sql, u_char *data,
    size_t len)
{
    u_char     *p;
    ngx_str_t   s;

    p = ngx_http_functions_sql_reserve(sql, 2 * len + 2);
    if (p == NULL) {
        return;
    }

    s.data = data;
    s.len = len;

    *p++ = '\'';
    p += ngx_http_functions_query_escape(p, &s);
    *p++ = '\'';

    sql->len = p - sql->data;
}


void
ngx_http_functions_sql_and(ngx_http_functions_sql_t *sql, const char *cond,
    ngx_str_t *value)
{
    if (value->len) {
        ngx_http_functions_sql_raw(sql, cond);
        ngx_http_functions_sql_str(sql, value->data, value->len);
    }
}


void
ngx_http_functions_sql_uint(ngx_http_functions_sql_t *sql, uint64_t n)
{
    u_char  *p;

    p = ngx_http_functions_sql_reserve(sql, NGX_INT64_LEN);
    if (p != NULL) {
        sql->len = ngx_sprintf(p, "%uL", n) - sql->data;
    }
}


ngx_int_t
ngx_http_functions_sql_done(ngx_http_functions_sql_t *sql, ngx_str_t *out)
{
    if (sql->failed || sql->len == 0) {
        return NGX_ERROR;
    }

    out->data = sql->data;
    out->len = sql->len;

    return NGX_OK;
}
