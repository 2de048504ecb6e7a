/*
 * The image store: turns an image name into a read-only root filesystem
 * and the image's process settings.  Layers are verified against their
 * digests and unpacked once (image_trees.c: one unpack per digest, however
 * many calls ask at once), within the configured limits (unpack_limits.h),
 * into a temporary directory renamed to rootfs/<hex of the manifest
 * digest> when complete, and shared by every sandbox of that image.
 *
 * Everything here blocks (file reads, hashing, unpacking, waiting for
 * another thread's unpack): callers run it on libuv's thread pool.  The
 * process's working directory must be the store directory (main.c changes
 * to it at start).
 */
#ifndef EXECUTOR_IMAGE_STORE_H
#define EXECUTOR_IMAGE_STORE_H

#include "oci.h"

#include <stddef.h>

#define IMAGE_STORE_ROOTFS "rootfs"
#define IMAGE_STORE_UNPACKING ".tmp-"   /* rootfs/.tmp-*: unpacks under way */
#define IMAGE_STORE_REMOVING ".rm-"     /* rootfs/.rm-*: trees being removed */

enum image_error {
    IMAGE_OK,
    IMAGE_BAD_NAME,         /* the name itself is refused */
    IMAGE_NOT_FOUND,        /* no such layout or tag */
    IMAGE_BROKEN,           /* present but unusable: digest, JSON, layer */
    IMAGE_TOO_LARGE,        /* over a limit on unpacking (unpack_limits.h) */
    IMAGE_IO,               /* the executor's own disk failed */
};

struct image {
    char digest[OCI_DIGEST_MAX];    /* the manifest's: the image's id */
    char rootfs[1024];              /* absolute path */
    struct oci_image_config config;
    int unpacked;                   /* by this image_prepare() */
    int held;                       /* its tree, until image_free() (on
                                     * the event loop) */
};

/*
 * Prepares image name from the layouts under image_dir.  store_dir is the
 * absolute path of the working directory.  Returns IMAGE_OK, the image's
 * tree held, or an error with a message in err (for the caller: it names
 * the image, never a host path).
 */
enum image_error image_prepare(const char *image_dir, const char *store_dir,
                               const char *name, struct image *img,
                               char *err, size_t errlen);

/* Frees img; a held tree is released (image_trees.h). */
void image_free(struct image *img);

/*
 * Removes what an earlier run left half done: unpacks that never finished
 * and trees whose removal did not.  Call before any unpack starts.
 * Returns how many.
 */
int image_store_cleanup(void);

#endif
