/* Text built in two passes (executor/core/text_out.c). */
#include "tap.h"
#include "text_out.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

static size_t build(char *dst, unsigned long long v)
{
    struct text_out o = { dst, 0 };

    text_str(&o, "n=");
    text_uint(&o, v);
    text_put(&o, "\r\n", 2);
    text_str(&o, "");
    text_put(&o, "xyz", 0);
    return o.len;
}

static void check(unsigned long long v, const char *want)
{
    size_t n = build(NULL, v);
    char *buf = malloc(n + 1);

    ok(n == strlen(want), "%llu: counted", v);
    ok(build(buf, v) == n, "  written the same length");
    buf[n] = '\0';
    is_str(buf, want, "  written");
    free(buf);
}

int main(void)
{
    char buf[8] = "-------";
    struct text_out o = { buf, 0 };

    check(0, "n=0\r\n");
    check(7, "n=7\r\n");
    check(10, "n=10\r\n");
    check(134217728, "n=134217728\r\n");
    check(ULLONG_MAX, "n=18446744073709551615\r\n");

    text_put(&o, "ab", 2);
    text_uint(&o, 42);
    ok(o.len == 4 && memcmp(buf, "ab42---", 8) == 0,
       "appends, and writes nothing past what it counts");
    return done_testing();
}
