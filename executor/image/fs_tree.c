/*
 * Directory trees: removal and disk usage.
 */
#include "fs_tree.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static int rm_entry(const char *path, const struct stat *st, int flag,
                    struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

int fs_tree_remove(const char *path)
{
    struct stat st;

    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : -1;
    if (!S_ISDIR(st.st_mode))
        return remove(path);
    return nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* nftw() has no argument for its callback: one walk per thread at once */
static __thread uint64_t usage;

static int add_entry(const char *path, const struct stat *st, int flag,
                     struct FTW *ftw)
{
    uint64_t bytes = (uint64_t)st->st_blocks * 512;

    (void)path;
    (void)ftw;
    if (flag == FTW_NS)
        return 0;       /* gone meanwhile, or unreadable: not counted */
    /* each link a share, so the links of a file add up to it once */
    if (!S_ISDIR(st->st_mode) && st->st_nlink > 1)
        bytes /= st->st_nlink;
    usage += bytes;
    return 0;
}

int fs_tree_usage(const char *path, uint64_t *bytes)
{
    int rc;

    usage = 0;
    rc = nftw(path, add_entry, 16, FTW_PHYS);
    *bytes = usage;
    return rc == 0 ? 0 : -1;
}

int fs_tree_sweep(const char *dir, const char *const *marks)
{
    const char *const *m;
    struct dirent *d;
    char path[1024];
    DIR *dp = opendir(dir);
    int n = 0;

    if (dp == NULL)
        return 0;
    while ((d = readdir(dp)) != NULL) {
        for (m = marks; *m != NULL; m++) {
            if (strstr(d->d_name, *m) != NULL)
                break;
        }
        if (*m == NULL)
            continue;
        snprintf(path, sizeof(path), "%.500s/%.400s", dir, d->d_name);
        if (fs_tree_remove(path) == 0)
            n++;
    }
    closedir(dp);
    return n;
}
