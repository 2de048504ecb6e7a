/*
 * The executor's log: one logfmt record per line, written with a single
 * write(2) so that lines from concurrent writers never interleave.
 */
#ifndef EXECUTOR_LOG_H
#define EXECUTOR_LOG_H

#include "config.h"
#include "logfmt.h"

#define LOG_RECORD_MAX 4096

struct log_record {
    struct logfmt_buf buf;
    char data[LOG_RECORD_MAX];
    int active;
};

/* Opens path for appending ("" or NULL: stderr).  Returns 0 or -errno. */
int log_open(const char *path, enum log_level level);
void log_close(void);

/* Starts a record; returns 0 (and the record is inactive) below the level. */
int log_begin(struct log_record *r, enum log_level level, const char *msg);
void log_str(struct log_record *r, const char *key, const char *value);
void log_int(struct log_record *r, const char *key, long long value);
void log_end(struct log_record *r);

/*
 * The head of a record ("time=... level=... msg=...") in buf, NUL-ended,
 * for lines written in bulk with log_write(): 1, or 0 below the level.
 */
int log_prefix(char *buf, size_t size, enum log_level level,
               const char *msg);

/* Writes whole lines at once. */
void log_write(const char *data, size_t len);

/* Shorthand for a record with a message and one optional error string. */
void log_msg(enum log_level level, const char *msg, const char *error);

#endif
