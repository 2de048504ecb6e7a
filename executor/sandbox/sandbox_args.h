/*
 * The bubblewrap command line of a sandbox, and the environment of the
 * function in it.  Pure: built from the route, the image config and the
 * call, no I/O.
 */
#ifndef EXECUTOR_SANDBOX_ARGS_H
#define EXECUTOR_SANDBOX_ARGS_H

#include "oci.h"
#include "route_def.h"

#include <stddef.h>
#include <stdint.h>

struct strvec {
    char **v;               /* NULL-terminated */
    size_t n;
    int failed;             /* an allocation failed */
};

void strvec_push(struct strvec *sv, const char *s);
void strvec_pushf(struct strvec *sv, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void strvec_free(struct strvec *sv);

/* Descriptors the sandbox helper finds open in a new sandbox. */
#define SANDBOX_SECCOMP_FD 3        /* the seccomp filter */
#define SANDBOX_HELPER_FD 4         /* the helper's own executable */
#define SANDBOX_CTL_FD 5            /* the socket to the executor */

/* Where an http-stream function listens, inside its sandbox: FN_LISTENER
 * is "unix:" SANDBOX_FN_LISTENER, in a directory of its own in its /tmp. */
#define SANDBOX_FN_SOCKET_DIR "/tmp/iofs"
#define SANDBOX_FN_LISTENER SANDBOX_FN_SOCKET_DIR "/lsnr.sock"
/* Format lambda: the Runtime API, on the loopback of the sandbox's own
 * network (lambda_runtime.h, LAMBDA_RUNTIME_PORT). */
#define SANDBOX_LAMBDA_RUNTIME_API "127.0.0.1:9001"

struct sandbox_spec {
    const char *bwrap;              /* path of bwrap */
    const char *rootfs;
    uint64_t tmp_bytes;             /* size of /tmp, and of /dev/shm */
    int share_net;                  /* keep the host network */
    const char *hostname;
    const struct oci_image_config *image;
    const char *socket_dir;         /* made in /tmp, the function's own
                                     * (NULL: none) */
};

/* What the call tells the function. */
struct call_info {
    const char *call_id;
    const char *method;
    const char *request_url;
    const char *deadline;           /* RFC 3339 */
    const struct route_def *route;
    char *const *header_names;      /* client headers, NULL-terminated */
    char *const *header_values;
};

/*
 * The environment: the image's Env, then app and route config (keys
 * upper-cased), then the platform's variables (IronFunctions' and Fn's
 * names), each later one replacing an earlier one of the same name.  With
 * no call_id (a hot instance, which serves many calls), only what belongs
 * to the route: the call's own values travel in each request.
 */
int sandbox_env(const struct call_info *ci,
                const struct oci_image_config *image, struct strvec *env);

/*
 * uid and gid the function runs as inside its user namespace: the image's
 * numeric User ("uid" or "uid:gid"), else 1000.  -1 for a User that is a
 * name (not supported).
 */
int sandbox_user(const struct oci_image_config *image, unsigned *uid,
                 unsigned *gid);

/*
 * The bwrap argument vector of a sandbox, which runs the sandbox helper
 * as its init (pid 1); function processes are started by that init.
 */
int sandbox_argv(const struct sandbox_spec *spec, struct strvec *argv,
                 char *err, size_t errlen);

/* The function's command: the image's Entrypoint, then its Cmd. */
int sandbox_command(const struct oci_image_config *img, struct strvec *argv,
                    char *err, size_t errlen);

/* The function's working directory: the image's WorkingDir, else "/". */
const char *sandbox_cwd(const struct oci_image_config *img);

/* An environment variable name from a key: upper case, [A-Z0-9_]. */
void sandbox_env_name(const char *prefix, const char *key, char *out,
                      size_t size);

#endif
