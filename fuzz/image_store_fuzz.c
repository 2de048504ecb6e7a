/*
 * libFuzzer harness: the image store's pure parts.  The input is a list
 * of operations on the table of unpacked trees (image_lru.c) and on an
 * unpack's count (unpack_limits.c); after each, what they promise must
 * hold: the store's bytes are those of its ready trees, a victim is the
 * least recently used tree nothing holds, and a count says "within" only
 * while the limits of what it counted (entries, or bytes) are kept.
 */
#include "image_lru.h"
#include "unpack_limits.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define TREES 8

static void check_table(struct image_lru *l)
{
    struct image_tree *t, *prev = NULL;
    uint64_t bytes = 0;
    size_t n = 0;

    for (t = l->head; t != NULL; prev = t, t = t->next) {
        if (t->prev != prev)
            __builtin_trap();
        if (t->state == IMAGE_TREE_READY) {
            bytes += t->bytes;
            n++;
        }
    }
    if (l->tail != prev || bytes != l->bytes || n != l->n)
        __builtin_trap();
}

static int odd_in_use(void *arg, const char *digest)
{
    (void)arg;
    return digest[7] % 2;
}

static void check_victim(struct image_lru *l, uint64_t max)
{
    struct image_tree *v = image_lru_victim(l, max, odd_in_use, NULL), *t;

    if (l->bytes <= max) {
        if (v != NULL)
            __builtin_trap();
        return;
    }
    /* the first tree, in order of use, that nothing holds */
    for (t = l->head; t != NULL; t = t->next) {
        if (t->state == IMAGE_TREE_READY && t->refs == 0 && t->waiters == 0
            && !odd_in_use(NULL, t->digest))
            break;
    }
    if (v != t)
        __builtin_trap();
}

/* Each count checks its own dimension: entries, or bytes. */
static void check_count(const struct unpack_count *c, enum unpack_limit r,
                        int entries)
{
    int over = entries
               ? c->layer_entries > c->lim.layer_entries
                 || c->done_entries + c->layer_entries > c->lim.image_entries
               : c->layer_bytes > c->lim.layer_bytes
                 || c->done_bytes + c->layer_bytes > c->lim.image_bytes;

    if ((r == UNPACK_WITHIN) == over)
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct image_lru l = { 0 };
    struct unpack_limits lim = { 0 };
    struct unpack_count c;
    struct image_tree *t;
    char digest[OCI_DIGEST_MAX], msg[200], key[256];
    enum unpack_limit r = UNPACK_WITHIN;
    size_t i;

    if (size < 4)
        return 0;
    lim.layer_bytes = data[0] * 100u;
    lim.layer_entries = data[1];
    lim.image_bytes = data[2] * 200u;
    lim.image_entries = data[3] * 2u;
    unpack_count_init(&c, &lim);
    for (i = 4; i + 1 < size; i += 2) {
        unsigned op = data[i] % 10, arg = data[i + 1];

        snprintf(digest, sizeof(digest), "sha256:%c", 'a' + arg % TREES);
        t = image_lru_find(&l, digest);
        switch (op) {
        case 0:
            if (t == NULL)
                t = image_lru_add(&l, digest);
            break;
        case 1:
            if (t != NULL)
                image_lru_ready(&l, t, arg * 1000u);
            break;
        case 2:
            if (t != NULL)
                image_lru_touch(&l, t);
            break;
        case 3:
            if (t != NULL)
                t->refs ^= 1;
            break;
        case 4:
            if (t != NULL)
                image_lru_remove(&l, t);
            break;
        case 5:
            check_victim(&l, arg * 1000u);
            break;
        case 6:
            r = unpack_count_entry(&c);
            check_count(&c, r, 1);
            break;
        case 7:
            r = unpack_count_bytes(&c, c.layer_bytes + arg);
            check_count(&c, r, 0);
            break;
        case 8:
            if (r == UNPACK_WITHIN)
                unpack_count_next_layer(&c);
            break;
        case 9:
            unpack_limit_message(msg, sizeof(msg), digest, arg, 255, r, &c);
            if (strlen(msg) >= sizeof(msg))
                __builtin_trap();
            /* the rest of the input as a pool key */
            memcpy(key, data + i, size - i < sizeof(key) - 1
                                  ? size - i : sizeof(key) - 1);
            key[size - i < sizeof(key) - 1 ? size - i : sizeof(key) - 1] = 0;
            (void)image_lru_key_names(key, digest);
            break;
        }
        check_table(&l);
    }
    image_lru_clear(&l);
    return 0;
}
