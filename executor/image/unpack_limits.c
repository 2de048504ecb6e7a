/*
 * The count of an image's unpacked bytes and entries against its limits.
 */
#include "unpack_limits.h"
#include "errf.h"

#include <stdio.h>
#include <string.h>

void unpack_count_init(struct unpack_count *c,
                       const struct unpack_limits *lim)
{
    memset(c, 0, sizeof(*c));
    c->lim = *lim;
}

void unpack_count_next_layer(struct unpack_count *c)
{
    c->done_bytes += c->layer_bytes;
    c->done_entries += c->layer_entries;
    c->layer_bytes = 0;
    c->layer_entries = 0;
}

enum unpack_limit unpack_count_blob(const struct unpack_count *c,
                                    int64_t blob_bytes)
{
    if (blob_bytes < 0 || (uint64_t)blob_bytes > c->lim.layer_bytes)
        return UNPACK_LAYER_BLOB;
    return UNPACK_WITHIN;
}

enum unpack_limit unpack_count_entry(struct unpack_count *c)
{
    c->layer_entries++;
    if (c->layer_entries > c->lim.layer_entries)
        return UNPACK_LAYER_ENTRIES;
    if (c->done_entries + c->layer_entries > c->lim.image_entries)
        return UNPACK_IMAGE_ENTRIES;
    return UNPACK_WITHIN;
}

enum unpack_limit unpack_count_bytes(struct unpack_count *c,
                                     uint64_t layer_bytes)
{
    if (layer_bytes > c->layer_bytes)
        c->layer_bytes = layer_bytes;
    if (c->layer_bytes > c->lim.layer_bytes)
        return UNPACK_LAYER_BYTES;
    /* no overflow: done_bytes is within image_bytes, positions are
     * int64_t */
    if (c->done_bytes + c->layer_bytes > c->lim.image_bytes)
        return UNPACK_IMAGE_BYTES;
    return UNPACK_WITHIN;
}

const char *unpack_limit_key(enum unpack_limit l)
{
    switch (l) {
    case UNPACK_WITHIN: return "";
    case UNPACK_LAYER_BLOB:
    case UNPACK_LAYER_BYTES: return "layer_max_bytes";
    case UNPACK_LAYER_ENTRIES: return "layer_max_entries";
    case UNPACK_IMAGE_BYTES: return "image_max_bytes";
    case UNPACK_IMAGE_ENTRIES: return "image_max_entries";
    }
    return "";
}

void unpack_limit_message(char *err, size_t errlen, const char *image,
                          size_t layer, size_t nlayers, enum unpack_limit l,
                          const struct unpack_count *c)
{
    const struct unpack_limits *m = &c->lim;
    const char *key = unpack_limit_key(l);

    if (errlen == 0)
        return;
    switch (l) {
    case UNPACK_LAYER_BLOB:
        errf(err, errlen, "image \"%s\" is too large: layer %zu of %zu "
             "is larger than %s (%llu bytes) before it is even unpacked",
             image, layer + 1, nlayers, key,
             (unsigned long long)m->layer_bytes);
        return;
    case UNPACK_LAYER_BYTES:
        errf(err, errlen, "image \"%s\" is too large: layer %zu of %zu "
             "unpacks to more than %s (%llu bytes)", image, layer + 1,
             nlayers, key, (unsigned long long)m->layer_bytes);
        return;
    case UNPACK_LAYER_ENTRIES:
        errf(err, errlen, "image \"%s\" is too large: layer %zu of %zu "
             "has more than %s (%llu entries)", image, layer + 1,
             nlayers, key, (unsigned long long)m->layer_entries);
        return;
    case UNPACK_IMAGE_BYTES:
        errf(err, errlen, "image \"%s\" is too large: its layers unpack "
             "to more than %s (%llu bytes), reached in layer %zu of %zu",
             image, key, (unsigned long long)m->image_bytes, layer + 1,
             nlayers);
        return;
    case UNPACK_IMAGE_ENTRIES:
        errf(err, errlen, "image \"%s\" is too large: its layers have "
             "more than %s (%llu entries), reached in layer %zu of %zu",
             image, key, (unsigned long long)m->image_entries, layer + 1,
             nlayers);
        return;
    case UNPACK_WITHIN:
        break;
    }
    errf(err, errlen, "image \"%s\" is within its limits", image);
}
