/*
 * Async calls: one consumer thread owns the AMQP connection (deliveries
 * in, acknowledgements out); async_slots worker threads run one call
 * each.  A worker:
 *
 *   1. reads the message (one it cannot read is dead-lettered with the
 *      reason, and acknowledged);
 *   2. looks the call up in MySQL: a call already finished is not run
 *      again (a redelivery after it was recorded); else it is recorded
 *      "running", one attempt more;
 *   3. hands it to the loop thread as nginx's POST /call would come
 *      (call_inbox.h), so capacity, sandboxes and hot instances are
 *      shared, and waits for its end;
 *   4. records the outcome and its log ("success", "timeout", "error";
 *      a failure with attempts left goes to a retry queue and back to
 *      "queued"), retrying the database until it answers;
 *   5. only then asks the consumer thread to acknowledge the message.
 *
 * The prefetch is async_slots, so async calls never hold more than that
 * many of the executor's slots: sync calls keep the rest.  If the
 * executor dies, unacknowledged messages are delivered again: the call
 * runs again as a further attempt of the same call id.
 */
#include "async.h"
#include "call_inbox.h"
#include "json_out.h"
#include "metrics.h"
#include "amqp_link.h"
#include "async_message.h"
#include "errf.h"
#include "file_read.h"
#include "log.h"
#include "route_def.h"
#include "ulid.h"

#include <amqp.h>
#include <amqp_framing.h>
#include <fcntl.h>
#include <jansson.h>
#include <mysql.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum ack_action { ACK, REQUEUE, REJECT };

/* mysql_server: one server, or the nodes of a Galera cluster */
#define DB_SERVERS_MAX 8
/* a Galera node out of the cluster's primary component: it takes no
 * statement, and commits none */
#define ER_NOT_READY 1047
#define ER_COMMIT 1180

struct job {
    struct job *next;
    uint64_t tag;
    unsigned link_gen;              /* tags belong to one connection */
    int redelivered;
    void *body;
    size_t len;
    enum ack_action action;         /* when done */
};

static struct {
    const struct config *cfg;
    struct call_inbox *inbox;
    struct amqp_settings amqp;
    struct db_server {
        char host[256], socket[CONFIG_PATH_MAX];
        unsigned port;
    } db[DB_SERVERS_MAX];
    unsigned ndb;
    unsigned db_next;               /* the server to connect to (atomic) */
    char db_password[256];
    unsigned slots;

    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct job *todo, *todo_tail;   /* deliveries for the workers */
    struct job *done;               /* answers for the consumer */
    unsigned link_gen;
    volatile int stopping;          /* take no more work */
    volatile int abandon;           /* the process exits: give up writes */
    unsigned busy;                  /* jobs taken and not finished */
    unsigned in_flight;             /* delivered and not acknowledged */
    int consumer_done;
    int started;
} A = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

/* A warning; about a call when m is set. */
static void warn(const char *msg, const struct async_message *m,
                 const char *error)
{
    struct log_record r;

    if (log_begin(&r, LOG_LEVEL_WARN, msg)) {
        if (m != NULL) {
            log_str(&r, "call_id", m->call_id);
            log_str(&r, "app", m->app);
            log_str(&r, "path", m->path);
        }
        if (error != NULL)
            log_str(&r, "error", error);
        log_end(&r);
    }
}

static void nap(unsigned ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

    nanosleep(&ts, NULL);
}

/* ------------------------------------------------------------- MySQL */

/*
 * A connection to the server in use: the first that answers, from it on.
 * Reads wait until the node has applied what the whole cluster committed
 * before them (wsrep_sync_wait; ignored without Galera): a call's record
 * written through another node is seen.
 */
static MYSQL *db_connect(const struct db_server *srv)
{
    unsigned timeout = 5;
    MYSQL *db = mysql_init(NULL);

    if (db == NULL)
        return NULL;
    mysql_options(db, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
    mysql_options(db, MYSQL_OPT_READ_TIMEOUT, &timeout);
    mysql_options(db, MYSQL_OPT_WRITE_TIMEOUT, &timeout);
    mysql_options(db, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    mysql_options(db, MYSQL_INIT_COMMAND,
                  "SET time_zone = '+00:00', wsrep_sync_wait = 1");
    if (mysql_real_connect(db, srv->socket[0] ? NULL : srv->host,
                           A.cfg->mysql_user, A.db_password,
                           A.cfg->mysql_database, srv->port,
                           srv->socket[0] ? srv->socket : NULL, 0) == NULL) {
        warn("async: cannot reach the database", NULL, mysql_error(db));
        mysql_close(db);
        return NULL;
    }
    return db;
}

/* the server of this thread's connection (each thread has one) */
static __thread unsigned db_server;

/*
 * The server of this thread's connection failed: connections go to the
 * next one, unless another thread moved on from it already.
 */
static void db_next_server(void)
{
    unsigned cur = db_server;

    if (A.ndb > 1)
        __atomic_compare_exchange_n(&A.db_next, &cur, (cur + 1) % A.ndb, 0,
                                    __ATOMIC_RELAXED, __ATOMIC_RELAXED);
}

static MYSQL *db_open(void)
{
    unsigned first = __atomic_load_n(&A.db_next, __ATOMIC_RELAXED), i, k;
    MYSQL *db = NULL;

    for (i = 0; i < A.ndb && db == NULL; i++) {
        k = (first + i) % A.ndb;
        db = db_connect(&A.db[k]);
        if (db != NULL) {
            db_server = k;
            if (i > 0)
                __atomic_store_n(&A.db_next, k, __ATOMIC_RELAXED);
        }
    }
    if (db == NULL)
        return NULL;
    /* Connector/C opens it without close-on-exec: a sandbox started
     * meanwhile must not inherit a logged-in session (the spawn closes
     * every descriptor it does not name, too) */
    fcntl(mysql_get_socket(db), F_SETFD, FD_CLOEXEC);
    return db;
}

/*
 * A statement, again and again until the database takes it (or we stop).
 * Returns 0; -1 when giving up (exiting); -2 when the server refuses the
 * statement
 * itself (trying again would not help: the caller decides).
 */
static int db_exec(MYSQL **db, const struct async_message *m,
                   const char *sql, size_t len, MYSQL_RES **res)
{
    unsigned wait = 200, err;

    while (!A.abandon) {
        if (*db == NULL)
            *db = db_open();
        if (*db != NULL) {
            if (mysql_real_query(*db, sql, len) == 0) {
                if (res != NULL)
                    *res = mysql_store_result(*db);
                if (res == NULL || *res != NULL)
                    return 0;
            }
            err = mysql_errno(*db);
            if (err != 0 && err < 2000 && err != 1205 && err != 1213
                && err != ER_NOT_READY && err != ER_COMMIT) {
                warn("async: the database refused a statement", m,
                     mysql_error(*db));
                return -2;
            }
            warn("async: database write failed, retrying", m,
                 mysql_error(*db));
            /* a lost connection, or a node out of the cluster: another
             * node; a lock or certification conflict: the same */
            if (err == 0 || err >= 2000 || err == ER_NOT_READY
                || err == ER_COMMIT)
                db_next_server();
            mysql_close(*db);
            *db = NULL;
        }
        nap(wait);
        wait = wait < 5000 ? wait * 2 : 5000;
    }
    return -1;
}

/* Appends 'value' escaped for SQL (or NULL) to buf. */
static size_t esc(MYSQL *db, char *dst, const char *value, size_t len)
{
    size_t n;

    if (value == NULL) {
        memcpy(dst, "NULL", 4);
        return 4;
    }
    dst[0] = '\'';
    n = mysql_real_escape_string(db, dst + 1, value, len);
    dst[n + 1] = '\'';
    return n + 2;
}

/* 1: the call already ended; 0: recorded running; -1: exiting. */
static int record_start(MYSQL **db, const struct async_message *m)
{
    char sql[1536], *p;
    uint64_t ms;
    MYSQL_RES *res = NULL;
    MYSQL_ROW row;
    int final;

    while (*db == NULL && !A.abandon)
        if ((*db = db_open()) == NULL)
            nap(1000);
    if (A.abandon)
        return -1;
    p = sql + sprintf(sql, "SELECT status FROM calls WHERE id = '%s'",
                      m->call_id);
    if (db_exec(db, m, sql, p - sql, &res) < 0)
        return -1;
    row = mysql_fetch_row(res);
    final = row != NULL && row[0] != NULL
            && (strcmp(row[0], "success") == 0 || strcmp(row[0], "error") == 0
                || strcmp(row[0], "timeout") == 0);
    mysql_free_result(res);
    if (final)
        return 1;

    /* a call the module did not record (its id sealed) gets its row now,
     * created when its id was made */
    ms = ulid_time(m->call_id);
    p = sql + sprintf(sql, "INSERT INTO calls (id, app_name, path, status, "
                      "attempt, created_at, started_at) VALUES ('%s', ",
                      m->call_id);
    p += esc(*db, p, m->app, strlen(m->app));
    *p++ = ',';
    p += esc(*db, p, m->path, strlen(m->path));
    p += sprintf(p, ", 'running', 1, "
                 "COALESCE(FROM_UNIXTIME(%llu.%03u), NOW(6)), NOW(6)) "
                 "ON DUPLICATE KEY UPDATE "
                 "attempt = IF(started_at IS NULL, attempt, attempt + 1), "
                 "status = 'running', started_at = NOW(6), "
                 "completed_at = NULL", (unsigned long long)(ms / 1000),
                 (unsigned)(ms % 1000));
    return db_exec(db, m, sql, p - sql, NULL);
}

static int record_end(MYSQL **db, const struct async_message *m,
                      const char *status, const char *reason,
                      const char *error, const char *log, size_t loglen)
{
    char *sql, *p;
    size_t elen = error ? strlen(error) : 0;
    int rc;

    if (*db == NULL && (*db = db_open()) == NULL && A.abandon)
        return -1;
    while (*db == NULL) {
        if (A.abandon)
            return -1;
        nap(1000);
        *db = db_open();
    }
    sql = malloc(256 + 2 * (elen + loglen + 64));
    if (sql == NULL)
        return -1;
    if (log != NULL) {
        p = sql + sprintf(sql, "INSERT INTO call_logs (call_id, app_name, "
                          "log) VALUES ('%s', ", m->call_id);
        p += esc(*db, p, m->app, strlen(m->app));
        *p++ = ',';
        p += esc(*db, p, log, loglen);
        p += sprintf(p, ") ON DUPLICATE KEY UPDATE log = VALUES(log)");
        rc = db_exec(db, m, sql, p - sql, NULL);
        if (rc == -1) {
            free(sql);
            return -1;
        }
        /* -2: the log alone is lost (logged); the outcome is recorded */
    }
    p = sql + sprintf(sql, "UPDATE calls SET status = '%s', reason = ",
                      status);
    p += esc(*db, p, reason, reason ? strlen(reason) : 0);
    p += sprintf(p, ", error = ");
    p += esc(*db, p, error, elen);
    p += sprintf(p, ", completed_at = %s WHERE id = '%s'",
                 strcmp(status, "queued") == 0 ? "NULL" : "NOW(6)",
                 m->call_id);
    rc = db_exec(db, m, sql, p - sql, NULL);
    free(sql);
    return rc;
}

/* ------------------------------------------------------ the call itself */

static int skip_header(const char *name)
{
    static const char *const skip[] = {
        "host", "content-length", "transfer-encoding", "connection",
        "expect", "keep-alive", "te", "upgrade", NULL
    };
    const char *const *s;

    for (s = skip; *s; s++)
        if (strcasecmp(name, *s) == 0)
            return 1;
    return strncasecmp(name, "fn-", 3) == 0;
}

/*
 * Runs the call as nginx would send it, on the loop thread, sharing
 * capacity, sandboxes and hot instances with sync calls; fills r
 * (status 0: not run).  m's body is taken.
 */
static void run_call(struct async_message *m, struct call_reply *r)
{
    struct http_request req;
    struct http_header *h;
    size_t i, n = 0;

    memset(r, 0, sizeof(*r));
    h = calloc(m->header_names.n + 4, sizeof(*h));
    if (h == NULL)
        return;
    for (i = 0; i < m->header_names.n; i++) {
        if (skip_header(m->header_names.v[i]))
            continue;
        h[n].name = m->header_names.v[i];
        h[n++].value = m->header_values.v[i];
    }
    h[n].name = "Fn-Call-Id";
    h[n++].value = m->call_id;
    h[n].name = "Fn-Route";
    h[n++].value = m->route;
    h[n].name = "Fn-Method";
    h[n++].value = m->method;
    h[n].name = "Fn-Request-Url";
    h[n++].value = m->url;

    memset(&req, 0, sizeof(req));
    req.method = HTTP_POST;
    req.url = "/call";
    req.url_len = 5;
    req.headers = h;
    req.nheaders = n;
    req.body = (char *)m->body;
    req.body_len = m->body_len;
    m->body = NULL;
    m->body_len = 0;
    call_inbox_run(A.inbox, &req, m->enqueued_at_ms, r);
    free(req.body);         /* when the call did not take it */
    free(h);
}

/* The error message of an executor's JSON answer, or NULL. */
static char *answer_message(const struct call_reply *r)
{
    json_t *root = r->body != NULL ? json_loadb(r->body, r->body_len, 0, NULL)
                                   : NULL;
    const char *m = json_string_value(
        json_object_get(json_object_get(root, "error"), "message"));
    char *copy = m != NULL ? strdup(m) : NULL;

    json_decref(root);
    return copy;
}

/* ------------------------------------------------------------ workers */

static void finish(struct job *j, enum ack_action action)
{
    j->action = action;
    pthread_mutex_lock(&A.mu);
    j->next = A.done;
    A.done = j;
    A.busy--;
    pthread_mutex_unlock(&A.mu);
}

static int publish(struct amqp_link *l, const char *exchange,
                   const char *key, const void *body, size_t len,
                   const struct async_message *m, const char *reason)
{
    const char *id = m != NULL ? m->call_id : NULL;
    char err[256];

    if (!l->open && amqp_link_open(l, &A.amqp, 1, err, sizeof(err)) < 0) {
        warn("async: cannot publish", m, err);
        return -1;
    }
    if (amqp_link_publish(l, &A.amqp, exchange, key, body, len, id, reason,
                          err, sizeof(err)) < 0) {
        warn("async: cannot publish", m, err);
        return -1;
    }
    return 0;
}

static void work(struct job *j, MYSQL **db, struct amqp_link *l)
{
    struct async_message m;
    struct call_reply r = { 0 };
    char err[256], dead[160], retry[160], *msg = NULL, *next;
    const char *status, *reason = NULL;
    int rc, code;

    snprintf(dead, sizeof(dead), "%s.dead", A.amqp.queue);
    if (async_message_parse(j->body, j->len, &m, err, sizeof(err)) < 0) {
        warn("async: unreadable message, dead-lettered", NULL, err);
        if (publish(l, "", dead, j->body, j->len, NULL, err) == 0) {
            metrics_count(METRICS_ASYNC_DEAD);
            finish(j, ACK);
        } else {
            finish(j, REJECT);
        }
        return;
    }

    rc = record_start(db, &m);
    if (rc != 0) {
        /* 1: done before (a redelivery); -1: stopping, it comes back;
         * -2: refused (logged), it comes back after a while */
        if (rc == -2)
            nap(5000);
        finish(j, rc == 1 ? ACK : REQUEUE);
        async_message_free(&m);
        return;
    }

    run_call(&m, &r);
    code = r.status;
    utf8_clean(r.log, r.log_len);

    if (code >= 200 && code < 300) {
        status = "success";
    } else if (code == 504) {
        status = "timeout";
        reason = "timeout";
    } else if (code == 503 || code == 0) {
        /* not run: no capacity, or this executor is stopping */
        record_end(db, &m, "queued", "not started", NULL, NULL, 0);
        nap(1000);
        finish(j, REQUEUE);
        goto out;
    } else {
        status = "error";
        msg = answer_message(&r);
        reason = code == 502 && msg && strstr(msg, "memory") ? "killed"
                 : code == 502 ? "bad_exit" : "failed";
        /* a call the executor refused (4xx) would fail again */
        if (code >= 500 && m.attempt <= A.cfg->async_retries) {
            snprintf(retry, sizeof(retry), "%s.retry.%u", A.amqp.queue,
                     m.attempt);
            next = async_message_next(j->body, j->len, m.attempt + 1);
            if (next != NULL
                && publish(l, "", retry, next, strlen(next), &m,
                           NULL) == 0) {
                free(next);
                metrics_count(METRICS_ASYNC_RETRIED);
                if (record_end(db, &m, "queued", reason, msg,
                               r.log, r.log_len) == -1) {
                    finish(j, REQUEUE);
                    goto out;
                }
                finish(j, ACK);
                goto out;
            }
            free(next);
            finish(j, REQUEUE);     /* try again later */
            goto out;
        }
    }
    /* -2: the record was refused (logged): the call ran and is not run
     * again for that */
    if (record_end(db, &m, status, reason, msg,
                   r.log, r.log_len) == -1) {
        finish(j, REQUEUE);
        goto out;
    }
    if (strcmp(status, "error") == 0 && code >= 500
        && publish(l, "", dead, j->body, j->len, &m,
                   "out of attempts") == 0)
        metrics_count(METRICS_ASYNC_DEAD);
    finish(j, ACK);

out:
    free(msg);
    free(r.body);
    free(r.log);
    async_message_free(&m);
}

static void *worker(void *arg)
{
    MYSQL *db = NULL;
    struct amqp_link link = { 0 };
    struct job *j;

    (void)arg;
    mysql_thread_init();
    for (;;) {
        pthread_mutex_lock(&A.mu);
        while (A.todo == NULL && !A.stopping)
            pthread_cond_wait(&A.cv, &A.mu);
        if (A.stopping) {
            pthread_mutex_unlock(&A.mu);
            break;
        }
        j = A.todo;
        A.todo = j->next;
        if (A.todo == NULL)
            A.todo_tail = NULL;
        A.busy++;
        pthread_mutex_unlock(&A.mu);
        work(j, &db, &link);
    }
    if (db != NULL)
        mysql_close(db);
    amqp_link_close(&link);
    mysql_thread_end();
    return NULL;
}

/* ----------------------------------------------------------- consumer */

static int consume_open(struct amqp_link *l)
{
    amqp_connection_state_t c;
    char err[256];

    if (amqp_link_open(l, &A.amqp, 0, err, sizeof(err)) < 0) {
        warn("async: cannot reach the broker", NULL, err);
        return -1;
    }
    c = l->conn;
    amqp_basic_qos(c, 1, 0, (uint16_t)A.slots, 0);
    amqp_basic_consume(c, 1, amqp_cstring_bytes(A.amqp.queue),
                       amqp_empty_bytes, 0, 0, 0, amqp_empty_table);
    if (amqp_get_rpc_reply(c).reply_type != AMQP_RESPONSE_NORMAL) {
        warn("async: cannot consume", NULL, A.amqp.queue);
        amqp_link_close(l);
        return -1;
    }
    pthread_mutex_lock(&A.mu);
    A.link_gen++;
    pthread_mutex_unlock(&A.mu);
    log_msg(LOG_LEVEL_INFO, "async: consuming", A.amqp.queue);
    return 0;
}

/* Acknowledges what the workers finished, on the link they came from. */
static int send_acks(struct amqp_link *l)
{
    struct job *done, *j;
    int rc = 0;

    pthread_mutex_lock(&A.mu);
    done = A.done;
    A.done = NULL;
    pthread_mutex_unlock(&A.mu);
    while ((j = done) != NULL) {
        done = j->next;
        if (l->open && j->link_gen == A.link_gen && rc == 0) {
            if (j->action == ACK)
                rc = amqp_basic_ack(l->conn, 1, j->tag, 0);
            else
                rc = amqp_basic_nack(l->conn, 1, j->tag, 0,
                                     j->action == REQUEUE);
        }
        /* else: its connection is gone, and the broker delivers it
         * again; the record says it finished */
        free(j->body);
        free(j);
        pthread_mutex_lock(&A.mu);
        A.in_flight--;
        pthread_mutex_unlock(&A.mu);
    }
    return rc;
}

static void *consumer(void *arg)
{
    struct amqp_link link = { 0 };
    amqp_envelope_t env;
    amqp_rpc_reply_t r;
    struct timeval tv;
    struct job *j;

    (void)arg;
    while (!A.stopping) {
        if (!link.open && consume_open(&link) < 0) {
            nap(1000);
            continue;
        }
        if (send_acks(&link) != 0) {
            warn("async: acknowledging failed", NULL, NULL);
            amqp_link_close(&link);
            continue;
        }
        amqp_maybe_release_buffers(link.conn);
        tv.tv_sec = 0;
        tv.tv_usec = 20000;
        r = amqp_consume_message(link.conn, &env, &tv, 0);
        if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION
            && r.library_error == AMQP_STATUS_TIMEOUT)
            continue;
        if (r.reply_type != AMQP_RESPONSE_NORMAL) {
            warn("async: the broker link broke", NULL,
                 r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION
                 ? amqp_error_string2(r.library_error) : "closed");
            amqp_link_close(&link);
            continue;
        }
        j = calloc(1, sizeof(*j));
        if (j != NULL)
            j->body = malloc(env.message.body.len + 1);
        if (j == NULL || j->body == NULL) {
            amqp_basic_nack(link.conn, 1, env.delivery_tag, 0, 1);
            if (j != NULL)
                free(j);
            amqp_destroy_envelope(&env);
            continue;
        }
        memcpy(j->body, env.message.body.bytes, env.message.body.len);
        j->len = env.message.body.len;
        j->tag = env.delivery_tag;
        j->redelivered = env.redelivered;
        j->link_gen = A.link_gen;
        amqp_destroy_envelope(&env);
        metrics_count(METRICS_ASYNC_RECEIVED);
        pthread_mutex_lock(&A.mu);
        A.in_flight++;
        if (A.todo_tail != NULL)
            A.todo_tail->next = j;
        else
            A.todo = j;
        A.todo_tail = j;
        pthread_cond_signal(&A.cv);
        pthread_mutex_unlock(&A.mu);
    }

    /* stopping: what no worker took goes back to the queue; what they
     * are finishing is acknowledged once recorded */
    pthread_mutex_lock(&A.mu);
    while ((j = A.todo) != NULL) {
        A.todo = j->next;
        j->action = REQUEUE;
        j->next = A.done;
        A.done = j;
    }
    A.todo_tail = NULL;
    pthread_mutex_unlock(&A.mu);
    for (;;) {
        unsigned busy;

        pthread_mutex_lock(&A.mu);
        busy = A.busy;
        pthread_mutex_unlock(&A.mu);
        if (send_acks(&link) != 0)
            amqp_link_close(&link);
        if (busy == 0 || A.abandon)
            break;
        nap(20);
    }
    amqp_link_close(&link);
    pthread_mutex_lock(&A.mu);
    A.consumer_done = 1;
    pthread_cond_broadcast(&A.cv);
    pthread_mutex_unlock(&A.mu);
    return NULL;
}

/* ------------------------------------------------------------ control */

unsigned async_in_flight(void)
{
    unsigned n;

    pthread_mutex_lock(&A.mu);
    n = A.in_flight;
    pthread_mutex_unlock(&A.mu);
    return n;
}

/* host[:port] or unix:/path, len bytes of it */
static int split_server(struct db_server *srv, const char *server, size_t len)
{
    const char *colon;
    size_t n;

    memset(srv, 0, sizeof(*srv));
    if (len > 5 && strncmp(server, "unix:", 5) == 0) {
        if (len - 5 >= sizeof(srv->socket))
            return -1;
        memcpy(srv->socket, server + 5, len - 5);
        return 0;
    }
    colon = memrchr(server, ':', len);
    srv->port = 3306;
    if (colon != NULL) {
        const char *end = server + len, *d;
        unsigned long port = 0;

        if (colon + 1 == end)
            return -1;
        for (d = colon + 1; d < end; d++) {
            if (*d < '0' || *d > '9')
                return -1;
            port = port * 10 + (unsigned long)(*d - '0');
            if (port > 65535)
                return -1;
        }
        if (port == 0)
            return -1;
        srv->port = (unsigned)port;
    }
    n = colon ? (size_t)(colon - server) : len;
    if (n == 0 || n >= sizeof(srv->host))
        return -1;
    memcpy(srv->host, server, n);
    return 0;
}

/* Servers separated by spaces. */
static int split_servers(const char *list)
{
    const char *p = list;
    size_t n;

    A.ndb = 0;
    for (;;) {
        p += strspn(p, " \t");
        if (*p == '\0')
            break;
        n = strcspn(p, " \t");
        if (A.ndb == DB_SERVERS_MAX || split_server(&A.db[A.ndb], p, n) < 0)
            return -1;
        A.ndb++;
        p += n;
    }
    return A.ndb > 0 ? 0 : -1;
}

int async_start(const struct config *cfg, struct call_inbox *inbox)
{
    char err[256], *pw = NULL;
    size_t len, i;
    pthread_t t;
    pthread_attr_t attr;
    uint64_t delay;

    static struct config copy;

    if (cfg->amqp_url[0] == '\0' || A.started)
        return 0;
    /* the threads read their own copy: a reload changes nothing here */
    copy = *cfg;
    A.cfg = &copy;
    A.inbox = inbox;
    cfg = &copy;
    amqp_settings_init(&A.amqp);
    if (amqp_settings_urls(&A.amqp, cfg->amqp_url, err, sizeof(err)) < 0) {
        log_msg(LOG_LEVEL_ERROR, "async: amqp_url", err);
        return -1;
    }
    /* both 128 bytes, NUL-terminated by the configuration's parser */
    memcpy(A.amqp.exchange, cfg->amqp_exchange, sizeof(A.amqp.exchange));
    memcpy(A.amqp.queue, cfg->amqp_queue, sizeof(A.amqp.queue));
    A.amqp.quorum = cfg->amqp_quorum;
    A.amqp.nretries = (unsigned)cfg->async_retries;
    for (i = 0, delay = cfg->async_retry_delay_ms; i < A.amqp.nretries;
         i++, delay *= 2)
        A.amqp.retry_delays_ms[i] = (unsigned)delay;
    if (split_servers(cfg->mysql_server) < 0) {
        log_msg(LOG_LEVEL_ERROR, "async: mysql_server", cfg->mysql_server);
        return -1;
    }
    if (cfg->mysql_password_file[0] != '\0') {
        pw = file_read(cfg->mysql_password_file, 255, &len);
        if (pw == NULL) {
            log_msg(LOG_LEVEL_ERROR, "async: cannot read mysql_password_file",
                    cfg->mysql_password_file);
            return -1;
        }
        while (len > 0 && (pw[len - 1] == '\n' || pw[len - 1] == '\r'))
            len--;
        memcpy(A.db_password, pw, len);
        A.db_password[len] = '\0';
        free(pw);
    }
    A.slots = (unsigned)(cfg->async_slots ? cfg->async_slots
                         : (cfg->max_sandboxes + 1) / 2);
    if (A.slots > 65535)
        A.slots = 65535;

    mysql_library_init(0, NULL, NULL);
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    for (i = 0; i < A.slots; i++) {
        if (pthread_create(&t, &attr, worker, NULL) != 0) {
            log_msg(LOG_LEVEL_ERROR, "async: cannot start a worker", NULL);
            pthread_attr_destroy(&attr);
            return -1;
        }
    }
    if (pthread_create(&t, &attr, consumer, NULL) != 0) {
        log_msg(LOG_LEVEL_ERROR, "async: cannot start the consumer", NULL);
        pthread_attr_destroy(&attr);
        return -1;
    }
    pthread_attr_destroy(&attr);
    A.started = 1;
    return 0;
}

void async_stop(void)
{
    pthread_mutex_lock(&A.mu);
    A.stopping = 1;
    pthread_cond_broadcast(&A.cv);
    pthread_mutex_unlock(&A.mu);
}

void async_wait(uint64_t ms)
{
    struct timespec until;

    if (!A.started)
        return;
    async_stop();
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += (time_t)(ms / 1000);
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&A.mu);
    while (!A.consumer_done) {
        if (pthread_cond_timedwait(&A.cv, &A.mu, &until) != 0)
            break;
    }
    if (!A.consumer_done)
        log_msg(LOG_LEVEL_WARN, "async: calls still being recorded at exit; "
                "their messages will be delivered again", NULL);
    A.abandon = 1;
    pthread_mutex_unlock(&A.mu);
}
