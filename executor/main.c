/*
 * functions-executor: runs functions for nginx's functions module.
 *
 * Signals: SIGTERM and SIGINT drain (stop accepting, let calls finish up to
 * drain_timeout, then stop); SIGHUP reloads the configuration file and keeps
 * the running one if the new one is bad.
 */
#include "async.h"
#include "errf.h"
#include "call.h"
#include "call_log.h"
#include "config.h"
#include "endpoints.h"
#include "image_store.h"
#include "image_trees.h"
#include "registry.h"
#include "hot.h"
#include "log.h"
#include "metrics.h"
#include "sandbox.h"
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#define CONFIG_FILE_MAX (64 * 1024)

/* how often malloc gives back what it holds free */
#define TRIM_INTERVAL_MS 30000
/* blocks from this size on are mapped on their own; an arena keeps no
 * more than this free at its top (glibc's starting values, held) */
#define MALLOC_TOP_KEPT (128 * 1024)

static struct {
    uv_loop_t *loop;
    const char *config_path;
    struct server server;
    struct call_inbox inbox;    /* async calls, from the consumer */
    int drained;                /* no connection is left */
    uv_signal_t sigterm, sigint, sighup;
    uv_timer_t drain_timer;
    uv_timer_t log_sweep;
    uv_timer_t metrics_timer;
    uv_timer_t trim_timer;
    uint64_t metrics_interval_ms;       /* the timer's, 0: stopped */
    int stopping;
} exe;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: functions-executor -c CONFIG [-t]\n"
            "  -c CONFIG  configuration file\n"
            "  -t         check the configuration and exit\n"
            "  -V         print the version and exit\n");
}

/* Reads and parses a configuration file; 0, or -1 with err. */
static int load_config(const char *path, struct config *cfg, char *err,
                       size_t errlen)
{
    char *text, perr[CONFIG_ERR_MAX];
    ssize_t n;
    size_t len = 0;
    int fd, rc;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        errf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    text = malloc(CONFIG_FILE_MAX + 1);
    if (text == NULL) {
        close(fd);
        errf(err, errlen, "out of memory");
        return -1;
    }
    while ((n = read(fd, text + len, CONFIG_FILE_MAX + 1 - len)) > 0) {
        len += (size_t)n;
        if (len > CONFIG_FILE_MAX)
            break;
    }
    close(fd);
    if (n < 0 || len > CONFIG_FILE_MAX) {
        errf(err, errlen, "%s: %s", path,
             n < 0 ? strerror(errno) : "larger than 64 KiB");
        free(text);
        return -1;
    }
    config_defaults(cfg);
    rc = config_parse(cfg, text, len, perr, sizeof(perr));
    if (rc == 0)
        rc = config_validate(cfg, perr, sizeof(perr));
    free(text);
    if (rc < 0) {
        errf(err, errlen, "%s: %s", path, perr);
        return -1;
    }
    return 0;
}

static void close_handle(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

/* The metric lines of the interval that ends now, at once. */
static void log_metrics(void)
{
    struct metrics_gauges g;
    char prefix[128], *text = NULL;
    size_t len = 0;
    FILE *out;

    if (!log_prefix(prefix, sizeof(prefix), LOG_LEVEL_INFO, "metric"))
        return;
    out = open_memstream(&text, &len);
    if (out == NULL)
        return;
    endpoints_gauges(&exe.server, &g);
    metrics_render_log(out, prefix, &g);
    if (fclose(out) == 0)
        log_write(text, len);
    free(text);
}

static void on_metrics_timer(uv_timer_t *t)
{
    (void)t;
    log_metrics();
}

/*
 * Gives the memory malloc holds free back to the system.  Calls come and
 * go in bursts over many threads (the event loop, libuv's pool, the async
 * workers): freed memory stays in the arena that served it, and an arena
 * gives back only what lies at its top.  A cluster's ten-minute soak
 * measured 1.5 MB in use and 32 MB held by 16 arenas, growing.
 */
static void on_trim_timer(uv_timer_t *t)
{
    (void)t;
    malloc_trim(0);
}

/* (Re)starts the metric lines' timer for the configured interval. */
static void metrics_timer_set(void)
{
    uint64_t ms = exe.server.cfg.metrics_interval_ms;

    if (ms == exe.metrics_interval_ms)
        return;
    exe.metrics_interval_ms = ms;
    uv_timer_stop(&exe.metrics_timer);
    if (ms > 0)
        uv_timer_start(&exe.metrics_timer, on_metrics_timer, ms, ms);
}

static void stop_loop(void)
{
    if (exe.metrics_interval_ms > 0)
        log_metrics();      /* what the last interval saw */
    call_inbox_close(&exe.inbox);
    exe.inbox.idle = NULL;      /* once */
    /* every handle closes, then uv_run() returns */
    uv_walk(exe.loop, close_handle, NULL);
}

/* Drained: no connection and no async call is left. */
static void stop_if_drained(void)
{
    if (!exe.drained || exe.inbox.running > 0)
        return;
    log_msg(LOG_LEVEL_INFO, "drained, stopping", NULL);
    stop_loop();
}

static void on_drained(struct server *s)
{
    (void)s;
    exe.drained = 1;
    stop_if_drained();
}

static void on_inbox_idle(struct call_inbox *in)
{
    (void)in;
    stop_if_drained();
}

/* After the last chance: whatever is still open is closed. */
static void on_kill_timeout(uv_timer_t *t)
{
    struct log_record r;

    (void)t;
    if (log_begin(&r, LOG_LEVEL_WARN, "closing connections")) {
        log_int(&r, "connections", (long long)exe.server.nconns);
        log_end(&r);
    }
    exe.server.on_drained = NULL;
    server_close_all(&exe.server);
    stop_loop();
}

/* The drain deadline: calls still running are killed and answered. */
static void on_drain_timeout(uv_timer_t *t)
{
    struct log_record r;
    size_t n;

    (void)t;
    n = call_stop_all(&exe.server.calls);
    if (log_begin(&r, LOG_LEVEL_WARN, "drain timeout, stopping calls")) {
        log_int(&r, "calls", (long long)n);
        log_int(&r, "connections", (long long)exe.server.nconns);
        log_end(&r);
    }
    if (exe.server.nconns == 0 && exe.inbox.running == 0) {
        stop_loop();
        return;
    }
    /* killed sandboxes end within milliseconds; answers follow */
    uv_timer_start(&exe.drain_timer, on_kill_timeout, 2000, 0);
}

static void on_stop_signal(uv_signal_t *h, int signum)
{
    struct log_record r;

    (void)h;
    async_stop();
    if (exe.stopping) {
        log_msg(LOG_LEVEL_WARN, "second stop signal, stopping now", NULL);
        uv_timer_stop(&exe.drain_timer);
        call_stop_all(&exe.server.calls);
        on_kill_timeout(NULL);
        return;
    }
    exe.stopping = 1;
    if (log_begin(&r, LOG_LEVEL_INFO, "stop signal, draining")) {
        log_str(&r, "signal", strsignal(signum));
        log_int(&r, "connections", (long long)exe.server.nconns);
        log_int(&r, "drain_timeout_ms",
                (long long)exe.server.cfg.drain_timeout_ms);
        log_end(&r);
    }
    uv_timer_start(&exe.drain_timer, on_drain_timeout,
                   exe.server.cfg.drain_timeout_ms, 0);
    sandbox_close_idle(&exe.server.sandboxes);
    hot_close_idle(&exe.server.hot);
    server_drain(&exe.server, on_drained);
}

static void on_reload_signal(uv_signal_t *h, int signum)
{
    struct config cfg;
    char err[512];
    int rc;

    (void)h;
    (void)signum;
    if (load_config(exe.config_path, &cfg, err, sizeof(err)) < 0) {
        log_msg(LOG_LEVEL_ERROR, "reload failed, keeping the running "
                "configuration", err);
        return;
    }
    rc = log_open(cfg.log_file, cfg.log_level);
    if (rc < 0) {
        log_msg(LOG_LEVEL_ERROR, "reload failed, cannot open log file, "
                "keeping the running configuration", strerror(-rc));
        return;
    }
    image_trees_configure(&cfg);
    if (registry_configure(&cfg) < 0)
        log_msg(LOG_LEVEL_WARN, "reload: registry credentials kept as they "
                "were", NULL);
    if (server_reconfigure(&exe.server, &cfg, err, sizeof(err)) != 0)
        log_msg(LOG_LEVEL_WARN, "reloaded in part", err);
    else
        log_msg(LOG_LEVEL_INFO, "configuration reloaded", NULL);
    metrics_timer_set();
}

#define THREADPOOL_SIZE "64"

int main(int argc, char **argv)
{
    struct config cfg;
    struct log_record r;
    char err[512];
    int opt, test_only = 0, rc, n, k, lock_fd;
    uint64_t image_bytes;

    while ((opt = getopt(argc, argv, "c:tVh")) != -1) {
        switch (opt) {
        case 'c':
            exe.config_path = optarg;
            break;
        case 't':
            test_only = 1;
            break;
        case 'V':
            printf("functions-executor %s\n", EXECUTOR_VERSION);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (exe.config_path == NULL || optind != argc) {
        usage(stderr);
        return 2;
    }

    if (load_config(exe.config_path, &cfg, err, sizeof(err)) < 0) {
        log_msg(LOG_LEVEL_ERROR, "invalid configuration", err);
        return 1;
    }
    if (test_only) {
        fprintf(stderr, "configuration %s is valid\n", exe.config_path);
        return 0;
    }
    rc = log_open(cfg.log_file, cfg.log_level);
    if (rc < 0) {
        log_msg(LOG_LEVEL_ERROR, "cannot open log file", strerror(-rc));
        return 1;
    }

    signal(SIGPIPE, SIG_IGN);
    umask(022);
    /* libuv's thread pool prepares images: a call waiting for a slow
     * registry holds a thread, and the default 4 would let four of them
     * stop every other image's first call (the environment may say more) */
    setenv("UV_THREADPOOL_SIZE", THREADPOOL_SIZE, 0);
    /* two malloc arenas, not one per thread up to 8 per core: each holds
     * what was freed in it (see on_trim_timer) */
    mallopt(M_ARENA_MAX, 2);
    /* fixed thresholds: glibc raises both after a large block is freed,
     * and an arena other than the first then keeps up to twice that at
     * its top, which malloc_trim() does not give back (a soak saw that
     * arena's pages grow by 0.7 MB in four minutes, nearly all free) */
    mallopt(M_MMAP_THRESHOLD, MALLOC_TOP_KEPT);
    mallopt(M_TRIM_THRESHOLD, MALLOC_TOP_KEPT);
    /* the image store works relative to the state directory */
    if ((mkdir(cfg.state_dir, 0711) < 0 && errno != EEXIST)
        || chdir(cfg.state_dir) < 0
        || (mkdir(IMAGE_STORE_ROOTFS, 0755) < 0 && errno != EEXIST)
        || (mkdir(CALL_LOG_DIR, 0750) < 0 && errno != EEXIST)) {
        log_msg(LOG_LEVEL_ERROR, "cannot use state_dir", strerror(errno));
        return 1;
    }
    /* one executor per state directory, for its whole life */
    lock_fd = open("executor.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lock_fd < 0 || flock(lock_fd, LOCK_EX | LOCK_NB) < 0) {
        errf(err, sizeof(err), "state_dir %s is in use by another "
             "executor (%s)", cfg.state_dir, strerror(errno));
        log_msg(LOG_LEVEL_ERROR, "cannot start", err);
        return 1;
    }
    /* what an earlier run left half done, or named by nothing */
    n = image_store_cleanup();
    k = registry_store_init();
    if (k < 0) {
        log_msg(LOG_LEVEL_ERROR, "cannot make the store of pulled images",
                strerror(errno));
        return 1;
    }
    if (n + k > 0 && log_begin(&r, LOG_LEVEL_INFO, "removed leftovers")) {
        log_int(&r, "unpacks", n);
        log_int(&r, "pulled_files", k);
        log_end(&r);
    }
    image_trees_configure(&cfg);
    if (registry_configure(&cfg) < 0) {
        log_msg(LOG_LEVEL_ERROR, "cannot start", "registry_credentials_file");
        return 1;
    }
    n = (int)image_trees_load(&image_bytes);
    if (log_begin(&r, LOG_LEVEL_INFO, "image store")) {
        log_int(&r, "images", n);
        log_int(&r, "bytes", (long long)image_bytes);
        log_int(&r, "max_bytes", (long long)cfg.image_store_max_bytes);
        log_end(&r);
    }
    if (metrics_init(cfg.metrics_max_series) < 0) {
        log_msg(LOG_LEVEL_ERROR, "cannot start", "metrics: out of memory");
        return 1;
    }
    exe.loop = uv_default_loop();
    if (server_start(&exe.server, exe.loop, &cfg, err, sizeof(err)) < 0) {
        log_msg(LOG_LEVEL_ERROR, "cannot start", err);
        return 1;
    }

    image_trees_start(exe.loop, &exe.server.sandboxes);
    rc = call_inbox_init(&exe.inbox, &exe.server.calls,
                         &exe.server.draining);
    if (rc < 0) {
        log_msg(LOG_LEVEL_ERROR, "cannot start", uv_strerror(rc));
        return 1;
    }
    exe.inbox.idle = on_inbox_idle;
    if (async_start(&exe.server.cfg, &exe.inbox) < 0)
        return 1;

    uv_timer_init(exe.loop, &exe.drain_timer);
    uv_timer_init(exe.loop, &exe.metrics_timer);
    metrics_timer_set();
    uv_timer_init(exe.loop, &exe.trim_timer);
    uv_timer_start(&exe.trim_timer, on_trim_timer, TRIM_INTERVAL_MS,
                   TRIM_INTERVAL_MS);
    uv_unref((uv_handle_t *)&exe.trim_timer);
    call_log_sweep_start(exe.loop, &exe.log_sweep,
                         &exe.server.cfg.log_retention_ms,
                         &exe.server.cfg.log_store_max);
    uv_signal_init(exe.loop, &exe.sigterm);
    uv_signal_init(exe.loop, &exe.sigint);
    uv_signal_init(exe.loop, &exe.sighup);
    uv_signal_start(&exe.sigterm, on_stop_signal, SIGTERM);
    uv_signal_start(&exe.sigint, on_stop_signal, SIGINT);
    uv_signal_start(&exe.sighup, on_reload_signal, SIGHUP);

    if (log_begin(&r, LOG_LEVEL_INFO, "executor started")) {
        log_str(&r, "version", EXECUTOR_VERSION);
        log_int(&r, "pid", (long long)getpid());
        log_str(&r, "listen", cfg.listen);
        if (cfg.listen_tcp[0] != '\0')
            log_str(&r, "listen_tcp", cfg.listen_tcp);
        if (cfg.metrics_listen[0] != '\0')
            log_str(&r, "metrics_listen", cfg.metrics_listen);
        log_end(&r);
    }

    uv_run(exe.loop, UV_RUN_DEFAULT);
    async_wait(5000);
    uv_loop_close(exe.loop);
    image_trees_free();
    cgroups_fini(&exe.server.sandboxes.cgroups);
    free(exe.server.sandboxes.seccomp_bpf);
    free(exe.server.sandboxes.seccomp_inet_bpf);
    log_msg(LOG_LEVEL_INFO, "executor stopped", NULL);
    metrics_free();
    log_close();
    return 0;
}
