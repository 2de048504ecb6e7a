/*
 * libFuzzer harness: the executor's configuration parser and validation.
 * A refusal always says why: a parse error names a line of the input, a
 * validation error is not empty.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void broken(const char *what, const char *err)
{
    fprintf(stderr, "config_fuzz: %s: \"%s\"\n", what, err);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct config cfg;
    char err[CONFIG_ERR_MAX], *end;
    unsigned long line;
    size_t lines = 1, i;

    config_defaults(&cfg);
    err[0] = '\0';
    if (config_parse(&cfg, (const char *)data, size, err, sizeof(err)) < 0) {
        for (i = 0; i < size; i++)
            lines += data[i] == '\n';
        if (strncmp(err, "line ", 5) != 0)
            broken("a parse error names no line", err);
        line = strtoul(err + 5, &end, 10);
        if (end == err + 5 || *end != ':' || line < 1 || line > lines)
            broken("a parse error names a line the input does not have",
                   err);
        return 0;
    }
    err[0] = '\0';
    if (config_validate(&cfg, err, sizeof(err)) < 0 && err[0] == '\0')
        broken("a validation error says nothing", err);
    return 0;
}
