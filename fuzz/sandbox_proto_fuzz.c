/*
 * libFuzzer harness: the messages a sandbox's init and the executor read
 * from each other.
 */
#include "sandbox_proto.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sandbox_run run;
    int32_t status;
    char *copy;
    size_t i;
    int clean;

    sandbox_done_decode((const char *)data, size, &status, &clean);
    if (size > SANDBOX_MSG_MAX)
        return 0;
    copy = malloc(size ? size : 1);
    if (copy == NULL)
        return 0;
    memcpy(copy, data, size);
    if (sandbox_run_decode(copy, size, &run) == 0) {
        /* every string is terminated inside the message */
        if (run.cwd[0] != '/' || run.argv[0] == NULL)
            __builtin_trap();
        for (i = 0; run.argv[i] != NULL; i++)
            (void)strlen(run.argv[i]);
        for (i = 0; run.env[i] != NULL; i++)
            (void)strlen(run.env[i]);
        sandbox_run_free(&run);
    }
    free(copy);
    return 0;
}
