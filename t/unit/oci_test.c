/*
 * OCI references and documents.
 */
#include "oci.h"
#include "sandbox_args.h"
#include "tap.h"

#include <stdlib.h>

#define D1 "sha256:0123456789abcdef0123456789abcdef" \
           "0123456789abcdef0123456789abcdef"
#define D2 "sha256:fedcba9876543210fedcba9876543210" \
           "fedcba9876543210fedcba9876543210"

static char err[512];

static void test_refs(void)
{
    struct oci_ref ref;

    is_int(oci_ref_parse("oci:images/hello:v1", &ref, err, sizeof(err)), 0,
           "oci:<dir>:<tag>");
    is_str(ref.dir, "images/hello", "  dir");
    is_str(ref.tag, "v1", "  tag");
    is_int(oci_ref_parse("oci:hello", &ref, err, sizeof(err)), 0,
           "without a tag");
    is_str(ref.tag, "", "  tag is empty");
    ok(oci_ref_parse("busybox:latest", &ref, err, sizeof(err)) < 0
       && strstr(err, "only local OCI layouts") != NULL,
       "registry names are refused, saying why");
    ok(oci_ref_parse("oci:../etc:v1", &ref, err, sizeof(err)) < 0,
       "'..' is refused");
    ok(oci_ref_parse("oci:/etc:v1", &ref, err, sizeof(err)) < 0,
       "an absolute dir is refused");
    ok(oci_ref_parse("oci:a:b c", &ref, err, sizeof(err)) < 0,
       "a bad tag is refused");
    ok(oci_digest_valid(D1), "a sha256 digest");
    ok(!oci_digest_valid("sha256:ABC"), "a short one is not");
    ok(!oci_digest_valid("sha512:0123"), "nor another algorithm");
}

static void test_index(void)
{
    struct oci_descriptor d;
    const char *idx = "{\"schemaVersion\":2,\"manifests\":["
        "{\"mediaType\":\"" OCI_MEDIA_MANIFEST "\",\"digest\":\"" D1 "\","
        "\"size\":10,\"annotations\":"
        "{\"org.opencontainers.image.ref.name\":\"v1\"}},"
        "{\"mediaType\":\"" OCI_MEDIA_MANIFEST "\",\"digest\":\"" D2 "\","
        "\"size\":20,\"annotations\":"
        "{\"org.opencontainers.image.ref.name\":\"v2\"}}]}";

    is_int(oci_index_select(idx, strlen(idx), "v2", &d, err, sizeof(err)), 0,
           "the tagged manifest is found");
    is_str(d.digest, D2, "  its digest");
    is_int(d.size, 20, "  its size");
    ok(oci_index_select(idx, strlen(idx), "v3", &d, err, sizeof(err)) < 0,
       "an unknown tag is an error");
    ok(oci_index_select(idx, strlen(idx), "", &d, err, sizeof(err)) < 0,
       "no tag with two manifests is ambiguous");
    ok(oci_index_select("{", 1, "v1", &d, err, sizeof(err)) < 0,
       "broken JSON is an error");
}

static void test_manifest_and_config(void)
{
    struct oci_manifest *m = calloc(1, sizeof(*m));
    struct oci_image_config c;
    unsigned uid, gid;
    const char *man = "{\"schemaVersion\":2,\"config\":{\"mediaType\":\""
        OCI_MEDIA_CONFIG "\",\"digest\":\"" D1 "\",\"size\":5},"
        "\"layers\":[{\"mediaType\":"
        "\"application/vnd.oci.image.layer.v1.tar+gzip\","
        "\"digest\":\"" D2 "\",\"size\":7}]}";
    const char *bad = "{\"schemaVersion\":2,\"config\":{\"mediaType\":\""
        OCI_MEDIA_CONFIG "\",\"digest\":\"sha256:../../x\",\"size\":5},"
        "\"layers\":[]}";
    const char *cfg = "{\"config\":{\"Entrypoint\":[\"/bin/sh\"],"
        "\"Cmd\":[\"-c\",\"x\"],\"Env\":[\"A=1\"],\"WorkingDir\":\"/fn\","
        "\"User\":\"10:20\"}}";

    is_int(oci_manifest_parse(man, strlen(man), m, err, sizeof(err)), 0,
           "a manifest");
    is_int(m->nlayers, 1, "  one layer");
    is_str(m->layers[0].digest, D2, "  its digest");
    ok(oci_manifest_parse(bad, strlen(bad), m, err, sizeof(err)) < 0,
       "a digest that is a path is refused");
    is_int(oci_layer_compression(
               "application/vnd.oci.image.layer.v1.tar+gzip"), 1, "tar+gzip");
    is_int(oci_layer_compression("application/vnd.oci.image.layer.v1.tar"),
           0, "tar");
    is_int(oci_layer_compression(
               "application/vnd.oci.image.layer.v1.tar+zstd"), -1,
           "zstd is not supported");

    is_int(oci_config_parse(cfg, strlen(cfg), &c, err, sizeof(err)), 0,
           "an image config");
    is_str(c.entrypoint[0], "/bin/sh", "  Entrypoint");
    is_str(c.cmd[1], "x", "  Cmd");
    is_str(c.env[0], "A=1", "  Env");
    is_str(c.working_dir, "/fn", "  WorkingDir");
    is_int(sandbox_user(&c, &uid, &gid), 0, "  User");
    ok(uid == 10 && gid == 20, "  is uid:gid 10:20");
    oci_config_free(&c);
    is_int(oci_config_parse("{}", 2, &c, err, sizeof(err)), 0,
           "a config without config");
    ok(sandbox_user(&c, &uid, &gid) == 0 && uid == 1000 && gid == 1000,
       "  runs as 1000:1000");
    oci_config_free(&c);
    free(m);
}

int main(void)
{
    test_refs();
    test_index();
    test_manifest_and_config();
    return done_testing();
}
