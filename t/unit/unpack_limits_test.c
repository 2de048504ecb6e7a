/*
 * The count of an image's unpacked bytes and entries against its limits.
 */
#include "unpack_limits.h"
#include "tap.h"

static const struct unpack_limits lim = {
    .layer_bytes = 1000, .layer_entries = 10,
    .image_bytes = 2500, .image_entries = 25,
};

int main(void)
{
    struct unpack_count c;
    char msg[300];
    int i;

    unpack_count_init(&c, &lim);
    is_int(unpack_count_blob(&c, 1000), UNPACK_WITHIN,
           "a blob of layer_max_bytes is read");
    is_int(unpack_count_blob(&c, 1001), UNPACK_LAYER_BLOB,
           "one byte more is not");
    is_int(unpack_count_blob(&c, -1), UNPACK_LAYER_BLOB,
           "nor a negative size");

    /* layer 1: up to its limits exactly */
    for (i = 0; i < 10; i++)
        is_int(unpack_count_entry(&c), UNPACK_WITHIN, "entry %d", i + 1);
    is_int(unpack_count_bytes(&c, 1000), UNPACK_WITHIN,
           "1000 bytes: within");
    is_int(unpack_count_bytes(&c, 400), UNPACK_WITHIN,
           "a position never goes back");
    is_int(c.layer_bytes, 1000, "  (still 1000)");
    is_int(unpack_count_entry(&c), UNPACK_LAYER_ENTRIES, "entry 11: over");
    is_int(unpack_count_bytes(&c, 1001), UNPACK_LAYER_BYTES,
           "1001 bytes: over");

    /* a fresh count: the image's limits over several layers */
    unpack_count_init(&c, &lim);
    unpack_count_bytes(&c, 900);
    for (i = 0; i < 9; i++)
        unpack_count_entry(&c);
    unpack_count_next_layer(&c);
    is_int(c.done_bytes, 900, "a layer's bytes go to the image's");
    is_int(c.layer_bytes, 0, "and the next layer starts at 0");
    unpack_count_bytes(&c, 900);
    for (i = 0; i < 9; i++)
        unpack_count_entry(&c);
    unpack_count_next_layer(&c);
    is_int(unpack_count_bytes(&c, 700), UNPACK_WITHIN, "2500 in all: within");
    is_int(unpack_count_bytes(&c, 701), UNPACK_IMAGE_BYTES,
           "2501 in all: over image_max_bytes");
    for (i = 0; i < 7; i++)
        unpack_count_entry(&c);
    is_int(unpack_count_entry(&c), UNPACK_IMAGE_ENTRIES,
           "26 entries in all: over image_max_entries");

    is_str(unpack_limit_key(UNPACK_LAYER_BLOB), "layer_max_bytes",
           "a blob is held to layer_max_bytes");
    is_str(unpack_limit_key(UNPACK_LAYER_ENTRIES), "layer_max_entries",
           "key of the layer's entries");
    is_str(unpack_limit_key(UNPACK_IMAGE_BYTES), "image_max_bytes",
           "key of the image's bytes");
    is_str(unpack_limit_key(UNPACK_IMAGE_ENTRIES), "image_max_entries",
           "key of the image's entries");

    unpack_limit_message(msg, sizeof(msg), "oci:x:v1", 1, 3,
                         UNPACK_LAYER_BYTES, &c);
    is_str(msg, "image \"oci:x:v1\" is too large: layer 2 of 3 unpacks to "
           "more than layer_max_bytes (1000 bytes)", "the layer's bytes");
    unpack_limit_message(msg, sizeof(msg), "oci:x:v1", 2, 3,
                         UNPACK_IMAGE_ENTRIES, &c);
    is_str(msg, "image \"oci:x:v1\" is too large: its layers have more than "
           "image_max_entries (25 entries), reached in layer 3 of 3",
           "the image's entries");
    unpack_limit_message(msg, 20, "oci:x:v1", 0, 1, UNPACK_LAYER_BLOB, &c);
    is_int(strlen(msg), 19, "a short buffer gets what fits");
    return done_testing();
}
