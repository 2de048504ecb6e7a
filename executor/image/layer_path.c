/*
 * Paths inside image layers.
 */
#include "layer_path.h"

#include <string.h>

#define WHITEOUT ".wh."
#define OPAQUE ".wh..wh..opq"

int layer_path_clean(const char *in, char *out, size_t size)
{
    const char *seg = in;
    size_t len = 0;

    if (in[0] == '/')
        return -1;
    while (*seg != '\0') {
        const char *end = strchr(seg, '/');
        size_t n = end ? (size_t)(end - seg) : strlen(seg);

        if (n == 2 && seg[0] == '.' && seg[1] == '.')
            return -1;
        if (n > 0 && !(n == 1 && seg[0] == '.')) {
            if (len + (len > 0) + n >= size)
                return -1;
            if (len > 0)
                out[len++] = '/';
            memcpy(out + len, seg, n);
            len += n;
        }
        if (end == NULL)
            break;
        seg = end + 1;
    }
    if (len == 0)
        return -1;
    out[len] = '\0';
    return 0;
}

enum layer_entry_kind layer_path_kind(const char *clean, char *target,
                                      size_t size)
{
    const char *base = strrchr(clean, '/');
    size_t dirlen = base ? (size_t)(base - clean) : 0;

    base = base ? base + 1 : clean;
    if (strncmp(base, WHITEOUT, sizeof(WHITEOUT) - 1) != 0)
        return LAYER_ENTRY_NORMAL;
    if (strcmp(base, OPAQUE) == 0) {
        if (dirlen >= size)
            return LAYER_ENTRY_NORMAL;
        memcpy(target, clean, dirlen);
        target[dirlen] = '\0';
        return LAYER_ENTRY_OPAQUE;
    }
    /* ".wh." alone, ".wh..", ".wh..." name nothing that may be deleted */
    if (base[sizeof(WHITEOUT) - 1] == '\0'
        || strcmp(base + sizeof(WHITEOUT) - 1, ".") == 0
        || strcmp(base + sizeof(WHITEOUT) - 1, "..") == 0)
        return LAYER_ENTRY_NORMAL;
    if (dirlen + 1 + strlen(base) >= size)
        return LAYER_ENTRY_NORMAL;
    memcpy(target, clean, dirlen);
    if (dirlen > 0)
        target[dirlen++] = '/';
    strcpy(target + dirlen, base + sizeof(WHITEOUT) - 1);
    return LAYER_ENTRY_WHITEOUT;
}
