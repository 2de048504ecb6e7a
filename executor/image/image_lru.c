/*
 * The table of unpacked trees, least recently used first.
 */
#include "image_lru.h"

#include <stdlib.h>
#include <string.h>

struct image_tree *image_lru_find(struct image_lru *l, const char *digest)
{
    struct image_tree *t;

    for (t = l->head; t != NULL; t = t->next) {
        if (strcmp(t->digest, digest) == 0)
            return t;
    }
    return NULL;
}

static void unlink_tree(struct image_lru *l, struct image_tree *t)
{
    if (t->prev)
        t->prev->next = t->next;
    else
        l->head = t->next;
    if (t->next)
        t->next->prev = t->prev;
    else
        l->tail = t->prev;
    t->prev = t->next = NULL;
}

static void append(struct image_lru *l, struct image_tree *t)
{
    t->next = NULL;
    t->prev = l->tail;
    if (l->tail)
        l->tail->next = t;
    else
        l->head = t;
    l->tail = t;
}

struct image_tree *image_lru_add(struct image_lru *l, const char *digest)
{
    struct image_tree *t;

    if (strlen(digest) >= sizeof(t->digest))
        return NULL;
    t = calloc(1, sizeof(*t));
    if (t == NULL)
        return NULL;
    strcpy(t->digest, digest);
    t->state = IMAGE_TREE_UNPACKING;
    append(l, t);
    return t;
}

void image_lru_ready(struct image_lru *l, struct image_tree *t,
                     uint64_t bytes)
{
    if (t->state == IMAGE_TREE_READY)
        return;
    t->state = IMAGE_TREE_READY;
    t->bytes = bytes;
    l->n++;
    l->bytes += bytes;
}

void image_lru_touch(struct image_lru *l, struct image_tree *t)
{
    unlink_tree(l, t);
    append(l, t);
}

void image_lru_remove(struct image_lru *l, struct image_tree *t)
{
    unlink_tree(l, t);
    if (t->state == IMAGE_TREE_READY) {
        l->n--;
        l->bytes -= t->bytes;
    }
    free(t);
}

struct image_tree *image_lru_victim(struct image_lru *l, uint64_t max_bytes,
                                    int (*in_use)(void *arg,
                                                  const char *digest),
                                    void *arg)
{
    struct image_tree *t;

    if (l->bytes <= max_bytes)
        return NULL;
    for (t = l->head; t != NULL; t = t->next) {
        if (t->state == IMAGE_TREE_READY && t->refs == 0 && t->waiters == 0
            && (in_use == NULL || !in_use(arg, t->digest)))
            return t;
    }
    return NULL;
}

void image_lru_clear(struct image_lru *l)
{
    while (l->head != NULL)
        image_lru_remove(l, l->head);
}

int image_lru_key_names(const char *key, const char *digest)
{
    size_t n = strlen(digest);
    int i;

    for (i = 0; i < 2; i++) {
        key = strchr(key, '\n');
        if (key == NULL)
            return 0;
        key++;
    }
    return n > 0 && strncmp(key, digest, n) == 0
           && (key[n] == '\n' || key[n] == '\0');
}
