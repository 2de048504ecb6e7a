/*
 * Strings built piece by piece, and small arrays, in blocks freed all at
 * once: a parsed head costs an allocation or none, not two per header.
 *
 * A string grows in place while it is the newest thing in the newest
 * block; one that no longer fits there moves whole to a new block.  Only
 * the string being built ever moves: pointers to everything else stay
 * good until arena_reset() or arena_free().
 * Pure.
 */
#ifndef EXECUTOR_ARENA_H
#define EXECUTOR_ARENA_H

#include <stddef.h>

struct arena_block;

struct arena {
    struct arena_block *head;       /* the newest block */
    size_t first;                   /* bytes of a block at least (under
                                     * 64: a size that malloc serves from
                                     * its per-thread cache) */
};

/* An empty arena; nothing is allocated until something is put in it. */
void arena_init(struct arena *a, size_t first);

/*
 * Appends n bytes of src to the NUL-terminated string *s, of length *len
 * (*s NULL and *len 0: a new string).  *s may move.  0, or -1 when out of
 * memory (*s and *len are then as they were).
 */
int arena_append(struct arena *a, char **s, size_t *len, const char *src,
                 size_t n);

/* n bytes, aligned for any type; NULL when out of memory. */
void *arena_alloc(struct arena *a, size_t n);

/* Forgets everything put in a; keeps its oldest block if it is of the
 * usual size, for what comes next. */
void arena_reset(struct arena *a);

void arena_free(struct arena *a);

#endif
