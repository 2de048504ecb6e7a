/*
 * A function's stderr in the executor's log: one "function stderr" line
 * (user_log=true) per line it writes, with the call's id, app, path and
 * sandbox, up to a byte budget per call.  Used by cold calls (call.c) and
 * hot instances (hot.c).
 */
#ifndef EXECUTOR_USER_LOG_H
#define EXECUTOR_USER_LOG_H

#include <stddef.h>
#include <stdint.h>

struct user_log {
    const char *call_id;        /* NULL: between calls (hot) */
    const char *app, *path;
    const char *sandbox;
    uint64_t max;               /* bytes per call */
    uint64_t logged;            /* so far in this call */
    size_t len;                 /* of the partial line */
    char line[1024];            /* longer lines are cut in pieces */
};

/*
 * Takes what fits in the budget of data and logs its complete lines.
 * Returns how many bytes were taken; fewer than n: the budget is spent.
 */
size_t user_log_write(struct user_log *u, const char *data, size_t n);

/* Logs the partial line, if any. */
void user_log_flush(struct user_log *u);

/* The next call (call_id NULL: none): what is left of the last is
 * logged, and the budget starts again. */
void user_log_start(struct user_log *u, const char *call_id);

/*
 * Appends n bytes of a call's stderr to the growing buffer *buf (*len
 * used of *cap), kept for GET /calls/<id>/log; if memory runs out, the
 * bytes are not kept (they are still logged).
 */
void user_log_keep(char **buf, size_t *len, size_t *cap, const char *data,
                   size_t n);

#endif
