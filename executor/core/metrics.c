/*
 * The executor's metrics.
 */
#include "metrics.h"
#include "route_def.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* Histogram bounds, in milliseconds (shown in seconds). */
static const uint64_t bounds_ms[] = {
    1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000,
};
#define NBOUNDS (sizeof(bounds_ms) / sizeof(bounds_ms[0]))

struct histogram {
    uint64_t buckets[NBOUNDS + 1];      /* the last: above every bound */
    uint64_t count;
    uint64_t sum_ms;
};

/* A time metric's interval: what its log line says. */
struct timer {
    uint64_t count, sum_ms, max_ms;
};

struct series {
    char *app, *path;
    uint64_t calls[METRICS_KINDS][METRICS_OUTCOMES];
    uint64_t logged[METRICS_OUTCOMES];  /* calls (both kinds) at the last
                                         * interval */
    struct timer wait[METRICS_KINDS], exec;
    int logged_app;                     /* scratch of render_log */
};

static const char *const kind_names[] = { "sync", "async" };
static const char *const outcome_names[] = {
    "success", "error", "timeout", "busy", "invalid",
};
/* IronFunctions' names in the log lines */
static const char *const log_names[] = {
    "succeeded", "error", "timeout", "busy", "invalid",
};

static struct {
    pthread_mutex_t mu;
    struct series *series;
    size_t nseries, max_series;
    uint64_t counters[METRICS_COUNTERS];
    uint64_t counters_logged[METRICS_COUNTERS];
    struct histogram wait[METRICS_KINDS], exec[METRICS_KINDS], cold, pull;
    struct timer wait_t[METRICS_KINDS], exec_t, cold_t, pull_t;
    uint64_t images, image_bytes;       /* in the image store */
} M = { .mu = PTHREAD_MUTEX_INITIALIZER };

int metrics_init(size_t max_series)
{
    /* one more for the series of every route beyond the cap */
    M.max_series = (max_series > 0 ? max_series : 1) + 1;
    M.series = calloc(M.max_series, sizeof(*M.series));
    return M.series != NULL ? 0 : -1;
}

void metrics_free(void)
{
    size_t i;

    for (i = 0; i < M.nseries; i++) {
        free(M.series[i].app);
        free(M.series[i].path);
    }
    free(M.series);
    M.series = NULL;
    M.nseries = 0;
}

enum metrics_outcome metrics_outcome_of(int status)
{
    if (status == 503)
        return METRICS_BUSY;
    if (status == 504)
        return METRICS_TIMEOUT;
    if (status >= 500)
        return METRICS_ERROR;
    if (status >= 400)
        return METRICS_INVALID;
    return METRICS_SUCCESS;
}

static void observe(struct histogram *h, struct timer *t, uint64_t ms)
{
    size_t i = 0;

    while (i < NBOUNDS && ms > bounds_ms[i])
        i++;
    h->buckets[i]++;
    h->count++;
    h->sum_ms += ms;
    t->count++;
    t->sum_ms += ms;
    if (ms > t->max_ms)
        t->max_ms = ms;
}

static void time_add(struct timer *t, uint64_t ms)
{
    t->count++;
    t->sum_ms += ms;
    if (ms > t->max_ms)
        t->max_ms = ms;
}

/* The series of (app, path): found, added under the cap, or the last. */
static struct series *series_of(const char *app, const char *path)
{
    struct series *s;
    size_t i;

    for (i = 0; i < M.nseries; i++) {
        s = &M.series[i];
        if (strcmp(s->app, app) == 0 && strcmp(s->path, path) == 0)
            return s;
    }
    if (M.nseries + 1 >= M.max_series) {
        /* the cap is reached: the last slot holds every other route */
        app = METRICS_OTHER;
        path = METRICS_OTHER;
        if (M.nseries == M.max_series)
            return &M.series[M.nseries - 1];
    }
    s = &M.series[M.nseries];
    s->app = strdup(app);
    s->path = strdup(path);
    if (s->app == NULL || s->path == NULL) {
        free(s->app);
        free(s->path);
        s->app = s->path = NULL;
        return NULL;
    }
    M.nseries++;
    return s;
}

void metrics_call(const char *app, const char *path, enum metrics_kind kind,
                  enum metrics_outcome outcome, int64_t wait_ms,
                  int64_t exec_ms)
{
    struct series *s;

    /* calls come with checked routes; a name that is not one would
     * break the log lines' metric names: it counts as the others */
    if (!route_app_name_valid(app) || !route_path_valid(path))
        app = path = METRICS_OTHER;
    pthread_mutex_lock(&M.mu);
    s = series_of(app, path);
    if (s != NULL) {
        s->calls[kind][outcome]++;
        if (wait_ms >= 0)
            time_add(&s->wait[kind], (uint64_t)wait_ms);
        if (exec_ms >= 0)
            time_add(&s->exec, (uint64_t)exec_ms);
    }
    if (wait_ms >= 0)
        observe(&M.wait[kind], &M.wait_t[kind], (uint64_t)wait_ms);
    if (exec_ms >= 0)
        observe(&M.exec[kind], &M.exec_t, (uint64_t)exec_ms);
    pthread_mutex_unlock(&M.mu);
}

void metrics_count(enum metrics_counter c)
{
    pthread_mutex_lock(&M.mu);
    M.counters[c]++;
    pthread_mutex_unlock(&M.mu);
}

void metrics_image_store(uint64_t images, uint64_t bytes)
{
    pthread_mutex_lock(&M.mu);
    M.images = images;
    M.image_bytes = bytes;
    pthread_mutex_unlock(&M.mu);
}

void metrics_cold_start(uint64_t ms)
{
    pthread_mutex_lock(&M.mu);
    observe(&M.cold, &M.cold_t, ms);
    M.counters[METRICS_SANDBOX_STARTS]++;
    pthread_mutex_unlock(&M.mu);
}

void metrics_image_pull(uint64_t ms, uint64_t bytes, int ok)
{
    pthread_mutex_lock(&M.mu);
    observe(&M.pull, &M.pull_t, ms);
    M.counters[ok ? METRICS_IMAGE_PULLS : METRICS_IMAGE_PULL_FAILURES]++;
    M.counters[METRICS_IMAGE_PULL_BYTES] += bytes;
    pthread_mutex_unlock(&M.mu);
}

/* ----------------------------------------------------------- Prometheus */

/* A label value: backslash, quote and newline escaped. */
static void label(FILE *out, const char *v)
{
    for (; *v != '\0'; v++) {
        if (*v == '\\' || *v == '"')
            fprintf(out, "\\%c", *v);
        else if (*v == '\n')
            fputs("\\n", out);
        else
            fputc(*v, out);
    }
}

static void head(FILE *out, const char *name, const char *type,
                 const char *help)
{
    fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void prom_counter(FILE *out, const char *name, const char *help,
                         uint64_t v)
{
    head(out, name, "counter", help);
    fprintf(out, "%s %llu\n", name, (unsigned long long)v);
}

static void prom_gauge(FILE *out, const char *name, const char *help,
                       uint64_t v)
{
    head(out, name, "gauge", help);
    fprintf(out, "%s %llu\n", name, (unsigned long long)v);
}

static void prom_histogram(FILE *out, const char *name, const char *labels,
                           const struct histogram *h)
{
    uint64_t cum = 0;
    size_t i;
    const char *sep = labels[0] != '\0' ? "," : "";

    for (i = 0; i < NBOUNDS; i++) {
        cum += h->buckets[i];
        fprintf(out, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, sep,
                (double)bounds_ms[i] / 1000, (unsigned long long)cum);
    }
    fprintf(out, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, sep,
            (unsigned long long)h->count);
    fprintf(out, labels[0] != '\0' ? "%s_sum{%s} %.3f\n" : "%s_sum%s %.3f\n",
            name, labels, (double)h->sum_ms / 1000);
    fprintf(out, labels[0] != '\0' ? "%s_count{%s} %llu\n"
                                   : "%s_count%s %llu\n",
            name, labels, (unsigned long long)h->count);
}

static void prom_by_kind(FILE *out, const char *name, const char *help,
                         const struct histogram *h)
{
    char labels[32];
    int k;

    head(out, name, "histogram", help);
    for (k = 0; k < METRICS_KINDS; k++) {
        snprintf(labels, sizeof(labels), "kind=\"%s\"", kind_names[k]);
        prom_histogram(out, name, labels, &h[k]);
    }
}

int metrics_render_prometheus(FILE *out, const struct metrics_gauges *g)
{
    const uint64_t *c = M.counters;
    size_t i;
    int k, o;

    pthread_mutex_lock(&M.mu);
    head(out, "functions_calls_total", "counter",
         "Calls that ended, by route, kind (sync or async) and outcome.");
    for (i = 0; i < M.nseries; i++) {
        for (k = 0; k < METRICS_KINDS; k++) {
            for (o = 0; o < METRICS_OUTCOMES; o++) {
                if (M.series[i].calls[k][o] == 0 && o != METRICS_SUCCESS)
                    continue;
                fputs("functions_calls_total{app=\"", out);
                label(out, M.series[i].app);
                fputs("\",path=\"", out);
                label(out, M.series[i].path);
                fprintf(out, "\",kind=\"%s\",outcome=\"%s\"} %llu\n",
                        kind_names[k], outcome_names[o],
                        (unsigned long long)M.series[i].calls[k][o]);
            }
        }
    }
    prom_by_kind(out, "functions_call_wait_seconds",
                 "Wait before a call started: for capacity (sync), from "
                 "acceptance by nginx (async).", M.wait);
    prom_by_kind(out, "functions_call_duration_seconds",
                 "Execution time of calls that ran.", M.exec);
    head(out, "functions_cold_start_seconds", "histogram",
         "Time to start a new sandbox.");
    prom_histogram(out, "functions_cold_start_seconds", "", &M.cold);
    head(out, "functions_image_pull_seconds", "histogram",
         "Time a pull from a registry took (manifest and blobs).");
    prom_histogram(out, "functions_image_pull_seconds", "", &M.pull);

    prom_counter(out, "functions_queue_full_total",
                 "Calls refused because the wait queue was full.",
                 c[METRICS_QUEUE_FULL]);
    prom_counter(out, "functions_queue_timeouts_total",
                 "Calls refused after waiting queue_timeout.",
                 c[METRICS_QUEUE_TIMEOUT]);
    prom_counter(out, "functions_sandbox_starts_total",
                 "New sandboxes started (cold starts).",
                 c[METRICS_SANDBOX_STARTS]);
    prom_counter(out, "functions_sandbox_failures_total",
                 "Sandboxes that could not start.",
                 c[METRICS_SANDBOX_FAILURES]);
    prom_counter(out, "functions_hot_started_total",
                 "Hot instances started.", c[METRICS_HOT_STARTED]);
    prom_counter(out, "functions_hot_stopped_total",
                 "Hot instances stopped (idle, killed or exited).",
                 c[METRICS_HOT_STOPPED]);
    prom_counter(out, "functions_image_pulls_total",
                 "Pulls of images from registries that succeeded.",
                 c[METRICS_IMAGE_PULLS]);
    prom_counter(out, "functions_image_pull_failures_total",
                 "Pulls of images from registries that failed.",
                 c[METRICS_IMAGE_PULL_FAILURES]);
    prom_counter(out, "functions_image_pull_bytes_total",
                 "Bytes fetched from registries (manifests and blobs).",
                 c[METRICS_IMAGE_PULL_BYTES]);
    prom_counter(out, "functions_image_unpacks_total",
                 "Images unpacked into the image store.",
                 c[METRICS_IMAGE_UNPACKS]);
    prom_counter(out, "functions_image_errors_total",
                 "Images that could not be prepared.",
                 c[METRICS_IMAGE_ERRORS]);
    prom_counter(out, "functions_image_removed_total",
                 "Unpacked images removed to keep the store under its size.",
                 c[METRICS_IMAGE_REMOVED]);
    prom_counter(out, "functions_async_received_total",
                 "Async call messages taken from the queue.",
                 c[METRICS_ASYNC_RECEIVED]);
    prom_counter(out, "functions_async_retried_total",
                 "Async calls sent to a retry queue.",
                 c[METRICS_ASYNC_RETRIED]);
    prom_counter(out, "functions_async_dead_lettered_total",
                 "Async call messages dead-lettered.", c[METRICS_ASYNC_DEAD]);
    prom_gauge(out, "functions_image_store_images",
               "Images unpacked in the image store.", M.images);
    prom_gauge(out, "functions_image_store_bytes",
               "Disk space of the images unpacked in the image store.",
               M.image_bytes);
    pthread_mutex_unlock(&M.mu);

    head(out, "functions_hot_instances", "gauge",
         "Hot instances by state.");
    fprintf(out, "functions_hot_instances{state=\"idle\"} %llu\n"
            "functions_hot_instances{state=\"busy\"} %llu\n",
            (unsigned long long)g->hot_idle, (unsigned long long)g->hot_busy);
    prom_gauge(out, "functions_sandboxes_used",
               "Sandboxes holding capacity (running calls, hot instances).",
               g->sandboxes_used);
    prom_gauge(out, "functions_sandboxes_max", "max_sandboxes.",
               g->sandboxes_max);
    prom_gauge(out, "functions_sandboxes_idle",
               "Idle sandboxes kept for the next cold call of a route.",
               g->sandboxes_idle);
    prom_gauge(out, "functions_memory_used_bytes",
               "Memory limits of the sandboxes holding capacity.",
               g->memory_used);
    prom_gauge(out, "functions_memory_budget_bytes", "memory_budget.",
               g->memory_budget);
    prom_gauge(out, "functions_queue_depth",
               "Calls waiting for capacity.", g->queue_depth);
    prom_gauge(out, "functions_queue_size", "queue_size.", g->queue_size);
    prom_gauge(out, "functions_image_cache_images",
               "Images resolved lately, kept in memory.", g->images_cached);
    prom_gauge(out, "functions_async_in_flight",
               "Async calls taken from the queue and not yet acknowledged.",
               g->async_in_flight);
    return ferror(out) ? -1 : 0;
}

/* ------------------------------------------------------------ log lines */

/* Metric names are "<group>.<name>", or "<group>.<app>.<name>". */
static void line_count(FILE *out, const char *prefix, const char *group,
                       const char *app, const char *name, uint64_t v,
                       const char *unit)
{
    fprintf(out, "%s metric=%s%s%s.%s value=%llu type=count unit=%s\n",
            prefix, group, app ? "." : "", app ? app : "", name,
            (unsigned long long)v, unit);
}

static void line_gauge(FILE *out, const char *prefix, const char *name,
                       uint64_t v, const char *unit)
{
    fprintf(out, "%s metric=%s value=%llu type=gauge unit=%s\n", prefix,
            name, (unsigned long long)v, unit);
}

static void line_time(FILE *out, const char *prefix, const char *group,
                      const char *app, const char *name,
                      const struct timer *t)
{
    fprintf(out, "%s metric=%s%s%s.%s value=%.3f type=time unit=ms "
            "count=%llu max=%llu\n", prefix, group, app ? "." : "",
            app ? app : "", name,
            t->count ? (double)t->sum_ms / (double)t->count : 0.0,
            (unsigned long long)t->count, (unsigned long long)t->max_ms);
}

/* IronFunctions' per-call counts: requests, succeeded, error, timeout. */
static void line_calls(FILE *out, const char *prefix, const char *app,
                       const uint64_t *d)
{
    uint64_t total = 0;
    int o;

    for (o = 0; o < METRICS_OUTCOMES; o++)
        total += d[o];
    line_count(out, prefix, "run", app, "requests", total, "calls");
    for (o = 0; o < METRICS_OUTCOMES; o++)
        line_count(out, prefix, "run", app, log_names[o], d[o], "calls");
}

static void timer_merge(struct timer *to, const struct timer *t)
{
    to->count += t->count;
    to->sum_ms += t->sum_ms;
    if (t->max_ms > to->max_ms)
        to->max_ms = t->max_ms;
}

/* The lines of one app: the sum of its routes' series. */
static void log_app(FILE *out, const char *prefix, size_t first)
{
    const char *app = M.series[first].app;
    uint64_t d[METRICS_OUTCOMES] = { 0 }, n = 0;
    struct timer wait[METRICS_KINDS] = { { 0 } }, exec = { 0 };
    struct series *s;
    size_t i;
    int k, o;

    for (i = first; i < M.nseries; i++) {
        s = &M.series[i];
        if (s->logged_app || strcmp(s->app, app) != 0)
            continue;
        s->logged_app = 1;
        for (o = 0; o < METRICS_OUTCOMES; o++) {
            uint64_t all = s->calls[METRICS_SYNC][o]
                           + s->calls[METRICS_ASYNC][o];

            d[o] += all - s->logged[o];
            n += all - s->logged[o];
            s->logged[o] = all;
        }
        for (k = 0; k < METRICS_KINDS; k++) {
            timer_merge(&wait[k], &s->wait[k]);
            memset(&s->wait[k], 0, sizeof(s->wait[k]));
        }
        timer_merge(&exec, &s->exec);
        memset(&s->exec, 0, sizeof(s->exec));
    }
    if (n == 0)
        return;
    line_calls(out, prefix, app, d);
    line_time(out, prefix, "run", app, "wait_time", &wait[METRICS_SYNC]);
    if (wait[METRICS_ASYNC].count > 0)
        line_time(out, prefix, "async", app, "wait_time",
                  &wait[METRICS_ASYNC]);
    line_time(out, prefix, "run", app, "time", &exec);
}

int metrics_render_log(FILE *out, const char *prefix,
                       const struct metrics_gauges *g)
{
    static const struct {
        enum metrics_counter c;
        const char *group, *name;
        const char *unit;
    } counts[] = {
        { METRICS_QUEUE_FULL, "queue", "full", "calls" },
        { METRICS_QUEUE_TIMEOUT, "queue", "timeout", "calls" },
        { METRICS_SANDBOX_STARTS, "sandbox", "cold_starts", "sandboxes" },
        { METRICS_SANDBOX_FAILURES, "sandbox", "failures", "sandboxes" },
        { METRICS_HOT_STARTED, "hot", "started", "instances" },
        { METRICS_HOT_STOPPED, "hot", "stopped", "instances" },
        { METRICS_IMAGE_PULLS, "image", "pulls", "images" },
        { METRICS_IMAGE_PULL_FAILURES, "image", "pull_failures", "images" },
        { METRICS_IMAGE_PULL_BYTES, "image", "pull_bytes", "bytes" },
        { METRICS_IMAGE_UNPACKS, "image", "unpacks", "images" },
        { METRICS_IMAGE_ERRORS, "image", "errors", "images" },
        { METRICS_IMAGE_REMOVED, "image", "removed", "images" },
        { METRICS_ASYNC_RECEIVED, "async", "received", "calls" },
        { METRICS_ASYNC_RETRIED, "async", "retried", "calls" },
        { METRICS_ASYNC_DEAD, "async", "dead_lettered", "calls" },
    };
    uint64_t d[METRICS_OUTCOMES] = { 0 };
    size_t i;
    int k, o;

    pthread_mutex_lock(&M.mu);
    /* the totals first: every series' calls since its last lines */
    for (i = 0; i < M.nseries; i++) {
        M.series[i].logged_app = 0;
        for (o = 0; o < METRICS_OUTCOMES; o++)
            d[o] += M.series[i].calls[METRICS_SYNC][o]
                    + M.series[i].calls[METRICS_ASYNC][o]
                    - M.series[i].logged[o];
    }
    line_calls(out, prefix, NULL, d);
    line_time(out, prefix, "run", NULL, "wait_time", &M.wait_t[METRICS_SYNC]);
    line_time(out, prefix, "async", NULL, "wait_time",
              &M.wait_t[METRICS_ASYNC]);
    line_time(out, prefix, "run", NULL, "exec_time", &M.exec_t);
    line_time(out, prefix, "sandbox", NULL, "start_time", &M.cold_t);
    line_time(out, prefix, "image", NULL, "pull_time", &M.pull_t);
    for (k = 0; k < METRICS_KINDS; k++)
        memset(&M.wait_t[k], 0, sizeof(M.wait_t[k]));
    memset(&M.exec_t, 0, sizeof(M.exec_t));
    memset(&M.cold_t, 0, sizeof(M.cold_t));
    memset(&M.pull_t, 0, sizeof(M.pull_t));
    for (i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
        line_count(out, prefix, counts[i].group, NULL, counts[i].name,
                   M.counters[counts[i].c] - M.counters_logged[counts[i].c],
                   counts[i].unit);
        M.counters_logged[counts[i].c] = M.counters[counts[i].c];
    }
    for (i = 0; i < M.nseries; i++) {
        if (!M.series[i].logged_app)
            log_app(out, prefix, i);
    }
    line_gauge(out, prefix, "image.stored", M.images, "images");
    line_gauge(out, prefix, "image.stored_bytes", M.image_bytes, "bytes");
    pthread_mutex_unlock(&M.mu);

    line_gauge(out, prefix, "queue.depth", g->queue_depth, "calls");
    line_gauge(out, prefix, "capacity.used", g->sandboxes_used,
               "sandboxes");
    line_gauge(out, prefix, "capacity.memory_used", g->memory_used,
               "bytes");
    line_gauge(out, prefix, "hot.idle", g->hot_idle, "instances");
    line_gauge(out, prefix, "hot.busy", g->hot_busy, "instances");
    line_gauge(out, prefix, "async.in_flight", g->async_in_flight, "calls");
    return ferror(out) ? -1 : 0;
}
