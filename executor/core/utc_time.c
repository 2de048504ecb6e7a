/*
 * UTC times as RFC 3339 text.
 */
#include "utc_time.h"

#define UTC_MAX 253402300799LL          /* 9999-12-31T23:59:59Z */

static void two(char *p, unsigned v)
{
    p[0] = (char)('0' + v / 10);
    p[1] = (char)('0' + v % 10);
}

void utc_time(int64_t seconds, char out[UTC_TIME_LEN + 1])
{
    int64_t days, era, z;
    unsigned sod, doe, yoe, doy, mp, day, month;
    int64_t year;

    if (seconds < 0)
        seconds = 0;
    if (seconds > UTC_MAX)
        seconds = UTC_MAX;
    days = seconds / 86400;
    sod = (unsigned)(seconds % 86400);

    /* the civil date of a day count, in 400-year eras that start on
     * March 1st (the leap day last in the year) */
    z = days + 719468;
    era = z / 146097;
    doe = (unsigned)(z - era * 146097);
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    day = doy - (153 * mp + 2) / 5 + 1;
    month = mp < 10 ? mp + 3 : mp - 9;
    year = (int64_t)yoe + era * 400 + (month <= 2);

    two(out, (unsigned)(year / 100));
    two(out + 2, (unsigned)(year % 100));
    out[4] = '-';
    two(out + 5, month);
    out[7] = '-';
    two(out + 8, day);
    out[10] = 'T';
    two(out + 11, sod / 3600);
    out[13] = ':';
    two(out + 14, sod / 60 % 60);
    out[16] = ':';
    two(out + 17, sod % 60);
    out[19] = 'Z';
    out[20] = '\0';
}
