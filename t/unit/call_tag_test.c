/* Sealed async call ids (ngx_http_functions_call_tag.c). */
#include "tap.h"
#include "ngx_http_functions_call_tag.h"
#include "ulid.h"

#include <string.h>

static const unsigned char key[] = "0123456789abcdef0123456789abcdef";
static const unsigned char other[] = "0123456789abcdef0123456789abcdeF";
#define KEY_LEN (sizeof(key) - 1)

static int sealed(const char *id, const char *app)
{
    return functions_call_tag_sealed(id, strlen(id), key, KEY_LEN, app,
                                     strlen(app));
}

int main(void)
{
    char id[ULID_LEN + 1] = "01ARZ3NDEKTSV4RRFFQ69G5FAV";
    char plain[ULID_LEN + 1], again[ULID_LEN + 1], b[ULID_LEN + 1];
    char long_app[300];
    int i, changed = 0, flips = 0;

    memcpy(plain, id, sizeof(id));
    ok(!sealed(id, "app"), "an id of its own is not sealed");
    is_int(functions_call_tag_seal(id, key, KEY_LEN, "app", 3), 0, "sealed");
    ok(memcmp(id, plain, ULID_LEN - FUNCTIONS_CALL_TAG_CHARS) == 0,
       "its time and first 50 random bits are kept");
    for (i = ULID_LEN - FUNCTIONS_CALL_TAG_CHARS; i < ULID_LEN; i++)
        changed += id[i] != plain[i];
    ok(changed > 0, "its last characters are the tag");
    ok(ulid_valid(id, ULID_LEN), "still a ULID");
    is_int((int)ulid_time(id), (int)ulid_time(plain), "of the same time");
    ok(sealed(id, "app"), "sealed for its app");
    ok(!sealed(id, "ap"), "not for another app");
    ok(!sealed(id, "app2"), "nor for a longer name");
    ok(!functions_call_tag_sealed(id, ULID_LEN, other, KEY_LEN, "app", 3),
       "nor under another key");
    ok(!functions_call_tag_sealed(id, ULID_LEN, key, 0, "app", 3),
       "nor under no key");
    ok(!functions_call_tag_sealed(id, ULID_LEN - 1, key, KEY_LEN, "app", 3),
       "a prefix is not");
    ok(!functions_call_tag_sealed(id, ULID_LEN, key, KEY_LEN, "app\0x", 5),
       "an app name with a NUL is not");

    /* every character of the id counts */
    for (i = 0; i < ULID_LEN; i++) {
        memcpy(b, id, sizeof(b));
        b[i] = b[i] == 'Z' ? 'Y' : (b[i] == '7' && i == 0 ? '6' : 'Z');
        flips += !sealed(b, "app");
    }
    is_int(flips, ULID_LEN, "a change of any character breaks the seal");
    memcpy(b, id, sizeof(b));
    b[3] = (char)(b[3] | 0x20);
    ok(!sealed(b, "app"), "lower case is not a ULID");

    /* the same head seals the same way; another head another way */
    memcpy(again, plain, sizeof(again));
    functions_call_tag_seal(again, key, KEY_LEN, "app", 3);
    is_str(again, id, "deterministic");
    memcpy(again, plain, sizeof(again));
    again[12] = again[12] == 'A' ? 'B' : 'A';
    functions_call_tag_seal(again, key, KEY_LEN, "app", 3);
    ok(memcmp(again + 20, id + 20, 6) != 0, "another head, another tag");

    memset(long_app, 'a', sizeof(long_app));
    memcpy(b, plain, sizeof(b));
    is_int(functions_call_tag_seal(b, key, KEY_LEN, long_app, 255), 0,
           "an app name of 255 bytes, the most it takes");
    ok(functions_call_tag_sealed(b, ULID_LEN, key, KEY_LEN, long_app, 255),
       "  sealed for it");
    memcpy(b, plain, sizeof(b));
    ok(functions_call_tag_seal(b, key, KEY_LEN, long_app, sizeof(long_app))
       != 0, "an app name past any the API allows: refused");
    ok(!functions_call_tag_sealed(b, ULID_LEN, key, KEY_LEN, long_app,
                                  sizeof(long_app)), "  and never sealed");
    return done_testing();
}
