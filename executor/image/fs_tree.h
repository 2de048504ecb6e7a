/*
 * Directory trees on the host: removal and disk usage, never following
 * symlinks.  Both block: call them off the event loop (but at start).
 */
#ifndef EXECUTOR_FS_TREE_H
#define EXECUTOR_FS_TREE_H

#include <stdint.h>

/* Removes path and all below it (a file: the file).  0, or -1 (errno). */
int fs_tree_remove(const char *path);

/*
 * Removes, with all below them, the entries of dir whose names contain
 * one of the (NULL-terminated) marks: what an earlier run left half
 * done.  Returns how many.
 */
int fs_tree_sweep(const char *dir, const char *const *marks);

/*
 * The bytes the tree at path takes on disk, as du(1) counts them: its
 * blocks, a file with several links shared among them.  0, or -1.
 */
int fs_tree_usage(const char *path, uint64_t *bytes);

#endif
