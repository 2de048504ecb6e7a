/* Reason phrases (executor/http/http_status.c): every code a function may
 * answer with gets its registered phrase or none, never a made-up one. */
#include "http_status.h"
#include "tap.h"

#include <string.h>

int main(void)
{
    int status, bad = 0, named = 0;

    is_str(http_status_text(200), "OK", "200");
    is_str(http_status_text(201), "Created", "201 (Go's net/http answers it)");
    is_str(http_status_text(204), "No Content", "204");
    is_str(http_status_text(302), "Found", "302");
    is_str(http_status_text(413), "Content Too Large", "413 as RFC 9110");
    is_str(http_status_text(418), "", "418: not registered, no phrase");
    is_str(http_status_text(429), "Too Many Requests", "429");
    is_str(http_status_text(451), "Unavailable For Legal Reasons", "451");
    is_str(http_status_text(299), "", "299: none");
    is_str(http_status_text(599), "", "599: none");
    is_str(http_status_text(0), "", "0: none");
    is_str(http_status_text(-1), "", "-1: none");
    is_str(http_status_text(1000), "", "1000: none");
    /* a phrase goes into a status line: printable ASCII and spaces only,
     * not starting or ending with a space */
    for (status = 100; status <= 599; status++) {
        const char *t = http_status_text(status);
        size_t i, n = strlen(t);

        if (n > 0)
            named++;
        for (i = 0; i < n; i++)
            if (t[i] < 0x20 || t[i] > 0x7e)
                bad++;
        if (n > 0 && (t[0] == ' ' || t[n - 1] == ' '))
            bad++;
    }
    ok(bad == 0, "every phrase is printable, not padded");
    ok(named == 61, "61 registered codes from 100 to 599 (got %d)", named);
    return done_testing();
}
