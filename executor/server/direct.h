/*
 * Direct dispatch: nginx's workers lease hot instances of http-format
 * routes and write their calls to them themselves; the executor keeps
 * their lifecycle (start, limits, capacity, stop) but leaves the data
 * path.  direct_listen is a SOCK_SEQPACKET Unix socket with the main
 * socket's listen_mode and listen_group; each worker holds one connection.
 *
 * One message a packet, text (docs/protocol.md):
 *
 *   from nginx     "lease\n" and a call's head as on POST /call, with no
 *                  body: its Fn-Call-Id names the lease, its Fn-Route the
 *                  route (format http)
 *                  "free <id>"           the instance back, between calls
 *                  "kill <id> <reason>"  stop it: a call went wrong on it
 *   from executor  "grant <id> <sandbox> <max_response_body>"  with the
 *                  instance's socket (SCM_RIGHTS)
 *                  "deny <id> <status> <JSON error body>"
 *                  "revoke <id>"         give it back after its call
 *                  "gone <id>"           it ended; its socket is dead
 *
 * A worker that goes away takes its instances with it (they are killed:
 * a call may have been under way); one whose messages cannot be sent or
 * read is dropped the same way.
 */
#ifndef EXECUTOR_DIRECT_H
#define EXECUTOR_DIRECT_H

#include "call.h"
#include "config.h"

#include <uv.h>

#define DIRECT_MSG_MAX 65536

struct direct;

/* Listens on cfg->direct_listen.  0 (*d set), or -1 with err. */
int direct_start(struct direct **d, uv_loop_t *loop, struct calls *calls,
                 const struct config *cfg, char *err, size_t errlen);

/* No new workers (drain): those connected keep their leases until they
 * give them back. */
void direct_stop_listening(struct direct *d);

/* Instances granted to workers and not given back yet; cb runs when that
 * comes back to 0 (a drain waits for it). */
size_t direct_held(const struct direct *d);
void direct_on_empty(struct direct *d, void (*cb)(void *arg), void *arg);

/* Drops every worker (its instances are killed). */
void direct_close_all(struct direct *d);

#endif
