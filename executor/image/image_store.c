/*
 * The image store.
 */
#include "image_store.h"
#include "image_ref.h"
#include "registry.h"
#include "errf.h"
#include "file_read.h"
#include "fs_tree.h"
#include "image_trees.h"
#include "layer_path.h"
#include "log.h"
#include "unpack_limits.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DOC_MAX (4 * 1024 * 1024)   /* index, manifest, config */

static void digest_text(const unsigned char *md, unsigned int mdlen,
                        char out[OCI_DIGEST_MAX])
{
    unsigned int i;

    strcpy(out, "sha256:");
    for (i = 0; i < mdlen && 7 + 2 * i + 2 < OCI_DIGEST_MAX; i++)
        snprintf(out + 7 + 2 * i, 3, "%02x", md[i]);
}

/* Hashes a file with SHA-256 into "sha256:<hex>"; also returns its size. */
static int sha256_file(const char *path, char out[OCI_DIGEST_MAX],
                       int64_t *size)
{
    unsigned char md[EVP_MAX_MD_SIZE], buf[65536];
    unsigned int mdlen = 0;
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
    digest_text(md, mdlen, out);
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

/*
 * A blob of the registry store that is not what its digest says (written
 * without fsync: a crash may leave one) goes, so that the next pull
 * fetches it again; a layout's blobs are the operator's and stay.
 */
static void drop_bad_blob(const char *layout, const char *digest)
{
    char path[1200];

    if (strcmp(layout, REGISTRY_LAYOUT) != 0)
        return;
    blob_path(path, sizeof(path), layout, digest);
    unlink(path);
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
        drop_bad_blob(layout, d->digest);
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

/* Empties a directory (an opaque whiteout), keeping the directory. */
static int empty_dir(const char *path)
{
    char *copy;
    int rc;

    rc = fs_tree_remove(path);
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

/* ---------------------------------------------------------- unpacking */

/* A layer's blob, read once: hashed as it is read, and never read past
 * the size its descriptor gives. */
struct blob_in {
    int fd;
    EVP_MD_CTX *md;
    int64_t left;
    int failed;                     /* a read or the hash failed */
    unsigned char buf[65536];
};

static la_ssize_t blob_read(struct archive *a, void *arg, const void **buf)
{
    struct blob_in *b = arg;
    size_t want = sizeof(b->buf);
    ssize_t n;

    if (b->left <= 0)
        return 0;
    if ((int64_t)want > b->left)
        want = (size_t)b->left;
    do
        n = read(b->fd, b->buf, want);
    while (n < 0 && errno == EINTR);
    if (n < 0 || (n > 0 && EVP_DigestUpdate(b->md, b->buf, (size_t)n) != 1)) {
        b->failed = 1;
        archive_set_error(a, n < 0 ? errno : EIO,
                          "cannot read the layer");
        return -1;
    }
    b->left -= n;
    *buf = b->buf;
    return n;
}

/* The rest of the blob through the hash; 1 if it is its descriptor's
 * digest and size, 0 if not, -1 if it cannot be read. */
static int blob_matches(struct blob_in *b, const char *digest)
{
    unsigned char md[EVP_MAX_MD_SIZE], extra;
    unsigned int mdlen = 0;
    char got[OCI_DIGEST_MAX];
    ssize_t n;

    if (b->failed)
        return -1;
    while (b->left > 0) {
        size_t want = sizeof(b->buf);

        if ((int64_t)want > b->left)
            want = (size_t)b->left;
        n = read(b->fd, b->buf, want);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            return 0;   /* shorter than its size */
        if (EVP_DigestUpdate(b->md, b->buf, (size_t)n) != 1)
            return -1;
        b->left -= n;
    }
    do
        n = read(b->fd, &extra, 1);
    while (n < 0 && errno == EINTR);
    if (n != 0)
        return n < 0 ? -1 : 0;  /* longer than its size */
    if (EVP_DigestFinal_ex(b->md, md, &mdlen) != 1)
        return -1;
    digest_text(md, mdlen, got);
    return strcmp(got, digest) == 0;
}

/* One image's unpack. */
struct unpack {
    const char *name;               /* the image's, for messages */
    const char *tree;               /* the tree being made (relative) */
    size_t layer, nlayers;
    struct unpack_count count;
    char *err;
    size_t errlen;
};

__attribute__((format(printf, 3, 4)))
static enum image_error layer_error(struct unpack *u, enum image_error rc,
                                    const char *fmt, ...)
{
    char what[600];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    errf(u->err, u->errlen, "image \"%s\": layer %zu of %zu: %s", u->name,
         u->layer + 1, u->nlayers, what);
    return rc;
}

static enum image_error over(struct unpack *u, enum unpack_limit hit)
{
    unpack_limit_message(u->err, u->errlen, u->name, u->layer, u->nlayers,
                         hit, &u->count);
    return IMAGE_TOO_LARGE;
}

/* The layer's decompressed stream, as far as it was read, counted. */
static enum unpack_limit count_stream(struct unpack *u, struct archive *in)
{
    la_int64_t pos = archive_filter_bytes(in, 0);

    return unpack_count_bytes(&u->count, pos > 0 ? (uint64_t)pos : 0);
}

/* A write failed: the executor's disk, or the entry itself. */
static enum image_error write_error(struct unpack *u, struct archive *out,
                                    const char *path)
{
    int e = archive_errno(out);

    return layer_error(u, e == ENOSPC || e == EDQUOT ? IMAGE_IO
                                                      : IMAGE_BROKEN,
                       "entry \"%.200s\": %s", path,
                       archive_error_string(out));
}

/*
 * The rest of the current entry's data, counted as it is read: written
 * to out, or (out NULL: an entry that is not written) dropped.  Nothing
 * is left for libarchive to skip unseen.
 */
static enum image_error entry_data(struct unpack *u, struct archive *in,
                                   struct archive *out, const char *path)
{
    enum unpack_limit hit;
    const void *buf;
    size_t size;
    la_int64_t off;
    int r;

    while ((r = archive_read_data_block(in, &buf, &size, &off))
           == ARCHIVE_OK) {
        hit = count_stream(u, in);
        if (hit != UNPACK_WITHIN)
            return over(u, hit);
        if (out != NULL && archive_write_data_block(out, buf, size, off)
                           != ARCHIVE_OK)
            return write_error(u, out, path);
    }
    if (r != ARCHIVE_EOF)
        return layer_error(u, IMAGE_BROKEN, "%s", archive_error_string(in));
    return IMAGE_OK;
}

/*
 * Applies one layer tarball (plain or gzip) from in on top of u->tree:
 * whiteouts are applied, paths that would leave the tree are refused,
 * device nodes are skipped, setuid and setgid bits are dropped; entries
 * and bytes count against the limits as they come.
 */
static enum image_error layer_apply(struct unpack *u, struct archive *in)
{
    struct archive *out = archive_write_disk_new();
    struct archive_entry *e;
    char clean[4096], target[4096], full[4400], name[4096];
    const char *root = u->tree;
    enum image_error rc = IMAGE_BROKEN;
    enum unpack_limit hit;
    struct stat st;
    size_t bad;
    int r;

    if (out == NULL)
        return layer_error(u, IMAGE_IO, "out of memory");
    archive_write_disk_set_options(out,
        ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME
        | ARCHIVE_EXTRACT_SECURE_SYMLINKS | ARCHIVE_EXTRACT_SECURE_NODOTDOT
        | ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS | ARCHIVE_EXTRACT_UNLINK);
    while ((r = archive_read_next_header(in, &e)) == ARCHIVE_OK) {
        const char *path = archive_entry_pathname(e);
        const char *link = archive_entry_hardlink(e);
        mode_t type = archive_entry_filetype(e);

        hit = unpack_count_entry(&u->count);
        if (hit == UNPACK_WITHIN)
            hit = count_stream(u, in);
        if (hit != UNPACK_WITHIN) {
            rc = over(u, hit);
            goto done;
        }
        if (path == NULL || layer_path_clean(path, clean, sizeof(clean)) < 0) {
            if (path != NULL && (strcmp(path, "./") == 0
                                 || strcmp(path, ".") == 0)) {
                /* the root itself */
                if ((rc = entry_data(u, in, NULL, path)) != IMAGE_OK)
                    goto done;
                continue;
            }
            rc = layer_error(u, IMAGE_BROKEN, "entry \"%.200s\" leaves the "
                             "image", path ? path : "(none)");
            goto done;
        }
        bad = symlink_parent(root, clean);
        if (bad > 0) {
            rc = layer_error(u, IMAGE_BROKEN, "entry \"%.200s\" passes "
                             "through the symlink \"%.*s\"", clean, (int)bad,
                             clean);
            goto done;
        }
        switch (layer_path_kind(clean, target, sizeof(target))) {
        case LAYER_ENTRY_WHITEOUT:
            snprintf(full, sizeof(full), "%s/%s", root, target);
            if (fs_tree_remove(full) < 0) {
                rc = layer_error(u, IMAGE_BROKEN, "whiteout of \"%.200s\": "
                                 "%s", target, strerror(errno));
                goto done;
            }
            if ((rc = entry_data(u, in, NULL, clean)) != IMAGE_OK)
                goto done;
            continue;
        case LAYER_ENTRY_OPAQUE:
            snprintf(full, sizeof(full), "%s%s%s", root,
                     target[0] ? "/" : "", target);
            if (empty_dir(full) < 0) {
                rc = layer_error(u, IMAGE_BROKEN, "opaque whiteout of "
                                 "\"%.200s\": %s", target, strerror(errno));
                goto done;
            }
            if ((rc = entry_data(u, in, NULL, clean)) != IMAGE_OK)
                goto done;
            continue;
        case LAYER_ENTRY_NORMAL:
            break;
        }
        if (type == AE_IFCHR || type == AE_IFBLK || type == AE_IFIFO
            || type == AE_IFSOCK) {
            /* no device nodes: /dev is the sandbox's */
            if ((rc = entry_data(u, in, NULL, clean)) != IMAGE_OK)
                goto done;
            continue;
        }
        snprintf(full, sizeof(full), "%s/%s", root, clean);
        snprintf(name, sizeof(name), "%s", clean);
        path = name;    /* the entry's own string changes below */
        if (type != AE_IFDIR && lstat(full, &st) == 0 && S_ISDIR(st.st_mode)
            && fs_tree_remove(full) < 0) {
            /* a later layer replaces a directory with something else */
            rc = layer_error(u, IMAGE_BROKEN, "entry \"%.200s\": cannot "
                             "replace the directory: %s", name,
                             strerror(errno));
            goto done;
        }
        archive_entry_set_pathname(e, full);
        if (link != NULL) {
            if (layer_path_clean(link, clean, sizeof(clean)) < 0) {
                rc = layer_error(u, IMAGE_BROKEN, "hard link \"%.200s\" "
                                 "leaves the image", link);
                goto done;
            }
            bad = symlink_parent(root, clean);
            if (bad > 0) {
                rc = layer_error(u, IMAGE_BROKEN, "hard link \"%.200s\" "
                                 "passes through the symlink \"%.*s\"", link,
                                 (int)bad, clean);
                goto done;
            }
            snprintf(full, sizeof(full), "%s/%s", root, clean);
            archive_entry_set_hardlink(e, full);
        }
        archive_entry_set_perm(e, archive_entry_perm(e) & 01777);
        if (archive_write_header(out, e) != ARCHIVE_OK) {
            rc = write_error(u, out, path);
            goto done;
        }
        /* a hard link's data, if any, is not written */
        rc = entry_data(u, in, link == NULL && archive_entry_size(e) > 0
                               ? out : NULL, path);
        if (rc != IMAGE_OK)
            goto done;
        if (archive_write_finish_entry(out) != ARCHIVE_OK) {
            rc = write_error(u, out, path);
            goto done;
        }
    }
    if (r != ARCHIVE_EOF) {
        rc = layer_error(u, IMAGE_BROKEN, "%s", archive_error_string(in));
        goto done;
    }
    hit = count_stream(u, in);
    rc = hit == UNPACK_WITHIN ? IMAGE_OK : over(u, hit);
done:
    archive_write_free(out);
    return rc;
}

/*
 * Verifies and applies one layer in a single read of its blob: a blob
 * that is not what its descriptor says is refused for that, whatever
 * else went wrong with it.
 */
static enum image_error apply_blob(struct unpack *u, const char *layout,
                                   const struct oci_descriptor *d)
{
    struct blob_in *b = NULL;
    struct archive *in = NULL;
    enum image_error rc;
    enum unpack_limit hit;
    char path[1200];
    int match;

    hit = unpack_count_blob(&u->count, d->size);
    if (hit != UNPACK_WITHIN)
        return over(u, hit);
    b = calloc(1, sizeof(*b));
    if (b != NULL)
        b->fd = -1;
    in = archive_read_new();
    if (b == NULL || in == NULL || (b->md = EVP_MD_CTX_new()) == NULL
        || EVP_DigestInit_ex(b->md, EVP_sha256(), NULL) != 1) {
        rc = layer_error(u, IMAGE_IO, "out of memory");
        goto out;
    }
    blob_path(path, sizeof(path), layout, d->digest);
    b->fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (b->fd < 0) {
        rc = layer_error(u, IMAGE_BROKEN, "blob %s: %s", d->digest,
                         errno == ENOENT ? "missing" : strerror(errno));
        goto out;
    }
    b->left = d->size;
    archive_read_support_filter_gzip(in);
    archive_read_support_filter_none(in);
    archive_read_support_format_tar(in);
    if (archive_read_open(in, b, NULL, blob_read, NULL) != ARCHIVE_OK)
        rc = layer_error(u, IMAGE_BROKEN, "%s", archive_error_string(in));
    else
        rc = layer_apply(u, in);
    if (rc != IMAGE_TOO_LARGE && rc != IMAGE_IO) {
        match = blob_matches(b, d->digest);
        if (match == 0) {
            rc = layer_error(u, IMAGE_BROKEN, "blob %s does not match its "
                             "digest or size", d->digest);
            drop_bad_blob(layout, d->digest);
        }
        else if (match < 0 && rc == IMAGE_OK)
            rc = layer_error(u, IMAGE_BROKEN, "blob %s: cannot read it",
                             d->digest);
    }
out:
    if (in != NULL)
        archive_read_free(in);
    if (b != NULL) {
        if (b->fd >= 0)
            close(b->fd);
        EVP_MD_CTX_free(b->md);
        free(b);
    }
    return rc;
}

static uint64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * Unpacks every layer into rootfs/<hex>, through a temporary directory
 * renamed into place when complete, so a half-unpacked tree is never
 * used, and one that fails is removed.  *bytes: the tree on disk.
 */
static enum image_error unpack(const char *layout,
                               const struct oci_manifest *m,
                               const char *digest, const char *name,
                               uint64_t *bytes, char *err, size_t errlen)
{
    static unsigned long seq;
    char tmp[256], final[256], dir[300];
    struct unpack_limits lim;
    struct unpack u = {
        .name = name, .tree = tmp, .nlayers = m->nlayers,
        .err = err, .errlen = errlen,
    };
    static const char *const mounts[] = { "proc", "dev", "tmp" };
    enum image_error rc = IMAGE_OK;
    uint64_t start = now_ms();
    struct log_record r;
    size_t i;

    image_trees_limits(&lim);
    unpack_count_init(&u.count, &lim);
    snprintf(final, sizeof(final), IMAGE_STORE_ROOTFS "/%s", digest + 7);
    snprintf(tmp, sizeof(tmp), IMAGE_STORE_ROOTFS "/" IMAGE_STORE_UNPACKING
             "%s-%lu", digest + 7,
             __atomic_add_fetch(&seq, 1, __ATOMIC_RELAXED));
    if (mkdir(tmp, 0755) < 0) {
        errf(err, errlen, "image \"%s\": cannot make its tree: %s", name,
             strerror(errno));
        return IMAGE_IO;
    }
    for (i = 0; i < m->nlayers && rc == IMAGE_OK; i++) {
        u.layer = i;
        if (i > 0)
            unpack_count_next_layer(&u.count);
        rc = apply_blob(&u, layout, &m->layers[i]);
    }
    if (rc != IMAGE_OK)
        goto failed;
    /* the sandbox mounts these: they must exist in a read-only tree */
    for (i = 0; i < sizeof(mounts) / sizeof(mounts[0]); i++) {
        snprintf(dir, sizeof(dir), "%s/%s", tmp, mounts[i]);
        if (mkdir(dir, i == 2 ? 01777 : 0755) < 0 && errno != EEXIST) {
            errf(err, errlen, "image \"%s\": cannot create mount points: "
                 "%s", name, strerror(errno));
            rc = IMAGE_BROKEN;
            goto failed;
        }
    }
    chmod(tmp, 0755);
    if (fs_tree_usage(tmp, bytes) < 0) {
        errf(err, errlen, "image \"%s\": cannot measure its tree: %s", name,
             strerror(errno));
        rc = IMAGE_IO;
        goto failed;
    }
    if (rename(tmp, final) < 0) {
        if (errno != EEXIST && errno != ENOTEMPTY) {
            errf(err, errlen, "image \"%s\": cannot put its tree in place: "
                 "%s", name, strerror(errno));
            rc = IMAGE_IO;
            goto failed;
        }
        /* left by a removal that failed: the same digest, the same tree */
        fs_tree_remove(tmp);
        if (fs_tree_usage(final, bytes) < 0)
            *bytes = 0;
    }
    if (log_begin(&r, LOG_LEVEL_INFO, "image unpacked")) {
        log_str(&r, "image", name);
        log_str(&r, "digest", digest);
        log_int(&r, "layers", (long long)m->nlayers);
        log_int(&r, "entries", (long long)(u.count.done_entries
                                           + u.count.layer_entries));
        log_int(&r, "unpacked_bytes", (long long)(u.count.done_bytes
                                                  + u.count.layer_bytes));
        log_int(&r, "bytes", (long long)*bytes);
        log_int(&r, "time_ms", (long long)(now_ms() - start));
        log_end(&r);
    }
    return IMAGE_OK;
failed:
    if (fs_tree_remove(tmp) < 0)
        log_msg(LOG_LEVEL_ERROR, "cannot remove a failed unpack", tmp);
    if (log_begin(&r, LOG_LEVEL_WARN, "image not unpacked")) {
        log_str(&r, "image", name);
        log_str(&r, "digest", digest);
        log_str(&r, "error", err);
        log_end(&r);
    }
    return rc;
}

enum image_error image_prepare(const char *image_dir, const char *store_dir,
                               const char *name, struct image *img,
                               char *err, size_t errlen)
{
    struct oci_ref ref;
    struct oci_descriptor mdesc;
    struct oci_manifest *m = NULL;
    char layout[1100], path[1200], *doc = NULL;
    size_t len, i;
    enum image_error rc = IMAGE_BROKEN;
    int mine = 0, pulled = 0;

    memset(img, 0, sizeof(*img));
    if (image_ref_is_registry(name)) {
        /* pulled into the executor's own blob store, pinned there */
        rc = registry_resolve(name, &mdesc, err, errlen);
        if (rc != IMAGE_OK)
            return rc;
        pulled = 1;
        rc = IMAGE_BROKEN;      /* what a failure below is */
        snprintf(layout, sizeof(layout), REGISTRY_LAYOUT);
    } else {
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
            errf(err, errlen, "image \"%s\": cannot read its index.json: "
                 "%s", name, strerror(errno));
            return IMAGE_BROKEN;
        }
        if (oci_index_select(doc, len, ref.tag, &mdesc, err, errlen) < 0) {
            errf_append(err, errlen, " (image \"%s\")", name);
            rc = strncmp(err, "no manifest tagged", 18) == 0
                 ? IMAGE_NOT_FOUND : IMAGE_BROKEN;
            goto out;
        }
        free(doc);
    }
    doc = read_blob(layout, &mdesc, name, &len, err, errlen);
    if (doc == NULL)
        goto out;
    m = oci_manifest_new(doc, len, err, errlen);
    if (m == NULL) {
        rc = errno == ENOMEM ? IMAGE_IO : IMAGE_BROKEN;
        goto out;
    }
    free(doc);
    doc = read_blob(layout, &m->config, name, &len, err, errlen);
    if (doc == NULL)
        goto out;
    if (oci_config_parse(doc, len, &img->config, err, errlen) < 0)
        goto out;

    strcpy(img->digest, mdesc.digest);
    snprintf(img->rootfs, sizeof(img->rootfs), "%s/" IMAGE_STORE_ROOTFS
             "/%s", store_dir, mdesc.digest + 7);
    /* the tree, held; or this call unpacks it while later ones wait */
    rc = image_trees_claim(mdesc.digest, &mine, err, errlen);
    if (rc != IMAGE_OK)
        goto out;
    if (mine) {
        uint64_t bytes = 0;

        rc = unpack(layout, m, mdesc.digest, name, &bytes, err, errlen);
        /* a pulled image's blobs count with its tree, and go with it */
        if (pulled) {
            bytes += (uint64_t)mdesc.size + (uint64_t)m->config.size;
            for (i = 0; i < m->nlayers; i++)
                bytes += (uint64_t)m->layers[i].size;
        }
        image_trees_unpacked(mdesc.digest, rc, err, bytes);
        if (rc != IMAGE_OK)
            goto out;
        img->unpacked = 1;
    }
    img->held = 1;      /* the last step: nothing fails after it */
out:
    if (pulled) {
        registry_store_release(mdesc.digest);
        /* blobs that do not unpack are of no use kept; the next calls
         * get this error for a while rather than pulling them again */
        if (mine && rc != IMAGE_OK) {
            registry_store_forget(mdesc.digest);
            if (rc != IMAGE_IO)
                registry_failed(name, rc, err);
        }
    }
    free(doc);
    free(m);
    if (rc != IMAGE_OK)
        image_free(img);
    return rc;
}

void image_free(struct image *img)
{
    if (img->held) {
        image_trees_release(img->digest);
        img->held = 0;
    }
    oci_config_free(&img->config);
}

int image_store_cleanup(void)
{
    static const char *const marks[] = {
        IMAGE_STORE_UNPACKING, IMAGE_STORE_REMOVING, NULL
    };

    /* names made only by this store start with these marks */
    return fs_tree_sweep(IMAGE_STORE_ROOTFS, marks);
}
