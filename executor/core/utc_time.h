/*
 * Times in UTC as RFC 3339 text, "YYYY-MM-DDTHH:MM:SSZ", without the C
 * library's time zone and locale machinery (a hot call writes two).
 * Pure.
 */
#ifndef EXECUTOR_UTC_TIME_H
#define EXECUTOR_UTC_TIME_H

#include <stdint.h>

#define UTC_TIME_LEN 20

/*
 * Seconds since the epoch as UTC_TIME_LEN characters and a NUL.  Times
 * before 1970 or after 9999-12-31T23:59:59Z are written as those bounds.
 */
void utc_time(int64_t seconds, char out[UTC_TIME_LEN + 1]);

#endif
