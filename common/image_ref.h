/*
 * Image references as Docker and OCI registries name images, checked and
 * split: [registry/]repository[:tag][@digest].  Pure; the module (route
 * checks) and the executor (pulls) apply the same rule.
 *
 *   hello                      default registry, "<namespace>/hello:latest"
 *   iron/hello:0.1             default registry, "iron/hello:0.1"
 *   reg.example.com:5000/t/fn  registry "reg.example.com:5000"
 *   localhost/fn@sha256:<hex>  registry "localhost", by digest
 *
 * The first component is a registry when it holds a "." or a ":", or is
 * "localhost" (Docker's rule); a one-component repository on the default
 * registry gets the default namespace ("library" on Docker Hub).
 */
#ifndef COMMON_IMAGE_REF_H
#define COMMON_IMAGE_REF_H

#include <stddef.h>

#define IMAGE_REF_MAX 512           /* a whole reference, bytes */
#define IMAGE_REF_REGISTRY_MAX 255  /* host[:port] */
/* Docker Hub's endpoint: what "docker.io/..." and "index.docker.io/..."
 * name, as Docker reads them */
#define IMAGE_REF_DOCKER_HUB "registry-1.docker.io"
#define IMAGE_REF_REPO_MAX 255      /* the repository's path */
#define IMAGE_REF_TAG_MAX 128
#define IMAGE_REF_DIGEST_MAX 71     /* "sha256:" and 64 hex digits */

struct image_ref {
    char registry[IMAGE_REF_REGISTRY_MAX + 1];  /* host or host:port */
    char repository[IMAGE_REF_REPO_MAX + 1];    /* namespace applied */
    char tag[IMAGE_REF_TAG_MAX + 1];    /* "latest" when none is given */
    char digest[IMAGE_REF_DIGEST_MAX + 1];      /* "" unless "@" */
};

/*
 * Parses s.  default_registry (host[:port]) and default_namespace ("" for
 * none) complete a reference without a registry.  0, or -1 with a message
 * in err naming what is wrong.
 */
int image_ref_parse(const char *s, const char *default_registry,
                    const char *default_namespace, struct image_ref *ref,
                    char *err, size_t errlen);

/* A registry as written in configuration: host[:port], the host DNS
 * labels or an IPv4 address, the port 1 to 65535. */
int image_ref_registry_valid(const char *s, size_t len);

/* Whether s names an image in a registry (as opposed to "oci:<dir>"). */
int image_ref_is_registry(const char *s);

#endif
