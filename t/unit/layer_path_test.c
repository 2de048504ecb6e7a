/*
 * Paths of image layer entries: cleaning, escapes, whiteouts.
 */
#include "layer_path.h"
#include "tap.h"

static void clean_is(const char *in, const char *want)
{
    char out[64];
    int rc = layer_path_clean(in, out, sizeof(out));

    if (want == NULL)
        ok(rc < 0, "refused: '%s'", in);
    else
        is_str(rc == 0 ? out : NULL, want, "'%s' is '%s'", in, want);
}

static void kind_is(const char *clean, enum layer_entry_kind want,
                    const char *target)
{
    char out[64] = "";
    enum layer_entry_kind k = layer_path_kind(clean, out, sizeof(out));

    is_int(k, want, "kind of '%s'", clean);
    if (target != NULL)
        is_str(out, target, "  names '%s'", target);
}

int main(void)
{
    clean_is("a/b", "a/b");
    clean_is("./a/./b/", "a/b");
    clean_is("a//b", "a/b");
    clean_is("..a/b..", "..a/b..");
    clean_is("/etc/passwd", NULL);
    clean_is("../x", NULL);
    clean_is("a/../../x", NULL);
    clean_is("a/..", NULL);
    clean_is(".", NULL);
    clean_is("./", NULL);
    clean_is("", NULL);
    clean_is("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
             NULL);

    kind_is("a/b", LAYER_ENTRY_NORMAL, NULL);
    kind_is("a/.wh.b", LAYER_ENTRY_WHITEOUT, "a/b");
    kind_is(".wh.top", LAYER_ENTRY_WHITEOUT, "top");
    kind_is("a/.wh..wh..opq", LAYER_ENTRY_OPAQUE, "a");
    kind_is(".wh..wh..opq", LAYER_ENTRY_OPAQUE, "");
    kind_is("a/.wh.", LAYER_ENTRY_NORMAL, NULL);
    kind_is("a/.wh..", LAYER_ENTRY_NORMAL, NULL);
    kind_is("a/.wh...", LAYER_ENTRY_NORMAL, NULL);
    kind_is("a.wh.b", LAYER_ENTRY_NORMAL, NULL);
    return done_testing();
}
