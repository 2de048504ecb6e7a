/*
 * libFuzzer harness: OCI image references, index, manifest and config
 * documents, and layer entry paths.  The first byte picks the parser.
 */
#include "layer_path.h"
#include "oci.h"
#include "sandbox_args.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct oci_descriptor d;
    struct oci_manifest *m;
    struct oci_image_config c;
    struct oci_ref ref;
    char err[512], out[4096], target[4096], *s;
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
        oci_ref_parse(s, &ref, err, sizeof(err));
        oci_digest_valid(s);
        oci_layer_compression(s);
        break;
    case 1:
        oci_index_select(s, size - 1, "v1", &d, err, sizeof(err));
        oci_index_select(s, size - 1, "", &d, err, sizeof(err));
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
        if (layer_path_clean(s, out, sizeof(out)) == 0)
            layer_path_kind(out, target, sizeof(target));
        break;
    }
    free(s);
    return 0;
}
