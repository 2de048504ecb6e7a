/*
 * The image store's unpacked trees (rootfs/<hex>): one unpack per digest
 * however many calls ask at once, a hold on a tree by every call that
 * uses it, and the store kept under image_store_max_bytes by removing the
 * least recently used trees nothing uses.
 *
 * A tree is in use while a call holds it (from image_prepare() or a hit
 * of the image cache, to image_free()) and while any sandbox made from it
 * exists: running or idle cold sandboxes, hot instances, sandboxes still
 * closing (their pool keys name the image's digest).  Removal renames the
 * tree away at once and deletes it on libuv's thread pool.
 *
 * image_trees_claim() and image_trees_unpacked() run on the thread pool
 * (inside image_prepare()); everything else on the event loop.  One mutex
 * guards the table; waiters for an unpack sleep on a condition variable.
 */
#ifndef EXECUTOR_IMAGE_TREES_H
#define EXECUTOR_IMAGE_TREES_H

#include "config.h"
#include "image_store.h"
#include "unpack_limits.h"

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct sandbox_pool;

/* Takes the limits and the store's size from cfg (at start, on reload). */
void image_trees_configure(const struct config *cfg);

/* The limits an unpack starting now must keep. */
void image_trees_limits(struct unpack_limits *out);

/*
 * At start, before any unpack (working directory: the state directory):
 * registers the trees found under rootfs/, oldest first.  Returns how
 * many, their bytes in *bytes.
 */
unsigned image_trees_load(uint64_t *bytes);

/*
 * On the event loop, once the server runs: removals may start; a tree
 * that a sandbox of pool was made from is kept.
 */
void image_trees_start(uv_loop_t *loop, const struct sandbox_pool *pool);

/* Forgets the table (after the loop ended). */
void image_trees_free(void);

/*
 * For image_prepare(): the tree of digest, held for the caller (IMAGE_OK,
 * *unpack 0), or the caller's to unpack (IMAGE_OK, *unpack 1: it must call
 * image_trees_unpacked() whatever happens), or the error of the unpack
 * this call waited for.  Waits while another thread unpacks it.
 */
enum image_error image_trees_claim(const char *digest, int *unpack,
                                   char *err, size_t errlen);

/*
 * The unpack claimed is over: rc IMAGE_OK (the tree is in place, bytes on
 * disk, and held for the caller) or an error with its message, which the
 * calls waiting for it get too.
 */
void image_trees_unpacked(const char *digest, enum image_error rc,
                          const char *err, uint64_t bytes);

/* A hold on a tree in place (an image cache hit): 0, or -1 if it is not. */
int image_trees_hold(const char *digest);

/* A call is done with its tree. */
void image_trees_release(const char *digest);

#endif
