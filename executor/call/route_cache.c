/*
 * Parsed routes by their Fn-Route text.
 */
#include "route_cache.h"
#include "errf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct entry {
    char *json;                 /* NULL: a free entry */
    size_t len;
    uint64_t hash;
    uint64_t used;              /* when it was last used */
    struct route_def route;
};

static struct entry entries[ROUTE_CACHE_SIZE];
static uint64_t clock_now;
static unsigned long hits, misses;

/*
 * A filter before memcmp (which decides), eight bytes a step: a route's
 * text is hashed on every call.
 */
static uint64_t hash_of(const char *s, size_t len)
{
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ len, w;
    size_t i;

    for (i = 0; i + 8 <= len; i += 8) {
        memcpy(&w, s + i, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdULL;
        h ^= h >> 32;
    }
    w = 0;
    memcpy(&w, s + i, len - i);
    h = (h ^ w) * 0xc4ceb9fe1a85ec53ULL;
    return h ^ (h >> 29);
}

static void drop(struct entry *e)
{
    free(e->json);
    route_def_free(&e->route);
    memset(e, 0, sizeof(*e));
}

int route_cache_parse(const char *json, size_t len, struct route_def *r,
                      char *err, size_t errlen)
{
    uint64_t h = hash_of(json, len);
    struct entry *e, *victim = &entries[0];
    size_t i;

    for (i = 0; i < ROUTE_CACHE_SIZE; i++) {
        e = &entries[i];
        if (e->json != NULL && e->hash == h && e->len == len
            && memcmp(e->json, json, len) == 0) {
            if (route_def_copy(r, &e->route) < 0) {
                memset(r, 0, sizeof(*r));
                return errf(err, errlen, "out of memory");
            }
            e->used = ++clock_now;
            hits++;
            return 0;
        }
        if (e->json == NULL
            || (victim->json != NULL && e->used < victim->used))
            victim = e;
    }
    misses++;
    if (route_def_parse(json, len, r, err, errlen) < 0)
        return -1;
    /* kept for the next call of it, if memory allows (else not kept) */
    drop(victim);
    victim->json = malloc(len + 1);
    if (victim->json == NULL)
        return 0;
    if (route_def_copy(&victim->route, r) < 0) {
        free(victim->json);
        victim->json = NULL;
        return 0;
    }
    memcpy(victim->json, json, len);
    victim->json[len] = '\0';
    victim->len = len;
    victim->hash = h;
    victim->used = ++clock_now;
    return 0;
}

void route_cache_clear(void)
{
    size_t i;

    for (i = 0; i < ROUTE_CACHE_SIZE; i++)
        drop(&entries[i]);
}

void route_cache_stats(unsigned long *h, unsigned long *m)
{
    *h = hits;
    *m = misses;
}
