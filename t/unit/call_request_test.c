/*
 * Reading a call from POST /call, and the environment and bubblewrap
 * arguments made from it.
 */
#include "call_request.h"
#include "sandbox_args.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>

static struct request_parser p;
static struct call_request cr;
static char err[512];

#define ROUTE "{\"app\":\"demo\",\"path\":\"/hello\",\"image\":\"oci:x:v1\"," \
              "\"memory\":64,\"app_config\":{\"SHARED\":\"app\"}," \
              "\"config\":{\"shared\":\"route\",\"my-key\":\"v\"," \
              "\"CALL_ID\":\"forged\"}}"

static int parse(const char *headers)
{
    char req[4096];
    int n = snprintf(req, sizeof(req), "POST /call HTTP/1.1\r\n%s"
                     "Content-Length: 0\r\n\r\n", headers);

    call_request_free(&cr);
    memset(&cr, 0, sizeof(cr));
    request_parser_free(&p);
    request_parser_init(&p, 8192, 8192);
    if (request_parser_feed(&p, req, (size_t)n) != (size_t)n || !p.complete)
        return -1;
    return call_request_parse(&p.req, &cr, err, sizeof(err));
}

static const char *env_get(struct strvec *env, const char *name)
{
    size_t i, n = strlen(name);

    for (i = 0; i < env->n; i++) {
        if (strncmp(env->v[i], name, n) == 0 && env->v[i][n] == '=')
            return env->v[i] + n + 1;
    }
    return NULL;
}

static int has_arg(struct strvec *argv, const char *a, const char *b)
{
    size_t i;

    for (i = 0; i + 1 < argv->n; i++) {
        if (strcmp(argv->v[i], a) == 0
            && (b == NULL || strcmp(argv->v[i + 1], b) == 0))
            return 1;
    }
    return 0;
}

/* without is with, but for one argument a, taken out once */
static int same_but(struct strvec *with, struct strvec *without,
                    const char *a)
{
    size_t i, j = 0;
    int dropped = 0;

    if (with->n != without->n + 1)
        return 0;
    for (i = 0; i < with->n; i++) {
        if (!dropped && strcmp(with->v[i], a) == 0) {
            dropped = 1;
            continue;
        }
        if (j == without->n || strcmp(with->v[i], without->v[j++]) != 0)
            return 0;
    }
    return dropped;
}

static void test_parse(void)
{
    const char *good = "Fn-Call-Id: 01ARZ3NDEKTSV4RRFFQ69G5FAV\r\n"
                       "Fn-Method: PUT\r\n"
                       "Fn-Request-Url: http://h/r/demo/hello?a=1\r\n"
                       "Fn-Route: " ROUTE "\r\n"
                       "X-Custom: yes\r\nFn-Sneaky: no\r\n"
                       "Connection: keep-alive\r\nHost: executor\r\n";

    is_int(parse(good), 0, "a whole call");
    is_str(cr.call_id, "01ARZ3NDEKTSV4RRFFQ69G5FAV", "call id");
    is_str(cr.method, "PUT", "method");
    is_str(cr.request_url, "http://h/r/demo/hello?a=1", "request URL");
    is_str(cr.route.app, "demo", "the route");
    is_int(cr.header_names.n, 1, "only the client's own header is kept");
    is_str(cr.header_names.v[0], "X-Custom", "  X-Custom");

    is_int(parse("fn-call-ix: 7ZZZZZZZZZZZZZZZZZZZZZZZZZ\r\n"
                 "fN-cALL-iD: 01ARZ3NDEKTSV4RRFFQ69G5FAV\r\n"
                 "FN-METHOD: PUT\r\nfn-request-url: u\r\n"
                 "fn-route: " ROUTE "\r\nFn-Method: GET\r\n"), 0,
           "the Fn-* names in any case");
    is_str(cr.call_id, "01ARZ3NDEKTSV4RRFFQ69G5FAV",
           "  a name of the same length is not the call id");
    is_str(cr.method, "PUT", "  the first of a name is taken");
    is_str(cr.request_url, "u", "  the request URL");

    ok(call_id_valid("01ARZ3NDEKTSV4RRFFQ69G5FAV"), "a ULID is a call id");
    ok(!call_id_valid("01ARZ3NDEKTSV4RRFFQ69G5FAI"), "I is not Crockford");
    ok(!call_id_valid("01arz3ndektsv4rrffq69g5fav"), "lower case is not");
    ok(!call_id_valid("../../../etc/passwd"), "a path is not");
    ok(!call_id_valid("81ARZ3NDEKTSV4RRFFQ69G5FAV"), "nor an overflowing "
       "timestamp");

    is_int(parse("Fn-Method: GET\r\nFn-Request-Url: u\r\nFn-Route: {}\r\n"),
           400, "no call id: 400");
    ok(strstr(err, "Fn-Call-Id") != NULL, "  naming it");
    is_int(parse("Fn-Call-Id: 01ARZ3NDEKTSV4RRFFQ69G5FAV\r\nFn-Method: get\r\n"
                 "Fn-Request-Url: u\r\nFn-Route: " ROUTE "\r\n"), 400,
           "a lower-case method: 400");
    is_int(parse("Fn-Call-Id: 01ARZ3NDEKTSV4RRFFQ69G5FAV\r\nFn-Method: GET\r\n"
                 "Fn-Route: " ROUTE "\r\n"), 400, "no request URL: 400");
    is_int(parse("Fn-Call-Id: 01ARZ3NDEKTSV4RRFFQ69G5FAV\r\nFn-Method: GET\r\n"
                 "Fn-Request-Url: u\r\n"), 400, "no route: 400");
    is_int(parse("Fn-Call-Id: 01ARZ3NDEKTSV4RRFFQ69G5FAV\r\nFn-Method: GET\r\n"
                 "Fn-Request-Url: u\r\nFn-Route: {\"app\":1}\r\n"), 400,
           "a bad route: 400");
}

static void test_env_and_argv(void)
{
    struct oci_image_config img = { 0 };
    char *image_env[] = { "FROM_IMAGE=1", "SHARED=image", "PATH=/bin", NULL };
    char *cmd[] = { "/bin/sh", "/fn/handler", NULL };
    struct strvec env = { 0 }, argv = { 0 }, isolated = { 0 };
    struct call_info ci = {
        .call_id = cr.call_id, .method = cr.method,
        .request_url = cr.request_url, .deadline = "2026-01-01T00:00:30Z",
        .route = &cr.route, .header_names = cr.header_names.v,
        .header_values = cr.header_values.v,
    };
    struct sandbox_spec spec = {
        .bwrap = "/usr/bin/bwrap", .rootfs = "rootfs/abc",
        .tmp_bytes = 1 << 20, .hostname = "function", .image = &img,
    };
    char name[64];

    img.env = image_env;
    img.cmd = cmd;
    is_int(sandbox_env(&ci, &img, &env), 0, "the environment is built");
    is_str(env_get(&env, "FROM_IMAGE"), "1", "the image's Env");
    is_str(env_get(&env, "PATH"), "/bin", "the image's PATH");
    is_str(env_get(&env, "SHARED"), "route", "route over app over image");
    is_str(env_get(&env, "MY_KEY"), "v", "keys become names");
    is_str(env_get(&env, "CALL_ID"), cr.call_id, "CALL_ID cannot be forged");
    is_str(env_get(&env, "FN_CALL_ID"), cr.call_id, "FN_CALL_ID");
    is_str(env_get(&env, "REQUEST_URL"), "http://h/r/demo/hello?a=1",
           "REQUEST_URL");
    is_str(env_get(&env, "METHOD"), "PUT", "METHOD");
    is_str(env_get(&env, "FN_MEMORY"), "64", "FN_MEMORY");
    is_str(env_get(&env, "MEMORY_MB"), "64", "MEMORY_MB");
    is_str(env_get(&env, "HEADER_X_CUSTOM"), "yes", "HEADER_X_CUSTOM");
    is_str(env_get(&env, "FN_DEADLINE"), "2026-01-01T00:00:30Z",
           "FN_DEADLINE");
    ok(env_get(&env, "HEADER_FN_SNEAKY") == NULL, "no Fn-* header");

    is_int(sandbox_argv(&spec, &argv, err, sizeof(err)), 0,
           "the bubblewrap arguments are built");
    ok(has_arg(&argv, "--ro-bind", "rootfs/abc"), "the rootfs is read-only");
    ok(has_arg(&argv, "--unshare-net", NULL), "no network");
    ok(has_arg(&argv, "--unshare-pid", NULL), "own pids");
    ok(has_arg(&argv, "--clearenv", NULL), "a clean environment");
    ok(has_arg(&argv, "--uid", "1000"), "uid 1000");
    ok(has_arg(&argv, "--size", "1048576"), "a sized /tmp");
    ok(has_arg(&argv, "--die-with-parent", NULL), "dies with the executor");
    ok(has_arg(&argv, "--remount-ro", "/dev"), "a read-only /dev");
    ok(has_arg(&argv, "--tmpfs", "/dev/shm"), "but a private /dev/shm");
    ok(has_arg(&argv, "--as-pid-1", NULL), "the init is pid 1");
    is_str(argv.v[argv.n - 3], "/proc/self/fd/4", "the helper is the init");
    is_str(argv.v[argv.n - 1], "5", "and talks on descriptor 5");
    isolated = argv;            /* compared with allow_network's below */
    memset(&argv, 0, sizeof(argv));
    is_int(sandbox_command(&img, &argv, err, sizeof(err)), 0,
           "the command is built");
    ok(argv.n == 2 && strcmp(argv.v[0], "/bin/sh") == 0
       && strcmp(argv.v[1], "/fn/handler") == 0, "Cmd without Entrypoint");
    strvec_free(&argv);
    {
        char *ep[] = { "/entry", "-x", NULL };

        img.entrypoint = ep;
        is_int(sandbox_command(&img, &argv, err, sizeof(err)), 0,
               "the command is built from both");
        ok(argv.n == 4 && strcmp(argv.v[0], "/entry") == 0
           && strcmp(argv.v[2], "/bin/sh") == 0, "Entrypoint, then Cmd");
        strvec_free(&argv);
        img.entrypoint = NULL;
        img.cmd = NULL;
        ok(sandbox_command(&img, &argv, err, sizeof(err)) < 0,
           "neither: refused");
        strvec_free(&argv);
        img.cmd = cmd;
    }
    is_str(sandbox_cwd(&img), "/", "no WorkingDir: /");
    img.working_dir = "/srv";
    is_str(sandbox_cwd(&img), "/srv", "the image's WorkingDir");
    spec.share_net = 1;
    is_int(sandbox_argv(&spec, &argv, err, sizeof(err)), 0,
           "allow_network: the bubblewrap arguments are built");
    ok(argv.n > 0 && !has_arg(&argv, "--unshare-net", NULL),
       "allow_network keeps it");
    ok(same_but(&isolated, &argv, "--unshare-net"),
       "  and every other argument, in order");
    strvec_free(&argv);
    strvec_free(&isolated);

    img.user = "nobody";
    ok(sandbox_argv(&spec, &argv, err, sizeof(err)) < 0,
       "a user name (no passwd lookup) is refused");
    strvec_free(&argv);
    strvec_free(&env);

    sandbox_env_name("HEADER_", "x-a.b c", name, sizeof(name));
    is_str(name, "HEADER_X_A_B_C", "header names become safe env names");
}

int main(void)
{
    test_parse();
    is_int(parse("Fn-Call-Id: 01ARZ3NDEKTSV4RRFFQ69G5FAV\r\nFn-Method: PUT\r\n"
                 "Fn-Request-Url: http://h/r/demo/hello?a=1\r\n"
                 "Fn-Route: " ROUTE "\r\nX-Custom: yes\r\n"), 0,
           "a call for the environment");
    test_env_and_argv();
    call_request_free(&cr);
    request_parser_free(&p);
    return done_testing();
}
