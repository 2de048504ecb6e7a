/*
 * The store of pulled images, under the state directory (REGISTRY_LAYOUT):
 * blobs/sha256, as in an OCI layout, holds the manifests, configs and
 * layers fetched from registries, and REGISTRY_KEPT/<hex of the manifest
 * digest> (empty files) lists the images it keeps.  (No index.json: not a
 * layout other tools read.)
 *
 * A blob stays while a kept manifest, or a pinned one, names it.  A call
 * that resolved an image pins its manifest until its tree is unpacked or
 * found unpacked, so that no removal takes the blobs from under it.  An
 * image is forgotten when its unpacked tree is removed (image_trees.c:
 * the store's size cap) or its unpack failed; the blobs no other kept or
 * pinned manifest names are then removed: at once if no pull runs, else
 * when the last pull ends (the blobs of a pull under way are named by no
 * stored manifest until it ends).
 *
 * Everything here blocks (file I/O): on libuv's thread pool, or at start.
 */
#ifndef EXECUTOR_REGISTRY_STORE_H
#define EXECUTOR_REGISTRY_STORE_H

#include "oci.h"

#include <stddef.h>
#include <stdint.h>

#define REGISTRY_LAYOUT "registry"          /* relative to state_dir */
#define REGISTRY_KEPT REGISTRY_LAYOUT "/kept"
#define REGISTRY_TEMP ".tmp-"               /* downloads under way */

/*
 * At start, before any pull or unpack (working directory: the state
 * directory): makes the directories, removes downloads an earlier run
 * left half done, forgets kept images whose unpacked tree is not there,
 * and removes the blobs no kept manifest names.  Returns how many files
 * it removed, or -1 (errno) if the directories cannot be made.
 */
int registry_store_init(void);

/* "sha256:<hex>" of data. */
void registry_store_sha256(const void *data, size_t len,
                           char out[OCI_DIGEST_MAX]);

/* The path of digest's blob, relative to the state directory. */
void registry_store_blob_path(char *out, size_t size, const char *digest);

/* Whether d's blob is here, of d's size. */
int registry_store_has(const struct oci_descriptor *d);

/* Stores data as the blob of digest (the caller checked it).  0, or -1. */
int registry_store_put(const char *digest, const char *data, size_t len);

/* A pull writes blobs between these: the removals wait for its end.  A
 * pull that failed may have left blobs no manifest names: they go. */
void registry_store_pull_begin(void);
void registry_store_pull_end(int failed);

/*
 * The kept image of manifest digest, if its manifest (at most max bytes,
 * checked against its digest) and all its blobs are here: pinned, and
 * described in *d.  0, or -1 (nothing pinned).
 */
int registry_store_acquire(const char *digest, size_t max,
                           struct oci_descriptor *d);

/* A pull stored manifest d, its blobs all here: kept, and pinned.  0, or
 * -1 (errno). */
int registry_store_keep(const struct oci_descriptor *d);

/* Unpins what acquire() or keep() pinned. */
void registry_store_release(const char *digest);

/* The image of manifest digest is no longer kept (unless pinned). */
void registry_store_forget(const char *digest);

/* What the kept image's blobs take (manifest, config, layers), or 0. */
uint64_t registry_store_bytes(const char *digest);

#endif
