/*
 * The executor's metrics: outcomes, the route cap, the Prometheus text and
 * the interval's log lines.
 */
#include "metrics.h"
#include "tap.h"

#include <stdlib.h>

static char *render(int prometheus, const struct metrics_gauges *g)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);

    if (prometheus)
        metrics_render_prometheus(out, g);
    else
        metrics_render_log(out, "P", g);
    fclose(out);
    return text;
}

static int has(const char *text, const char *line)
{
    size_t n = strlen(line);
    const char *p = text;

    while ((p = strstr(p, line)) != NULL) {
        if ((p == text || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0'))
            return 1;
        p += n;
    }
    return 0;
}

int main(void)
{
    struct metrics_gauges g = { .queue_depth = 3, .hot_idle = 1 };
    char *t;

    is_int(metrics_outcome_of(200), METRICS_SUCCESS, "200: success");
    is_int(metrics_outcome_of(503), METRICS_BUSY, "503: busy");
    is_int(metrics_outcome_of(504), METRICS_TIMEOUT, "504: timeout");
    is_int(metrics_outcome_of(502), METRICS_ERROR, "502: error");
    is_int(metrics_outcome_of(413), METRICS_INVALID, "413: invalid");

    ok(metrics_init(2) == 0, "init with a cap of 2 routes");

    metrics_call("a", "/x", METRICS_SYNC, METRICS_SUCCESS, 5, 10);
    metrics_call("a", "/x", METRICS_SYNC, METRICS_SUCCESS, 15, 30);
    metrics_call("a", "/y", METRICS_ASYNC, METRICS_ERROR, 2000, 1);
    metrics_call("b", "/z", METRICS_SYNC, METRICS_BUSY, 7, -1);
    metrics_call("c", "/w", METRICS_SYNC, METRICS_INVALID, -1, -1);
    metrics_count(METRICS_QUEUE_FULL);
    metrics_cold_start(120);
    metrics_image_store(5, 12345);
    metrics_count(METRICS_IMAGE_PULLS);
    metrics_count(METRICS_IMAGE_REMOVED);

    t = render(1, &g);
    ok(has(t, "functions_calls_total{app=\"a\",path=\"/x\",kind=\"sync\","
              "outcome=\"success\"} 2"), "a route's series");
    ok(has(t, "functions_calls_total{app=\"a\",path=\"/y\",kind=\"async\","
              "outcome=\"error\"} 1"), "async calls by kind");
    ok(has(t, "functions_calls_total{app=\"_other\",path=\"_other\","
              "kind=\"sync\",outcome=\"busy\"} 1"),
       "a route beyond the cap counts under _other");
    ok(strstr(t, "app=\"b\"") == NULL, "and has no series of its own");
    ok(has(t, "functions_call_wait_seconds_bucket{kind=\"sync\",le=\"0.005\"}"
              " 1"), "wait buckets are cumulative (5 ms)");
    ok(has(t, "functions_call_wait_seconds_bucket{kind=\"sync\",le=\"0.025\"}"
              " 3"), "(15 and 7 ms under 25 ms)");
    ok(has(t, "functions_call_wait_seconds_count{kind=\"sync\"} 3"),
       "a call refused on sight has no wait");
    ok(has(t, "functions_call_wait_seconds_sum{kind=\"async\"} 2.000"),
       "async wait in seconds");
    ok(has(t, "functions_cold_start_seconds_count 1"), "cold starts");
    ok(has(t, "functions_queue_full_total 1"), "queue full");
    ok(has(t, "functions_queue_depth 3"), "gauges from the caller");
    ok(has(t, "functions_hot_instances{state=\"idle\"} 1"), "hot instances");
    ok(has(t, "functions_image_store_images 5"),
       "images in the store, as the store says");
    ok(has(t, "functions_image_store_bytes 12345"), "and their bytes");
    ok(has(t, "functions_image_removed_total 1"), "images removed");
    free(t);

    t = render(0, &g);
    ok(has(t, "P metric=run.requests value=5 type=count unit=calls"),
       "log: all calls of the interval");
    ok(has(t, "P metric=run.succeeded value=2 type=count unit=calls"),
       "log: succeeded");
    ok(has(t, "P metric=run.busy value=1 type=count unit=calls"),
       "log: busy");
    ok(has(t, "P metric=run.a.requests value=3 type=count unit=calls"),
       "log: per app, its routes summed");
    ok(has(t, "P metric=run.a.time value=13.667 type=time unit=ms count=3 "
              "max=30"), "log: an app's mean execution time");
    ok(has(t, "P metric=run.wait_time value=9.000 type=time unit=ms "
              "count=3 max=15"), "log: sync wait");
    ok(has(t, "P metric=async.a.wait_time value=2000.000 type=time unit=ms "
              "count=1 max=2000"), "log: an app's async wait");
    ok(has(t, "P metric=queue.full value=1 type=count unit=calls"),
       "log: queue full");
    ok(has(t, "P metric=queue.depth value=3 type=gauge unit=calls"),
       "log: a gauge");
    free(t);

    t = render(0, &g);
    ok(has(t, "P metric=run.requests value=0 type=count unit=calls"),
       "the next interval starts at zero");
    ok(has(t, "P metric=run.wait_time value=0.000 type=time unit=ms "
              "count=0 max=0"), "times too");
    ok(strstr(t, "run.a.") == NULL, "apps without calls have no lines");
    free(t);

    metrics_free();
    return done_testing();
}
