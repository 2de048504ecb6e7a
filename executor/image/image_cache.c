/*
 * The short-lived cache of resolved images.
 */
#include "image_cache.h"
#include "image_trees.h"

#include <stdlib.h>
#include <string.h>

struct image_cache_entry {
    struct image_cache_entry *next;
    char *name;
    uint64_t expires;
    struct image img;
};

static void entry_free(struct image_cache_entry *e)
{
    free(e->name);
    image_free(&e->img);
    free(e);
}

/* Drops expired entries, and the oldest beyond IMAGE_CACHE_MAX. */
static void prune(struct image_cache *c, uint64_t now)
{
    struct image_cache_entry **pp = &c->head, *e;
    unsigned kept = 0;

    while ((e = *pp) != NULL) {
        if (e->expires <= now || kept >= IMAGE_CACHE_MAX) {
            *pp = e->next;
            entry_free(e);
            c->n--;
            continue;
        }
        kept++;
        pp = &e->next;
    }
}

int image_cache_get(struct image_cache *c, const char *name, uint64_t now,
                    struct image *out)
{
    struct image_cache_entry *e;

    prune(c, now);
    for (e = c->head; e != NULL; e = e->next) {
        if (strcmp(e->name, name) != 0)
            continue;
        memcpy(out->digest, e->img.digest, sizeof(out->digest));
        memcpy(out->rootfs, e->img.rootfs, sizeof(out->rootfs));
        if (oci_config_copy(&out->config, &e->img.config) < 0)
            return -1;
        /* its tree may have been removed since: then the store unpacks
         * it again */
        if (image_trees_hold(out->digest) < 0) {
            oci_config_free(&out->config);
            return 0;
        }
        out->held = 1;
        return 1;
    }
    return 0;
}

void image_cache_put(struct image_cache *c, const char *name, uint64_t now,
                     const struct image *img)
{
    struct image_cache_entry *e, **pp;

    /* a newer resolution replaces an older one */
    for (pp = &c->head; (e = *pp) != NULL; pp = &e->next) {
        if (strcmp(e->name, name) == 0) {
            *pp = e->next;
            entry_free(e);
            c->n--;
            break;
        }
    }
    e = calloc(1, sizeof(*e));
    if (e == NULL)
        return;
    e->name = strdup(name);
    memcpy(e->img.digest, img->digest, sizeof(e->img.digest));
    memcpy(e->img.rootfs, img->rootfs, sizeof(e->img.rootfs));
    if (e->name == NULL || oci_config_copy(&e->img.config, &img->config) < 0) {
        free(e->name);
        free(e);
        return;
    }
    e->expires = now + IMAGE_CACHE_TTL_MS;
    e->next = c->head;
    c->head = e;
    c->n++;
    prune(c, now);
}

void image_cache_clear(struct image_cache *c)
{
    struct image_cache_entry *e;

    while ((e = c->head) != NULL) {
        c->head = e->next;
        entry_free(e);
    }
    c->n = 0;
}
