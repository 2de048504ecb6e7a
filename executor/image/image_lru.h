/*
 * The table of the image store's unpacked trees, one per manifest digest,
 * in order of use: which trees exist, which is being unpacked, who holds
 * them, and which to remove when the store is over its size.  Pure: the
 * caller locks and does the I/O (image_trees.c).
 */
#ifndef EXECUTOR_IMAGE_LRU_H
#define EXECUTOR_IMAGE_LRU_H

#include "oci.h"

#include <stddef.h>
#include <stdint.h>

enum image_tree_state {
    IMAGE_TREE_UNPACKING,   /* one thread unpacks it, others wait */
    IMAGE_TREE_READY,       /* in place under rootfs/ */
    IMAGE_TREE_FAILED,      /* the unpack failed: kept for its waiters */
};

struct image_tree {
    struct image_tree *prev, *next;     /* least recently used first */
    char digest[OCI_DIGEST_MAX];
    enum image_tree_state state;
    uint64_t bytes;                     /* on disk, once ready */
    unsigned refs;                      /* calls holding it */
    unsigned waiters;                   /* threads waiting for its unpack */
    int error;                          /* failed: an enum image_error */
    char message[512];                  /* and its message */
};

struct image_lru {
    struct image_tree *head, *tail;
    size_t n;                           /* trees ready */
    uint64_t bytes;                     /* their bytes */
};

struct image_tree *image_lru_find(struct image_lru *l, const char *digest);

/* A new tree being unpacked, the most recently used.  NULL: no memory. */
struct image_tree *image_lru_add(struct image_lru *l, const char *digest);

/* The unpack is done: the tree counts in the store's size. */
void image_lru_ready(struct image_lru *l, struct image_tree *t,
                     uint64_t bytes);

/* The tree was used now: it becomes the most recently used. */
void image_lru_touch(struct image_lru *l, struct image_tree *t);

/* Forgets t (and frees it). */
void image_lru_remove(struct image_lru *l, struct image_tree *t);

/*
 * While the ready trees take more than max_bytes: the least recently used
 * one that no call holds, no thread waits for, and in_use(arg, digest)
 * does not claim; or NULL.
 * The caller removes it and asks again.
 */
struct image_tree *image_lru_victim(struct image_lru *l, uint64_t max_bytes,
                                    int (*in_use)(void *arg,
                                                  const char *digest),
                                    void *arg);

void image_lru_clear(struct image_lru *l);

/*
 * Whether a sandbox pool key ("<app>\n<path>\n<digest>\n...", as
 * sandbox_key() and the hot pools make them) names digest.
 */
int image_lru_key_names(const char *key, const char *digest);

#endif
