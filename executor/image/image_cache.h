/*
 * Images already resolved, kept in memory for a short time so that calls
 * in a row skip the image store (file reads on the thread pool).  An entry
 * is trusted for IMAGE_CACHE_TTL_MS: a tag moved to another image is seen
 * within that time.  Used on the event loop only.
 */
#ifndef EXECUTOR_IMAGE_CACHE_H
#define EXECUTOR_IMAGE_CACHE_H

#include "image_store.h"

#include <stdint.h>

#define IMAGE_CACHE_TTL_MS 1000
#define IMAGE_CACHE_MAX 256

struct image_cache_entry;

struct image_cache {
    struct image_cache_entry *head;     /* most recently stored first */
    unsigned n;
};

/* Copies the image named name into out, its tree held, if a fresh entry
 * has it and its tree is in place: 1; else 0 (-1: out of memory).  out is
 * freed with image_free(). */
int image_cache_get(struct image_cache *c, const char *name, uint64_t now,
                    struct image *out);

/* Keeps a copy of img under name until now + IMAGE_CACHE_TTL_MS. */
void image_cache_put(struct image_cache *c, const char *name, uint64_t now,
                     const struct image *img);

void image_cache_clear(struct image_cache *c);

#endif
