/*
 * libFuzzer harness: the route definition (Fn-Route), the environment
 * built from it and the RUN message that carries it into a sandbox.
 */
#include "route_def.h"
#include "sandbox_args.h"
#include "sandbox_proto.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
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
    char *cmd[] = { "/bin/sh", NULL };
    char err[512];
    size_t n;

    if (route_def_parse((const char *)data, size, &r, err, sizeof(err)) < 0)
        return 0;
    (void)route_runnable(&r, err, sizeof(err));
    route_config_get(&r, "A");
    if (sandbox_env(&ci, &img, &env) == 0) {
        n = sandbox_run_encode(msg, sizeof(msg), "/", cmd, env.v);
        if (n > 0) {
            /* what is encoded decodes to the same */
            if (sandbox_run_decode(msg, n, &run) < 0
                || strcmp(run.env[env.n - 1], env.v[env.n - 1]) != 0)
                __builtin_trap();
            sandbox_run_free(&run);
        }
    }
    sandbox_argv(&spec, &argv, err, sizeof(err));
    strvec_free(&env);
    strvec_free(&argv);
    route_def_free(&r);
    return 0;
}
