/*
 * libFuzzer harness: image references (common/image_ref.c).  What parses
 * is whole again: written back as registry/repository[:tag][@digest] it
 * parses to the same parts, and every part keeps to its grammar.
 */
#include "image_ref.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void broken(const char *what, const char *ref)
{
    fprintf(stderr, "image_ref_fuzz: %s: \"%s\"\n", what, ref);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct image_ref a, b;
    char s[IMAGE_REF_MAX + 2], again[1024], err[256];
    size_t i;

    if (size > IMAGE_REF_MAX + 1)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    if (image_ref_parse(s, "registry-1.docker.io", "library", &a, err,
                        sizeof(err)) != 0) {
        if (err[0] == '\0')
            broken("refused without a message", s);
        return 0;
    }
    if (!image_ref_registry_valid(a.registry, strlen(a.registry)))
        broken("a registry that is not host[:port]", a.registry);
    if (a.repository[0] == '\0' || (a.tag[0] == '\0' && a.digest[0] == '\0'))
        broken("no repository, or neither tag nor digest", s);
    for (i = 0; a.repository[i]; i++) {
        char c = a.repository[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.'
              || c == '_' || c == '-' || c == '/'))
            broken("a repository byte outside [a-z0-9._/-]", a.repository);
    }
    snprintf(again, sizeof(again), "%s/%s%s%s%s%s", a.registry, a.repository,
             a.tag[0] ? ":" : "", a.tag, a.digest[0] ? "@" : "", a.digest);
    if (image_ref_parse(again, "other.example", "", &b, err,
                        sizeof(err)) != 0)
        broken("written back, it does not parse", again);
    if (strcmp(a.registry, b.registry) != 0
        || strcmp(a.repository, b.repository) != 0
        || strcmp(a.tag, b.tag) != 0 || strcmp(a.digest, b.digest) != 0)
        broken("written back, it parses to other parts", again);
    return 0;
}
