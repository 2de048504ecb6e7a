/*
 * POST /images: an operator pulls and unpacks an image before its first
 * call (docs/protocol.md).  The work runs on libuv's thread pool, as a
 * call's image does.
 */
#ifndef EXECUTOR_PREPULL_H
#define EXECUTOR_PREPULL_H

#include "config.h"
#include "http_conn.h"

#include <uv.h>

/* Serves POST /images on c: {"image":"<reference>"} in its body. */
void prepull_start(uv_loop_t *loop, const struct config *cfg,
                   struct http_conn *c);

#endif
