/*
 * The executor's listeners and request dispatch.
 */
#include "server.h"
#include "unix_socket.h"
#include "errf.h"
#include "endpoints.h"
#include "async.h"
#include "hot.h"
#include "log.h"
#include "metrics.h"
#include "sandbox.h"
#include "seccomp_filter.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* errf() for a libuv error code: "<what> <arg>: <libuv's message>". */
static int fail(char *err, size_t errlen, const char *what, const char *arg,
                int code)
{
    return errf(err, errlen, "%s %s: %s", what, arg, uv_strerror(code));
}

static void conn_dispatch(struct http_conn *c)
{
    server_dispatch(c->owner->data, c);
}

static void conn_closed(struct http_conn *c)
{
    server_conn_closed(c->owner->data, c);
}

static struct http_conn *conn_new(struct server *s, int is_tcp,
                                  int is_metrics)
{
    struct http_conn *c = calloc(1, sizeof(*c));

    if (c == NULL)
        return NULL;
    c->owner = &s->conn_owner;
    c->is_tcp = is_tcp;
    c->is_metrics = is_metrics;
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->nconns++;
    return c;
}

/*
 * A connection of listener: the one libuv accepted (fd < 0), or fd, which
 * we accepted ourselves (closed here if it cannot be served).
 */
static struct http_conn *adopt(struct server *s, uv_stream_t *listener,
                               int fd)
{
    int is_metrics = listener == (uv_stream_t *)&s->metrics_listener;
    int is_tcp = is_metrics || listener == (uv_stream_t *)&s->tcp_listener;
    struct http_conn *c;
    int rc;

    c = conn_new(s, is_tcp, is_metrics);
    if (c == NULL) {
        log_msg(LOG_LEVEL_ERROR, "out of memory accepting a connection",
                NULL);
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    rc = is_tcp ? uv_tcp_init(s->loop, &c->h.tcp)
                : uv_pipe_init(s->loop, &c->h.pipe, 0);
    if (rc == 0) {
        /* from here on the handles own c: closing them frees c */
        uv_timer_init(s->loop, &c->timer);
        c->timer.data = c;
        c->h.stream.data = c;
        if (fd < 0)
            rc = uv_accept(listener, &c->h.stream);
        else if (is_tcp)
            rc = uv_tcp_open(&c->h.tcp, fd);
        else
            rc = uv_pipe_open(&c->h.pipe, fd);
        if (rc < 0) {
            log_msg(LOG_LEVEL_WARN, "accept failed", uv_strerror(rc));
            if (fd >= 0)
                close(fd);      /* the handle does not own it */
            http_conn_close(c);
            return NULL;
        }
        if (is_tcp)
            uv_tcp_nodelay(&c->h.tcp, 1);
        http_conn_start(c);
        return c->state == HTTP_CONN_READING ? c : NULL;
    }
    if (fd >= 0)
        close(fd);
    server_conn_closed(s, c);
    free(c);
    return NULL;
}

static void on_connection(uv_stream_t *listener, int status)
{
    if (status < 0) {
        log_msg(LOG_LEVEL_WARN, "accept failed", uv_strerror(status));
        return;
    }
    (void)adopt(listener->data, listener, -1);
}

/*
 * Before a listener closes: the connections waiting in its backlog are
 * taken, not reset.  Their callers are about to write a call (or have):
 * each is kept until its request is read and answered (503 not started,
 * while draining), or read_timeout.
 */
static void accept_backlog(struct server *s, uv_stream_t *listener)
{
    struct http_conn *c;
    uv_os_fd_t lfd;
    int fd;

    if (uv_fileno((const uv_handle_t *)listener, &lfd) != 0)
        return;
    while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC))
           >= 0) {
        c = adopt(s, listener, fd);
        if (c != NULL)
            c->request_due = 1;
    }
}

static void on_direct_empty(void *arg);

static int listen_unix(struct server *s, char *err, size_t errlen)
{
    const char *path = s->cfg.listen;
    struct stat st;
    int rc;

    if (unix_socket_clear_stale(path, SOCK_STREAM, err, errlen) < 0)
        return -1;
    rc = uv_pipe_init(s->loop, &s->unix_listener, 0);
    if (rc < 0)
        return fail(err, errlen, "cannot listen on", path, rc);
    s->unix_listener.data = s;
    s->unix_open = 1;
    rc = uv_pipe_bind(&s->unix_listener, path);
    if (rc < 0)
        return fail(err, errlen, "cannot bind", path, rc);
    if (stat(path, &st) == 0) {
        s->unix_dev = st.st_dev;
        s->unix_ino = st.st_ino;
    }
    if (unix_socket_access(path, &s->cfg, err, errlen) < 0)
        return -1;
    rc = uv_listen((uv_stream_t *)&s->unix_listener, 511, on_connection);
    if (rc < 0)
        return fail(err, errlen, "cannot listen on", path, rc);
    return 0;
}

static int read_secret(struct server *s, char *err, size_t errlen)
{
    const char *path = s->cfg.secret_file;
    ssize_t n;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return fail(err, errlen, "cannot open", path,
                    uv_translate_sys_error(errno));
    n = read(fd, s->secret, sizeof(s->secret));
    close(fd);
    if (n < 0)
        return fail(err, errlen, "cannot read", path,
                    uv_translate_sys_error(errno));
    while (n > 0 && (s->secret[n - 1] == '\n' || s->secret[n - 1] == '\r'))
        n--;
    if (n < SERVER_SECRET_MIN || n >= (ssize_t)sizeof(s->secret)) {
        errf(err, errlen, "the secret in %s must have %d to %zu bytes",
             path, SERVER_SECRET_MIN, sizeof(s->secret) - 1);
        return -1;
    }
    s->secret_len = (size_t)n;
    return 0;
}

static int listen_tcp(struct server *s, const char *spec, uv_tcp_t *h,
                      int *open, char *err, size_t errlen)
{
    const char *colon = strrchr(spec, ':');
    char host[256];
    struct sockaddr_storage addr;
    size_t hlen = (size_t)(colon - spec);
    int port = atoi(colon + 1), rc;

    if (hlen >= sizeof(host))
        hlen = sizeof(host) - 1;
    memcpy(host, spec, hlen);
    host[hlen] = '\0';
    if (hlen > 2 && host[0] == '[' && host[hlen - 1] == ']') {
        memmove(host, host + 1, hlen - 2);
        host[hlen - 2] = '\0';
    }
    rc = uv_ip4_addr(host, port, (struct sockaddr_in *)&addr);
    if (rc < 0)
        rc = uv_ip6_addr(host, port, (struct sockaddr_in6 *)&addr);
    if (rc < 0) {
        errf(err, errlen, "a TCP listener needs a numeric address: "
             "\"%s\"", spec);
        return -1;
    }
    rc = uv_tcp_init(s->loop, h);
    if (rc < 0)
        return fail(err, errlen, "cannot listen on", spec, rc);
    h->data = s;
    *open = 1;
    rc = uv_tcp_bind(h, (struct sockaddr *)&addr, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)h, 511, on_connection);
    if (rc < 0)
        return fail(err, errlen, "cannot listen on", spec, rc);
    return 0;
}

static void close_listeners(struct server *s)
{
    struct stat st;

    if (s->unix_open) {
        /* remove the socket file only if it is still the one we made:
         * then nobody connects any more, and what is waiting is taken */
        if (stat(s->cfg.listen, &st) == 0 && st.st_dev == s->unix_dev
            && st.st_ino == s->unix_ino)
            unlink(s->cfg.listen);
        if (s->draining)
            accept_backlog(s, (uv_stream_t *)&s->unix_listener);
        uv_close((uv_handle_t *)&s->unix_listener, NULL);
        s->unix_open = 0;
    }
    if (s->tcp_open) {
        if (s->draining)
            accept_backlog(s, (uv_stream_t *)&s->tcp_listener);
        uv_close((uv_handle_t *)&s->tcp_listener, NULL);
        s->tcp_open = 0;
    }
    if (s->metrics_open) {
        uv_close((uv_handle_t *)&s->metrics_listener, NULL);
        s->metrics_open = 0;
    }
}

int server_start(struct server *s, uv_loop_t *loop, const struct config *cfg,
                 char *err, size_t errlen)
{
    char self[1024], *slash;
    struct stat st;
    ssize_t n;
    int fd;

    memset(s, 0, sizeof(*s));
    s->loop = loop;
    s->cfg = *cfg;
    s->conn_owner.cfg = &s->cfg;
    s->conn_owner.draining = &s->draining;
    s->conn_owner.dispatch = conn_dispatch;
    s->conn_owner.closed = conn_closed;
    s->conn_owner.data = s;
    s->sandboxes.loop = loop;
    s->sandboxes.cfg = &s->cfg;
    s->sandboxes.draining = &s->draining;
    s->sandboxes.killing = &s->calls.killing;
    s->hot.loop = loop;
    s->hot.cfg = &s->cfg;
    s->hot.capacity = &s->capacity;
    s->hot.sandboxes = &s->sandboxes;
    s->hot.draining = &s->draining;
    s->hot.killing = &s->calls.killing;
    s->calls.loop = loop;
    s->calls.cfg = &s->cfg;
    s->calls.capacity = &s->capacity;
    s->calls.images = &s->images;
    s->calls.sandboxes = &s->sandboxes;
    s->calls.hot = &s->hot;
    if (cfg->sandbox_helper[0] != '\0') {
        snprintf(s->sandboxes.helper, sizeof(s->sandboxes.helper), "%s",
                 cfg->sandbox_helper);
    } else {
        /* installed beside the executor */
        n = readlink("/proc/self/exe", self, sizeof(self) - 1);
        if (n < 0) {
            errf(err, errlen, "cannot find the executor's own path: %s",
                 strerror(errno));
            return -1;
        }
        self[n] = '\0';
        slash = strrchr(self, '/');
        *slash = '\0';
        snprintf(s->sandboxes.helper, sizeof(s->sandboxes.helper), "%.900s/"
                 "functions-sandbox-helper", self);
    }
    if (access(s->sandboxes.helper, X_OK) < 0) {
        errf(err, errlen, "cannot run %s: %s", s->sandboxes.helper,
             strerror(errno));
        return -1;
    }
    /* sandboxes run it as their init, from this descriptor, as the
     * sandbox user: it must be executable by everyone */
    fd = open(s->sandboxes.helper, O_RDONLY | O_CLOEXEC);
    s->sandboxes.helper_fd = fd;
    if (s->sandboxes.helper_fd < 0 || fstat(s->sandboxes.helper_fd, &st) < 0
        || !(st.st_mode & S_IXOTH)) {
        errf(err, errlen, "%s must be readable and executable by "
             "everyone (mode 0755)", s->sandboxes.helper);
        if (s->sandboxes.helper_fd >= 0)
            close(s->sandboxes.helper_fd);
        return -1;
    }
    if (access(cfg->bwrap, X_OK) < 0) {
        errf(err, errlen, "cannot run %s: %s", cfg->bwrap,
             strerror(errno));
        return -1;
    }
    if (uid_range_check(cfg->sandbox_uid_first, cfg->sandbox_uid_count,
                        cfg->sandbox_uids_owner, err, errlen) < 0
        || uid_range_lock(cfg->sandbox_uid_first, cfg->sandbox_uid_count,
                          err, errlen) < 0)
        return -1;
    if (uid_range_init(&s->sandboxes.uids, cfg->sandbox_uid_first,
                       cfg->sandbox_uid_count) < 0) {
        errf(err, errlen, "out of memory");
        return -1;
    }
    if (seccomp_filter_build(cfg->allow_network, &s->sandboxes.seccomp_bpf,
                             &s->sandboxes.seccomp_len) < 0
        || seccomp_filter_build(1, &s->sandboxes.seccomp_inet_bpf,
                                &s->sandboxes.seccomp_inet_len) < 0) {
        errf(err, errlen, "cannot build the seccomp filter");
        return -1;
    }
    capacity_init(&s->capacity, loop);
    s->capacity.on_pressure = hot_on_pressure;
    s->capacity.pressure_arg = &s->hot;
    s->capacity.max_sandboxes = (unsigned)cfg->max_sandboxes;
    s->capacity.memory_budget = cfg->memory_budget;
    s->capacity.queue_size = cfg->queue_size;
    s->capacity.queue_timeout_ms = cfg->queue_timeout_ms;
    if (listen_unix(s, err, errlen) < 0
        || (cfg->listen_tcp[0] != '\0'
            && (read_secret(s, err, errlen) < 0
                || listen_tcp(s, cfg->listen_tcp, &s->tcp_listener,
                              &s->tcp_open, err, errlen) < 0))
        || (cfg->metrics_listen[0] != '\0'
            && listen_tcp(s, cfg->metrics_listen, &s->metrics_listener,
                          &s->metrics_open, err, errlen) < 0)) {
        close_listeners(s);
        return -1;
    }
    if (cfg->direct_listen[0] != '\0') {
        if (direct_start(&s->direct, loop, &s->calls, cfg, err,
                         errlen) < 0) {
            close_listeners(s);
            return -1;
        }
        s->hot.direct = 1;
        direct_on_empty(s->direct, on_direct_empty, s);
    }
    /* only once the socket is ours: a second executor changes nothing */
    if (cgroups_init(&s->sandboxes.cgroups, cfg->cgroup_root,
                     cfg->cgroup_name, cfg->cgroup_delegated, err,
                     errlen) < 0) {
        close_listeners(s);
        return -1;
    }
    if (cfg->cpu_quota > 0 && !s->sandboxes.cgroups.have_cpu) {
        errf(err, errlen, "cpu_quota needs the cpu cgroup controller, "
             "which %s lacks: enable it, or set cpu_quota = 0 to run "
             "sandboxes without a CPU quota", cfg->cgroup_root);
        cgroups_fini(&s->sandboxes.cgroups);
        close_listeners(s);
        return -1;
    }
    return 0;
}

int server_reconfigure(struct server *s, const struct config *cfg,
                       char *err, size_t errlen)
{
    int kept = 0;

    err[0] = '\0';
    if (strcmp(cfg->listen, s->cfg.listen) != 0
        || cfg->listen_mode != s->cfg.listen_mode
        || strcmp(cfg->listen_group, s->cfg.listen_group) != 0
        || strcmp(cfg->listen_tcp, s->cfg.listen_tcp) != 0
        || strcmp(cfg->secret_file, s->cfg.secret_file) != 0
        || strcmp(cfg->metrics_listen, s->cfg.metrics_listen) != 0
        || strcmp(cfg->direct_listen, s->cfg.direct_listen) != 0) {
        errf(err, errlen, "listener settings change only on restart");
        kept = 1;
    }
    s->cfg.log_level = cfg->log_level;
    s->cfg.metrics_interval_ms = cfg->metrics_interval_ms;
    memcpy(s->cfg.log_file, cfg->log_file, sizeof(s->cfg.log_file));
    s->cfg.drain_timeout_ms = cfg->drain_timeout_ms;
    s->cfg.max_request_header = cfg->max_request_header;
    s->cfg.max_request_body = cfg->max_request_body;
    s->cfg.read_timeout_ms = cfg->read_timeout_ms;
    s->cfg.max_response_body = cfg->max_response_body;
    s->cfg.tmp_size = cfg->tmp_size;
    s->cfg.pids_max = cfg->pids_max;
    s->cfg.cpu_quota = cfg->cpu_quota;
    s->cfg.log_max_per_call = cfg->log_max_per_call;
    s->cfg.log_retention_ms = cfg->log_retention_ms;
    s->cfg.log_store_max = cfg->log_store_max;
    if (cfg->allow_network != s->cfg.allow_network) {
        /* the filter decides which socket families a function may make:
         * built anew, or the old setting stays whole */
        char *bpf;
        size_t len;

        if (seccomp_filter_build(cfg->allow_network, &bpf, &len) == 0) {
            free(s->sandboxes.seccomp_bpf);
            s->sandboxes.seccomp_bpf = bpf;
            s->sandboxes.seccomp_len = len;
            s->cfg.allow_network = cfg->allow_network;
        } else {
            errf_append(err, errlen, "%scannot build the seccomp filter: "
                        "allow_network is kept", kept ? "; " : "");
            kept = 1;
        }
    }
    s->capacity.max_sandboxes = (unsigned)cfg->max_sandboxes;
    s->capacity.memory_budget = cfg->memory_budget;
    s->capacity.queue_size = cfg->queue_size;
    s->capacity.queue_timeout_ms = cfg->queue_timeout_ms;
    /* sandboxes made with the old settings are not kept: idle ones go
     * now, busy ones when their call ends */
    s->sandboxes.generation++;
    s->cfg.sandbox_idle_timeout_ms = cfg->sandbox_idle_timeout_ms;
    s->cfg.sandbox_idle_max = cfg->sandbox_idle_max;
    sandbox_close_idle(&s->sandboxes);
    hot_close_idle(&s->hot);
    if (strcmp(cfg->image_dir, s->cfg.image_dir) != 0
        || strcmp(cfg->state_dir, s->cfg.state_dir) != 0
        || strcmp(cfg->cgroup_root, s->cfg.cgroup_root) != 0
        || strcmp(cfg->cgroup_name, s->cfg.cgroup_name) != 0
        || cfg->cgroup_delegated != s->cfg.cgroup_delegated
        || strcmp(cfg->bwrap, s->cfg.bwrap) != 0
        || cfg->sandbox_uid_first != s->cfg.sandbox_uid_first
        || cfg->sandbox_uid_count != s->cfg.sandbox_uid_count
        || strcmp(cfg->sandbox_uids_owner, s->cfg.sandbox_uids_owner) != 0) {
        errf_append(err, errlen, "%sdirectories, cgroups, bwrap and "
                    "sandbox ids change only on restart", kept ? "; " : "");
        kept = 1;
    }
    if (strcmp(cfg->amqp_url, s->cfg.amqp_url) != 0
        || strcmp(cfg->amqp_exchange, s->cfg.amqp_exchange) != 0
        || strcmp(cfg->amqp_queue, s->cfg.amqp_queue) != 0
        || cfg->amqp_quorum != s->cfg.amqp_quorum
        || cfg->async_slots != s->cfg.async_slots
        || cfg->async_retries != s->cfg.async_retries
        || cfg->async_retry_delay_ms != s->cfg.async_retry_delay_ms
        || strcmp(cfg->mysql_server, s->cfg.mysql_server) != 0
        || strcmp(cfg->mysql_user, s->cfg.mysql_user) != 0
        || strcmp(cfg->mysql_password_file, s->cfg.mysql_password_file) != 0
        || strcmp(cfg->mysql_database, s->cfg.mysql_database) != 0) {
        errf_append(err, errlen, "%sasync (amqp_*, async_*) and database "
                    "(mysql_*) settings change only on restart",
                    kept ? "; " : "");
        kept = 1;
    }
    return kept;
}

/* The last leased instance is back (direct.h): a drain may be over. */
static void on_direct_empty(void *arg)
{
    struct server *s = arg;

    if (s->draining && s->nconns == 0 && s->on_drained != NULL)
        s->on_drained(s);
}

void server_drain(struct server *s, void (*on_drained)(struct server *s))
{
    struct http_conn *c, *next;

    s->draining = 1;
    s->on_drained = on_drained;
    close_listeners(s);
    direct_stop_listening(s->direct);
    capacity_cancel_all(&s->capacity);
    for (c = s->conns; c != NULL; c = next) {
        next = c->next;
        /* idle ones go; one whose request is on its way is read and
         * answered 503 "not started" (draining), which nginx may give to
         * another executor: closed unread, it would be reset under a call
         * nginx had already sent */
        if (c->state == HTTP_CONN_READING && !c->rp.started
            && !c->request_due && !http_conn_has_input(c))
            http_conn_close(c);
    }
    if (s->nconns == 0 && direct_held(s->direct) == 0
        && s->on_drained != NULL)
        s->on_drained(s);
}

void server_close_all(struct server *s)
{
    struct http_conn *c, *next;

    close_listeners(s);
    direct_close_all(s->direct);
    for (c = s->conns; c != NULL; c = next) {
        next = c->next;
        http_conn_close(c);
    }
}

void server_conn_closed(struct server *s, struct http_conn *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->nconns--;
    if (s->draining && s->nconns == 0 && direct_held(s->direct) == 0
        && s->on_drained != NULL)
        s->on_drained(s);
}

/* Compares in time that depends only on the length of the secret. */
static int secret_matches(const struct server *s, const char *given)
{
    size_t i, glen;
    unsigned char diff = 0;

    if (given == NULL)
        return 0;
    glen = strlen(given);
    for (i = 0; i < s->secret_len; i++)
        diff |= (unsigned char)(s->secret[i] ^ (i < glen ? given[i] : 0));
    return diff == 0 && glen == s->secret_len;
}

void server_dispatch(struct server *s, struct http_conn *c)
{
    if (c->is_metrics) {
        endpoints_serve_metrics(s, c);
        return;
    }
    if (c->is_tcp
        && !secret_matches(s, http_request_header(&c->rp.req,
                                                  SERVER_SECRET_HEADER))) {
        log_msg(LOG_LEVEL_WARN, "TCP request without the right secret",
                NULL);
        http_conn_respond_error(c, 401,
                                "missing or wrong " SERVER_SECRET_HEADER);
        return;
    }
    endpoints_serve(s, c);
}
