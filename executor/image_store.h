/*
 * The image store: turns an image name into a read-only root filesystem
 * and the image's process settings.  Layers are verified against their
 * digests and unpacked once, into a directory named by the manifest
 * digest, shared by every sandbox of that image.
 *
 * Everything here blocks (file reads, hashing, unpacking): callers run it
 * on libuv's thread pool.  The process's working directory must be the
 * store directory (main.c changes to it at start).
 */
#ifndef EXECUTOR_IMAGE_STORE_H
#define EXECUTOR_IMAGE_STORE_H

#include "oci.h"

#include <stddef.h>

#define IMAGE_STORE_ROOTFS "rootfs"

enum image_error {
    IMAGE_OK,
    IMAGE_BAD_NAME,         /* the name itself is refused */
    IMAGE_NOT_FOUND,        /* no such layout or tag */
    IMAGE_BROKEN,           /* present but unusable: digest, JSON, layer */
    IMAGE_IO,               /* the executor's own disk failed */
};

struct image {
    char digest[OCI_DIGEST_MAX];    /* the manifest's: the image's id */
    char rootfs[1024];              /* absolute path */
    struct oci_image_config config;
    int unpacked;                   /* by this image_prepare() */
};

/*
 * Prepares image name from the layouts under image_dir.  store_dir is the
 * absolute path of the working directory.  Returns IMAGE_OK, or an error
 * with a message in err.
 */
enum image_error image_prepare(const char *image_dir, const char *store_dir,
                               const char *name, struct image *img,
                               char *err, size_t errlen);

void image_free(struct image *img);

/*
 * Removes the temporary trees of unpacks that never finished (an earlier
 * run that died).  Call before any unpack starts.  Returns how many.
 */
int image_store_cleanup(void);

/* How many images are unpacked in the store. */
unsigned image_store_count(void);

/*
 * Applies one layer tarball (plain or gzip) on top of the tree at
 * rootfs_rel (relative to the working directory): whiteouts are applied,
 * paths that would leave the tree are refused, device nodes are skipped,
 * setuid and setgid bits are dropped.
 */
int layer_apply(const char *blob_path, const char *rootfs_rel, char *err,
                size_t errlen);

#endif
