/*
 * The executor's log.
 */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static int log_fd = STDERR_FILENO;
static enum log_level log_min = LOG_LEVEL_INFO;

int log_open(const char *path, enum log_level level)
{
    int fd = STDERR_FILENO;

    if (path != NULL && path[0] != '\0') {
        fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
        if (fd < 0)
            return -errno;
    }
    if (log_fd != STDERR_FILENO)
        close(log_fd);
    log_fd = fd;
    log_min = level;
    return 0;
}

void log_close(void)
{
    if (log_fd != STDERR_FILENO)
        close(log_fd);
    log_fd = STDERR_FILENO;
}

/* The time of a record: RFC 3339, UTC, microseconds. */
static void timestamp(char *ts, size_t size)
{
    struct timeval tv;
    struct tm tm;

    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    strftime(ts, size, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + strlen(ts), size - strlen(ts), ".%06ldZ",
             (long)tv.tv_usec);
}

int log_begin(struct log_record *r, enum log_level level, const char *msg)
{
    char ts[40];

    r->active = level >= log_min;
    if (!r->active)
        return 0;

    timestamp(ts, sizeof(ts));
    logfmt_init(&r->buf, r->data, sizeof(r->data));
    logfmt_add_str(&r->buf, "time", ts);
    logfmt_add_str(&r->buf, "level", log_level_name(level));
    logfmt_add_str(&r->buf, "msg", msg);
    return 1;
}

void log_str(struct log_record *r, const char *key, const char *value)
{
    if (r->active)
        logfmt_add_str(&r->buf, key, value != NULL ? value : "");
}

void log_int(struct log_record *r, const char *key, long long value)
{
    if (r->active)
        logfmt_add_int(&r->buf, key, value);
}

void log_end(struct log_record *r)
{
    size_t len;

    if (!r->active)
        return;
    len = logfmt_finish(&r->buf);
    log_write(r->data, len);
    r->active = 0;
}

int log_prefix(char *buf, size_t size, enum log_level level, const char *msg)
{
    struct logfmt_buf b;
    char ts[40];

    if (level < log_min)
        return 0;
    timestamp(ts, sizeof(ts));
    logfmt_init(&b, buf, size - 1);
    logfmt_add_str(&b, "time", ts);
    logfmt_add_str(&b, "level", log_level_name(level));
    logfmt_add_str(&b, "msg", msg);
    buf[b.len] = '\0';
    return 1;
}

void log_write(const char *data, size_t len)
{
    size_t off = 0;

    while (off < len) {
        ssize_t n = write(log_fd, data + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;  /* nowhere left to say so */
        off += (size_t)n;
    }
}

void log_msg(enum log_level level, const char *msg, const char *error)
{
    struct log_record r;

    if (!log_begin(&r, level, msg))
        return;
    if (error != NULL)
        log_str(&r, "error", error);
    log_end(&r);
}
