/*
 * Per-call function logs.
 */
#include "call_log.h"
#include "call_request.h"
#include "file_read.h"
#include "log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LOG_PATH_MAX 64

struct fetch_job {
    uv_work_t work;
    struct fetch_job *next;         /* waiting for the same save */
    struct http_conn *conn;
    char path[LOG_PATH_MAX];
    char *buf;
    size_t len;
    int err;
};

struct save_job {
    uv_work_t work;
    struct save_job *next;          /* saves in flight */
    uv_loop_t *loop;
    char call_id[ULID_LEN + 1];
    char path[LOG_PATH_MAX];
    char *buf;
    size_t len;
    int err;
    struct fetch_job *waiting;      /* reads of this log, once written */
};

/* Logs being written: a read of one waits for it (a caller that reads a
 * call's log right after its answer finds it). */
static struct save_job *saving;

static void fetch_work(uv_work_t *w);
static void fetch_done(uv_work_t *w, int status);

struct sweep_job {
    uv_work_t work;
    uint64_t retention_ms;
    uint64_t max_bytes;         /* 0: no cap */
    uint64_t bytes;             /* what is kept after the sweep */
    int removed;                /* expired */
    int evicted;                /* removed for room, oldest first */
};

/* The settings the sweep reads, and what the logs take on disk (an
 * estimate between sweeps: every save adds to it). */
static struct {
    const uint64_t *retention_ms;
    const uint64_t *max_bytes;
    uint64_t bytes;
    int running;
} sweeper;

static void sweep_now(uv_loop_t *loop);

static int write_all(int fd, const char *buf, size_t len)
{
    ssize_t n;

    while (len > 0) {
        n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Written beside the final name and renamed: readers never see half. */
static void save_work(uv_work_t *w)
{
    struct save_job *j = w->data;
    char tmp[LOG_PATH_MAX + 8];
    int fd;

    snprintf(tmp, sizeof(tmp), "%s.tmp", j->path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
              0640);
    if (fd < 0) {
        j->err = errno;
        return;
    }
    if (write_all(fd, j->buf, j->len) < 0) {
        j->err = errno ? errno : EIO;
        close(fd);
        unlink(tmp);
        return;
    }
    if (close(fd) < 0 || rename(tmp, j->path) < 0) {
        j->err = errno;
        unlink(tmp);
    }
}

static void save_done(uv_work_t *w, int status)
{
    struct save_job *j = w->data, **pp;
    struct fetch_job *f;

    if (status < 0 || j->err != 0) {
        log_msg(LOG_LEVEL_ERROR, "cannot keep a call's log",
                status < 0 ? uv_strerror(status) : strerror(j->err));
    } else if (sweeper.max_bytes != NULL) {
        /* over the cap: the oldest logs go now, not at the next minute */
        sweeper.bytes += j->len;
        if (*sweeper.max_bytes > 0 && sweeper.bytes > *sweeper.max_bytes)
            sweep_now(j->loop);
    }
    for (pp = &saving; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == j) {
            *pp = j->next;
            break;
        }
    }
    while ((f = j->waiting) != NULL) {
        j->waiting = f->next;
        if (uv_queue_work(j->loop, &f->work, fetch_work, fetch_done) < 0) {
            f->err = ENOMEM;
            fetch_done(&f->work, UV_ENOMEM);
        }
    }
    free(j->buf);
    free(j);
}

void call_log_save(uv_loop_t *loop, const char *call_id, char *buf,
                   size_t len)
{
    struct save_job *j;

    if (len == 0) {
        free(buf);      /* nothing on stderr: no log */
        return;
    }
    j = calloc(1, sizeof(*j));
    if (j == NULL) {
        free(buf);
        log_msg(LOG_LEVEL_ERROR, "cannot keep a call's log", "out of memory");
        return;
    }
    snprintf(j->path, sizeof(j->path), CALL_LOG_DIR "/%s", call_id);
    snprintf(j->call_id, sizeof(j->call_id), "%s", call_id);
    j->loop = loop;
    j->buf = buf;
    j->len = len;
    j->work.data = j;
    j->next = saving;
    saving = j;
    if (uv_queue_work(loop, &j->work, save_work, save_done) < 0)
        save_done(&j->work, UV_ENOMEM);
}

/* ------------------------------------------------------------- serving */

static void fetch_work(uv_work_t *w)
{
    struct fetch_job *j = w->data;

    /* the file is at most log_max_per_call (16 MiB) bytes */
    j->buf = file_read(j->path, 16 << 20, &j->len);
    if (j->buf == NULL)
        j->err = errno;
}

static void fetch_conn_closed(void *arg)
{
    struct fetch_job *j = arg;

    j->conn = NULL;
}

static void fetch_done(uv_work_t *w, int status)
{
    struct fetch_job *j = w->data;

    if (j->conn != NULL) {
        j->conn->on_close = NULL;
        if (status < 0 || (j->err != 0 && j->err != ENOENT))
            http_conn_respond_error(j->conn, 500, "cannot read the log");
        else if (j->err == ENOENT)
            http_conn_respond_error(j->conn, 404, "no log for this call "
                                    "(unknown call id, or expired)");
        else
            http_conn_respond(j->conn, 200, "text/plain; charset=utf-8",
                              NULL, j->buf ? j->buf : "", j->len);
    }
    free(j->buf);
    free(j);
}

void call_log_serve(uv_loop_t *loop, struct http_conn *c, const char *id)
{
    struct fetch_job *j;
    struct save_job *sj;
    char call_id[32];
    size_t n = strcspn(id, "/?");

    if (n >= sizeof(call_id) || strcmp(id + n, "/log") != 0) {
        http_conn_respond_error(c, 404, "no such endpoint");
        return;
    }
    memcpy(call_id, id, n);
    call_id[n] = '\0';
    /* a ULID names no other file */
    if (!call_id_valid(call_id)) {
        http_conn_respond_error(c, 400, "not a call id");
        return;
    }
    j = calloc(1, sizeof(*j));
    if (j == NULL) {
        http_conn_respond_error(c, 500, "out of memory");
        return;
    }
    snprintf(j->path, sizeof(j->path), CALL_LOG_DIR "/%s", call_id);
    j->conn = c;
    c->on_close = fetch_conn_closed;
    c->on_close_arg = j;
    j->work.data = j;
    for (sj = saving; sj != NULL; sj = sj->next) {
        if (strcmp(sj->call_id, call_id) == 0) {
            j->next = sj->waiting;
            sj->waiting = j;
            return;
        }
    }
    if (uv_queue_work(loop, &j->work, fetch_work, fetch_done) < 0) {
        j->err = ENOMEM;
        fetch_done(&j->work, UV_ENOMEM);
    }
}

/* ------------------------------------------------------------ sweeping */

struct log_file {
    time_t mtime;
    off_t size;
    char name[ULID_LEN + 1];
};

static int older_first(const void *a, const void *b)
{
    const struct log_file *x = a, *y = b;

    return x->mtime < y->mtime ? -1 : x->mtime > y->mtime;
}

/*
 * Removes the expired logs, then, while the rest takes more than the cap,
 * the oldest, down to three quarters of it (so that the next sweep is not
 * due at the next save).
 */
static void sweep_work(uv_work_t *w)
{
    struct sweep_job *j = w->data;
    char path[LOG_PATH_MAX + 256];
    struct log_file *files = NULL, *more;
    size_t n = 0, cap = 0, i;
    struct dirent *d;
    struct stat st;
    time_t cutoff = time(NULL) - (time_t)(j->retention_ms / 1000);
    DIR *dp = opendir(CALL_LOG_DIR);

    if (dp == NULL)
        return;
    while ((d = readdir(dp)) != NULL) {
        if (d->d_name[0] == '.' || strlen(d->d_name) > ULID_LEN)
            continue;
        snprintf(path, sizeof(path), CALL_LOG_DIR "/%.250s", d->d_name);
        if (lstat(path, &st) < 0 || !S_ISREG(st.st_mode))
            continue;
        if (st.st_mtime < cutoff) {
            if (unlink(path) == 0)
                j->removed++;
            continue;
        }
        j->bytes += (uint64_t)st.st_size;
        if (j->max_bytes == 0)
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 256;
            more = realloc(files, cap * sizeof(*files));
            if (more == NULL)
                break;      /* the cap waits for the next sweep */
            files = more;
        }
        files[n].mtime = st.st_mtime;
        files[n].size = st.st_size;
        strcpy(files[n].name, d->d_name);
        n++;
    }
    closedir(dp);
    if (j->max_bytes > 0 && j->bytes > j->max_bytes) {
        qsort(files, n, sizeof(*files), older_first);
        for (i = 0; i < n && j->bytes > j->max_bytes / 4 * 3; i++) {
            snprintf(path, sizeof(path), CALL_LOG_DIR "/%s", files[i].name);
            if (unlink(path) == 0) {
                j->bytes -= (uint64_t)files[i].size;
                j->evicted++;
            }
        }
    }
    free(files);
}

static void sweep_done(uv_work_t *w, int status)
{
    struct sweep_job *j = w->data;
    struct log_record r;

    sweeper.running = 0;
    if (status == 0)
        sweeper.bytes = j->bytes;
    if (status == 0 && j->removed > 0
        && log_begin(&r, LOG_LEVEL_DEBUG, "expired call logs removed")) {
        log_int(&r, "count", j->removed);
        log_end(&r);
    }
    if (status == 0 && j->evicted > 0
        && log_begin(&r, LOG_LEVEL_WARN, "call logs removed for room")) {
        log_int(&r, "count", j->evicted);
        log_int(&r, "log_store_max", (long long)j->max_bytes);
        log_end(&r);
    }
    free(j);
}

static void sweep_now(uv_loop_t *loop)
{
    struct sweep_job *j;

    if (sweeper.running)
        return;
    j = calloc(1, sizeof(*j));
    if (j == NULL)
        return;
    j->retention_ms = *sweeper.retention_ms;
    j->max_bytes = *sweeper.max_bytes;
    j->work.data = j;
    if (uv_queue_work(loop, &j->work, sweep_work, sweep_done) < 0) {
        free(j);
        return;
    }
    sweeper.running = 1;
}

static void on_sweep(uv_timer_t *t)
{
    sweep_now(t->loop);
}

void call_log_sweep_start(uv_loop_t *loop, uv_timer_t *timer,
                          const uint64_t *retention_ms,
                          const uint64_t *max_bytes)
{
    sweeper.retention_ms = retention_ms;
    sweeper.max_bytes = max_bytes;
    uv_timer_init(loop, timer);
    uv_timer_start(timer, on_sweep, 0, 60 * 1000);
}
