/*
 * The executor's metrics: counters and histograms kept in memory, shown
 * two ways from the same numbers:
 *
 *   - metrics_render_prometheus(): the Prometheus text format, for
 *     GET /metrics;
 *   - metrics_render_log(): logfmt lines "metric=<name> value=<n>
 *     type=count|gauge|time unit=<unit>", one per name per interval, with
 *     counts since the last interval (docs/operating.md lists them all).
 *
 * Calls are kept per (app, path) for the first max_series routes seen;
 * calls of further routes count under app="_other", path="_other", so
 * the output stays bounded whatever the number of routes.
 *
 * Every update takes one mutex: the event loop and the async threads both
 * report.  Rendering is pure (no I/O): it writes into a memory stream.
 */
#ifndef EXECUTOR_METRICS_H
#define EXECUTOR_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define METRICS_OTHER "_other"

enum metrics_kind {
    METRICS_SYNC,
    METRICS_ASYNC,
    METRICS_KINDS
};

enum metrics_outcome {
    METRICS_SUCCESS,        /* the function ran and answered */
    METRICS_ERROR,          /* it failed: bad exit, OOM, bad answer, 5xx */
    METRICS_TIMEOUT,        /* it ran past its timeout (504) */
    METRICS_BUSY,           /* refused for capacity or shutdown (503) */
    METRICS_INVALID,        /* refused as asked (4xx) */
    METRICS_OUTCOMES
};

enum metrics_counter {
    METRICS_QUEUE_FULL,         /* refused: the wait queue was full */
    METRICS_QUEUE_TIMEOUT,      /* refused: waited queue_timeout */
    METRICS_SANDBOX_STARTS,     /* cold starts: new sandboxes */
    METRICS_SANDBOX_FAILURES,   /* sandboxes that could not start */
    METRICS_HOT_STARTED,
    METRICS_HOT_STOPPED,
    METRICS_IMAGE_PULLS,        /* pulls from a registry that succeeded */
    METRICS_IMAGE_PULL_FAILURES,    /* and that failed */
    METRICS_IMAGE_PULL_BYTES,   /* bytes they fetched */
    METRICS_IMAGE_UNPACKS,      /* images unpacked into the store */
    METRICS_IMAGE_ERRORS,       /* images that could not be prepared */
    METRICS_IMAGE_REMOVED,      /* unpacked images removed (store size) */
    METRICS_ASYNC_RECEIVED,     /* messages taken from the queue */
    METRICS_ASYNC_RETRIED,      /* sent to a retry queue */
    METRICS_ASYNC_DEAD,         /* dead-lettered */
    METRICS_COUNTERS
};

/* Gauges are read from the executor's state when the metrics are shown. */
struct metrics_gauges {
    uint64_t sandboxes_used, sandboxes_max;
    uint64_t memory_used, memory_budget;
    uint64_t queue_depth, queue_size;
    uint64_t sandboxes_idle;
    uint64_t hot_idle, hot_busy;
    uint64_t images_cached;
    uint64_t async_in_flight;
};

/* Sets the route cap (at least 1).  0, or -1 when out of memory. */
int metrics_init(size_t max_series);
void metrics_free(void);

/*
 * A call ended.  wait_ms < 0: it never waited for capacity (refused on
 * sight); exec_ms < 0: it never ran.  For an async call, wait_ms is the
 * time from its acceptance by nginx to its start here.
 */
void metrics_call(const char *app, const char *path, enum metrics_kind kind,
                  enum metrics_outcome outcome, int64_t wait_ms,
                  int64_t exec_ms);

/* The outcome of a call by the status it was answered with. */
enum metrics_outcome metrics_outcome_of(int status);

void metrics_count(enum metrics_counter c);

/* What the image store holds now: unpacked images and their bytes. */
void metrics_image_store(uint64_t images, uint64_t bytes);
void metrics_cold_start(uint64_t ms);

/* A pull from a registry ended, having taken ms and fetched bytes. */
void metrics_image_pull(uint64_t ms, uint64_t bytes, int ok);

/* Returns 0, or -1 if the stream failed. */
int metrics_render_prometheus(FILE *out, const struct metrics_gauges *g);

/*
 * The log lines of the interval since the last call (each starts with
 * prefix, e.g. "time=... level=info msg=metric"), and starts the next
 * interval.  Per-app lines only for apps with calls in the interval.
 */
int metrics_render_log(FILE *out, const char *prefix,
                       const struct metrics_gauges *g);

#endif
