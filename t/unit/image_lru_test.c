/*
 * The table of unpacked trees: order of use, holds, and what is removed
 * when the store is over its size.
 */
#include "image_lru.h"
#include "tap.h"

static const char *busy_digest;

static int in_use(void *arg, const char *digest)
{
    (void)arg;
    return busy_digest != NULL && strcmp(digest, busy_digest) == 0;
}

static struct image_tree *ready(struct image_lru *l, const char *digest,
                                uint64_t bytes)
{
    struct image_tree *t = image_lru_add(l, digest);

    image_lru_ready(l, t, bytes);
    return t;
}

int main(void)
{
    struct image_lru l = { 0 };
    struct image_tree *a, *b, *c, *v;

    a = ready(&l, "sha256:a", 100);
    b = ready(&l, "sha256:b", 100);
    c = image_lru_add(&l, "sha256:c");
    is_int(l.n, 2, "trees being unpacked do not count");
    is_int(l.bytes, 200, "nor do their bytes");
    ok(image_lru_find(&l, "sha256:c") == c, "but are found");
    ok(image_lru_find(&l, "sha256:d") == NULL, "an unknown digest is not");
    image_lru_ready(&l, c, 100);
    is_int(l.bytes, 300, "ready: it counts");
    image_lru_ready(&l, c, 100);
    is_int(l.bytes, 300, "once");

    ok(image_lru_victim(&l, 300, NULL, NULL) == NULL,
       "within the size: nothing goes");
    ok(image_lru_victim(&l, 299, NULL, NULL) == a,
       "over it: the least recently used goes");
    image_lru_touch(&l, a);
    ok(image_lru_victim(&l, 299, NULL, NULL) == b,
       "a used again: b goes instead");
    b->refs = 1;
    ok(image_lru_victim(&l, 299, NULL, NULL) == c, "not one a call holds");
    busy_digest = "sha256:c";
    ok(image_lru_victim(&l, 299, in_use, NULL) == a,
       "nor one a sandbox uses");
    a->waiters = 1;
    ok(image_lru_victim(&l, 299, in_use, NULL) == NULL,
       "nor one a thread waits for: none is left");
    a->waiters = 0;
    b->refs = 0;
    busy_digest = NULL;

    v = image_lru_victim(&l, 150, NULL, NULL);
    ok(v == b, "the least recently used first");
    image_lru_remove(&l, v);
    is_int(l.bytes, 200, "its bytes are gone with it");
    v = image_lru_victim(&l, 150, NULL, NULL);
    ok(v == c, "then the next");
    image_lru_remove(&l, v);
    ok(image_lru_victim(&l, 150, NULL, NULL) == NULL, "until it fits");
    is_int(l.n, 1, "one tree is left");
    ok(l.head == a && l.tail == a, "a, alone in the list");
    c = image_lru_add(&l, "sha256:c");
    image_lru_remove(&l, c);
    is_int(l.bytes, 100, "a failed unpack leaves the bytes as they were");
    image_lru_clear(&l);
    ok(l.head == NULL && l.tail == NULL && l.n == 0 && l.bytes == 0,
       "cleared");

    ok(image_lru_key_names("demo\n/hello\nsha256:ab\n134217728", "sha256:ab"),
       "a sandbox's key names its digest");
    ok(image_lru_key_names("demo\n/hello\nsha256:ab\nhttp\n134217728\n30",
                           "sha256:ab"), "so does a hot pool's");
    ok(!image_lru_key_names("demo\n/hello\nsha256:abc\n1", "sha256:ab"),
       "not a longer digest");
    ok(!image_lru_key_names("demo\n/hello\nsha256:a\n1", "sha256:ab"),
       "not a shorter one");
    ok(!image_lru_key_names("sha256:ab\n/x\nsha256:cd\n1", "sha256:ab"),
       "only the third line counts");
    ok(!image_lru_key_names("demo\nsha256:ab", "sha256:ab"),
       "a key too short names none");
    ok(image_lru_key_names("demo\n/x\nsha256:ab", "sha256:ab"),
       "the digest may end the key");
    ok(!image_lru_key_names("demo\n/x\n", ""), "an empty digest never");
    return done_testing();
}
