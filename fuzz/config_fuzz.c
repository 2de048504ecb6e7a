/*
 * libFuzzer harness: the executor's configuration parser and validation.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct config cfg;
    char err[CONFIG_ERR_MAX];

    config_defaults(&cfg);
    if (config_parse(&cfg, (const char *)data, size, err, sizeof(err)) == 0)
        config_validate(&cfg, err, sizeof(err));
    return 0;
}
