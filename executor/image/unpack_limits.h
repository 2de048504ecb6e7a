/*
 * Limits on what an image may unpack to, and the count that checks them
 * while its layers stream in.  Pure.
 *
 * A layer's bytes are those of its tar stream once decompressed, headers
 * and padding included: what the reader went through, written or not.
 * Its entries are the tar entries it holds, whatever they are (whiteouts,
 * directories, skipped device nodes).  An image's bytes and entries are
 * the sums over its layers.  A layer's blob, as stored (compressed), is
 * held to the layer's byte limit too.
 */
#ifndef EXECUTOR_UNPACK_LIMITS_H
#define EXECUTOR_UNPACK_LIMITS_H

#include <stddef.h>
#include <stdint.h>

struct unpack_limits {
    uint64_t layer_bytes;           /* layer_max_bytes */
    uint64_t layer_entries;         /* layer_max_entries */
    uint64_t image_bytes;           /* image_max_bytes */
    uint64_t image_entries;         /* image_max_entries */
};

enum unpack_limit {
    UNPACK_WITHIN,
    UNPACK_LAYER_BLOB,              /* the compressed blob: layer_max_bytes */
    UNPACK_LAYER_BYTES,
    UNPACK_LAYER_ENTRIES,
    UNPACK_IMAGE_BYTES,
    UNPACK_IMAGE_ENTRIES,
};

struct unpack_count {
    struct unpack_limits lim;
    uint64_t done_bytes;            /* the layers before this one */
    uint64_t done_entries;
    uint64_t layer_bytes;           /* this one, so far */
    uint64_t layer_entries;
};

void unpack_count_init(struct unpack_count *c,
                       const struct unpack_limits *lim);

/* A new layer starts: the last one's counts go to the image's. */
void unpack_count_next_layer(struct unpack_count *c);

/* Checks a layer's blob size before it is read. */
enum unpack_limit unpack_count_blob(const struct unpack_count *c,
                                    int64_t blob_bytes);

/* One more entry in the layer. */
enum unpack_limit unpack_count_entry(struct unpack_count *c);

/* The layer's stream has reached layer_bytes (a position: it only grows). */
enum unpack_limit unpack_count_bytes(struct unpack_count *c,
                                     uint64_t layer_bytes);

/* The configuration key of a limit ("layer_max_bytes"), "" for none. */
const char *unpack_limit_key(enum unpack_limit l);

/*
 * The caller's message for a limit hit by layer (0-based) of nlayers of
 * image: names the image, the layer and the key with its value.
 */
void unpack_limit_message(char *err, size_t errlen, const char *image,
                          size_t layer, size_t nlayers, enum unpack_limit l,
                          const struct unpack_count *c);

#endif
