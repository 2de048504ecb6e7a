/*
 * The image store.
 */
#include "image_store.h"
#include "errf.h"
#include "file_read.h"
#include "layer_path.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DOC_MAX (4 * 1024 * 1024)   /* index, manifest, config */
#define TMP_PREFIX ".tmp-"          /* trees being unpacked */

/* Hashes a file with SHA-256 into "sha256:<hex>"; also returns its size. */
static int sha256_file(const char *path, char out[OCI_DIGEST_MAX],
                       int64_t *size)
{
    unsigned char md[EVP_MAX_MD_SIZE], buf[65536];
    unsigned int mdlen = 0, i;
    EVP_MD_CTX *ctx;
    ssize_t n;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW), rc = -1;

    if (fd < 0)
        return -1;
    ctx = EVP_MD_CTX_new();
    if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
        goto out;
    *size = 0;
    while ((n = read(fd, buf, sizeof(buf))) > 0) {
        if (EVP_DigestUpdate(ctx, buf, (size_t)n) != 1)
            goto out;
        *size += n;
    }
    if (n < 0 || EVP_DigestFinal_ex(ctx, md, &mdlen) != 1)
        goto out;
    strcpy(out, "sha256:");
    for (i = 0; i < mdlen; i++)
        snprintf(out + 7 + 2 * i, 3, "%02x", md[i]);
    rc = 0;
out:
    EVP_MD_CTX_free(ctx);
    close(fd);
    return rc;
}

static void blob_path(char *out, size_t size, const char *layout,
                      const char *digest)
{
    snprintf(out, size, "%s/blobs/sha256/%s", layout, digest + 7);
}

/* Checks a blob's digest and size against its descriptor. */
static enum image_error verify_blob(const char *layout,
                                    const struct oci_descriptor *d,
                                    const char *name, char *err,
                                    size_t errlen)
{
    char path[1200], got[OCI_DIGEST_MAX];
    int64_t size;

    blob_path(path, sizeof(path), layout, d->digest);
    if (sha256_file(path, got, &size) < 0) {
        errf(err, errlen, "image \"%s\": blob %s: %s", name, d->digest,
             errno == ENOENT ? "missing" : strerror(errno));
        return IMAGE_BROKEN;
    }
    if (strcmp(got, d->digest) != 0 || size != d->size) {
        errf(err, errlen, "image \"%s\": blob %s does not match its digest "
             "or size", name, d->digest);
        return IMAGE_BROKEN;
    }
    return IMAGE_OK;
}

static char *read_blob(const char *layout, const struct oci_descriptor *d,
                       const char *name, size_t *len, char *err,
                       size_t errlen)
{
    char path[1200];
    char *doc;

    if (verify_blob(layout, d, name, err, errlen) != IMAGE_OK)
        return NULL;
    blob_path(path, sizeof(path), layout, d->digest);
    doc = file_read(path, DOC_MAX, len);
    if (doc == NULL)
        errf(err, errlen, "image \"%s\": blob %s: %s", name, d->digest,
             strerror(errno));
    return doc;
}

static int rm_entry(const char *path, const struct stat *st, int flag,
                    struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

/* Removes a tree without following symlinks. */
static int remove_tree(const char *path)
{
    struct stat st;

    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : -1;
    if (!S_ISDIR(st.st_mode))
        return remove(path);
    return nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Empties a directory (an opaque whiteout), keeping the directory. */
static int empty_dir(const char *path)
{
    char *copy;
    int rc;

    rc = remove_tree(path);
    if (rc < 0)
        return -1;
    copy = strdup(path);
    if (copy == NULL)
        return -1;
    rc = mkdir(copy, 0755) < 0 && errno != EEXIST ? -1 : 0;
    free(copy);
    return rc;
}

/*
 * Finds a symlink among the directories leading to clean (a cleaned path
 * inside root): writing, linking or deleting through one could reach
 * outside the image.  Returns the length of the offending prefix, or 0.
 */
static size_t symlink_parent(const char *root, const char *clean)
{
    char path[4400];
    struct stat st;
    const char *p;
    int n;

    for (p = strchr(clean, '/'); p != NULL; p = strchr(p + 1, '/')) {
        n = snprintf(path, sizeof(path), "%s/%.*s", root,
                     (int)(p - clean), clean);
        if (n < 0 || (size_t)n >= sizeof(path))
            return (size_t)(p - clean);
        if (lstat(path, &st) < 0)
            return 0;       /* the rest does not exist yet */
        if (S_ISLNK(st.st_mode))
            return (size_t)(p - clean);
    }
    return 0;
}

int layer_apply(const char *blob, const char *rootfs_rel, char *err,
                size_t errlen)
{
    size_t bad;
    struct archive *in = archive_read_new(), *out = archive_write_disk_new();
    struct archive_entry *e;
    char clean[4096], target[4096], full[4400], name[4096];
    struct stat st;
    int rc = -1, r;

    if (in == NULL || out == NULL) {
        errf(err, errlen, "out of memory");
        goto done;
    }
    archive_read_support_filter_gzip(in);
    archive_read_support_filter_none(in);
    archive_read_support_format_tar(in);
    archive_write_disk_set_options(out,
        ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME
        | ARCHIVE_EXTRACT_SECURE_SYMLINKS | ARCHIVE_EXTRACT_SECURE_NODOTDOT
        | ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS | ARCHIVE_EXTRACT_UNLINK);
    if (archive_read_open_filename(in, blob, 65536) != ARCHIVE_OK) {
        errf(err, errlen, "layer %s: %s", blob, archive_error_string(in));
        goto done;
    }
    while ((r = archive_read_next_header(in, &e)) == ARCHIVE_OK) {
        const char *path = archive_entry_pathname(e);
        const char *link = archive_entry_hardlink(e);
        mode_t type = archive_entry_filetype(e);

        if (path == NULL || layer_path_clean(path, clean, sizeof(clean)) < 0) {
            if (path != NULL && (strcmp(path, "./") == 0
                                 || strcmp(path, ".") == 0))
                continue;   /* the root itself */
            errf(err, errlen, "layer entry \"%.200s\" leaves the image",
                 path ? path : "(none)");
            goto done;
        }
        bad = symlink_parent(rootfs_rel, clean);
        if (bad > 0) {
            errf(err, errlen, "layer entry \"%.200s\" passes through the "
                 "symlink \"%.*s\"", clean, (int)bad, clean);
            goto done;
        }
        switch (layer_path_kind(clean, target, sizeof(target))) {
        case LAYER_ENTRY_WHITEOUT:
            snprintf(full, sizeof(full), "%s/%s", rootfs_rel, target);
            if (remove_tree(full) < 0) {
                errf(err, errlen, "whiteout of \"%.200s\": %s", target,
                     strerror(errno));
                goto done;
            }
            continue;
        case LAYER_ENTRY_OPAQUE:
            snprintf(full, sizeof(full), "%s%s%s", rootfs_rel,
                     target[0] ? "/" : "", target);
            if (empty_dir(full) < 0) {
                errf(err, errlen, "opaque whiteout of \"%.200s\": %s", target,
                     strerror(errno));
                goto done;
            }
            continue;
        case LAYER_ENTRY_NORMAL:
            break;
        }
        if (type == AE_IFCHR || type == AE_IFBLK || type == AE_IFIFO
            || type == AE_IFSOCK)
            continue;       /* no device nodes: /dev is the sandbox's */
        snprintf(full, sizeof(full), "%s/%s", rootfs_rel, clean);
        snprintf(name, sizeof(name), "%s", clean);
        path = name;    /* the entry's own string changes below */
        if (type != AE_IFDIR && lstat(full, &st) == 0 && S_ISDIR(st.st_mode)
            && remove_tree(full) < 0) {
            /* a later layer replaces a directory with something else */
            errf(err, errlen, "layer entry \"%.200s\": cannot replace the "
                 "directory: %s", name, strerror(errno));
            goto done;
        }
        archive_entry_set_pathname(e, full);
        if (link != NULL) {
            if (layer_path_clean(link, clean, sizeof(clean)) < 0) {
                errf(err, errlen, "hard link \"%.200s\" leaves the image",
                     link);
                goto done;
            }
            bad = symlink_parent(rootfs_rel, clean);
            if (bad > 0) {
                errf(err, errlen, "hard link \"%.200s\" passes through the "
                     "symlink \"%.*s\"", link, (int)bad, clean);
                goto done;
            }
            snprintf(full, sizeof(full), "%s/%s", rootfs_rel, clean);
            archive_entry_set_hardlink(e, full);
        }
        archive_entry_set_perm(e, archive_entry_perm(e) & 01777);
        if (archive_write_header(out, e) != ARCHIVE_OK) {
            errf(err, errlen, "layer entry \"%.200s\": %s", path,
                 archive_error_string(out));
            goto done;
        }
        if (archive_entry_size(e) > 0 && link == NULL) {
            const void *buf;
            size_t size;
            la_int64_t off;

            while ((r = archive_read_data_block(in, &buf, &size, &off))
                   == ARCHIVE_OK) {
                if (archive_write_data_block(out, buf, size, off)
                    != ARCHIVE_OK) {
                    errf(err, errlen, "layer entry \"%.200s\": %s", path,
                         archive_error_string(out));
                    goto done;
                }
            }
            if (r != ARCHIVE_EOF) {
                errf(err, errlen, "layer %s: %s", blob,
                     archive_error_string(in));
                goto done;
            }
        }
        if (archive_write_finish_entry(out) != ARCHIVE_OK) {
            errf(err, errlen, "layer entry \"%.200s\": %s", path,
                 archive_error_string(out));
            goto done;
        }
    }
    if (r != ARCHIVE_EOF) {
        errf(err, errlen, "layer %s: %s", blob, archive_error_string(in));
        goto done;
    }
    rc = 0;
done:
    if (in)
        archive_read_free(in);
    if (out)
        archive_write_free(out);
    return rc;
}

/* Unpacks every layer into rootfs/<hex>, through a temporary directory
 * renamed into place, so a half-unpacked tree is never used. */
static enum image_error unpack(const char *layout,
                               const struct oci_manifest *m,
                               const char *digest, const char *name,
                               char *err, size_t errlen)
{
    static unsigned long seq;
    char tmp[256], final[256], blob[1200];
    size_t i;

    /* two threads may unpack the same image at once: each its own tree */
    snprintf(final, sizeof(final), IMAGE_STORE_ROOTFS "/%s", digest + 7);
    snprintf(tmp, sizeof(tmp), IMAGE_STORE_ROOTFS "/" TMP_PREFIX "%s-%lu",
             digest + 7, __atomic_add_fetch(&seq, 1, __ATOMIC_RELAXED));
    if (mkdir(tmp, 0755) < 0) {
        errf(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
        return IMAGE_IO;
    }
    for (i = 0; i < m->nlayers; i++) {
        if (verify_blob(layout, &m->layers[i], name, err, errlen)
            != IMAGE_OK)
            goto broken;
        blob_path(blob, sizeof(blob), layout, m->layers[i].digest);
        if (layer_apply(blob, tmp, err, errlen) < 0) {
            size_t n = strlen(err);
            snprintf(err + n, errlen - n, " (image \"%s\")", name);
            goto broken;
        }
    }
    /* the sandbox mounts these: they must exist in a read-only tree */
    if ((mkdir(strcat(strcpy(blob, tmp), "/proc"), 0755) < 0
         && errno != EEXIST)
        || (mkdir(strcat(strcpy(blob, tmp), "/dev"), 0755) < 0
            && errno != EEXIST)
        || (mkdir(strcat(strcpy(blob, tmp), "/tmp"), 01777) < 0
            && errno != EEXIST)) {
        errf(err, errlen, "image \"%s\": cannot create mount points: %s",
             name, strerror(errno));
        goto broken;
    }
    chmod(tmp, 0755);
    if (rename(tmp, final) < 0) {
        if (errno == EEXIST || errno == ENOTEMPTY) {
            remove_tree(tmp);   /* unpacked meanwhile by another call */
            return IMAGE_OK;
        }
        errf(err, errlen, "cannot rename %s: %s", tmp, strerror(errno));
        remove_tree(tmp);
        return IMAGE_IO;
    }
    return IMAGE_OK;
broken:
    remove_tree(tmp);
    return IMAGE_BROKEN;
}

enum image_error image_prepare(const char *image_dir, const char *store_dir,
                               const char *name, struct image *img,
                               char *err, size_t errlen)
{
    struct oci_ref ref;
    struct oci_descriptor mdesc;
    struct oci_manifest *m = NULL;
    char layout[1100], path[1200], *doc = NULL;
    size_t len;
    struct stat st;
    enum image_error rc = IMAGE_BROKEN;

    memset(img, 0, sizeof(*img));
    if (oci_ref_parse(name, &ref, err, errlen) < 0)
        return IMAGE_BAD_NAME;
    snprintf(layout, sizeof(layout), "%s/%s", image_dir, ref.dir);
    snprintf(path, sizeof(path), "%s/index.json", layout);
    doc = file_read(path, DOC_MAX, &len);
    if (doc == NULL) {
        /* the message goes to callers: no host paths in it */
        if (errno == ENOENT) {
            errf(err, errlen, "image \"%s\" not found", name);
            return IMAGE_NOT_FOUND;
        }
        errf(err, errlen, "image \"%s\": cannot read its index.json: %s",
             name, strerror(errno));
        return IMAGE_BROKEN;
    }
    if (oci_index_select(doc, len, ref.tag, &mdesc, err, errlen) < 0) {
        size_t n = strlen(err);
        snprintf(err + n, errlen - n, " (image \"%s\")", name);
        rc = strncmp(err, "no manifest tagged", 18) == 0 ? IMAGE_NOT_FOUND
                                                         : IMAGE_BROKEN;
        goto out;
    }
    free(doc);
    doc = read_blob(layout, &mdesc, name, &len, err, errlen);
    if (doc == NULL)
        goto out;
    m = malloc(sizeof(*m));
    if (m == NULL) {
        errf(err, errlen, "out of memory");
        rc = IMAGE_IO;
        goto out;
    }
    if (oci_manifest_parse(doc, len, m, err, errlen) < 0)
        goto out;
    free(doc);
    doc = read_blob(layout, &m->config, name, &len, err, errlen);
    if (doc == NULL)
        goto out;
    if (oci_config_parse(doc, len, &img->config, err, errlen) < 0)
        goto out;

    strcpy(img->digest, mdesc.digest);
    snprintf(img->rootfs, sizeof(img->rootfs), "%s/" IMAGE_STORE_ROOTFS
             "/%s", store_dir, mdesc.digest + 7);
    snprintf(path, sizeof(path), IMAGE_STORE_ROOTFS "/%s", mdesc.digest + 7);
    if (stat(path, &st) < 0) {
        rc = unpack(layout, m, mdesc.digest, name, err, errlen);
        if (rc != IMAGE_OK)
            goto out;
        img->unpacked = 1;
    }
    rc = IMAGE_OK;
out:
    free(doc);
    free(m);
    if (rc != IMAGE_OK)
        image_free(img);
    return rc;
}

void image_free(struct image *img)
{
    oci_config_free(&img->config);
}

int image_store_cleanup(void)
{
    char path[512];
    struct dirent *d;
    DIR *dp = opendir(IMAGE_STORE_ROOTFS);
    int n = 0;

    if (dp == NULL)
        return 0;
    while ((d = readdir(dp)) != NULL) {
        if (strncmp(d->d_name, TMP_PREFIX, sizeof(TMP_PREFIX) - 1) != 0)
            continue;
        snprintf(path, sizeof(path), IMAGE_STORE_ROOTFS "/%.400s",
                 d->d_name);
        if (remove_tree(path) == 0)
            n++;
    }
    closedir(dp);
    return n;
}

unsigned image_store_count(void)
{
    struct dirent *d;
    DIR *dp = opendir(IMAGE_STORE_ROOTFS);
    unsigned n = 0;

    if (dp == NULL)
        return 0;
    while ((d = readdir(dp)) != NULL) {
        if (d->d_name[0] != '.')
            n++;    /* a digest; ".tmp-*" are unpacks under way */
    }
    closedir(dp);
    return n;
}
