/* Strings and arrays in blocks freed together (executor/core/arena.c). */
#include "tap.h"
#include "arena.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int put(struct arena *a, char **s, size_t *len, const char *src)
{
    return arena_append(a, s, len, src, strlen(src));
}

int main(void)
{
    struct arena a;
    char *s = NULL, *t = NULL, *u = NULL, *keep[200], *big = NULL, *first;
    size_t sl = 0, tl = 0, ul = 0, bl = 0, i, n;
    void *p;
    int all;

    arena_init(&a, 0);

    /* pieces of one string, then another, then the first again */
    ok(put(&a, &s, &sl, "Con") == 0 && put(&a, &s, &sl, "tent-") == 0
       && put(&a, &s, &sl, "Type") == 0, "a string in three pieces");
    is_str(s, "Content-Type", "  whole");
    is_int(sl, 12, "  its length");
    first = s;
    ok(put(&a, &t, &tl, "text/plain") == 0, "a second string");
    ok(put(&a, &s, &sl, "-X") == 0, "the first one grows again");
    is_str(s, "Content-Type-X", "  it moved whole");
    ok(s != first, "  to a new place (it was not the newest)");
    is_str(t, "text/plain", "  the second one is untouched");
    ok(put(&a, &s, &sl, "Y") == 0 && strcmp(s, "Content-Type-XY") == 0,
       "the moved string is the newest: it grows where it is");

    /* an empty string */
    ok(arena_append(&a, &u, &ul, "", 0) == 0 && u != NULL && u[0] == '\0'
       && ul == 0, "an empty string is \"\", not NULL");

    /* aligned arrays between strings */
    put(&a, &u, &ul, "odd");
    p = arena_alloc(&a, 3 * sizeof(char *));
    ok(p != NULL && (uintptr_t)p % _Alignof(max_align_t) == 0,
       "an array after a string of odd length is aligned");
    memset(p, 0xab, 3 * sizeof(char *));
    is_str(u, "odd", "  the string before it is untouched");
    ok(put(&a, &u, &ul, "er") == 0 && strcmp(u, "odder") == 0,
       "a string followed by an array moves to grow");

    /* many strings over many blocks: each stays where it was */
    for (i = 0; i < 200; i++) {
        char word[32];
        size_t len = 0;

        keep[i] = NULL;
        n = (size_t)snprintf(word, sizeof(word), "header-%zu-", i);
        arena_append(&a, &keep[i], &len, word, n);
        arena_append(&a, &keep[i], &len, "value", 5);
    }
    all = 1;
    for (i = 0; i < 200; i++) {
        char want[40];

        snprintf(want, sizeof(want), "header-%zu-value", i);
        if (keep[i] == NULL || strcmp(keep[i], want) != 0)
            all = 0;
    }
    ok(all, "200 strings over several blocks are all intact");

    /* a string far larger than a block, a byte at a time */
    all = 1;
    for (i = 0; i < 20000 && all; i++)
        all = arena_append(&a, &big, &bl, i % 2 ? "b" : "a", 1) == 0;
    ok(all && bl == 20000 && strlen(big) == 20000, "a 20000-byte string "
       "grown a byte at a time");
    ok(big[0] == 'a' && big[1] == 'b' && big[19999] == 'b',
       "  holds what was put");
    is_str(keep[0], "header-0-value", "  and moved nothing else");
    is_str(t, "text/plain", "  nothing at all");

    /* what cannot be */
    s = t;
    sl = tl;
    ok(arena_append(&a, &s, &sl, "x", SIZE_MAX) == -1 && s == t && sl == tl,
       "a length past memory: -1, the string as it was");
    ok(arena_alloc(&a, SIZE_MAX - 8) == NULL, "an array past memory: NULL");

    /* reset keeps the first block of the usual size */
    arena_free(&a);
    arena_init(&a, 0);
    s = NULL;
    put(&a, &s, &sl, "first");
    first = s;
    for (i = 0; i < 100; i++) {
        t = NULL;
        put(&a, &t, &tl, "filling the arena with blocks after the first");
    }
    arena_reset(&a);
    s = NULL;
    put(&a, &s, &sl, "again");
    ok(s == first, "after a reset, the first block is used again");
    is_str(s, "again", "  with what was put");

    /* an arena whose first block was made for a long string (a reset
     * frees that block rather than keep it) */
    arena_free(&a);
    arena_init(&a, 64);
    {
        char long_value[500];

        memset(long_value, 'y', sizeof(long_value));
        s = NULL;
        ok(arena_append(&a, &s, &sl, long_value, sizeof(long_value)) == 0
           && sl == 500 && s[499] == 'y' && s[500] == '\0',
           "an arena of 64-byte blocks takes a 500-byte string");
    }
    arena_reset(&a);
    s = NULL;
    ok(put(&a, &s, &sl, "z") == 0 && strcmp(s, "z") == 0,
       "  and works after a reset");

    arena_free(&a);
    arena_free(&a);
    ok(1, "arena_free twice is harmless");
    return done_testing();
}
