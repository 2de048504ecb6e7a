/* UTC times as RFC 3339 text (executor/core/utc_time.c), against the C
 * library's gmtime_r and strftime. */
#include "tap.h"
#include "utc_time.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int same_as_libc(int64_t t)
{
    char want[32], got[UTC_TIME_LEN + 1];
    time_t tt = (time_t)t;
    struct tm tm;

    gmtime_r(&tt, &tm);
    strftime(want, sizeof(want), "%Y-%m-%dT%H:%M:%SZ", &tm);
    utc_time(t, got);
    if (strcmp(want, got) != 0) {
        printf("#   %lld: got %s, expected %s\n", (long long)t, got, want);
        return 0;
    }
    return 1;
}

int main(void)
{
    char out[UTC_TIME_LEN + 1];
    int64_t t, bad = 0;
    unsigned seed = 1;

    utc_time(0, out);
    is_str(out, "1970-01-01T00:00:00Z", "the epoch");
    utc_time(951782400, out);
    is_str(out, "2000-02-29T00:00:00Z", "a leap day of a year divisible by 400");
    utc_time(4107542399LL, out);
    is_str(out, "2100-02-28T23:59:59Z", "2100 is no leap year");
    utc_time(1798761599, out);
    is_str(out, "2026-12-31T23:59:59Z", "the last second of a year");
    utc_time(-1, out);
    is_str(out, "1970-01-01T00:00:00Z", "before the epoch: the epoch");
    utc_time(253402300799LL, out);
    is_str(out, "9999-12-31T23:59:59Z", "the last second of year 9999");
    utc_time(INT64_MAX, out);
    is_str(out, "9999-12-31T23:59:59Z", "later: that second");
    is_int(strlen(out), UTC_TIME_LEN, "always %d characters", UTC_TIME_LEN);

    /* every day boundary from 1970 to 2200, and random seconds to 9999 */
    for (t = 0; t < 7258118400LL; t += 86400) {
        if (!same_as_libc(t) || !same_as_libc(t + 86399))
            bad++;
    }
    for (int i = 0; i < 200000; i++) {
        seed = seed * 1103515245 + 12345;
        t = ((int64_t)seed << 16 ^ (int64_t)(seed >> 7)) % 253402300800LL;
        if (t < 0)
            t = -t;
        if (!same_as_libc(t))
            bad++;
    }
    is_int(bad, 0, "as gmtime_r and strftime write them, over 230 years of "
           "days and 200000 random seconds");
    return done_testing();
}
