/*
 * libFuzzer harness: the messages a sandbox's init and the executor read
 * from each other.  A message that decodes must encode back to the same
 * bytes: the decoder takes nothing the encoder would not write, and
 * loses nothing of what it reads.
 */
#include "sandbox_proto.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void broken(const char *what)
{
    fprintf(stderr, "sandbox_proto_fuzz: %s\n", what);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char again[SANDBOX_MSG_MAX];
    char done[SANDBOX_DONE_LEN], con[SANDBOX_CONNECT_MAX];
    char lis[SANDBOX_LISTEN_LEN];
    unsigned port;
    const char *path;
    int err;
    struct sandbox_run run;
    int32_t status;
    char *copy;
    size_t i, n;
    int clean;

    if (sandbox_done_decode((const char *)data, size, &status, &clean) == 0) {
        sandbox_done_encode(done, status, clean);
        if (memcmp(done, data, sizeof(done)) != 0)
            broken("a DONE message does not encode back to its bytes");
    }
    if (sandbox_connect_decode((const char *)data, size, &path) == 0) {
        if (sandbox_connect_encode(con, path) != size
            || memcmp(con, data, size) != 0)
            broken("a CONNECT message does not encode back to its bytes");
    }
    if (sandbox_listen_decode((const char *)data, size, &port) == 0) {
        if (port == 0 || port > 65535)
            broken("a LISTEN message with a port out of range");
        sandbox_listen_encode(lis, port);
        if (memcmp(lis, data, SANDBOX_LISTEN_LEN) != 0)
            broken("a LISTEN message does not encode back to its bytes");
    }
    if (sandbox_connected_decode((const char *)data, size, &err) == 0) {
        sandbox_connected_encode(con, err);
        if (memcmp(con, data, SANDBOX_CONNECTED_LEN) != 0)
            broken("a CONNECTED message does not encode back to its bytes");
    }
    if (size > SANDBOX_MSG_MAX)
        return 0;
    copy = malloc(size ? size : 1);
    if (copy == NULL)
        return 0;
    memcpy(copy, data, size);
    if (sandbox_run_decode(copy, size, &run) == 0) {
        /* every string is terminated inside the message */
        if (run.cwd[0] != '/' || run.argv[0] == NULL)
            broken("a RUN message decodes without cwd or argv");
        for (i = 0; run.argv[i] != NULL; i++)
            (void)strlen(run.argv[i]);
        for (i = 0; run.env[i] != NULL; i++)
            (void)strlen(run.env[i]);
        n = sandbox_run_encode(again, sizeof(again), run.cwd, run.argv,
                               run.env);
        if (n != size || memcmp(again, data, size) != 0)
            broken("a RUN message does not encode back to its bytes");
        sandbox_run_free(&run);
    }
    free(copy);
    return 0;
}
