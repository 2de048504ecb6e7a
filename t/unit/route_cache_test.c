/*
 * Parsed routes by their Fn-Route text: a hit is the route as parsing
 * would give it, a route that does not parse is never kept, and the
 * cache holds ROUTE_CACHE_SIZE routes at most.
 */
#include "route_cache.h"
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *route =
    "{\"app\":\"demo\",\"path\":\"/a\",\"image\":\"oci:x:v1\",\"format\":"
    "\"http\",\"memory\":64,\"headers\":{\"X-A\":[\"1\",\"2\"]},"
    "\"config\":{\"K\":\"v\"},\"app_config\":{\"K\":\"app\",\"L\":\"l\"}}";

static int same(const struct route_def *a, const struct route_def *b)
{
    size_t i;

    if (strcmp(a->app, b->app) != 0 || strcmp(a->path, b->path) != 0
        || strcmp(a->image, b->image) != 0 || a->format != b->format
        || a->memory_mb != b->memory_mb || a->nheaders != b->nheaders
        || a->nconfig != b->nconfig)
        return 0;
    for (i = 0; i < a->nheaders; i++) {
        if (strcmp(a->headers[i].key, b->headers[i].key) != 0
            || strcmp(a->headers[i].value, b->headers[i].value) != 0)
            return 0;
    }
    for (i = 0; i < a->nconfig; i++) {
        if (strcmp(a->config[i].key, b->config[i].key) != 0
            || strcmp(a->config[i].value, b->config[i].value) != 0)
            return 0;
    }
    return 1;
}

int main(void)
{
    struct route_def parsed, a, b, c;
    unsigned long hits, misses;
    char err[256], json[256];
    int i, n;

    ok(route_def_parse(route, strlen(route), &parsed, err, sizeof(err)) == 0,
       "the route parses");
    ok(route_cache_parse(route, strlen(route), &a, err, sizeof(err)) == 0,
       "first: parsed");
    ok(route_cache_parse(route, strlen(route), &b, err, sizeof(err)) == 0,
       "again: from the cache");
    route_cache_stats(&hits, &misses);
    ok(hits == 1 && misses == 1, "one miss, then one hit");
    ok(same(&a, &parsed) && same(&b, &parsed),
       "both are the route as parsing gives it (headers, configs merged)");
    ok(b.headers != a.headers && b.config != a.config,
       "each call owns its copy");
    route_def_free(&a);
    ok(route_cache_parse(route, strlen(route), &c, err, sizeof(err)) == 0
       && same(&c, &parsed), "freeing a copy leaves the cache's intact");
    route_def_free(&b);
    route_def_free(&c);

    /* one byte more or less is another route */
    ok(route_cache_parse(route, strlen(route) - 1, &a, err, sizeof(err)) < 0,
       "a cut route: refused");
    ok(route_cache_parse(route, strlen(route) - 1, &a, err, sizeof(err)) < 0,
       "  and again: refusals are not kept");
    route_cache_stats(&hits, &misses);
    is_int((long)misses, 3, "  both were misses");

    /* more routes than entries: the least recently used go */
    for (i = 0; i < ROUTE_CACHE_SIZE + 10; i++) {
        n = snprintf(json, sizeof(json), "{\"app\":\"demo\",\"path\":"
                     "\"/r%d\",\"image\":\"oci:x\"}", i);
        if (route_cache_parse(json, (size_t)n, &a, err, sizeof(err)) != 0)
            break;
        route_def_free(&a);
    }
    ok(i == ROUTE_CACHE_SIZE + 10, "many routes");
    route_cache_stats(&hits, &misses);
    n = snprintf(json, sizeof(json), "{\"app\":\"demo\",\"path\":\"/r%d\","
                 "\"image\":\"oci:x\"}", ROUTE_CACHE_SIZE + 9);
    route_cache_parse(json, (size_t)n, &a, err, sizeof(err));
    route_def_free(&a);
    route_cache_parse(route, strlen(route), &a, err, sizeof(err));
    route_def_free(&a);
    {
        unsigned long h2, m2;

        route_cache_stats(&h2, &m2);
        ok(h2 == hits + 1 && m2 == misses + 1,
           "the newest is kept, the oldest (the first route) is gone");
    }
    route_cache_clear();
    route_cache_stats(&hits, &misses);
    route_cache_parse(route, strlen(route), &a, err, sizeof(err));
    route_def_free(&a);
    {
        unsigned long h2, m2;

        route_cache_stats(&h2, &m2);
        ok(m2 == misses + 1, "cleared: a miss");
    }
    route_def_free(&parsed);
    route_cache_clear();
    return done_testing();
}
