/* ULIDs (common/ulid.c): encoding, validation. */
#include "tap.h"
#include "ulid.h"

#include <string.h>

int main(void)
{
    unsigned char zero[ULID_RANDOM_BYTES] = { 0 };
    unsigned char ones[ULID_RANDOM_BYTES];
    unsigned char one_bit[ULID_RANDOM_BYTES] = { 0 };
    unsigned char buf[64], again[64];
    char id[ULID_LEN + 1];

    memset(ones, 0xff, sizeof(ones));
    one_bit[ULID_RANDOM_BYTES - 1] = 1;

    ulid_encode(id, 0, zero);
    id[ULID_LEN] = '\0';
    is_str(id, "00000000000000000000000000", "all zero");
    ulid_encode(id, (1ULL << 48) - 1, ones);
    is_str(id, "7ZZZZZZZZZZZZZZZZZZZZZZZZZ", "all ones: 48 and 80 bits");
    ulid_encode(id, 1469918176385ULL, one_bit);
    is_str(id, "01ARYZ6S410000000000000001",
           "the spec's time, and the last random bit last");
    ok(ulid_valid(id, strlen(id)), "what it encodes is valid");
    ok(ulid_time(id) == 1469918176385ULL, "its time read back");
    ok(ulid_time("7ZZZZZZZZZZZZZZZZZZZZZZZZZ") == (1ULL << 48) - 1,
       "the last time a ULID holds");
    ok(ulid_time("00000000000000000000000000") == 0, "the first");

    ok(ulid_valid("01ARZ3NDEKTSV4RRFFQ69G5FAV", ULID_LEN), "a ULID");
    ok(!ulid_valid("01ARZ3NDEKTSV4RRFFQ69G5FAI", ULID_LEN), "I is not "
       "Crockford's");
    ok(!ulid_valid("01arz3ndektsv4rrffq69g5fav", ULID_LEN), "lower case");
    ok(!ulid_valid("81ARZ3NDEKTSV4RRFFQ69G5FAV", ULID_LEN), "past 48 bits");
    ok(!ulid_valid("01ARZ3NDEKTSV4RRFFQ69G5FA", ULID_LEN - 1), "too short");
    ok(!ulid_valid("01ARZ3NDEKTSV4RRFFQ69G5FAVV", ULID_LEN + 1), "too long");
    ok(!ulid_valid("01ARZ3NDEKTSV4RR\0FQ69G5FAV", ULID_LEN), "a NUL inside");

    /* every byte in the last place of a ULID, and every digit in the
     * last place of its time */
    {
        char s[] = "01ARZ3NDEKTSV4RRFFQ69G5FAV";
        int c, bad = 0, wrong = 0;

        for (c = 0; c < 256; c++) {
            s[ULID_LEN - 1] = (char)c;
            if (ulid_valid(s, ULID_LEN)
                != (c != 0 && strchr(ulid_digits, c) != NULL))
                bad++;
        }
        ok(bad == 0, "a byte is a digit if and only if it is in "
           "ulid_digits");
        strcpy(s, "00000000000000000000000000");
        for (c = 0; c < 32; c++) {
            s[9] = ulid_digits[c];
            if (ulid_time(s) != (uint64_t)c)
                wrong++;
        }
        ok(wrong == 0, "each digit's value is its place in ulid_digits");
    }

    ok(ulid_random(buf, sizeof(buf)) == 0, "random bytes");
    ok(ulid_random(again, sizeof(again)) == 0, "and more");
    ok(memcmp(buf, again, sizeof(buf)) != 0, "not the same twice");
    return done_testing();
}
