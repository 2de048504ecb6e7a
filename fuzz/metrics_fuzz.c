/*
 * libFuzzer harness: the executor's metrics with arbitrary app and path
 * names (the input split at its first NUL) and numbers.  Checks that the
 * Prometheus text stays one sample per line, every label value closed,
 * and that the log lines stay "metric=<name> value=..." lines.
 */
#include "metrics.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A sample line: name, optional {labels} with quoted values, a value. */
static int sample_ok(const char *s, size_t n)
{
    size_t i = 0;
    int quoted = 0;

    while (i < n && s[i] != '{' && s[i] != ' ')
        i++;
    if (i < n && s[i] == '{') {
        for (i++; i < n; i++) {
            if (quoted && s[i] == '\\') {
                i++;
                continue;
            }
            if (s[i] == '"')
                quoted = !quoted;
            else if (!quoted && s[i] == '}')
                break;
        }
        if (i == n || quoted)
            return 0;
        i++;
    }
    return i < n && s[i] == ' ';
}

static void check(const char *text, size_t len, int prometheus)
{
    const char *p = text, *end = text + len, *nl;

    while (p < end) {
        nl = memchr(p, '\n', (size_t)(end - p));
        if (nl == NULL)
            __builtin_trap();       /* every line ends */
        if (prometheus) {
            if (*p != '#' && !sample_ok(p, (size_t)(nl - p)))
                __builtin_trap();
        } else if (strncmp(p, "P metric=", 9) != 0) {
            __builtin_trap();
        }
        p = nl + 1;
    }
}

static void render(int prometheus)
{
    struct metrics_gauges g = { 0 };
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);

    if (out == NULL)
        return;
    if (prometheus)
        metrics_render_prometheus(out, &g);
    else
        metrics_render_log(out, "P", &g);
    fclose(out);
    check(text, len, prometheus);
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    char *app, *path;
    const uint8_t *nul = memchr(data, 0, size);
    size_t alen = nul ? (size_t)(nul - data) : size;

    if (!ready) {
        if (metrics_init(8) < 0)
            return 0;
        ready = 1;
    }
    app = strndup((const char *)data, alen);
    path = strndup(nul ? (const char *)nul + 1 : "", nul ? size - alen - 1
                                                         : 0);
    if (app == NULL || path == NULL) {
        free(app);
        free(path);
        return 0;
    }
    /* the log lines name apps: the executor only sees valid ones, but
     * nothing here may break on others */
    metrics_call(app, path, size % 2 ? METRICS_ASYNC : METRICS_SYNC,
                 (enum metrics_outcome)(size % METRICS_OUTCOMES),
                 size > 3 ? (int64_t)data[0] * 100 : -1,
                 size > 4 ? (int64_t)data[1] * 1000 : -1);
    render(1);
    render(0);
    free(app);
    free(path);
    return 0;
}
