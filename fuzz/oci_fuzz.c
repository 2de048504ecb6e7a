/*
 * libFuzzer harness: OCI image references, index (a layout's and a
 * registry's), manifest and config documents, and layer entry paths.
 * The first byte picks the parser.
 * What names a place on disk must stay under the directory it is taken
 * from: the directory of a reference, a cleaned layer path and the path
 * a whiteout deletes are relative, without an empty, "." or ".."
 * segment.
 */
#include "layer_path.h"
#include "oci.h"
#include "sandbox_args.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void broken(const char *what, const char *path)
{
    fprintf(stderr, "oci_fuzz: %s: \"%s\"\n", what, path);
    abort();
}

/* Relative, every segment non-empty and neither "." nor "..". */
static int path_clean(const char *s)
{
    const char *end;
    size_t n;

    if (*s == '/')
        return 0;
    for (;;) {
        end = strchr(s, '/');
        n = end ? (size_t)(end - s) : strlen(s);
        if (n == 0 || (n == 1 && s[0] == '.')
            || (n == 2 && s[0] == '.' && s[1] == '.'))
            return 0;
        if (end == NULL)
            return 1;
        s = end + 1;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct oci_descriptor d;
    struct oci_manifest *m;
    struct oci_image_config c;
    struct oci_ref ref;
    char err[512], out[4096], target[4096], *s;
    enum layer_entry_kind kind;
    unsigned uid, gid;

    if (size == 0)
        return 0;
    /* the string parsers take NUL-terminated text */
    s = malloc(size);
    if (s == NULL)
        return 0;
    memcpy(s, data + 1, size - 1);
    s[size - 1] = '\0';
    switch (data[0] % 5) {
    case 0:
        if (oci_ref_parse(s, &ref, err, sizeof(err)) == 0
            && !path_clean(ref.dir))
            broken("a reference's directory leaves the image directory",
                   ref.dir);
        oci_digest_valid(s);
        oci_layer_compression(s);
        break;
    case 1:
        oci_index_select(s, size - 1, "v1", &d, err, sizeof(err));
        oci_index_select(s, size - 1, "", &d, err, sizeof(err));
        /* a registry's index or manifest list: a platform's manifest */
        if (oci_index_platform(s, size - 1, "linux", "amd64", &d, err,
                               sizeof(err)) == 0
            && !oci_is_manifest(d.media_type))
            broken("the platform's pick is no manifest", d.media_type);
        oci_document_media_type(s, size - 1, out, sizeof(out));
        break;
    case 2:
        m = malloc(sizeof(*m));
        if (m != NULL)
            oci_manifest_parse(s, size - 1, m, err, sizeof(err));
        free(m);
        break;
    case 3:
        if (oci_config_parse(s, size - 1, &c, err, sizeof(err)) == 0) {
            sandbox_user(&c, &uid, &gid);
            oci_config_free(&c);
        }
        break;
    default:
        if (layer_path_clean(s, out, sizeof(out)) < 0)
            break;
        if (!path_clean(out))
            broken("a cleaned layer path is not clean", out);
        kind = layer_path_kind(out, target, sizeof(target));
        /* an opaque marker's directory is "" at the top */
        if ((kind == LAYER_ENTRY_WHITEOUT
             || (kind == LAYER_ENTRY_OPAQUE && target[0] != '\0'))
            && !path_clean(target))
            broken("a whiteout deletes outside the tree", target);
        break;
    }
    free(s);
    return 0;
}
