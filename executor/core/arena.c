/*
 * Strings and small arrays in blocks freed together.
 */
#include "arena.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct arena_block {
    struct arena_block *prev;
    size_t size;                    /* bytes of data */
    size_t used;
    char data[];
};

/* a block of this much and its header come to 1024 bytes, which malloc
 * serves from its per-thread cache */
#define ARENA_DEFAULT (1024 - offsetof(struct arena_block, data))
#define ARENA_ALIGN _Alignof(max_align_t)

void arena_init(struct arena *a, size_t first)
{
    a->head = NULL;
    a->first = first;
}

static size_t usual_size(const struct arena *a)
{
    return a->first >= 64 ? a->first : ARENA_DEFAULT;
}

/* Bytes to skip at p for the alignment align (a power of two). */
static size_t padding(const char *p, size_t align)
{
    return (size_t)(-(uintptr_t)p) & (align - 1);
}

/* n bytes at the alignment align, in the newest block or a new one. */
static char *take(struct arena *a, size_t n, size_t align)
{
    struct arena_block *b = a->head;
    size_t pad, size;

    if (b != NULL) {
        pad = padding(b->data + b->used, align);
        if (pad <= b->size - b->used && n <= b->size - b->used - pad) {
            b->used += pad + n;
            return b->data + b->used - n;
        }
    }
    size = usual_size(a);
    if (n > size - align) {
        /* room to grow: a string moved here is likely to grow on */
        if (n > (SIZE_MAX - sizeof(*b)) / 2 - align)
            return NULL;
        size = 2 * n + align;
    }
    b = malloc(sizeof(*b) + size);
    if (b == NULL)
        return NULL;
    b->prev = a->head;
    b->size = size;
    pad = padding(b->data, align);
    b->used = pad + n;
    a->head = b;
    return b->data + pad;
}

int arena_append(struct arena *a, char **s, size_t *len, const char *src,
                 size_t n)
{
    struct arena_block *b = a->head;
    char *p;

    if (*s == NULL)
        *len = 0;
    if (n > SIZE_MAX / 4 || *len > SIZE_MAX / 4)
        return -1;
    /* the newest string of the newest block grows where it is */
    if (*s != NULL && b != NULL && *s + *len + 1 == b->data + b->used
        && n <= b->size - b->used) {
        if (n > 0)
            memcpy(*s + *len, src, n);
        b->used += n;
        *len += n;
        (*s)[*len] = '\0';
        return 0;
    }
    p = take(a, *len + n + 1, 1);
    if (p == NULL)
        return -1;
    if (*len > 0)
        memcpy(p, *s, *len);
    if (n > 0)
        memcpy(p + *len, src, n);
    *len += n;
    p[*len] = '\0';
    *s = p;
    return 0;
}

void *arena_alloc(struct arena *a, size_t n)
{
    return take(a, n > 0 ? n : 1, ARENA_ALIGN);
}

void arena_reset(struct arena *a)
{
    struct arena_block *b = a->head, *prev;

    while (b != NULL && b->prev != NULL) {
        prev = b->prev;
        free(b);
        b = prev;
    }
    if (b != NULL && b->size > usual_size(a)) {
        free(b);
        b = NULL;
    }
    if (b != NULL)
        b->used = 0;
    a->head = b;
}

void arena_free(struct arena *a)
{
    struct arena_block *b = a->head, *prev;

    while (b != NULL) {
        prev = b->prev;
        free(b);
        b = prev;
    }
    a->head = NULL;
}
