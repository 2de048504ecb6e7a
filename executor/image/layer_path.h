/*
 * Paths inside image layers: cleaning and whiteouts.  Pure.
 */
#ifndef EXECUTOR_LAYER_PATH_H
#define EXECUTOR_LAYER_PATH_H

#include <stddef.h>

enum layer_entry_kind {
    LAYER_ENTRY_NORMAL,
    LAYER_ENTRY_WHITEOUT,           /* ".wh.<name>": delete <name> */
    LAYER_ENTRY_OPAQUE,             /* ".wh..wh..opq": empty the directory */
};

/*
 * Cleans a path from a layer into out (relative, no "." segments, no
 * trailing slash).  Refuses absolute paths, ".." segments and empty
 * results.  Returns 0 or -1.
 */
int layer_path_clean(const char *in, char *out, size_t size);

/*
 * Says what a cleaned path means; for a whiteout, target receives the path
 * it deletes (for an opaque marker, its directory, "" for the root).
 */
enum layer_entry_kind layer_path_kind(const char *clean, char *target,
                                      size_t size);

#endif
