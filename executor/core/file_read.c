/*
 * Reading a small file whole.
 */
#include "file_read.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

char *file_read(const char *path, size_t max, size_t *len)
{
    char *buf = NULL;
    struct stat st;
    ssize_t n;
    size_t off = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW), saved;

    if (fd < 0)
        return NULL;
    if (fstat(fd, &st) < 0)
        goto out;
    if (!S_ISREG(st.st_mode) || (size_t)st.st_size > max) {
        errno = S_ISREG(st.st_mode) ? EFBIG : EINVAL;
        goto out;
    }
    buf = malloc((size_t)st.st_size + 1);
    if (buf == NULL)
        goto out;
    while (off < (size_t)st.st_size
           && (n = read(fd, buf + off, (size_t)st.st_size - off)) > 0)
        off += (size_t)n;
    buf[off] = '\0';
    *len = off;
out:
    saved = errno;
    close(fd);
    errno = saved;
    return buf;
}
