/*
 * The HTTP/1.1 request a hot (http format) function reads on its stdin
 * for each call, and the client's headers it (or a json one) sees.  Pure.
 */
#ifndef EXECUTOR_HOT_REQUEST_H
#define EXECUTOR_HOT_REQUEST_H

#include "sandbox_args.h"

#include <stddef.h>

/*
 * The request line and headers, ending with the empty line: the client's
 * method and path (with query) from request_url, its headers but the
 * hop-by-hop ones, Host, Content-Length body_len, and Fn-Call-Id,
 * Fn-Request-Url, Fn-Method, Fn-Deadline, Fn-App-Name, Fn-Path.  Returns
 * a heap string (length in *len), or NULL if memory runs out.
 */
char *hot_request_head(const struct call_info *ci, size_t body_len,
                       size_t *len);

/* Whether a client's header goes on to the function: not one of a
 * connection's own, not the platform's (Fn-*), one line. */
int hot_request_header_passes(const char *name, const char *value);

#endif
