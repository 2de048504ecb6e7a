/*
 * Sandboxes: start, run, pool, close.
 */
#include "sandbox.h"
#include "errf.h"
#include "log.h"
#include "metrics.h"
#include "read_buf.h"
#include "sandbox_args.h"
#include "sandbox_proto.h"
#include "seccomp_filter.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

/* How long bubblewrap gets to set a sandbox up. */
#define SANDBOX_START_TIMEOUT_MS 10000

/* The executor is single-threaded: one buffer for every RUN message. */
static char run_msg[SANDBOX_MSG_MAX];

char *sandbox_key(const char *app, const char *path, const char *digest,
                  uint64_t memory)
{
    char *key;

    if (asprintf(&key, "%s\n%s\n%s\n%llu", app, path, digest,
                 (unsigned long long)memory) < 0)
        return NULL;
    return key;
}

/* A sandbox's id: a ULID (it names its cgroup and state directory). */
static int new_id(char out[ULID_LEN + 1])
{
    unsigned char rnd[ULID_RANDOM_BYTES];
    struct timeval tv;

    if (ulid_random(rnd, sizeof(rnd)) < 0)
        return -1;
    gettimeofday(&tv, NULL);
    ulid_encode(out, (uint64_t)tv.tv_sec * 1000
                     + (uint64_t)tv.tv_usec / 1000, rnd);
    out[ULID_LEN] = '\0';
    return 0;
}

/* ------------------------------------------------------------ the pool */

static void idle_remove(struct sandbox *sb)
{
    struct sandbox_pool *pool = sb->pool;

    if (sb->idle_prev)
        sb->idle_prev->idle_next = sb->idle_next;
    else
        pool->idle_head = sb->idle_next;
    if (sb->idle_next)
        sb->idle_next->idle_prev = sb->idle_prev;
    else
        pool->idle_tail = sb->idle_prev;
    sb->idle_next = sb->idle_prev = NULL;
    pool->nidle--;
}

static void close_sandbox(struct sandbox *sb);
static void on_close_timeout(uv_timer_t *t);

static void on_idle_timeout(uv_timer_t *t)
{
    struct sandbox *sb = t->data;

    close_sandbox(sb);
}

struct sandbox *sandbox_take(struct sandbox_pool *pool, const char *key)
{
    struct sandbox *sb;

    for (sb = pool->idle_head; sb != NULL; sb = sb->idle_next) {
        if (strcmp(sb->key, key) == 0) {
            idle_remove(sb);
            uv_timer_stop(&sb->timer);
            sb->state = SANDBOX_HELD;
            sb->owned = 1;
            return sb;
        }
    }
    return NULL;
}

void sandbox_close_idle(struct sandbox_pool *pool)
{
    while (pool->idle_head != NULL)
        close_sandbox(pool->idle_head);
}

/* ------------------------------------------------------------- closing */

static void free_sandbox(struct sandbox *sb)
{
    struct sandbox_pool *pool = sb->pool;
    struct log_record r;

    if (log_begin(&r, LOG_LEVEL_DEBUG, "sandbox closed")) {
        log_str(&r, "sandbox", sb->id);
        log_int(&r, "calls", (long long)sb->calls);
        log_end(&r);
    }
    if (sb->prev)
        sb->prev->next = sb->next;
    else
        pool->all = sb->next;
    if (sb->next)
        sb->next->prev = sb->prev;
    if (sb->ctl >= 0)
        close(sb->ctl);
    if (sb->pidfd >= 0)
        close(sb->pidfd);
    /* every process of it is gone: its uid may serve another sandbox */
    uid_range_put(&pool->uids, sb->uid);
    free(sb->key);
    free(sb);
}

/* cgroup removal waits for the kernel: off the event loop */
struct cgroup_removal {
    uv_work_t work;
    struct cgroup cgroup;
    int rc;
};

static void remove_cgroup(uv_work_t *w)
{
    struct cgroup_removal *r = w->data;

    r->rc = cgroup_destroy(&r->cgroup);
}

static void cgroup_removed(uv_work_t *w, int status)
{
    struct cgroup_removal *r = w->data;

    if (status < 0 || r->rc < 0)
        log_msg(LOG_LEVEL_ERROR, "cannot remove a sandbox cgroup",
                r->cgroup.dirs[0]);
    free(r);
}

static void maybe_free(struct sandbox *sb)
{
    struct cgroup_removal *r;

    if (sb->open_handles > 0 || sb->owned)
        return;
    r = malloc(sizeof(*r));
    if (r != NULL) {
        r->cgroup = sb->cgroup;
        r->work.data = r;
        if (uv_queue_work(sb->pool->loop, &r->work, remove_cgroup,
                          cgroup_removed) == 0)
            r = NULL;
    }
    if (r != NULL) {
        free(r);
        cgroup_destroy(&sb->cgroup);
    }
    free_sandbox(sb);
}

static void on_handle_closed(uv_handle_t *h)
{
    struct sandbox *sb = h->data;

    if (--sb->open_handles == 0)
        maybe_free(sb);
}

static void close_handle(struct sandbox *sb, uv_handle_t *h)
{
    h->data = sb;
    if (!uv_is_closing(h))
        uv_close(h, on_handle_closed);
}

/* Kills the processes; the exit callback closes the rest. */
void sandbox_kill(struct sandbox *sb)
{
    if (sb->exited)
        return;
    cgroup_kill_all(&sb->cgroup);
    /* not reaped yet, so the pid is still this process's */
    kill(sb->pid, SIGKILL);
}

/*
 * A sandbox with no process of a call left is told to end: its init exits
 * when its socket closes, and bubblewrap with it, so that all is gone when
 * the exit is seen.  Any other is killed.
 */
static void close_sandbox(struct sandbox *sb)
{
    enum sandbox_state state = sb->state;

    if (state == SANDBOX_IDLE) {
        idle_remove(sb);
        uv_timer_stop(&sb->timer);
    }
    sb->state = SANDBOX_CLOSING;
    if ((state == SANDBOX_IDLE || state == SANDBOX_HELD) && !sb->exited
        && sb->ctl >= 0) {
        uv_poll_stop(&sb->poll);
        shutdown(sb->ctl, SHUT_RDWR);
        /* if the init does not go, it is killed */
        uv_timer_start(&sb->timer, on_close_timeout, 1000, 0);
        return;
    }
    sandbox_kill(sb);
}

static void on_close_timeout(uv_timer_t *t)
{
    sandbox_kill(t->data);
}

void sandbox_release(struct sandbox *sb, int reuse)
{
    struct sandbox_pool *pool = sb->pool;
    const struct config *cfg = pool->cfg;

    sb->owned = 0;
    if (sb->exited) {
        sb->state = SANDBOX_CLOSING;
        maybe_free(sb);
        return;
    }
    if (!reuse || sb->state != SANDBOX_HELD || cfg->sandbox_idle_max == 0
        || sb->generation != pool->generation
        || cfg->sandbox_idle_timeout_ms == 0 || *pool->killing
        || *pool->draining) {
        close_sandbox(sb);
        return;
    }
    sb->state = SANDBOX_IDLE;
    sb->idle_prev = NULL;
    sb->idle_next = pool->idle_head;
    if (pool->idle_head)
        pool->idle_head->idle_prev = sb;
    else
        pool->idle_tail = sb;
    pool->idle_head = sb;
    pool->nidle++;
    uv_timer_start(&sb->timer, on_idle_timeout, cfg->sandbox_idle_timeout_ms,
                   0);
    /* the pool is bounded: the longest idle goes */
    while (pool->nidle > cfg->sandbox_idle_max)
        close_sandbox(pool->idle_tail);
}

/* ---------------------------------------------------------- its events */

static void ended(struct sandbox *sb)
{
    enum sandbox_state state = sb->state;

    sb->state = SANDBOX_CLOSING;
    if (state == SANDBOX_STARTING) {
        struct log_record r;

        if (log_begin(&r, LOG_LEVEL_ERROR, "sandbox could not start")) {
            log_str(&r, "sandbox", sb->id);
            logfmt_add(&r.buf, "stderr", sb->diag, sb->diag_len);
            log_end(&r);
        }
        metrics_count(METRICS_SANDBOX_FAILURES);
        sb->on_ready(sb, 0, sb->arg);
    } else if (state == SANDBOX_RUNNING) {
        sb->on_connect = NULL;
        sb->on_done(sb, 1, 0, 0, sb->arg);
    } else if (state == SANDBOX_HELD && sb->on_connect != NULL) {
        /* a LISTEN before any process: its asker hears of the end */
        sandbox_connect_cb cb = sb->on_connect;

        sb->on_connect = NULL;
        cb(sb, -1, ESRCH, sb->connect_arg);
    } else if (state == SANDBOX_IDLE) {
        idle_remove(sb);
    }
}

/* The sandbox's first process (bubblewrap) ended: reap it, clean up. */
static void on_exit_cb(uv_poll_t *h, int status, int events)
{
    struct sandbox *sb = h->data;
    pid_t w;

    (void)status;
    (void)events;
    do
        w = waitpid(sb->pid, NULL, WNOHANG);
    while (w < 0 && errno == EINTR);
    if (w == 0)
        return;         /* not yet */
    sb->exited = 1;
    /* its init is gone: whatever is left goes with it */
    cgroup_kill_all(&sb->cgroup);
    uv_timer_stop(&sb->timer);
    close_handle(sb, (uv_handle_t *)&sb->exit_poll);
    close_handle(sb, (uv_handle_t *)&sb->poll);
    close_handle(sb, (uv_handle_t *)&sb->timer);
    ended(sb);
}

static void on_start_timeout(uv_timer_t *t)
{
    struct sandbox *sb = t->data;
    static const char msg[] = "(did not start in time)";

    if (sb->diag_len == 0) {
        memcpy(sb->diag, msg, sizeof(msg) - 1);
        sb->diag_len = sizeof(msg) - 1;
    }
    sandbox_kill(sb);
}

/* One message from the init, and a descriptor it may carry (else -1). */
static ssize_t recv_ctl(int ctl, char *buf, size_t size, int *fd)
{
    char cbuf[CMSG_SPACE(sizeof(int))];
    struct iovec iov = { buf, size };
    struct msghdr msg = { 0 };
    struct cmsghdr *cm;
    ssize_t n;

    *fd = -1;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf;
    msg.msg_controllen = sizeof(cbuf);
    n = recvmsg(ctl, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n < 0)
        return n;
    for (cm = CMSG_FIRSTHDR(&msg); cm != NULL; cm = CMSG_NXTHDR(&msg, cm)) {
        if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS
            && cm->cmsg_len == CMSG_LEN(sizeof(int)) && *fd < 0)
            memcpy(fd, CMSG_DATA(cm), sizeof(int));
    }
    if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
        errno = EPROTO;
        return -1;
    }
    return n;
}

static void on_ctl(uv_poll_t *h, int status, int events)
{
    struct sandbox *sb = h->data;
    sandbox_connect_cb cb;
    int32_t wait_status;
    int clean, fd, err;
    char buf[64];
    ssize_t n;

    (void)events;
    if (status < 0) {
        uv_poll_stop(h);
        sandbox_kill(sb);
        return;
    }
    n = recv_ctl(sb->ctl, buf, sizeof(buf), &fd);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n > 0 && fd < 0 && buf[0] == SANDBOX_READY && n == 1
        && sb->state == SANDBOX_STARTING) {
        uint64_t ms = uv_now(sb->pool->loop) - sb->started_ms;
        struct log_record r;

        if (log_begin(&r, LOG_LEVEL_DEBUG, "sandbox started")) {
            log_str(&r, "sandbox", sb->id);
            log_int(&r, "time_ms", (long long)ms);
            log_end(&r);
        }
        metrics_cold_start(ms);
        /* what the kernel counts with only bubblewrap and the init: after
         * each call the count must be back to it (see below) */
        sb->tasks = cgroup_tasks(&sb->cgroup);
        uv_timer_stop(&sb->timer);
        sb->state = SANDBOX_HELD;
        sb->owned = 1;
        sb->on_ready(sb, 1, sb->arg);
        return;
    }
    if (n > 0 && fd < 0 && sb->state == SANDBOX_RUNNING
        && sandbox_done_decode(buf, (size_t)n, &wait_status, &clean) == 0) {
        /*
         * The init's word is not enough to reuse a sandbox: it is clean
         * only if the kernel counts no task in its cgroup beyond those it
         * had when it started (nothing of the call is still running).
         */
        if (sb->tasks <= 0 || cgroup_tasks(&sb->cgroup) != sb->tasks)
            clean = 0;
        sb->state = SANDBOX_HELD;
        sb->calls++;
        /* a CONNECT still out is answered for no one */
        sb->on_connect = NULL;
        sb->on_done(sb, 0, wait_status, clean, sb->arg);
        return;
    }
    if (n > 0 && sandbox_connected_decode(buf, (size_t)n, &err) == 0
        && (fd >= 0) == (err == 0)) {
        cb = sb->on_connect;
        sb->on_connect = NULL;
        if (cb != NULL && (sb->state == SANDBOX_RUNNING
                           || sb->state == SANDBOX_HELD)) {
            cb(sb, fd, err, sb->connect_arg);
        } else if (fd >= 0) {
            close(fd);
        }
        return;
    }
    /* end of file, an error, or a message out of turn: it is done for */
    if (fd >= 0)
        close(fd);
    uv_poll_stop(h);
    sandbox_kill(sb);
}

/* bubblewrap's and the init's complaints: logged, the first one kept */
static void on_stderr(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    struct sandbox *sb = st->data;
    struct log_record r;
    size_t len;

    if (n < 0) {
        close_handle(sb, (uv_handle_t *)st);
        return;
    }
    if (n == 0)
        return;
    len = (size_t)n;
    while (len > 0 && buf->base[len - 1] == '\n')
        len--;
    if (sb->diag_len == 0) {
        sb->diag_len = len < sizeof(sb->diag) ? len : sizeof(sb->diag);
        memcpy(sb->diag, buf->base, sb->diag_len);
    }
    if (log_begin(&r, LOG_LEVEL_WARN, "sandbox stderr")) {
        log_str(&r, "sandbox", sb->id);
        logfmt_add(&r.buf, "line", buf->base, len);
        log_end(&r);
    }
}

/* ------------------------------------------------------------ starting */

/* A copy of fd at 6 or above, so that placing the child's descriptors
 * 2 to 5 cannot overwrite another source. */
static int high_fd(int fd)
{
    return fcntl(fd, F_DUPFD_CLOEXEC, 6);
}

/*
 * Starts the helper with posix_spawn (a vfork: the executor's memory is
 * not copied) and watches it through a pidfd.  Its descriptors: 0 and 1
 * /dev/null, 2 the stderr pipe, then the seccomp filter, the helper's
 * executable and the control socket (sandbox_args.h).
 */
static int spawn(struct sandbox *sb, const struct sandbox_params *p,
                 int ctl_child, char *err, size_t errlen)
{
    struct sandbox_pool *pool = sb->pool;
    const struct config *cfg = pool->cfg;
    char procs[CGROUP_MAX_DIRS][CGROUP_PATH_MAX];
    char *envp[] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL };
    struct strvec bw = { 0 }, args = { 0 };
    struct sandbox_spec spec = {
        .bwrap = cfg->bwrap,
        .rootfs = p->rootfs,
        .tmp_bytes = cfg->tmp_size,
        .share_net = cfg->allow_network && !p->loopback_net,
        .hostname = "function",
        .image = p->image,
        .socket_dir = p->socket_dir,
    };
    int src[4] = { -1, -1, -1, -1 }, errpipe[2] = { -1, -1 };
    int seccomp = -1, fa_ok = 0, attr_ok = 0, rc = -1, e, i;
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    sigset_t all, none;
    size_t k, n;

    if (sandbox_argv(&spec, &bw, err, errlen) < 0)
        goto out;
    strvec_push(&args, pool->helper);
    strvec_pushf(&args, "%u", sb->uid);
    strvec_pushf(&args, "%u", sb->uid);
    n = cgroup_procs_files(&sb->cgroup, procs);
    for (k = 0; k < n; k++)
        strvec_push(&args, procs[k]);
    strvec_push(&args, "--");
    for (k = 0; k < bw.n; k++)
        strvec_push(&args, bw.v[k]);
    if (args.failed) {
        errf(err, errlen, "out of memory");
        goto out;
    }
    /* the seccomp filter, for bubblewrap: a copy of its own per sandbox */
    seccomp = p->loopback_net && !spec.share_net
              ? seccomp_filter_fd(pool->seccomp_inet_bpf,
                                  pool->seccomp_inet_len)
              : seccomp_filter_fd(pool->seccomp_bpf, pool->seccomp_len);
    if (seccomp < 0 || pipe2(errpipe, O_CLOEXEC) < 0) {
        errf(err, errlen, "cannot prepare the sandbox's descriptors: "
             "%s", strerror(errno));
        goto out;
    }
    src[0] = high_fd(errpipe[1]);
    src[1] = high_fd(seccomp);
    src[2] = high_fd(pool->helper_fd);
    src[3] = high_fd(ctl_child);
    for (i = 0; i < 4; i++) {
        if (src[i] < 0) {
            errf(err, errlen, "dup: %s", strerror(errno));
            goto out;
        }
    }
    if ((e = posix_spawn_file_actions_init(&fa)) != 0)
        goto spawn_failed;
    fa_ok = 1;
    if ((e = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY,
                                              0)) != 0
        || (e = posix_spawn_file_actions_addopen(&fa, 1, "/dev/null",
                                                 O_WRONLY, 0)) != 0
        || (e = posix_spawn_file_actions_adddup2(&fa, src[0], 2)) != 0
        || (e = posix_spawn_file_actions_adddup2(&fa, src[1],
                                                 SANDBOX_SECCOMP_FD)) != 0
        || (e = posix_spawn_file_actions_adddup2(&fa, src[2],
                                                 SANDBOX_HELPER_FD)) != 0
        || (e = posix_spawn_file_actions_adddup2(&fa, src[3],
                                                 SANDBOX_CTL_FD)) != 0
        /* and nothing else: libraries (the database, the broker,
         * libcurl) and other threads open descriptors without
         * close-on-exec, or while this runs */
        || (e = posix_spawn_file_actions_addclosefrom_np(&fa,
                                                     SANDBOX_CTL_FD + 1))
           != 0)
        goto spawn_failed;
    /* default signal handling and an empty mask, whatever ours are */
    if ((e = posix_spawnattr_init(&attr)) != 0)
        goto spawn_failed;
    attr_ok = 1;
    sigfillset(&all);
    sigemptyset(&none);
    if ((e = posix_spawnattr_setsigdefault(&attr, &all)) != 0
        || (e = posix_spawnattr_setsigmask(&attr, &none)) != 0
        || (e = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF
                                                | POSIX_SPAWN_SETSIGMASK))
           != 0)
        goto spawn_failed;
    if ((e = posix_spawn(&sb->pid, pool->helper, &fa, &attr, args.v, envp))
        != 0)
        goto spawn_failed;
    sb->pidfd = (int)syscall(SYS_pidfd_open, sb->pid, 0);
    if (sb->pidfd < 0) {
        errf(err, errlen, "pidfd_open: %s", strerror(errno));
        kill(sb->pid, SIGKILL);
        waitpid(sb->pid, NULL, 0);
        goto out;
    }
    if (uv_pipe_open(&sb->err, errpipe[0]) < 0) {
        errf(err, errlen, "cannot read the sandbox's stderr");
        kill(sb->pid, SIGKILL);
        waitpid(sb->pid, NULL, 0);
        goto out;
    }
    errpipe[0] = -1;
    rc = 0;
    goto out;

spawn_failed:
    errf(err, errlen, "cannot start the sandbox: %s", strerror(e));
out:
    if (fa_ok)
        posix_spawn_file_actions_destroy(&fa);
    if (attr_ok)
        posix_spawnattr_destroy(&attr);
    for (i = 0; i < 4; i++) {
        if (src[i] >= 0)
            close(src[i]);
    }
    for (i = 0; i < 2; i++) {
        if (errpipe[i] >= 0)
            close(errpipe[i]);
    }
    if (seccomp >= 0)
        close(seccomp);
    strvec_free(&bw);
    strvec_free(&args);
    return rc;
}

struct sandbox *sandbox_start(struct sandbox_pool *pool,
                              const struct sandbox_params *p,
                              sandbox_ready_cb cb, void *arg, char *err,
                              size_t errlen)
{
    const struct config *cfg = pool->cfg;
    struct sandbox *sb = calloc(1, sizeof(*sb));
    int sv[2] = { -1, -1 }, rc;

    if (sb == NULL || (sb->key = strdup(p->key)) == NULL) {
        free(sb);
        errf(err, errlen, "out of memory");
        return NULL;
    }
    sb->pool = pool;
    sb->ctl = -1;
    sb->pidfd = -1;
    sb->on_ready = cb;
    sb->arg = arg;
    if (new_id(sb->id) < 0) {
        errf(err, errlen, "no random bytes for a sandbox id: %s",
             strerror(errno));
        free(sb->key);
        free(sb);
        return NULL;
    }
    sb->generation = pool->generation;
    sb->uid = uid_range_take(&pool->uids);
    if (sb->uid == 0) {
        errf(err, errlen, "every uid of sandbox_uids is in use");
        free(sb->key);
        free(sb);
        return NULL;
    }
    if (cgroup_create(&pool->cgroups, sb->id, p->memory, cfg->pids_max,
                      (unsigned)cfg->cpu_quota, &sb->cgroup, err, errlen)
        < 0) {
        uid_range_put(&pool->uids, sb->uid);
        free(sb->key);
        free(sb);
        return NULL;
    }
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
        errf(err, errlen, "socketpair: %s", strerror(errno));
        cgroup_destroy(&sb->cgroup);
        uid_range_put(&pool->uids, sb->uid);
        free(sb->key);
        free(sb);
        return NULL;
    }
    sb->ctl = sv[0];
    sb->next = pool->all;
    if (pool->all)
        pool->all->prev = sb;
    pool->all = sb;
    uv_pipe_init(pool->loop, &sb->err, 0);
    uv_timer_init(pool->loop, &sb->timer);
    uv_poll_init(pool->loop, &sb->poll, sb->ctl);
    sb->err.data = sb->timer.data = sb->poll.data = sb;
    sb->state = SANDBOX_STARTING;
    sb->started_ms = uv_now(pool->loop);

    rc = spawn(sb, p, sv[1], err, errlen);
    close(sv[1]);
    if (rc == 0 && uv_poll_init(pool->loop, &sb->exit_poll, sb->pidfd) < 0) {
        errf(err, errlen, "cannot watch the sandbox's process");
        kill(sb->pid, SIGKILL);
        waitpid(sb->pid, NULL, 0);
        rc = -1;
    }
    if (rc < 0) {
        /* nothing runs: close what is open, no callback */
        sb->exited = 1;
        sb->state = SANDBOX_CLOSING;
        sb->open_handles = 3;
        close_handle(sb, (uv_handle_t *)&sb->err);
        close_handle(sb, (uv_handle_t *)&sb->timer);
        close_handle(sb, (uv_handle_t *)&sb->poll);
        return NULL;
    }
    sb->open_handles = 4;       /* exit poll, ctl poll, timer, stderr */
    sb->exit_poll.data = sb;
    uv_poll_start(&sb->exit_poll, UV_READABLE, on_exit_cb);
    uv_read_start((uv_stream_t *)&sb->err, read_buf_alloc, on_stderr);
    uv_poll_start(&sb->poll, UV_READABLE, on_ctl);
    uv_timer_start(&sb->timer, on_start_timeout, SANDBOX_START_TIMEOUT_MS,
                   0);
    return sb;
}

/* ------------------------------------------------------------- running */

int sandbox_run(struct sandbox *sb, const char *cwd, char *const *argv,
                char *const *env, const int stdio[3], sandbox_done_cb cb,
                void *arg, char *err, size_t errlen)
{
    char cbuf[CMSG_SPACE(3 * sizeof(int))];
    struct msghdr msg = { 0 };
    struct cmsghdr *cm;
    struct iovec iov;
    size_t len;
    ssize_t n;

    if (sb->exited || sb->state != SANDBOX_HELD) {
        errf(err, errlen, "the sandbox is gone");
        return -1;
    }
    len = sandbox_run_encode(run_msg, sizeof(run_msg), cwd, argv, env);
    if (len == 0) {
        errf(err, errlen, "the call's environment is larger than %d "
             "bytes", SANDBOX_MSG_MAX);
        return -1;
    }
    iov.iov_base = run_msg;
    iov.iov_len = len;
    memset(cbuf, 0, sizeof(cbuf));
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf;
    msg.msg_controllen = sizeof(cbuf);
    cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(3 * sizeof(int));
    memcpy(CMSG_DATA(cm), stdio, 3 * sizeof(int));
    do
        n = sendmsg(sb->ctl, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n != (ssize_t)len) {
        errf(err, errlen, "cannot reach the sandbox: %s",
             n < 0 ? strerror(errno) : "short write");
        return -1;
    }
    sb->on_done = cb;
    sb->arg = arg;
    sb->state = SANDBOX_RUNNING;
    return 0;
}

int sandbox_listen(struct sandbox *sb, unsigned port, sandbox_connect_cb cb,
                   void *arg)
{
    char msg[SANDBOX_LISTEN_LEN];
    ssize_t n;

    if (sb->exited || (sb->state != SANDBOX_RUNNING
                       && sb->state != SANDBOX_HELD)
        || sb->on_connect != NULL || port == 0 || port > 65535) {
        errno = EINVAL;
        return -1;
    }
    sandbox_listen_encode(msg, port);
    do
        n = send(sb->ctl, msg, sizeof(msg), MSG_DONTWAIT | MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n != (ssize_t)sizeof(msg))
        return -1;
    sb->on_connect = cb;
    sb->connect_arg = arg;
    return 0;
}

int sandbox_connect(struct sandbox *sb, const char *path,
                    sandbox_connect_cb cb, void *arg)
{
    char msg[SANDBOX_CONNECT_MAX];
    size_t len;
    ssize_t n;

    if (sb->exited || sb->state != SANDBOX_RUNNING || sb->on_connect != NULL
        || (len = sandbox_connect_encode(msg, path)) == 0) {
        errno = EINVAL;
        return -1;
    }
    do
        n = send(sb->ctl, msg, len, MSG_DONTWAIT | MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n != (ssize_t)len)
        return -1;
    sb->on_connect = cb;
    sb->connect_arg = arg;
    return 0;
}
