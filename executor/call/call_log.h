/*
 * Per-call function logs: what a call wrote on stderr (up to
 * log_max_per_call bytes) is kept in state_dir/logs/<call_id> for
 * log_retention, and served by GET /calls/<call_id>/log.  File work runs
 * on libuv's thread pool.
 */
#ifndef EXECUTOR_CALL_LOG_H
#define EXECUTOR_CALL_LOG_H

#include "http_conn.h"

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define CALL_LOG_DIR "logs"     /* relative to state_dir */

/* Stores a call's log; takes buf (malloc'd, may be NULL when len is 0). */
void call_log_save(uv_loop_t *loop, const char *call_id, char *buf,
                   size_t len);

/* Answers GET /calls/<id>/log on c; id is what follows "/calls/". */
void call_log_serve(uv_loop_t *loop, struct http_conn *c, const char *id);

/*
 * Removes logs older than retention_ms now and every minute after, on
 * the given timer (initialised here); and, when the logs take more than
 * max_bytes (0: no cap), the oldest, at once.  Both are read at each
 * sweep (a reload changes them).
 */
void call_log_sweep_start(uv_loop_t *loop, uv_timer_t *timer,
                          const uint64_t *retention_ms,
                          const uint64_t *max_bytes);

#endif
