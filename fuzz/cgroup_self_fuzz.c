/*
 * libFuzzer harness: a process's own cgroup from /proc/<pid>/cgroup
 * (executor/sandbox/cgroup_self.c).  A path it finds is absolute, has no
 * empty, "." or ".." part, fits, and is the end of a line of the input.
 */
#include "cgroup_self.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void broken(const char *what, const char *path)
{
    fprintf(stderr, "cgroup_self_fuzz: %s: \"%s\"\n", what, path);
    abort();
}

static void check(const char *text, const char *controller)
{
    char out[64], line[80];
    size_t n;

    if (cgroup_self_path(text, controller, out, sizeof(out)) != 0)
        return;
    n = strlen(out);
    if (out[0] != '/' || n >= sizeof(out))
        broken("not absolute", out);
    if (n > 1 && (out[n - 1] == '/' || strstr(out, "//") != NULL
                  || strstr(out, "/./") != NULL || strstr(out, "/../") != NULL
                  || (n >= 2 && strcmp(out + n - 2, "/.") == 0)
                  || (n >= 3 && strcmp(out + n - 3, "/..") == 0)))
        broken("an empty, . or .. part", out);
    snprintf(line, sizeof(line), ":%s", out);
    if (strstr(text, line) == NULL)
        broken("not from the input", out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text;

    if (size > 4096)
        return 0;
    text = malloc(size + 1);
    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    check(text, NULL);
    check(text, "memory");
    check(text, "cpu");
    free(text);
    return 0;
}
