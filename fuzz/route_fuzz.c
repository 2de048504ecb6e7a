/*
 * libFuzzer harness: the route definition (Fn-Route), the environment
 * built from it and the RUN message that carries it into a sandbox: the
 * message decodes to the very command, directory and environment, every
 * entry of it.  A route the API accepts as runnable names an image an
 * executor resolves.  The executor's route cache gives, first time and
 * again, the route parsing gives.
 */
#include "image_ref.h"
#include "oci.h"
#include "route_cache.h"
#include "route_def.h"
#include "sandbox_args.h"
#include "sandbox_proto.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void broken(const char *what)
{
    fprintf(stderr, "route_fuzz: %s\n", what);
    abort();
}

/* Both NULL-terminated lists hold the same strings, n of them. */
static int same_list(char *const *a, char *const *b, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (a[i] == NULL || b[i] == NULL || strcmp(a[i], b[i]) != 0)
            return 0;
    }
    return a[n] == NULL && b[n] == NULL;
}

static int same_kv(const struct route_kv *a, const struct route_kv *b,
                   size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (strcmp(a[i].key, b[i].key) != 0
            || strcmp(a[i].value, b[i].value) != 0)
            return 0;
    }
    return 1;
}

static int same_route(const struct route_def *a, const struct route_def *b)
{
    return strcmp(a->app, b->app) == 0 && strcmp(a->path, b->path) == 0
           && strcmp(a->image, b->image) == 0 && a->format == b->format
           && a->type == b->type && a->memory_mb == b->memory_mb
           && a->timeout_s == b->timeout_s
           && a->idle_timeout_s == b->idle_timeout_s
           && a->max_concurrency == b->max_concurrency
           && a->nheaders == b->nheaders && a->nconfig == b->nconfig
           && same_kv(a->headers, b->headers, a->nheaders)
           && same_kv(a->config, b->config, a->nconfig);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct route_def cached;
    int i;
    struct route_def r;
    struct oci_image_config img = { 0 };
    char *names[] = { "X-A", "content-type", NULL };
    char *values[] = { "1", "text/plain", NULL };
    struct call_info ci = {
        .call_id = "01ARZ3NDEKTSV4RRFFQ69G5FAV",
        .method = "POST",
        .request_url = "http://h/r/a/b",
        .deadline = "2026-01-01T00:00:00Z",
        .route = &r,
        .header_names = names,
        .header_values = values,
    };
    struct sandbox_spec spec = {
        .bwrap = "bwrap", .rootfs = "rootfs/x", .tmp_bytes = 1 << 20,
        .hostname = "function", .image = &img,
    };
    struct strvec env = { 0 }, argv = { 0 };
    static char msg[SANDBOX_MSG_MAX];
    struct sandbox_run run;
    struct oci_ref ref;
    struct image_ref iref;
    char *cmd[] = { "/bin/sh", NULL };
    char err[512];
    size_t n;

    if (route_def_parse((const char *)data, size, &r, err, sizeof(err)) < 0) {
        if (route_cache_parse((const char *)data, size, &cached, err,
                              sizeof(err)) == 0)
            broken("the cache takes a route parsing refuses");
        return 0;
    }
    for (i = 0; i < 2; i++) {
        if (route_cache_parse((const char *)data, size, &cached, err,
                              sizeof(err)) < 0
            || !same_route(&cached, &r))
            broken("the cache gives another route than parsing");
        route_def_free(&cached);
    }
    if (route_runnable(&r, err, sizeof(err)) == 0
        && (image_ref_is_registry(r.image)
            ? image_ref_parse(r.image, "registry.example:5000", "library",
                              &iref, err, sizeof(err)) < 0
            : oci_ref_parse(r.image, &ref, err, sizeof(err)) < 0))
        broken("a runnable route's image is refused by the executor");
    route_config_get(&r, "A");
    if (sandbox_env(&ci, &img, &env) == 0) {
        n = sandbox_run_encode(msg, sizeof(msg), "/", cmd, env.v);
        if (n > 0) {
            /* what is encoded decodes to the same */
            if (sandbox_run_decode(msg, n, &run) < 0)
                broken("an encoded RUN message does not decode");
            if (strcmp(run.cwd, "/") != 0 || !same_list(run.argv, cmd, 1))
                broken("the RUN message changes the command");
            if (!same_list(run.env, env.v, env.n))
                broken("the RUN message changes the environment");
            sandbox_run_free(&run);
        }
    }
    sandbox_argv(&spec, &argv, err, sizeof(err));
    strvec_free(&env);
    strvec_free(&argv);
    route_def_free(&r);
    return 0;
}
