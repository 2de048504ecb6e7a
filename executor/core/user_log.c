/*
 * A function's stderr in the executor's log.
 */
#include "user_log.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>

void user_log_flush(struct user_log *u)
{
    struct log_record r;

    if (u->len == 0)
        return;
    if (log_begin(&r, LOG_LEVEL_INFO, "function stderr")) {
        if (u->call_id != NULL)
            log_str(&r, "call_id", u->call_id);
        log_str(&r, "app", u->app);
        log_str(&r, "path", u->path);
        if (u->sandbox != NULL)
            log_str(&r, "sandbox", u->sandbox);
        log_str(&r, "user_log", "true");
        logfmt_add(&r.buf, "line", u->line, u->len);
        log_end(&r);
    }
    u->len = 0;
}

size_t user_log_write(struct user_log *u, const char *data, size_t n)
{
    size_t keep = n, i;

    if (u->logged >= u->max)
        keep = 0;
    else if (keep > u->max - u->logged)
        keep = (size_t)(u->max - u->logged);
    u->logged += keep;
    for (i = 0; i < keep; i++) {
        if (data[i] == '\n' || u->len == sizeof(u->line)) {
            user_log_flush(u);
            if (data[i] == '\n')
                continue;
        }
        u->line[u->len++] = data[i];
    }
    return keep;
}

void user_log_start(struct user_log *u, const char *call_id)
{
    user_log_flush(u);
    u->call_id = call_id;
    u->logged = 0;
}

void user_log_keep(char **buf, size_t *len, size_t *cap, const char *data,
                   size_t n)
{
    size_t want = *cap;
    char *p;

    if (n == 0)
        return;
    if (*len + n > want) {
        want = want ? want : 4096;
        while (want < *len + n)
            want *= 2;
        p = realloc(*buf, want);
        if (p == NULL)
            return;
        *buf = p;
        *cap = want;
    }
    memcpy(*buf + *len, data, n);
    *len += n;
}
