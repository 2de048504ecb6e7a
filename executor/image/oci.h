/*
 * OCI image references and documents (index, manifest, config): parsing
 * and checks, no I/O.
 */
#ifndef EXECUTOR_OCI_H
#define EXECUTOR_OCI_H

#include <stddef.h>
#include <stdint.h>

#define OCI_DIGEST_MAX 72               /* "sha256:" + 64 hex + NUL */
#define OCI_MEDIA_TYPE_MAX 128
#define OCI_MAX_LAYERS 128
#define OCI_MAX_ARGS 256
#define OCI_MAX_ENV 256

#define OCI_MEDIA_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define OCI_MEDIA_INDEX "application/vnd.oci.image.index.v1+json"
#define OCI_MEDIA_CONFIG "application/vnd.oci.image.config.v1+json"
/* Docker's image manifest v2, schema 2, and its list: the same shapes */
#define OCI_MEDIA_DOCKER_MANIFEST \
    "application/vnd.docker.distribution.manifest.v2+json"
#define OCI_MEDIA_DOCKER_LIST \
    "application/vnd.docker.distribution.manifest.list.v2+json"
#define OCI_MEDIA_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"

/* An image name: "oci:<dir>[:<tag>]" (a local OCI image layout). */
struct oci_ref {
    char dir[512];          /* relative to the executor's image_dir */
    char tag[129];          /* "" when none was given */
};

struct oci_descriptor {
    char media_type[OCI_MEDIA_TYPE_MAX];
    char digest[OCI_DIGEST_MAX];
    int64_t size;
};

struct oci_manifest {
    struct oci_descriptor config;
    struct oci_descriptor layers[OCI_MAX_LAYERS];
    size_t nlayers;
};

/* What the function's process takes from the image. */
struct oci_image_config {
    char **entrypoint;      /* NULL-terminated lists; NULL when absent */
    char **cmd;
    char **env;
    char *working_dir;      /* NULL when absent */
    char *user;
};

int oci_ref_parse(const char *image, struct oci_ref *ref, char *err,
                  size_t errlen);

/* "sha256:" and 64 lowercase hex digits. */
int oci_digest_valid(const char *digest);

/* Picks the manifest of the index tagged tag (any single one if tag "") */
int oci_index_select(const char *json, size_t len, const char *tag,
                     struct oci_descriptor *out, char *err, size_t errlen);

int oci_manifest_parse(const char *json, size_t len, struct oci_manifest *m,
                       char *err, size_t errlen);

/* The same, parsed into a malloc()ed manifest; NULL with err and errno
 * (ENOMEM, or EINVAL for a document refused). */
struct oci_manifest *oci_manifest_new(const char *json, size_t len,
                                      char *err, size_t errlen);

/* An image manifest's media type (OCI's or Docker's v2s2): 1, else 0. */
int oci_is_manifest(const char *media_type);
/* An image index's (OCI's, or Docker's manifest list): 1, else 0. */
int oci_is_index(const char *media_type);

/*
 * The manifest of an image index (or Docker manifest list) for the
 * platform os/architecture (GOOS/GOARCH names: "linux", "amd64").  0, or
 * -1 with a message (no such platform, or a malformed index).
 */
int oci_index_platform(const char *json, size_t len, const char *os,
                       const char *arch, struct oci_descriptor *out,
                       char *err, size_t errlen);

/* The media type a manifest document says it is ("" when it does not). */
void oci_document_media_type(const char *json, size_t len, char *out,
                             size_t size);

int oci_config_parse(const char *json, size_t len, struct oci_image_config *c,
                     char *err, size_t errlen);
void oci_config_free(struct oci_image_config *c);

/* A deep copy of an image config: 0, or -1 if memory runs out. */
int oci_config_copy(struct oci_image_config *dst,
                    const struct oci_image_config *src);

/* Layer media types this executor unpacks; 1 if gzip-compressed, 0 if
 * plain tar, -1 if unsupported. */
int oci_layer_compression(const char *media_type);

#endif
