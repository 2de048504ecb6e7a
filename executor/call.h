/*
 * One call of a function with the default format: a fresh sandboxed
 * process, the request body on its stdin, the response body from its
 * stdout, its stderr logged.
 */
#ifndef EXECUTOR_CALL_H
#define EXECUTOR_CALL_H

#include "http_conn.h"
#include "server.h"

/* Serves POST /call on c; answers when the call is over. */
void call_start(struct server *s, struct http_conn *c);

/*
 * Stops every call of s (shutdown after the drain deadline): running
 * sandboxes are killed, calls not started yet are not started.  Each call
 * still answers (503) and cleans up through its normal path.  Returns how
 * many calls there were.
 */
size_t call_stop_all(struct server *s);

#endif
