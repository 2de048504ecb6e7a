/*
 * The messages between the executor and the init process of a sandbox,
 * over a SOCK_SEQPACKET socket pair (one message per packet).  Pure: no
 * I/O, shared by the executor and the static sandbox helper.
 *
 *   init -> executor   READY   the sandbox is up and waits for a call
 *   executor -> init   RUN     run one process: working directory, argv,
 *                              environment; its stdin, stdout and stderr
 *                              travel beside the message (SCM_RIGHTS)
 *   init -> executor   DONE    the process ended with this wait status;
 *                              whether everything it left was removed
 *   executor -> init   CONNECT connect to the Unix socket at this path, as
 *                              the process would (inside the sandbox)
 *   init -> executor   CONNECTED  0 and the connected socket beside the
 *                              message (SCM_RIGHTS), or why not (an errno)
 *   executor -> init   LISTEN  listen on this TCP port of 127.0.0.1 in the
 *                              sandbox's own network namespace (format
 *                              lambda: the Runtime API); answered with a
 *                              CONNECTED and the listening socket
 *
 * A CONNECT or a LISTEN may come at any time, a process running or not;
 * the init answers each one, in order.
 */
#ifndef EXECUTOR_SANDBOX_PROTO_H
#define EXECUTOR_SANDBOX_PROTO_H

#include <stddef.h>
#include <stdint.h>

/* The largest message; the executor refuses calls that need more. */
#define SANDBOX_MSG_MAX (192 * 1024)
#define SANDBOX_ARGS_MAX 4096
#define SANDBOX_ENV_MAX 16384

#define SANDBOX_READY 'R'
#define SANDBOX_RUN 'X'
#define SANDBOX_DONE 'D'
#define SANDBOX_DONE_LEN 9
#define SANDBOX_CONNECT 'C'
#define SANDBOX_CONNECTED 'K'
#define SANDBOX_CONNECTED_LEN 5
#define SANDBOX_LISTEN 'L'
#define SANDBOX_LISTEN_LEN 3
/* a CONNECT: the type, an absolute path that fits a sockaddr_un, a NUL */
#define SANDBOX_SOCKET_PATH_MAX 107
#define SANDBOX_CONNECT_MAX (SANDBOX_SOCKET_PATH_MAX + 2)

struct sandbox_run {
    const char *cwd;        /* pointers into the decoded buffer */
    char **argv;            /* NULL-terminated, allocated */
    char **env;             /* NULL-terminated, allocated */
};

/*
 * Writes a RUN message to buf (size bytes).  Returns its length, or 0 when
 * it does not fit, a string holds no terminator within the limits, or
 * there are too many strings.
 */
size_t sandbox_run_encode(char *buf, size_t size, const char *cwd,
                          char *const *argv, char *const *env);

/*
 * Reads a RUN message; buf must stay alive while run is used.  0, or -1
 * for a malformed message (wrong type, counts that do not match, missing
 * terminators, trailing bytes, an empty argv, a relative cwd) or when
 * memory runs out.
 */
int sandbox_run_decode(char *buf, size_t len, struct sandbox_run *run);
void sandbox_run_free(struct sandbox_run *run);

/* DONE: wait status as waitpid() gives it, and clean (1 or 0). */
void sandbox_done_encode(char buf[SANDBOX_DONE_LEN], int32_t wait_status,
                         int clean);
int sandbox_done_decode(const char *buf, size_t len, int32_t *wait_status,
                        int *clean);

/*
 * CONNECT: writes it to buf (SANDBOX_CONNECT_MAX bytes); its length, or 0
 * for a path that is not absolute, holds a NUL or is too long.
 */
size_t sandbox_connect_encode(char *buf, const char *path);

/* Reads a CONNECT; *path points into buf.  0, or -1 if malformed. */
int sandbox_connect_decode(const char *buf, size_t len, const char **path);

/* LISTEN: a TCP port, 1 to 65535. */
void sandbox_listen_encode(char buf[SANDBOX_LISTEN_LEN], unsigned port);
int sandbox_listen_decode(const char *buf, size_t len, unsigned *port);

/* CONNECTED: err 0 (the socket travels beside it) or an errno. */
void sandbox_connected_encode(char buf[SANDBOX_CONNECTED_LEN], int err);
int sandbox_connected_decode(const char *buf, size_t len, int *err);

#endif
