/*
 * Image references (image_ref.h).
 */
#include "image_ref.h"
#include "errf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static int alnum(char c)
{
    return lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

/* [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )* */
static int path_component_valid(const char *s, size_t len)
{
    size_t i = 0, run;

    if (len == 0 || !lower_alnum(s[0]) || !lower_alnum(s[len - 1]))
        return 0;
    while (i < len) {
        if (lower_alnum(s[i])) {
            i++;
            continue;
        }
        run = 0;
        if (s[i] == '.') {
            run = 1;
        } else if (s[i] == '_') {
            run = i + 1 < len && s[i + 1] == '_' ? 2 : 1;
        } else if (s[i] == '-') {
            while (i + run < len && s[i + run] == '-')
                run++;
        } else {
            return 0;
        }
        i += run;
        if (i >= len || !lower_alnum(s[i]))
            return 0;
    }
    return 1;
}

/* A DNS label: [A-Za-z0-9] ( [A-Za-z0-9-]* [A-Za-z0-9] )? */
static int label_valid(const char *s, size_t len)
{
    size_t i;

    if (len == 0 || len > 63 || !alnum(s[0]) || !alnum(s[len - 1]))
        return 0;
    for (i = 0; i < len; i++) {
        if (!alnum(s[i]) && s[i] != '-')
            return 0;
    }
    return 1;
}

int image_ref_registry_valid(const char *s, size_t len)
{
    const char *colon = memchr(s, ':', len), *p, *dot;
    size_t host_len = colon != NULL ? (size_t)(colon - s) : len, i;
    unsigned long port = 0;

    if (len == 0 || len > IMAGE_REF_REGISTRY_MAX || host_len == 0)
        return 0;
    if (colon != NULL) {
        if (colon + 1 == s + len || len - host_len - 1 > 5)
            return 0;
        for (i = host_len + 1; i < len; i++) {
            if (s[i] < '0' || s[i] > '9')
                return 0;
            port = port * 10 + (unsigned long)(s[i] - '0');
        }
        if (port == 0 || port > 65535)
            return 0;
    }
    for (p = s; p < s + host_len; p = dot + 1) {
        dot = memchr(p, '.', (size_t)(s + host_len - p));
        if (dot == NULL)
            dot = s + host_len;
        if (!label_valid(p, (size_t)(dot - p)))
            return 0;
        if (dot == s + host_len)
            break;
    }
    return 1;
}

/* [A-Za-z0-9_] [A-Za-z0-9_.-]{0,127} */
static int tag_valid(const char *s, size_t len)
{
    size_t i;

    if (len == 0 || len > IMAGE_REF_TAG_MAX
        || !(alnum(s[0]) || s[0] == '_'))
        return 0;
    for (i = 1; i < len; i++) {
        if (!alnum(s[i]) && s[i] != '_' && s[i] != '.' && s[i] != '-')
            return 0;
    }
    return 1;
}

static int digest_valid(const char *s, size_t len)
{
    size_t i;

    if (len != IMAGE_REF_DIGEST_MAX || strncmp(s, "sha256:", 7) != 0)
        return 0;
    for (i = 7; i < len; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    }
    return 1;
}

int image_ref_is_registry(const char *s)
{
    return strncmp(s, "oci:", 4) != 0;
}

int image_ref_parse(const char *s, const char *default_registry,
                    const char *default_namespace, struct image_ref *ref,
                    char *err, size_t errlen)
{
    size_t len = strlen(s), name_len, first_len, repo_len, i;
    const char *at, *slash, *colon, *name_end, *repo, *c;
    int has_registry, hub;

    memset(ref, 0, sizeof(*ref));
    if (len == 0)
        return errf(err, errlen, "the image reference is empty");
    if (len > IMAGE_REF_MAX)
        return errf(err, errlen, "the image reference is longer than %d "
                    "bytes", IMAGE_REF_MAX);
    for (i = 0; i < len; i++) {
        if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f)
            return errf(err, errlen, "the image reference holds a space, a "
                        "control byte or non-ASCII (byte %zu)", i + 1);
    }

    /* @digest */
    at = strchr(s, '@');
    name_end = at != NULL ? at : s + len;
    if (at != NULL) {
        if (!digest_valid(at + 1, (size_t)(s + len - at - 1)))
            return errf(err, errlen, "in the image reference \"%.200s\", the "
                        "digest must be sha256: and 64 lowercase hex digits",
                        s);
        memcpy(ref->digest, at + 1, IMAGE_REF_DIGEST_MAX);
    }

    /* :tag, after the last slash */
    slash = NULL;
    for (c = s; c < name_end; c++) {
        if (*c == '/')
            slash = c;
    }
    colon = NULL;
    for (c = slash != NULL ? slash : s; c < name_end; c++) {
        if (*c == ':')
            colon = c;
    }
    if (colon != NULL) {
        if (!tag_valid(colon + 1, (size_t)(name_end - colon - 1)))
            return errf(err, errlen, "in the image reference \"%.200s\", the "
                        "tag must be 1 to 128 of [A-Za-z0-9_.-], not "
                        "starting with . or -", s);
        memcpy(ref->tag, colon + 1, (size_t)(name_end - colon - 1));
        name_end = colon;
    } else if (at == NULL) {
        strcpy(ref->tag, "latest");
    }
    name_len = (size_t)(name_end - s);

    /* registry: the first component, when it looks like a host */
    slash = memchr(s, '/', name_len);
    first_len = slash != NULL ? (size_t)(slash - s) : name_len;
    has_registry = slash != NULL
                   && (memchr(s, '.', first_len) != NULL
                       || memchr(s, ':', first_len) != NULL
                       || (first_len == 9 && memcmp(s, "localhost", 9) == 0));
    /* Docker Hub's names for itself: its endpoint's, as Docker reads them
     * (a one-component name there is under library/, below) */
    hub = has_registry
          && ((first_len == 9 && strncasecmp(s, "docker.io", 9) == 0)
              || (first_len == 15
                  && strncasecmp(s, "index.docker.io", 15) == 0));
    if (hub) {
        strcpy(ref->registry, IMAGE_REF_DOCKER_HUB);
        repo = slash + 1;
    } else if (has_registry) {
        if (!image_ref_registry_valid(s, first_len))
            return errf(err, errlen, "in the image reference \"%.200s\", the "
                        "registry \"%.*s\" is not host[:port]", s,
                        (int)first_len, s);
        memcpy(ref->registry, s, first_len);
        repo = slash + 1;
    } else {
        if (default_registry == NULL || default_registry[0] == '\0')
            return errf(err, errlen, "the image reference \"%.200s\" names "
                        "no registry, and there is no default registry", s);
        if (strlen(default_registry) > IMAGE_REF_REGISTRY_MAX)
            return errf(err, errlen, "the default registry is too long");
        strcpy(ref->registry, default_registry);
        repo = s;
    }
    repo_len = (size_t)(name_end - repo);

    /* the repository: path components */
    for (c = repo;; c = slash + 1) {
        slash = memchr(c, '/', (size_t)(name_end - c));
        if (slash == NULL)
            slash = name_end;
        if (!path_component_valid(c, (size_t)(slash - c)))
            return errf(err, errlen, "in the image reference \"%.200s\", "
                        "\"%.*s\" is no repository name: lowercase letters "
                        "and digits, separated by one \".\", \"_\", \"__\" "
                        "or dashes", s, (int)(slash - c), c);
        if (slash == name_end)
            break;
    }

    /* Docker's rule: "hello" on the default registry is "library/hello";
     * "docker.io/hello" is Docker Hub's "library/hello" */
    if (hub)
        default_namespace = "library";
    if ((!has_registry || hub) && memchr(repo, '/', repo_len) == NULL
        && default_namespace != NULL && default_namespace[0] != '\0') {
        if (strlen(default_namespace) + 1 + repo_len > IMAGE_REF_REPO_MAX)
            return errf(err, errlen, "the image reference \"%.200s\" is too "
                        "long", s);
        snprintf(ref->repository, sizeof(ref->repository), "%s/%.*s",
                 default_namespace, (int)repo_len, repo);
        return 0;
    }
    if (repo_len > IMAGE_REF_REPO_MAX)
        return errf(err, errlen, "in the image reference \"%.200s\", the "
                    "repository is longer than %d bytes", s,
                    IMAGE_REF_REPO_MAX);
    memcpy(ref->repository, repo, repo_len);
    return 0;
}
