/*
 * Reading a small file whole.
 */
#ifndef EXECUTOR_FILE_READ_H
#define EXECUTOR_FILE_READ_H

#include <stddef.h>

/*
 * Reads the regular file at path (a symlink is refused) if it has at most
 * max bytes.  Returns a malloc'd buffer with a NUL after the *len bytes,
 * or NULL with errno set (EFBIG when larger than max, EINVAL when not a
 * regular file).
 */
char *file_read(const char *path, size_t max, size_t *len);

#endif
