/*
 * The store of pulled images (registry_store.h).
 */
#include "registry_store.h"
#include "file_read.h"
#include "fs_tree.h"
#include "image_store.h"
#include "log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DOC_MAX (64 * 1024 * 1024)  /* registry_manifest_max's top */

struct pin {
    char digest[OCI_DIGEST_MAX];
    unsigned n;
};

static struct {
    pthread_mutex_t mu;
    unsigned pulls;             /* under way */
    int sweep_due;              /* an image was forgotten during one */
    struct pin *pins;
    size_t npins, cap;
} S = { .mu = PTHREAD_MUTEX_INITIALIZER };

void registry_store_sha256(const void *data, size_t len,
                           char out[OCI_DIGEST_MAX])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0, i;

    EVP_Digest(data, len, md, &n, EVP_sha256(), NULL);
    strcpy(out, "sha256:");
    for (i = 0; i < n && 7 + 2 * i + 2 < OCI_DIGEST_MAX; i++)
        snprintf(out + 7 + 2 * i, 3, "%02x", md[i]);
}

void registry_store_blob_path(char *out, size_t size, const char *digest)
{
    snprintf(out, size, REGISTRY_LAYOUT "/blobs/sha256/%.64s", digest + 7);
}

static void kept_path(char *out, size_t size, const char *digest)
{
    snprintf(out, size, REGISTRY_KEPT "/%.64s", digest + 7);
}

int registry_store_has(const struct oci_descriptor *d)
{
    char path[256];
    struct stat st;

    registry_store_blob_path(path, sizeof(path), d->digest);
    return stat(path, &st) == 0 && S_ISREG(st.st_mode)
           && st.st_size == d->size;
}

/* Writes a file whole through a temporary name.  0, or -1 (errno). */
static int put_file(const char *path, const char *data, size_t len)
{
    char tmp[300];
    int fd, saved;

    snprintf(tmp, sizeof(tmp), "%s" REGISTRY_TEMP "%lu", path,
             (unsigned long)pthread_self());
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
              0644);
    if (fd < 0)
        return -1;
    if ((len > 0 && write(fd, data, len) != (ssize_t)len) || close(fd) < 0
        || rename(tmp, path) < 0) {
        saved = errno;
        unlink(tmp);
        errno = saved != 0 ? saved : EIO;
        return -1;
    }
    return 0;
}

int registry_store_put(const char *digest, const char *data, size_t len)
{
    char path[256];

    registry_store_blob_path(path, sizeof(path), digest);
    return put_file(path, data, len);
}

/*
 * The stored manifest of digest: read (at most max bytes), checked
 * against its digest, parsed; its media type in media_type.  NULL with
 * errno ENOENT if it is not here, EBADMSG if it is not what it should be
 * (EFBIG: larger than max), or another (the host's trouble).
 */
static struct oci_manifest *stored_manifest(const char *digest, size_t max,
                                            char *media_type, size_t mtlen,
                                            size_t *len)
{
    struct oci_manifest *m;
    char path[256], got[OCI_DIGEST_MAX], err[128], *doc;

    if (!oci_digest_valid(digest)) {
        errno = EBADMSG;
        return NULL;
    }
    registry_store_blob_path(path, sizeof(path), digest);
    doc = file_read(path, max, len);
    if (doc == NULL)
        return NULL;
    registry_store_sha256(doc, *len, got);
    oci_document_media_type(doc, *len, media_type, mtlen);
    m = NULL;
    errno = EBADMSG;
    if (strcmp(got, digest) == 0 && oci_is_manifest(media_type)) {
        m = oci_manifest_new(doc, *len, err, sizeof(err));
        if (m == NULL && errno != ENOMEM)
            errno = EBADMSG;
    }
    free(doc);
    return m;
}

/* ---------------------------------------------------------------- pins */

static struct pin *pin_find(const char *digest)
{
    size_t i;

    for (i = 0; i < S.npins; i++) {
        if (strcmp(S.pins[i].digest, digest) == 0)
            return &S.pins[i];
    }
    return NULL;
}

/* Under S.mu.  0, or -1 (no memory). */
static int pin(const char *digest)
{
    struct pin *p = pin_find(digest), *grown;

    if (p == NULL) {
        if (S.npins == S.cap) {
            grown = realloc(S.pins, (S.cap ? 2 * S.cap : 16) * sizeof(*p));
            if (grown == NULL)
                return -1;
            S.pins = grown;
            S.cap = S.cap ? 2 * S.cap : 16;
        }
        p = &S.pins[S.npins++];
        snprintf(p->digest, sizeof(p->digest), "%s", digest);
        p->n = 0;
    }
    p->n++;
    return 0;
}

void registry_store_release(const char *digest)
{
    struct pin *p;

    pthread_mutex_lock(&S.mu);
    p = pin_find(digest);
    if (p != NULL && --p->n == 0)
        *p = S.pins[--S.npins];
    pthread_mutex_unlock(&S.mu);
}

int registry_store_acquire(const char *digest, size_t max,
                           struct oci_descriptor *d)
{
    struct oci_manifest *m = NULL;
    char path[256];
    struct stat st;
    size_t len = 0, i;
    int ok;

    if (!oci_digest_valid(digest))
        return -1;
    /* pinned first: nothing is removed while the files are looked at */
    pthread_mutex_lock(&S.mu);
    kept_path(path, sizeof(path), digest);
    ok = stat(path, &st) == 0 && pin(digest) == 0;
    pthread_mutex_unlock(&S.mu);
    if (!ok)
        return -1;
    memset(d, 0, sizeof(*d));
    m = stored_manifest(digest, max, d->media_type, sizeof(d->media_type),
                        &len);
    ok = m != NULL && registry_store_has(&m->config);
    for (i = 0; ok && i < m->nlayers; i++)
        ok = registry_store_has(&m->layers[i]);
    free(m);
    if (!ok) {
        registry_store_release(digest);
        return -1;
    }
    snprintf(d->digest, sizeof(d->digest), "%s", digest);
    d->size = (int64_t)len;
    return 0;
}

int registry_store_keep(const struct oci_descriptor *d)
{
    char path[256];
    int rc;

    kept_path(path, sizeof(path), d->digest);
    pthread_mutex_lock(&S.mu);
    rc = put_file(path, "", 0);
    if (rc == 0 && pin(d->digest) < 0) {
        unlink(path);
        errno = ENOMEM;
        rc = -1;
    }
    pthread_mutex_unlock(&S.mu);
    return rc;
}

/* --------------------------------------------------------------- sweeps */

struct marks {
    char (*hex)[65];
    size_t n, cap;
};

static int mark(struct marks *k, const char *digest)
{
    char (*grown)[65];

    if (k->n == k->cap) {
        grown = realloc(k->hex, (k->cap ? 2 * k->cap : 64) * sizeof(*grown));
        if (grown == NULL)
            return -1;
        k->hex = grown;
        k->cap = k->cap ? 2 * k->cap : 64;
    }
    snprintf(k->hex[k->n++], 65, "%.64s", digest + 7);
    return 0;
}

/* The manifest of digest and its blobs, marked.  0; -1 if that manifest
 * is not here or not one; -2 if it cannot be told (out of memory or
 * descriptors, a read error): nothing may be removed then. */
static int mark_image(struct marks *k, const char *digest)
{
    struct oci_manifest *m;
    char mt[OCI_MEDIA_TYPE_MAX];
    size_t len, i;
    int rc = 0;

    m = stored_manifest(digest, DOC_MAX, mt, sizeof(mt), &len);
    if (m == NULL)
        return errno == ENOENT || errno == EBADMSG || errno == EFBIG
               ? -1 : -2;
    if (mark(k, digest) < 0 || mark(k, m->config.digest) < 0)
        rc = -2;
    for (i = 0; rc == 0 && i < m->nlayers; i++) {
        if (mark(k, m->layers[i].digest) < 0)
            rc = -2;
    }
    free(m);
    return rc;
}

static int hex_cmp(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* "sha256:" + name, if name is 64 lowercase hex digits. */
static int name_digest(const char *name, char out[OCI_DIGEST_MAX])
{
    snprintf(out, OCI_DIGEST_MAX, "sha256:%.64s", name);
    return strlen(name) == 64 && oci_digest_valid(out);
}

/*
 * Under S.mu, no pull under way: removes the blobs no kept or pinned
 * manifest names (and the kept entries whose manifest is not here).
 * Returns how many files it removed.
 */
static int sweep(void)
{
    struct marks k = { 0 };
    char digest[OCI_DIGEST_MAX], path[512];
    struct dirent *e;
    struct stat st;
    uint64_t bytes = 0;
    struct log_record rec;
    size_t i;
    int removed = 0, rc = 0;
    DIR *dir;

    S.sweep_due = 0;
    dir = opendir(REGISTRY_KEPT);
    if (dir == NULL)
        return 0;
    while (rc != -2 && (e = readdir(dir)) != NULL) {
        if (!name_digest(e->d_name, digest))
            continue;
        rc = mark_image(&k, digest);
        if (rc == -1) {
            /* its manifest is gone or damaged: the image with it */
            kept_path(path, sizeof(path), digest);
            if (unlink(path) == 0)
                removed++;
        }
    }
    closedir(dir);
    for (i = 0; rc != -2 && i < S.npins; i++)
        rc = mark_image(&k, S.pins[i].digest) == -2 ? -2 : 0;
    if (rc == -2) {
        /* not knowing what is named, nothing goes: tried again later */
        S.sweep_due = 1;
        free(k.hex);
        return removed;
    }
    if (k.n > 1)
        qsort(k.hex, k.n, sizeof(*k.hex), hex_cmp);
    dir = opendir(REGISTRY_LAYOUT "/blobs/sha256");
    while (dir != NULL && (e = readdir(dir)) != NULL) {
        if (!name_digest(e->d_name, digest)
            || (k.n > 0 && bsearch(e->d_name, k.hex, k.n, sizeof(*k.hex),
                                   hex_cmp) != NULL))
            continue;
        registry_store_blob_path(path, sizeof(path), digest);
        if (lstat(path, &st) == 0 && unlink(path) == 0) {
            bytes += (uint64_t)st.st_size;
            removed++;
        }
    }
    if (dir != NULL)
        closedir(dir);
    free(k.hex);
    if (removed > 0 && log_begin(&rec, LOG_LEVEL_INFO,
                                 "pulled blobs removed")) {
        log_int(&rec, "files", removed);
        log_int(&rec, "bytes", (long long)bytes);
        log_end(&rec);
    }
    return removed;
}

void registry_store_pull_begin(void)
{
    pthread_mutex_lock(&S.mu);
    S.pulls++;
    pthread_mutex_unlock(&S.mu);
}

void registry_store_pull_end(int failed)
{
    pthread_mutex_lock(&S.mu);
    if (failed)
        S.sweep_due = 1;
    if (--S.pulls == 0 && S.sweep_due)
        sweep();
    pthread_mutex_unlock(&S.mu);
}

void registry_store_forget(const char *digest)
{
    char path[256];

    if (!oci_digest_valid(digest))
        return;
    pthread_mutex_lock(&S.mu);
    if (pin_find(digest) != NULL) {
        /* a call is about to unpack it again: it stays */
        pthread_mutex_unlock(&S.mu);
        return;
    }
    kept_path(path, sizeof(path), digest);
    if (unlink(path) == 0) {
        if (S.pulls == 0)
            sweep();
        else
            S.sweep_due = 1;
    }
    pthread_mutex_unlock(&S.mu);
}

uint64_t registry_store_bytes(const char *digest)
{
    struct oci_manifest *m;
    char mt[OCI_MEDIA_TYPE_MAX], path[256];
    struct stat st;
    uint64_t bytes;
    size_t len, i;

    kept_path(path, sizeof(path), digest);
    if (stat(path, &st) < 0)
        return 0;
    m = stored_manifest(digest, DOC_MAX, mt, sizeof(mt), &len);
    if (m == NULL)
        return 0;
    bytes = len + (uint64_t)(m->config.size > 0 ? m->config.size : 0);
    for (i = 0; i < m->nlayers; i++)
        bytes += (uint64_t)(m->layers[i].size > 0 ? m->layers[i].size : 0);
    free(m);
    return bytes;
}

/* -------------------------------------------------------------- at start */

int registry_store_init(void)
{
    static const char *const dirs[] = {
        REGISTRY_LAYOUT, REGISTRY_LAYOUT "/blobs",
        REGISTRY_LAYOUT "/blobs/sha256", REGISTRY_KEPT,
    };
    static const char *const marks[] = { REGISTRY_TEMP, NULL };
    char digest[OCI_DIGEST_MAX], tree[256], path[256];
    struct dirent *e;
    struct stat st;
    size_t i;
    int removed;
    DIR *dir;

    for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        if (mkdir(dirs[i], 0755) < 0 && errno != EEXIST)
            return -1;
    }
    removed = fs_tree_sweep(REGISTRY_LAYOUT "/blobs/sha256", marks)
              + fs_tree_sweep(REGISTRY_KEPT, marks);
    /* an image pulled but never unpacked (a crash between the two) counts
     * in no store size: forgotten, pulled again when a call wants it */
    dir = opendir(REGISTRY_KEPT);
    while (dir != NULL && (e = readdir(dir)) != NULL) {
        if (!name_digest(e->d_name, digest))
            continue;
        snprintf(tree, sizeof(tree), IMAGE_STORE_ROOTFS "/%.64s", digest + 7);
        if (lstat(tree, &st) == 0 && S_ISDIR(st.st_mode))
            continue;
        kept_path(path, sizeof(path), digest);
        if (unlink(path) == 0)
            removed++;
    }
    if (dir != NULL)
        closedir(dir);
    pthread_mutex_lock(&S.mu);
    removed += sweep();
    pthread_mutex_unlock(&S.mu);
    return removed;
}
