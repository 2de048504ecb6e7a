/*
 * bubblewrap command lines and function environments.
 */
#include "sandbox_args.h"
#include "errf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void strvec_push(struct strvec *sv, const char *s)
{
    char **v;

    if (sv->failed)
        return;
    v = realloc(sv->v, (sv->n + 2) * sizeof(char *));
    if (v == NULL) {
        sv->failed = 1;
        return;
    }
    sv->v = v;
    v[sv->n] = strdup(s);
    if (v[sv->n] == NULL) {
        sv->failed = 1;
        v[sv->n] = NULL;
        return;
    }
    v[++sv->n] = NULL;
}

void strvec_pushf(struct strvec *sv, const char *fmt, ...)
{
    va_list ap;
    char *s;

    va_start(ap, fmt);
    if (vasprintf(&s, fmt, ap) < 0) {
        sv->failed = 1;
        va_end(ap);
        return;
    }
    va_end(ap);
    strvec_push(sv, s);
    free(s);
}

void strvec_free(struct strvec *sv)
{
    size_t i;

    for (i = 0; i < sv->n; i++)
        free(sv->v[i]);
    free(sv->v);
    memset(sv, 0, sizeof(*sv));
}

void sandbox_env_name(const char *prefix, const char *key, char *out,
                      size_t size)
{
    size_t n = (size_t)snprintf(out, size, "%s", prefix);
    const char *p;

    for (p = key; *p && n + 1 < size; p++) {
        char c = *p;
        if (c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        else if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
            c = '_';
        out[n++] = c;
    }
    out[n] = '\0';
}

/* Sets NAME=value, replacing an earlier NAME. */
static void env_set(struct strvec *env, const char *name, const char *value)
{
    size_t i, len = strlen(name);

    for (i = 0; i < env->n; i++) {
        if (strncmp(env->v[i], name, len) == 0 && env->v[i][len] == '=') {
            char *s;
            if (asprintf(&s, "%s=%s", name, value) < 0) {
                env->failed = 1;
                return;
            }
            free(env->v[i]);
            env->v[i] = s;
            return;
        }
    }
    strvec_pushf(env, "%s=%s", name, value);
}

int sandbox_env(const struct call_info *ci,
                const struct oci_image_config *image, struct strvec *env)
{
    const struct route_def *r = ci->route;
    char name[300], num[32];
    size_t i;

    env_set(env, "PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:"
                         "/usr/bin:/sbin:/bin");
    for (i = 0; image->env != NULL && image->env[i] != NULL; i++) {
        const char *eq = strchr(image->env[i], '=');
        if (eq == NULL || eq == image->env[i] || eq - image->env[i] > 255)
            continue;
        memcpy(name, image->env[i], (size_t)(eq - image->env[i]));
        name[eq - image->env[i]] = '\0';
        env_set(env, name, eq + 1);
    }
    for (i = 0; i < r->nconfig; i++) {
        sandbox_env_name("", r->config[i].key, name, sizeof(name));
        env_set(env, name, r->config[i].value);
    }
    for (i = 0; ci->call_id != NULL && ci->header_names != NULL
                && ci->header_names[i] != NULL; i++) {
        sandbox_env_name("HEADER_", ci->header_names[i], name, sizeof(name));
        env_set(env, name, ci->header_values[i]);
        sandbox_env_name("FN_HEADER_", ci->header_names[i], name,
                         sizeof(name));
        env_set(env, name, ci->header_values[i]);
    }

    snprintf(num, sizeof(num), "%u", r->memory_mb);
    /* IronFunctions' names, then Fn's */
    env_set(env, "APP_NAME", r->app);
    env_set(env, "ROUTE", r->path);
    env_set(env, "MEMORY_MB", num);
    env_set(env, "FORMAT", route_format_name(r->format));
    env_set(env, "FN_APP_NAME", r->app);
    env_set(env, "FN_PATH", r->path);
    env_set(env, "FN_FORMAT", route_format_name(r->format));
    env_set(env, "FN_TYPE", route_type_name(r->type));
    env_set(env, "FN_MEMORY", num);
    /* what Fn's FDKs read for the context; apps and routes are known by
     * name here */
    env_set(env, "FN_APP_ID", r->app);
    env_set(env, "FN_FN_NAME", r->path);
    env_set(env, "FN_FN_ID", r->path);
    if (r->format == ROUTE_FORMAT_HTTP_STREAM)
        env_set(env, "FN_LISTENER", "unix:" SANDBOX_FN_LISTENER);
    if (r->format == ROUTE_FORMAT_LAMBDA) {
        /* what AWS's runtimes read; _HANDLER comes from the route's
         * config, where the function's author puts it */
        snprintf(name, sizeof(name), "%s%s", r->app, r->path);
        for (i = 0; name[i] != '\0'; i++) {
            if (name[i] == '/')
                name[i] = '_';
        }
        env_set(env, "AWS_LAMBDA_RUNTIME_API",
                SANDBOX_LAMBDA_RUNTIME_API);
        env_set(env, "AWS_LAMBDA_FUNCTION_NAME", name);
        env_set(env, "AWS_LAMBDA_FUNCTION_VERSION", "$LATEST");
        env_set(env, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", num);
        env_set(env, "AWS_LAMBDA_LOG_STREAM_NAME", name);
        snprintf(name, sizeof(name), "/functions/%s", r->app);
        env_set(env, "AWS_LAMBDA_LOG_GROUP_NAME", name);
        env_set(env, "LAMBDA_TASK_ROOT", sandbox_cwd(image));
        env_set(env, "AWS_REGION", "local");
        env_set(env, "AWS_DEFAULT_REGION", "local");
        env_set(env, "TZ", ":UTC");
    }
    if (ci->call_id == NULL)
        return env->failed ? -1 : 0;    /* a hot instance: no call yet */
    env_set(env, "METHOD", ci->method);
    env_set(env, "REQUEST_URL", ci->request_url);
    env_set(env, "CALL_ID", ci->call_id);
    env_set(env, "FN_METHOD", ci->method);
    env_set(env, "FN_REQUEST_URL", ci->request_url);
    env_set(env, "FN_CALL_ID", ci->call_id);
    env_set(env, "FN_DEADLINE", ci->deadline);
    return env->failed ? -1 : 0;
}

int sandbox_user(const struct oci_image_config *image, unsigned *uid,
                 unsigned *gid)
{
    const char *u = image->user;
    char *end;
    unsigned long v;

    *uid = *gid = 1000;
    if (u == NULL || *u == '\0')
        return 0;
    v = strtoul(u, &end, 10);
    if (end == u || v > 65535 || (*end != '\0' && *end != ':'))
        return -1;
    *uid = *gid = (unsigned)v;
    if (*end == ':') {
        const char *g = end + 1;
        v = strtoul(g, &end, 10);
        if (end == g || *end != '\0' || v > 65535)
            return -1;
        *gid = (unsigned)v;
    }
    return 0;
}

/* A private tmpfs of bytes at path, writable by everyone (sticky). */
static void push_tmpfs(struct strvec *argv, const char *path, uint64_t bytes)
{
    strvec_push(argv, "--size");
    strvec_pushf(argv, "%llu", (unsigned long long)bytes);
    strvec_push(argv, "--perms");
    strvec_push(argv, "1777");
    strvec_push(argv, "--tmpfs");
    strvec_push(argv, path);
}

int sandbox_argv(const struct sandbox_spec *spec, struct strvec *argv,
                 char *err, size_t errlen)
{
    unsigned uid, gid;

    if (sandbox_user(spec->image, &uid, &gid) < 0) {
        errf(err, errlen, "image User \"%.64s\" is not numeric; use "
             "\"uid\" or \"uid:gid\"", spec->image->user);
        return -1;
    }
    strvec_push(argv, spec->bwrap);
    strvec_push(argv, "--unshare-user");
    strvec_push(argv, "--uid");
    strvec_pushf(argv, "%u", uid);
    strvec_push(argv, "--gid");
    strvec_pushf(argv, "%u", gid);
    strvec_push(argv, "--unshare-pid");
    strvec_push(argv, "--unshare-ipc");
    strvec_push(argv, "--unshare-uts");
    strvec_push(argv, "--unshare-cgroup-try");
    if (!spec->share_net)
        strvec_push(argv, "--unshare-net");
    strvec_push(argv, "--hostname");
    strvec_push(argv, spec->hostname);
    strvec_push(argv, "--disable-userns");
    strvec_push(argv, "--die-with-parent");
    strvec_push(argv, "--new-session");
    strvec_push(argv, "--cap-drop");
    strvec_push(argv, "ALL");
    strvec_push(argv, "--ro-bind");
    strvec_push(argv, spec->rootfs);
    strvec_push(argv, "/");
    strvec_push(argv, "--proc");
    strvec_push(argv, "/proc");
    /* sysctls (IPC limits of the sandbox's namespace...) would outlive a
     * call in a reused sandbox: read-only */
    strvec_push(argv, "--ro-bind");
    strvec_push(argv, "/proc/sys");
    strvec_push(argv, "/proc/sys");
    /* /dev read-only but for a private /dev/shm, sized as /tmp is */
    strvec_push(argv, "--dev");
    strvec_push(argv, "/dev");
    push_tmpfs(argv, "/dev/shm", spec->tmp_bytes);
    strvec_push(argv, "--remount-ro");
    strvec_push(argv, "/dev");
    push_tmpfs(argv, "/tmp", spec->tmp_bytes);
    if (spec->socket_dir != NULL) {
        strvec_push(argv, "--perms");
        strvec_push(argv, "0700");
        strvec_push(argv, "--dir");
        strvec_push(argv, spec->socket_dir);
    }
    strvec_push(argv, "--chdir");
    strvec_push(argv, "/");
    strvec_push(argv, "--clearenv");
    /* the helper, from the descriptor the executor left open, as pid 1 */
    strvec_push(argv, "--as-pid-1");
    strvec_push(argv, "--");
    strvec_pushf(argv, "/proc/self/fd/%d", SANDBOX_HELPER_FD);
    strvec_push(argv, "init");
    strvec_pushf(argv, "%d", SANDBOX_CTL_FD);
    if (argv->failed) {
        errf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

int sandbox_command(const struct oci_image_config *img, struct strvec *argv,
                    char *err, size_t errlen)
{
    size_t i;

    for (i = 0; img->entrypoint != NULL && img->entrypoint[i] != NULL; i++)
        strvec_push(argv, img->entrypoint[i]);
    for (i = 0; img->cmd != NULL && img->cmd[i] != NULL; i++)
        strvec_push(argv, img->cmd[i]);
    if (argv->n == 0 || argv->v[0][0] == '\0') {
        errf(err, errlen, "the image has neither Entrypoint nor Cmd");
        return -1;
    }
    if (argv->failed) {
        errf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

const char *sandbox_cwd(const struct oci_image_config *img)
{
    return img->working_dir != NULL && img->working_dir[0] == '/'
           ? img->working_dir : "/";
}
