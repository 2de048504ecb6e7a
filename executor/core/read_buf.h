/*
 * One buffer for every read of the executor's streams.  The event loop
 * runs one read callback at a time and each consumes (or copies) what it
 * was given before returning, so a read needs no allocation of its own.
 * Callbacks that use it must not free buf->base.
 */
#ifndef EXECUTOR_READ_BUF_H
#define EXECUTOR_READ_BUF_H

#include <uv.h>

void read_buf_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);

#endif
