/*
 * logfmt encoding: key=value pairs on one line, values quoted when needed.
 * Pure: writes into a caller's buffer.
 */
#ifndef FUNCTIONS_LOGFMT_H
#define FUNCTIONS_LOGFMT_H

#include <stddef.h>

struct logfmt_buf {
    char *data;
    size_t len;
    size_t cap;         /* room for pairs; the end mark is kept apart */
    int truncated;
};

void logfmt_init(struct logfmt_buf *b, char *data, size_t cap);

/*
 * Appends " key=value" (no leading space for the first pair).  The value is
 * quoted if it is empty or holds a space, '=', '"' or a control byte;
 * quotes, backslashes and control bytes are escaped, so one record is always
 * one line.  A pair that does not fit is dropped whole, later pairs too,
 * and the record ends with "truncated=true".  cap must exceed 16 bytes.
 */
void logfmt_add(struct logfmt_buf *b, const char *key, const char *value,
                size_t value_len);
void logfmt_add_str(struct logfmt_buf *b, const char *key, const char *value);
void logfmt_add_int(struct logfmt_buf *b, const char *key, long long value);

/* Ends the record with a newline; returns its length. */
size_t logfmt_finish(struct logfmt_buf *b);

#endif
