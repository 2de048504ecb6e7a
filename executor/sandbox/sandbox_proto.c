/*
 * Executor <-> sandbox init messages.
 *
 * RUN:  'X', argc and envc (4 bytes each, little endian), then cwd,
 *       argc arguments and envc variables, each NUL-terminated.
 * DONE: 'D', the wait status (4 bytes), the clean flag (4 bytes).
 * CONNECT: 'C', an absolute path, its NUL.
 * CONNECTED: 'K', an errno (4 bytes; 0: connected).
 * LISTEN: 'L', a TCP port (2 bytes, big endian, not 0).
 */
#include "sandbox_proto.h"

#include <stdlib.h>
#include <string.h>

static void put32(char *p, uint32_t v)
{
    p[0] = (char)(v & 0xff);
    p[1] = (char)((v >> 8) & 0xff);
    p[2] = (char)((v >> 16) & 0xff);
    p[3] = (char)((v >> 24) & 0xff);
}

static uint32_t get32(const char *p)
{
    const unsigned char *u = (const unsigned char *)p;

    return (uint32_t)u[0] | (uint32_t)u[1] << 8 | (uint32_t)u[2] << 16
           | (uint32_t)u[3] << 24;
}

static size_t count(char *const *v)
{
    size_t n = 0;

    while (v != NULL && v[n] != NULL)
        n++;
    return n;
}

/* Appends s with its NUL; 0 when it does not fit. */
static int put_str(char *buf, size_t size, size_t *off, const char *s)
{
    size_t len = strlen(s) + 1;

    if (len > size - *off)
        return 0;
    memcpy(buf + *off, s, len);
    *off += len;
    return 1;
}

size_t sandbox_run_encode(char *buf, size_t size, const char *cwd,
                          char *const *argv, char *const *env)
{
    size_t argc = count(argv), envc = count(env), off = 9, i;

    if (argc == 0 || argc > SANDBOX_ARGS_MAX || envc > SANDBOX_ENV_MAX
        || size < off)
        return 0;
    buf[0] = SANDBOX_RUN;
    put32(buf + 1, (uint32_t)argc);
    put32(buf + 5, (uint32_t)envc);
    if (!put_str(buf, size, &off, cwd))
        return 0;
    for (i = 0; i < argc; i++) {
        if (!put_str(buf, size, &off, argv[i]))
            return 0;
    }
    for (i = 0; i < envc; i++) {
        if (!put_str(buf, size, &off, env[i]))
            return 0;
    }
    return off;
}

/* The next string at *off, or NULL if no NUL ends it within len. */
static char *get_str(char *buf, size_t len, size_t *off)
{
    char *s = buf + *off, *nul;

    if (*off >= len)
        return NULL;
    nul = memchr(s, '\0', len - *off);
    if (nul == NULL)
        return NULL;
    *off += (size_t)(nul - s) + 1;
    return s;
}

int sandbox_run_decode(char *buf, size_t len, struct sandbox_run *run)
{
    uint32_t argc, envc, i;
    size_t off = 9;

    memset(run, 0, sizeof(*run));
    if (len < off || buf[0] != SANDBOX_RUN)
        return -1;
    argc = get32(buf + 1);
    envc = get32(buf + 5);
    if (argc == 0 || argc > SANDBOX_ARGS_MAX || envc > SANDBOX_ENV_MAX
        || argc + envc > len)       /* each string takes a byte at least */
        return -1;
    run->cwd = get_str(buf, len, &off);
    if (run->cwd == NULL || run->cwd[0] != '/')
        return -1;
    run->argv = calloc(argc + 1, sizeof(char *));
    run->env = calloc(envc + 1, sizeof(char *));
    if (run->argv == NULL || run->env == NULL)
        goto fail;
    for (i = 0; i < argc; i++) {
        if ((run->argv[i] = get_str(buf, len, &off)) == NULL)
            goto fail;
    }
    for (i = 0; i < envc; i++) {
        if ((run->env[i] = get_str(buf, len, &off)) == NULL)
            goto fail;
    }
    if (off != len || run->argv[0][0] == '\0')
        goto fail;
    return 0;
fail:
    sandbox_run_free(run);
    return -1;
}

void sandbox_run_free(struct sandbox_run *run)
{
    free(run->argv);
    free(run->env);
    memset(run, 0, sizeof(*run));
}

void sandbox_done_encode(char buf[SANDBOX_DONE_LEN], int32_t wait_status,
                         int clean)
{
    buf[0] = SANDBOX_DONE;
    put32(buf + 1, (uint32_t)wait_status);
    put32(buf + 5, clean ? 1 : 0);
}

int sandbox_done_decode(const char *buf, size_t len, int32_t *wait_status,
                        int *clean)
{
    uint32_t c;

    if (len != SANDBOX_DONE_LEN || buf[0] != SANDBOX_DONE)
        return -1;
    *wait_status = (int32_t)get32(buf + 1);
    c = get32(buf + 5);
    if (c > 1)
        return -1;
    *clean = (int)c;
    return 0;
}

size_t sandbox_connect_encode(char *buf, const char *path)
{
    size_t len = strlen(path);

    if (path[0] != '/' || len > SANDBOX_SOCKET_PATH_MAX)
        return 0;
    buf[0] = SANDBOX_CONNECT;
    memcpy(buf + 1, path, len + 1);
    return len + 2;
}

int sandbox_connect_decode(const char *buf, size_t len, const char **path)
{
    if (len < 3 || len > SANDBOX_CONNECT_MAX || buf[0] != SANDBOX_CONNECT
        || buf[1] != '/' || memchr(buf + 1, '\0', len - 1) != buf + len - 1)
        return -1;
    *path = buf + 1;
    return 0;
}

void sandbox_listen_encode(char buf[SANDBOX_LISTEN_LEN], unsigned port)
{
    buf[0] = SANDBOX_LISTEN;
    buf[1] = (char)((port >> 8) & 0xff);
    buf[2] = (char)(port & 0xff);
}

int sandbox_listen_decode(const char *buf, size_t len, unsigned *port)
{
    unsigned p;

    if (len != SANDBOX_LISTEN_LEN || buf[0] != SANDBOX_LISTEN)
        return -1;
    p = ((unsigned)(unsigned char)buf[1] << 8) | (unsigned char)buf[2];
    if (p == 0)
        return -1;
    *port = p;
    return 0;
}

void sandbox_connected_encode(char buf[SANDBOX_CONNECTED_LEN], int err)
{
    buf[0] = SANDBOX_CONNECTED;
    put32(buf + 1, (uint32_t)err);
}

int sandbox_connected_decode(const char *buf, size_t len, int *err)
{
    uint32_t e;

    if (len != SANDBOX_CONNECTED_LEN || buf[0] != SANDBOX_CONNECTED)
        return -1;
    e = get32(buf + 1);
    if (e > 4095)               /* an errno, or 0 */
        return -1;
    *err = (int)e;
    return 0;
}
