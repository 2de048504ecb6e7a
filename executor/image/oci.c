/*
 * OCI image references and documents.
 */
#include "oci.h"
#include "errf.h"
#include "route_def.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OCI_REF_NAME "org.opencontainers.image.ref.name"

/* the API's route_runnable() takes what this takes */
_Static_assert(sizeof(((struct oci_ref *)0)->dir) == ROUTE_OCI_DIR_MAX + 1,
               "oci_ref.dir and ROUTE_OCI_DIR_MAX differ");
_Static_assert(sizeof(((struct oci_ref *)0)->tag) == ROUTE_OCI_TAG_MAX + 1,
               "oci_ref.tag and ROUTE_OCI_TAG_MAX differ");

int oci_ref_parse(const char *image, struct oci_ref *ref, char *err,
                  size_t errlen)
{
    const char *rest, *colon;
    size_t dlen;

    memset(ref, 0, sizeof(*ref));
    if (strncmp(image, "oci:", 4) != 0)
        return errf(err, errlen, "image \"%.200s\": only local OCI layouts "
                    "(oci:<dir>[:<tag>]) are supported", image);
    rest = image + 4;
    colon = strchr(rest, ':');
    dlen = colon ? (size_t)(colon - rest) : strlen(rest);
    if (dlen >= sizeof(ref->dir))
        return errf(err, errlen, "image \"%.200s\": directory too long",
                    image);
    memcpy(ref->dir, rest, dlen);
    ref->dir[dlen] = '\0';
    if (!route_oci_dir_valid(ref->dir))
        return errf(err, errlen, "image \"%.200s\": the directory must be a "
                    "relative path of [A-Za-z0-9._-] segments, without "
                    "\"..\"", image);
    if (colon != NULL) {
        if (strlen(colon + 1) >= sizeof(ref->tag)
            || !route_oci_tag_valid(colon + 1))
            return errf(err, errlen, "image \"%.200s\": invalid tag", image);
        strcpy(ref->tag, colon + 1);
    }
    return 0;
}

int oci_digest_valid(const char *d)
{
    size_t i;

    if (strncmp(d, "sha256:", 7) != 0 || strlen(d) != 7 + 64)
        return 0;
    for (i = 7; i < 7 + 64; i++) {
        if (!((d[i] >= '0' && d[i] <= '9') || (d[i] >= 'a' && d[i] <= 'f')))
            return 0;
    }
    return 1;
}

static int descriptor(json_t *o, struct oci_descriptor *d, const char *what,
                      char *err, size_t errlen)
{
    json_t *mt = json_object_get(o, "mediaType");
    json_t *dg = json_object_get(o, "digest");
    json_t *sz = json_object_get(o, "size");

    if (!json_is_object(o) || !json_is_string(mt) || !json_is_string(dg)
        || !json_is_integer(sz))
        return errf(err, errlen, "%s: a descriptor needs mediaType, digest "
                    "and size", what);
    if (json_string_length(mt) >= sizeof(d->media_type))
        return errf(err, errlen, "%s: mediaType too long", what);
    if (!oci_digest_valid(json_string_value(dg)))
        return errf(err, errlen, "%s: unsupported digest \"%.80s\"", what,
                    json_string_value(dg));
    if (json_integer_value(sz) < 0)
        return errf(err, errlen, "%s: negative size", what);
    strcpy(d->media_type, json_string_value(mt));
    strcpy(d->digest, json_string_value(dg));
    d->size = json_integer_value(sz);
    return 0;
}

static json_t *load(const char *json, size_t len, const char *what,
                    char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);

    if (root == NULL) {
        errf(err, errlen, "%s is not valid JSON: %s", what, jerr.text);
        return NULL;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        errf(err, errlen, "%s is not a JSON object", what);
        return NULL;
    }
    return root;
}

/* An index's document and its "manifests" array (NULL: err says why). */
static json_t *index_manifests(const char *json, size_t len, const char *what,
                               json_t **root, char *err, size_t errlen)
{
    json_t *ms;

    *root = load(json, len, what, err, errlen);
    if (*root == NULL)
        return NULL;
    ms = json_object_get(*root, "manifests");
    if (!json_is_array(ms)) {
        errf(err, errlen, "%s has no manifests list", what);
        json_decref(*root);
        *root = NULL;
        return NULL;
    }
    return ms;
}

int oci_index_select(const char *json, size_t len, const char *tag,
                     struct oci_descriptor *out, char *err, size_t errlen)
{
    json_t *root, *ms, *m;
    size_t i, found = 0;
    int rc = -1;

    ms = index_manifests(json, len, "index.json", &root, err, errlen);
    if (ms == NULL)
        return -1;
    json_array_foreach(ms, i, m) {
        json_t *ann = json_object_get(m, "annotations");
        json_t *name = json_object_get(ann, OCI_REF_NAME);

        if (tag[0] != '\0' && !(json_is_string(name)
                                && strcmp(json_string_value(name), tag) == 0))
            continue;
        if (found++ == 0
            && descriptor(m, out, "index.json", err, errlen) < 0)
            goto done;
    }
    if (found == 0) {
        if (tag[0] != '\0')
            errf(err, errlen, "no manifest tagged \"%s\" in index.json", tag);
        else
            errf(err, errlen, "index.json lists no manifest");
        goto done;
    }
    if (found > 1) {
        errf(err, errlen, tag[0] ? "several manifests are tagged \"%s\""
                                 : "index.json lists several manifests%s; "
                                   "name a tag", tag);
        goto done;
    }
    if (!oci_is_manifest(out->media_type)) {
        errf(err, errlen, "unsupported manifest media type \"%s\"",
             out->media_type);
        goto done;
    }
    rc = 0;
done:
    json_decref(root);
    return rc;
}

struct oci_manifest *oci_manifest_new(const char *json, size_t len,
                                      char *err, size_t errlen)
{
    struct oci_manifest *m = malloc(sizeof(*m));

    if (m == NULL) {
        errf(err, errlen, "out of memory");
        errno = ENOMEM;
        return NULL;
    }
    if (oci_manifest_parse(json, len, m, err, errlen) < 0) {
        free(m);
        errno = EINVAL;
        return NULL;
    }
    return m;
}

int oci_is_manifest(const char *mt)
{
    return strcmp(mt, OCI_MEDIA_MANIFEST) == 0
           || strcmp(mt, OCI_MEDIA_DOCKER_MANIFEST) == 0;
}

int oci_is_index(const char *mt)
{
    return strcmp(mt, OCI_MEDIA_INDEX) == 0
           || strcmp(mt, OCI_MEDIA_DOCKER_LIST) == 0;
}

int oci_index_platform(const char *json, size_t len, const char *os,
                       const char *arch, struct oci_descriptor *out,
                       char *err, size_t errlen)
{
    json_t *root, *ms, *m;
    size_t i;
    int rc = -1;

    ms = index_manifests(json, len, "the image index", &root, err, errlen);
    if (ms == NULL)
        return -1;
    json_array_foreach(ms, i, m) {
        json_t *pf = json_object_get(m, "platform");
        const char *o = json_string_value(json_object_get(pf, "os"));
        const char *a = json_string_value(json_object_get(pf,
                                                          "architecture"));

        if (o == NULL || a == NULL || strcmp(o, os) != 0
            || strcmp(a, arch) != 0)
            continue;
        if (descriptor(m, out, "image index", err, errlen) < 0)
            goto done;
        if (!oci_is_manifest(out->media_type)) {
            errf(err, errlen, "the image index lists a manifest of media "
                 "type \"%s\" for %s/%s", out->media_type, os, arch);
            goto done;
        }
        rc = 0;
        goto done;
    }
    errf(err, errlen, "the image index has no manifest for %s/%s", os, arch);
done:
    json_decref(root);
    return rc;
}

void oci_document_media_type(const char *json, size_t len, char *out,
                             size_t size)
{
    json_t *root = json_loadb(json, len, 0, NULL);
    const char *mt = json_string_value(json_object_get(root, "mediaType"));

    snprintf(out, size, "%s", mt != NULL && strlen(mt) < size ? mt : "");
    json_decref(root);
}

int oci_layer_compression(const char *mt)
{
    if (strcmp(mt, "application/vnd.oci.image.layer.v1.tar+gzip") == 0
        || strcmp(mt, "application/vnd.docker.image.rootfs.diff.tar.gzip")
               == 0)
        return 1;
    if (strcmp(mt, "application/vnd.oci.image.layer.v1.tar") == 0)
        return 0;
    return -1;
}

int oci_manifest_parse(const char *json, size_t len, struct oci_manifest *m,
                       char *err, size_t errlen)
{
    json_t *root = load(json, len, "manifest", err, errlen), *ls, *l;
    size_t i;
    int rc = -1;

    memset(m, 0, sizeof(*m));
    if (root == NULL)
        return -1;
    if (descriptor(json_object_get(root, "config"), &m->config,
                   "manifest config", err, errlen) < 0)
        goto done;
    if (strcmp(m->config.media_type, OCI_MEDIA_CONFIG) != 0
        && strcmp(m->config.media_type, OCI_MEDIA_DOCKER_CONFIG) != 0) {
        errf(err, errlen, "unsupported config media type \"%s\"",
             m->config.media_type);
        goto done;
    }
    ls = json_object_get(root, "layers");
    if (!json_is_array(ls)) {
        errf(err, errlen, "manifest has no layers list");
        goto done;
    }
    if (json_array_size(ls) > OCI_MAX_LAYERS) {
        errf(err, errlen, "manifest has more than %d layers", OCI_MAX_LAYERS);
        goto done;
    }
    json_array_foreach(ls, i, l) {
        if (descriptor(l, &m->layers[i], "manifest layer", err, errlen) < 0)
            goto done;
        if (oci_layer_compression(m->layers[i].media_type) < 0) {
            errf(err, errlen, "unsupported layer media type \"%s\"",
                 m->layers[i].media_type);
            goto done;
        }
        m->nlayers++;
    }
    rc = 0;
done:
    json_decref(root);
    return rc;
}

static int string_list(json_t *v, size_t max, char ***out, const char *what,
                       char *err, size_t errlen)
{
    json_t *s;
    size_t i;

    *out = NULL;
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_array(v) || json_array_size(v) > max)
        return errf(err, errlen, "image config: %s must be a list of at "
                    "most %zu strings", what, max);
    *out = calloc(json_array_size(v) + 1, sizeof(char *));
    if (*out == NULL)
        return errf(err, errlen, "out of memory");
    json_array_foreach(v, i, s) {
        if (!json_is_string(s)
            || strlen(json_string_value(s)) != json_string_length(s))
            return errf(err, errlen, "image config: %s must hold strings",
                        what);
        (*out)[i] = strdup(json_string_value(s));
        if ((*out)[i] == NULL)
            return errf(err, errlen, "out of memory");
    }
    return 0;
}

static int opt_string(json_t *v, char **out, const char *what, char *err,
                      size_t errlen)
{
    *out = NULL;
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_string(v) || json_string_length(v) > 4096
        || strlen(json_string_value(v)) != json_string_length(v))
        return errf(err, errlen, "image config: %s must be a string", what);
    if (json_string_length(v) == 0)
        return 0;
    *out = strdup(json_string_value(v));
    return *out ? 0 : errf(err, errlen, "out of memory");
}

int oci_config_parse(const char *json, size_t len, struct oci_image_config *c,
                     char *err, size_t errlen)
{
    json_t *root = load(json, len, "image config", err, errlen), *cfg;
    int rc = -1;

    memset(c, 0, sizeof(*c));
    if (root == NULL)
        return -1;
    cfg = json_object_get(root, "config");
    if (cfg != NULL && !json_is_object(cfg) && !json_is_null(cfg)) {
        errf(err, errlen, "image config: \"config\" must be an object");
        goto done;
    }
    if (string_list(json_object_get(cfg, "Entrypoint"), OCI_MAX_ARGS,
                    &c->entrypoint, "Entrypoint", err, errlen) < 0
        || string_list(json_object_get(cfg, "Cmd"), OCI_MAX_ARGS, &c->cmd,
                       "Cmd", err, errlen) < 0
        || string_list(json_object_get(cfg, "Env"), OCI_MAX_ENV, &c->env,
                       "Env", err, errlen) < 0
        || opt_string(json_object_get(cfg, "WorkingDir"), &c->working_dir,
                      "WorkingDir", err, errlen) < 0
        || opt_string(json_object_get(cfg, "User"), &c->user, "User", err,
                      errlen) < 0)
        goto done;
    rc = 0;
done:
    json_decref(root);
    if (rc < 0)
        oci_config_free(c);
    return rc;
}

static void free_list(char **l)
{
    size_t i;

    for (i = 0; l != NULL && l[i] != NULL; i++)
        free(l[i]);
    free(l);
}

void oci_config_free(struct oci_image_config *c)
{
    free_list(c->entrypoint);
    free_list(c->cmd);
    free_list(c->env);
    free(c->working_dir);
    free(c->user);
    memset(c, 0, sizeof(*c));
}

static char **copy_list(char **src, int *failed)
{
    size_t n = 0, i;
    char **dst;

    if (src == NULL)
        return NULL;
    while (src[n] != NULL)
        n++;
    dst = calloc(n + 1, sizeof(char *));
    if (dst == NULL) {
        *failed = 1;
        return NULL;
    }
    for (i = 0; i < n; i++) {
        dst[i] = strdup(src[i]);
        if (dst[i] == NULL) {
            while (i > 0)
                free(dst[--i]);
            free(dst);
            *failed = 1;
            return NULL;
        }
    }
    return dst;
}

static char *copy_str(const char *s, int *failed)
{
    char *d;

    if (s == NULL)
        return NULL;
    d = strdup(s);
    if (d == NULL)
        *failed = 1;
    return d;
}

int oci_config_copy(struct oci_image_config *dst,
                    const struct oci_image_config *src)
{
    int failed = 0;

    memset(dst, 0, sizeof(*dst));
    dst->entrypoint = copy_list(src->entrypoint, &failed);
    dst->cmd = copy_list(src->cmd, &failed);
    dst->env = copy_list(src->env, &failed);
    dst->working_dir = copy_str(src->working_dir, &failed);
    dst->user = copy_str(src->user, &failed);
    if (failed) {
        oci_config_free(dst);
        return -1;
    }
    return 0;
}
