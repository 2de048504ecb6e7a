/*
 * Sandboxes: a bubblewrap sandbox with its own cgroup, whose init (the
 * sandbox helper, pid 1) starts one function process per call and removes
 * what each left behind.  A sandbox is made for one pool key (app, path,
 * image, memory) and, once its call is over, waits idle for the next call
 * of the same key, up to sandbox_idle_timeout; so a call finds a sandbox
 * ready instead of paying for namespaces, mounts and a cgroup each time.
 *
 * The life of a sandbox:
 *
 *   sandbox_start --ready--> held --sandbox_run--> running --done--> held
 *   held --sandbox_release--> idle (pool) --sandbox_take--> held
 *                          \-> closed (killed, cgroup removed, freed)
 *
 * A sandbox whose processes die while it is held is reported (ready with
 * ok 0, or done with lost 1) and freed once released.
 */
#ifndef EXECUTOR_SANDBOX_H
#define EXECUTOR_SANDBOX_H

#include "cgroup.h"
#include "config.h"
#include "oci.h"
#include "uid_range.h"
#include "ulid.h"

#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

struct sandbox;

/* The executor's sandboxes, the idle pool, and what starting one takes. */
struct sandbox_pool {
    uv_loop_t *loop;
    const struct config *cfg;   /* the running one */
    const int *draining;        /* set: no sandbox goes idle */
    const int *killing;         /* set: calls are being stopped */
    char helper[1024];          /* functions-sandbox-helper */
    int helper_fd;              /* open, for sandboxes to run as init */
    struct cgroups cgroups;
    struct uid_range uids;      /* the sandboxes' host ids */
    char *seccomp_bpf;          /* the sandboxes' filter, built once */
    size_t seccomp_len;
    char *seccomp_inet_bpf;     /* the same with AF_INET and AF_INET6, for
                                 * sandboxes of a network of their own */
    size_t seccomp_inet_len;
    unsigned generation;        /* of the configuration: one more on each
                                 * reload; older sandboxes are not kept */
    struct sandbox *all;        /* every sandbox */
    struct sandbox *idle_head;  /* idle ones, newest first */
    struct sandbox *idle_tail;
    size_t nidle;
};

/* ok: the sandbox is up (0: it could not start; the reason is logged) */
typedef void (*sandbox_ready_cb)(struct sandbox *sb, int ok, void *arg);

/*
 * The function process ended with wait_status, and clean says whether all
 * it left was removed.  lost: the sandbox died before telling (killed,
 * or its init failed); wait_status and clean mean nothing then.
 */
typedef void (*sandbox_done_cb)(struct sandbox *sb, int lost,
                                int32_t wait_status, int clean, void *arg);

/*
 * A CONNECT's answer: fd, a connected socket now the caller's, or -1 and
 * err (an errno: ENOENT or ECONNREFUSED while nothing listens yet).
 */
typedef void (*sandbox_connect_cb)(struct sandbox *sb, int fd, int err,
                                   void *arg);

enum sandbox_state {
    SANDBOX_STARTING,
    SANDBOX_HELD,           /* owned by a call, no process running */
    SANDBOX_RUNNING,        /* owned by a call, its process running */
    SANDBOX_IDLE,           /* in the pool */
    SANDBOX_CLOSING,        /* killed; freed when its handles close */
};

struct sandbox {
    struct sandbox *next, *prev;            /* every sandbox of its pool */
    struct sandbox *idle_next, *idle_prev;  /* idle ones, newest first */
    struct sandbox_pool *pool;
    char id[ULID_LEN + 1];               /* also its cgroup's name */
    char *key;
    struct cgroup cgroup;
    enum sandbox_state state;
    int owned;                  /* a call holds it */
    int exited;                 /* its process tree is gone */
    int ctl;                    /* the socket to its init */
    uint32_t uid;               /* its host uid and gid, its alone */
    unsigned generation;        /* the configuration it was made with */
    pid_t pid;                  /* its first process: the helper, then
                                 * bubblewrap */
    int pidfd;
    uv_poll_t exit_poll;        /* on pidfd: readable when pid exits */
    uv_poll_t poll;             /* on ctl */
    uv_pipe_t err;              /* bubblewrap's and the init's stderr */
    uv_timer_t timer;           /* start deadline, then idle timeout */
    int open_handles;
    sandbox_ready_cb on_ready;
    sandbox_done_cb on_done;
    void *arg;
    sandbox_connect_cb on_connect;  /* a CONNECT waits for its answer */
    void *connect_arg;
    char diag[256];             /* the first line it wrote on stderr */
    size_t diag_len;
    long tasks;                 /* pids.current with only the init up */
    int oom_known;              /* oom_kills holds its OOM kill count */
    long oom_kills;             /* read when its last cold call ended */
    uint64_t calls;             /* how many calls it served */
    uint64_t started_ms;        /* uv_now() at its start */
};

struct sandbox_params {
    const char *key;
    const char *rootfs;
    const struct oci_image_config *image;
    uint64_t memory;            /* bytes */
    const char *socket_dir;     /* a directory made in its /tmp for the
                                 * function's socket (NULL: none) */
    int loopback_net;           /* a network namespace of its own, with
                                 * only its loopback, where the function
                                 * may use TCP (format lambda), whatever
                                 * allow_network says */
};

/*
 * Starts a sandbox; cb runs once it is up or could not start.  NULL with
 * err if nothing could be started.
 */
struct sandbox *sandbox_start(struct sandbox_pool *s,
                              const struct sandbox_params *p,
                              sandbox_ready_cb cb, void *arg, char *err,
                              size_t errlen);

/*
 * Runs one process in a held sandbox, with stdio[0..2] (which the caller
 * still closes).  cb runs when it is over.  0, or -1 with err (the
 * message does not fit, or the sandbox is gone).
 */
int sandbox_run(struct sandbox *sb, const char *cwd, char *const *argv,
                char *const *env, const int stdio[3], sandbox_done_cb cb,
                void *arg, char *err, size_t errlen);

/*
 * Asks the sandbox's init to connect to the Unix socket at path (inside
 * the sandbox) while a process runs; cb runs with the socket or the
 * error, unless the process ends first (then it never runs).  One at a
 * time.  0, or -1 if the message could not be sent.
 */
int sandbox_connect(struct sandbox *sb, const char *path,
                    sandbox_connect_cb cb, void *arg);

/*
 * Asks the sandbox's init for a socket listening on port of 127.0.0.1 in
 * the sandbox's own network (loopback_net), held or running; cb runs with
 * it (the caller's) or an errno, unless a process ends first.  Shares the
 * one slot of sandbox_connect().  0, or -1 if the message could not be
 * sent.
 */
int sandbox_listen(struct sandbox *sb, unsigned port, sandbox_connect_cb cb,
                   void *arg);

/* Kills every process of the sandbox; its owner hears it as usual. */
void sandbox_kill(struct sandbox *sb);

/*
 * The owner is done with sb.  reuse: it may serve another call of its key
 * (it goes to the pool, unless the executor is stopping, idle sandboxes
 * are off, or it is dead); else it is closed.
 */
void sandbox_release(struct sandbox *sb, int reuse);

/* An idle sandbox for key, now held; NULL if there is none. */
struct sandbox *sandbox_take(struct sandbox_pool *s, const char *key);

/* Closes every idle sandbox (reload, shutdown). */
void sandbox_close_idle(struct sandbox_pool *s);

/* The pool key of a call: app, path, image digest, memory. */
char *sandbox_key(const char *app, const char *path, const char *digest,
                  uint64_t memory);

#endif
