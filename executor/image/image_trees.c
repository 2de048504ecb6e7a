/*
 * The unpacked trees: single-flight unpacks, holds, removal under the
 * store's size.
 */
#include "image_trees.h"
#include "errf.h"
#include "fs_tree.h"
#include "image_lru.h"
#include "log.h"
#include "metrics.h"
#include "registry_store.h"
#include "sandbox.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <uv.h>

/* How often the store is checked while it is over its size: trees of
 * sandboxes that closed meanwhile can go then. */
#define CHECK_MS 2000

static struct {
    pthread_mutex_t mu;
    pthread_cond_t unpacked;        /* an unpack ended */
    struct image_lru lru;
    struct unpack_limits limits;
    uint64_t max_bytes;             /* image_store_max_bytes */
    uv_loop_t *loop;                /* once started */
    const struct sandbox_pool *sandboxes;
    uv_timer_t timer;
    unsigned long seq;              /* names of trees being removed */
} T = {
    .mu = PTHREAD_MUTEX_INITIALIZER,
    .unpacked = PTHREAD_COND_INITIALIZER,
};

/* Under T.mu: the gauges follow the table. */
static void gauges(void)
{
    metrics_image_store(T.lru.n, T.lru.bytes);
}

void image_trees_configure(const struct config *cfg)
{
    pthread_mutex_lock(&T.mu);
    T.limits.layer_bytes = cfg->layer_max_bytes;
    T.limits.layer_entries = cfg->layer_max_entries;
    T.limits.image_bytes = cfg->image_max_bytes;
    T.limits.image_entries = cfg->image_max_entries;
    T.max_bytes = cfg->image_store_max_bytes;
    pthread_mutex_unlock(&T.mu);
}

void image_trees_limits(struct unpack_limits *out)
{
    pthread_mutex_lock(&T.mu);
    *out = T.limits;
    pthread_mutex_unlock(&T.mu);
}

/* ------------------------------------------------------------- at start */

struct found {
    char digest[OCI_DIGEST_MAX];
    struct timespec mtime;
    uint64_t bytes;
};

static int older(const void *a, const void *b)
{
    const struct found *x = a, *y = b;

    if (x->mtime.tv_sec != y->mtime.tv_sec)
        return x->mtime.tv_sec < y->mtime.tv_sec ? -1 : 1;
    if (x->mtime.tv_nsec != y->mtime.tv_nsec)
        return x->mtime.tv_nsec < y->mtime.tv_nsec ? -1 : 1;
    return strcmp(x->digest, y->digest);
}

static int hex64(const char *s)
{
    size_t i;

    for (i = 0; i < 64; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    }
    return s[64] == '\0';
}

unsigned image_trees_load(uint64_t *bytes)
{
    struct found *f = NULL, *grown;
    size_t n = 0, cap = 0, i;
    char path[512];
    struct dirent *d;
    struct stat st;
    DIR *dp = opendir(IMAGE_STORE_ROOTFS);
    struct image_tree *t;
    unsigned count = 0;

    *bytes = 0;
    if (dp == NULL)
        return 0;
    while ((d = readdir(dp)) != NULL) {
        if (!hex64(d->d_name))
            continue;   /* ".", "..", and the removals ".*" */
        snprintf(path, sizeof(path), IMAGE_STORE_ROOTFS "/%s", d->d_name);
        if (lstat(path, &st) < 0 || !S_ISDIR(st.st_mode))
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            grown = realloc(f, cap * sizeof(*f));
            if (grown == NULL)
                break;
            f = grown;
        }
        snprintf(f[n].digest, sizeof(f[n].digest), "sha256:%.64s",
                 d->d_name);
        f[n].mtime = st.st_mtim;
        if (fs_tree_usage(path, &f[n].bytes) < 0)
            log_msg(LOG_LEVEL_WARN, "cannot measure an unpacked image",
                    f[n].digest);
        /* a pulled image's blobs count with its tree */
        f[n].bytes += registry_store_bytes(f[n].digest);
        n++;
    }
    closedir(dp);
    if (n > 1)
        qsort(f, n, sizeof(*f), older);
    pthread_mutex_lock(&T.mu);
    for (i = 0; i < n; i++) {
        if (image_lru_find(&T.lru, f[i].digest) != NULL)
            continue;
        t = image_lru_add(&T.lru, f[i].digest);
        if (t == NULL)
            break;
        image_lru_ready(&T.lru, t, f[i].bytes);
        count++;
    }
    *bytes = T.lru.bytes;
    gauges();
    pthread_mutex_unlock(&T.mu);
    free(f);
    return count;
}

/* ------------------------------------------------------------- removal */

struct removal {
    uv_work_t work;
    char path[256];
    char digest[OCI_DIGEST_MAX];
    uint64_t bytes;
    int rc;
    int error;
};

static void remove_work(uv_work_t *w)
{
    struct removal *r = w->data;
    int again;

    r->rc = fs_tree_remove(r->path);
    r->error = errno;
    /* a pulled image's blobs go with its tree, unless a call wants the
     * image again (pinned) or made its tree again meanwhile */
    pthread_mutex_lock(&T.mu);
    again = image_lru_find(&T.lru, r->digest) != NULL;
    pthread_mutex_unlock(&T.mu);
    if (!again)
        registry_store_forget(r->digest);
}

static void removed(uv_work_t *w, int status)
{
    struct removal *r = w->data;
    struct log_record rec;

    if (status < 0 || r->rc < 0) {
        if (log_begin(&rec, LOG_LEVEL_ERROR, "cannot remove an image")) {
            log_str(&rec, "digest", r->digest);
            log_str(&rec, "error", status < 0 ? uv_strerror(status)
                                               : strerror(r->error));
            log_end(&rec);
        }
    }
    free(r);
}

/* in_use() of image_lru_victim(): a sandbox of the image exists */
static int sandbox_of(void *arg, const char *digest)
{
    const struct sandbox_pool *pool = arg;
    const struct sandbox *sb;

    for (sb = pool->all; sb != NULL; sb = sb->next) {
        if (image_lru_key_names(sb->key, digest))
            return 1;
    }
    return 0;
}

/*
 * Under T.mu, on the loop: while the store is over its size, the least
 * recently used tree nothing uses is renamed away (so that nothing finds
 * it any more, and a new unpack of it may start) and removed on the
 * thread pool.
 */
static void shrink(void)
{
    struct image_tree *t;
    struct removal *r;
    struct log_record rec;
    char from[256];

    while ((t = image_lru_victim(&T.lru, T.max_bytes, sandbox_of,
                                 (void *)T.sandboxes)) != NULL) {
        r = calloc(1, sizeof(*r));
        if (r == NULL)
            return;
        snprintf(from, sizeof(from), IMAGE_STORE_ROOTFS "/%s",
                 t->digest + 7);
        snprintf(r->path, sizeof(r->path), IMAGE_STORE_ROOTFS "/"
                 IMAGE_STORE_REMOVING "%s-%lu", t->digest + 7, ++T.seq);
        strcpy(r->digest, t->digest);
        r->bytes = t->bytes;
        if (rename(from, r->path) < 0 && errno != ENOENT) {
            /* forgotten all the same: an unpack of it finds it in place */
            log_msg(LOG_LEVEL_ERROR, "cannot remove an image",
                    strerror(errno));
            image_lru_remove(&T.lru, t);
            free(r);
            continue;
        }
        image_lru_remove(&T.lru, t);
        metrics_count(METRICS_IMAGE_REMOVED);
        if (log_begin(&rec, LOG_LEVEL_INFO, "image removed")) {
            log_str(&rec, "digest", r->digest);
            log_int(&rec, "bytes", (long long)r->bytes);
            log_int(&rec, "store_bytes", (long long)T.lru.bytes);
            log_int(&rec, "store_max_bytes", (long long)T.max_bytes);
            log_str(&rec, "reason", "least recently used");
            log_end(&rec);
        }
        r->work.data = r;
        if (uv_queue_work(T.loop, &r->work, remove_work, removed)
            < 0) {
            /* left for the next start's clean-up */
            log_msg(LOG_LEVEL_ERROR, "cannot remove an image",
                    "cannot queue work");
            free(r);
        }
    }
    gauges();
}

static void on_check(uv_timer_t *timer)
{
    (void)timer;
    pthread_mutex_lock(&T.mu);
    if (T.lru.bytes > T.max_bytes)
        shrink();
    pthread_mutex_unlock(&T.mu);
}

void image_trees_start(uv_loop_t *loop, const struct sandbox_pool *pool)
{
    T.loop = loop;
    T.sandboxes = pool;
    uv_timer_init(loop, &T.timer);
    uv_timer_start(&T.timer, on_check, CHECK_MS, CHECK_MS);
    uv_unref((uv_handle_t *)&T.timer);
    on_check(&T.timer);
}

void image_trees_free(void)
{
    pthread_mutex_lock(&T.mu);
    image_lru_clear(&T.lru);
    T.loop = NULL;
    T.sandboxes = NULL;
    pthread_mutex_unlock(&T.mu);
}

/* -------------------------------------------------------------- unpacks */

enum image_error image_trees_claim(const char *digest, int *unpack,
                                   char *err, size_t errlen)
{
    struct image_tree *t;
    enum image_error rc = IMAGE_OK;

    *unpack = 0;
    pthread_mutex_lock(&T.mu);
    t = image_lru_find(&T.lru, digest);
    if (t == NULL) {
        t = image_lru_add(&T.lru, digest);
        if (t == NULL) {
            errf(err, errlen, "out of memory");
            rc = IMAGE_IO;
        } else {
            *unpack = 1;
        }
        goto out;
    }
    if (t->state == IMAGE_TREE_UNPACKING) {
        /* a tree waited for is never removed (image_lru_victim) */
        t->waiters++;
        while (t->state == IMAGE_TREE_UNPACKING)
            pthread_cond_wait(&T.unpacked, &T.mu);
        t->waiters--;
    }
    if (t->state == IMAGE_TREE_FAILED) {
        rc = (enum image_error)t->error;
        errf(err, errlen, "%s", t->message);
        if (t->waiters == 0)
            image_lru_remove(&T.lru, t);
        goto out;
    }
    t->refs++;
    image_lru_touch(&T.lru, t);
out:
    pthread_mutex_unlock(&T.mu);
    return rc;
}

void image_trees_unpacked(const char *digest, enum image_error rc,
                          const char *err, uint64_t bytes)
{
    struct image_tree *t;

    pthread_mutex_lock(&T.mu);
    t = image_lru_find(&T.lru, digest);
    if (t != NULL && t->state == IMAGE_TREE_UNPACKING) {
        if (rc == IMAGE_OK) {
            image_lru_ready(&T.lru, t, bytes);
            t->refs++;
            image_lru_touch(&T.lru, t);
            gauges();
        } else if (t->waiters == 0) {
            image_lru_remove(&T.lru, t);
        } else {
            /* its waiters get the same answer; the last one forgets it */
            t->state = IMAGE_TREE_FAILED;
            t->error = (int)rc;
            snprintf(t->message, sizeof(t->message), "%s", err);
        }
        pthread_cond_broadcast(&T.unpacked);
    }
    pthread_mutex_unlock(&T.mu);
}

int image_trees_hold(const char *digest)
{
    struct image_tree *t;
    int rc = -1;

    pthread_mutex_lock(&T.mu);
    t = image_lru_find(&T.lru, digest);
    if (t != NULL && t->state == IMAGE_TREE_READY) {
        t->refs++;
        image_lru_touch(&T.lru, t);
        rc = 0;
    }
    pthread_mutex_unlock(&T.mu);
    return rc;
}

void image_trees_release(const char *digest)
{
    struct image_tree *t;

    pthread_mutex_lock(&T.mu);
    t = image_lru_find(&T.lru, digest);
    if (t != NULL && t->refs > 0) {
        t->refs--;
        image_lru_touch(&T.lru, t);
    }
    if (T.loop != NULL && T.lru.bytes > T.max_bytes)
        shrink();
    pthread_mutex_unlock(&T.mu);
}
