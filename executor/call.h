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

#endif
