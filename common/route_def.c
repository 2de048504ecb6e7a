/*
 * Route definitions: parsing and checks.
 */
#include "route_def.h"
#include "image_ref.h"
#include "errf.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const format_names[] = {
    [ROUTE_FORMAT_DEFAULT] = "default",
    [ROUTE_FORMAT_HTTP] = "http",
    [ROUTE_FORMAT_JSON] = "json",
    [ROUTE_FORMAT_HTTP_STREAM] = "http-stream",
    [ROUTE_FORMAT_LAMBDA] = "lambda",
};

static const char *const type_names[] = {
    [ROUTE_TYPE_SYNC] = "sync",
    [ROUTE_TYPE_ASYNC] = "async",
};

const char *route_format_name(enum route_format f)
{
    return format_names[f];
}

const char *route_type_name(enum route_type t)
{
    return type_names[t];
}

int route_app_name_valid(const char *s)
{
    size_t n = strlen(s), i;

    if (n == 0 || n > ROUTE_APP_MAX)
        return 0;
    /* the metrics' labels for no route and for the apps past their limit */
    if (strcmp(s, "_none") == 0 || strcmp(s, "_other") == 0)
        return 0;
    for (i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

int route_path_valid(const char *s)
{
    size_t n = strlen(s), i;

    if (n == 0 || n > ROUTE_PATH_MAX || s[0] != '/')
        return 0;
    for (i = 0; i < n; i++) {
        if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f
            || s[i] == '?' || s[i] == '#' || s[i] == '%' || s[i] == '\\')
            return 0;
    }
    return n == 1 || path_segments_valid(s + 1);   /* "/" itself */
}

int path_segments_valid(const char *s)
{
    for (;;) {
        const char *end = strchr(s, '/');
        size_t len = end ? (size_t)(end - s) : strlen(s);

        if (len == 0 || (len == 1 && s[0] == '.')
            || (len == 2 && s[0] == '.' && s[1] == '.'))
            return 0;
        if (end == NULL)
            return 1;
        s = end + 1;
    }
}

static int copy_str(char *dst, size_t size, json_t *v, const char *field,
                    char *err, size_t errlen)
{
    const char *s;
    size_t n;

    if (!json_is_string(v))
        return errf(err, errlen, "route field \"%s\" must be a string",
                    field);
    s = json_string_value(v);
    n = json_string_length(v);
    if (n >= size || strlen(s) != n)
        return errf(err, errlen, "route field \"%s\" is too long or holds "
                    "a NUL byte", field);
    memcpy(dst, s, n + 1);
    return 0;
}

static int get_uint(const json_t *obj, const char *field, uint32_t def,
                    uint32_t min, uint32_t max, uint32_t *out, char *err,
                    size_t errlen)
{
    json_t *v = json_object_get(obj, field);
    json_int_t i;

    if (v == NULL) {
        *out = def;
        return 0;
    }
    if (!json_is_integer(v))
        return errf(err, errlen, "route field \"%s\" must be an integer",
                    field);
    i = json_integer_value(v);
    if (i < (json_int_t)min || i > (json_int_t)max)
        return errf(err, errlen, "route field \"%s\" must be from %u to %u",
                    field, min, max);
    *out = (uint32_t)i;
    return 0;
}

static int get_enum(const json_t *obj, const char *field,
                    const char *const *names, size_t nnames, int *out,
                    char *err, size_t errlen)
{
    json_t *v = json_object_get(obj, field);
    size_t i;

    if (v == NULL) {
        *out = 0;
        return 0;
    }
    if (json_is_string(v)) {
        for (i = 0; i < nnames; i++) {
            if (strcmp(json_string_value(v), names[i]) == 0) {
                *out = (int)i;
                return 0;
            }
        }
    }
    /* every name, as the list is long */
    {
        char list[128];
        size_t len = 0;

        list[0] = '\0';
        for (i = 0; i < nnames && len < sizeof(list); i++)
            len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%s",
                                    i > 0 ? ", " : "", names[i]);
        return errf(err, errlen, "route field \"%s\" must be one of %s",
                    field, list);
    }
}

/*
 * A value that may go into an HTTP header or the environment: no NUL, no
 * control byte but HTAB, no DEL (a parser of HTTP refuses them, and every
 * call of the route would fail).
 */
static int value_ok(const char *s, size_t n)
{
    if (strlen(s) != n)
        return 0;           /* NUL inside */
    return route_header_value_valid(s, n);
}

int route_header_value_valid(const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (((unsigned char)s[i] < 0x20 && s[i] != '\t')
            || (unsigned char)s[i] == 0x7f)
            return 0;
    }
    return 1;
}

int route_header_name_valid(const char *s)
{
    /* bit c is set when byte c is a token character (RFC 9110):
     * letters, digits and !#$%&'*+-.^_`|~ */
    static const uint32_t token[8] = {
        0x00000000, 0x03ff6cfa, 0xc7fffffe, 0x57ffffff,
        0x00000000, 0x00000000, 0x00000000, 0x00000000,
    };
    const unsigned char *start = (const unsigned char *)s, *p;

    for (p = start; *p; p++) {
        if (!((token[*p >> 5] >> (*p & 31)) & 1))
            return 0;
    }
    return p > start && p - start <= 256;
}

static int token_ok(const char *s)
{
    return route_header_name_valid(s);
}

int route_header_reserved(const char *name)
{
    static const struct {
        const char *name;
        size_t len;
    } names[] = {
        /* framing: the executor frames the answer itself */
        { "content-length", 14 }, { "transfer-encoding", 17 },
        /* one hop only */
        { "connection", 10 }, { "keep-alive", 10 },
        { "proxy-connection", 16 }, { "te", 2 }, { "trailer", 7 },
        { "upgrade", 7 }, { "proxy-authenticate", 18 },
        { "proxy-authorization", 19 },
    };
    size_t i, len;

    /* X-Accel-*: nginx acts on them (internal redirects, rate limits,
     * buffering); Fn-*: the platform's own, such as its busy mark */
    if (((name[0] | 0x20) == 'x' && strncasecmp(name, "x-accel-", 8) == 0)
        || ((name[0] | 0x20) == 'f' && strncasecmp(name, "fn-", 3) == 0))
        return 1;
    /* lengths first: a header is checked on every answer */
    len = strlen(name);
    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (len == names[i].len && strcasecmp(name, names[i].name) == 0)
            return 1;
    }
    return 0;
}

/*
 * Bytes a string takes in the route the module sends in Fn-Route (JSON,
 * non-ASCII escaped as \uXXXX), so a stored route always fits in the
 * executor's request head.
 */
static size_t encoded_len(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = 2;

    for (; *p; p++) {
        if (*p == '"' || *p == '\\' || *p == '\t')
            n += 2;
        else if (*p < 0x80)
            n += 1;
        else if (*p >= 0xf0)
            n += 12;            /* a surrogate pair */
        else if (*p >= 0xc0)
            n += 6;
        /* continuation bytes are counted with their lead */
    }
    return n;
}

static int kv_add(struct route_kv **list, size_t *n, const char *key,
                  const char *value)
{
    struct route_kv *l;
    size_t i;

    /* a later entry for the same key replaces the earlier */
    for (i = 0; i < *n; i++) {
        if (strcmp((*list)[i].key, key) == 0) {
            char *v = strdup(value);
            if (v == NULL)
                return -1;
            free((*list)[i].value);
            (*list)[i].value = v;
            return 0;
        }
    }
    l = realloc(*list, (*n + 1) * sizeof(*l));
    if (l == NULL)
        return -1;
    *list = l;
    l[*n].key = strdup(key);
    l[*n].value = strdup(value);
    if (l[*n].key == NULL || l[*n].value == NULL) {
        free(l[*n].key);
        free(l[*n].value);
        return -1;
    }
    (*n)++;
    return 0;
}

int route_config_check(const struct json_t *m, const char *what,
                       const char *field, char *err, size_t errlen)
{
    const char *key;
    size_t size = 0;
    json_t *v;

    if (m == NULL || json_is_null(m))
        return 0;
    if (!json_is_object(m))
        return errf(err, errlen, "%s field \"%s\" must be an object", what,
                    field);
    if (json_object_size(m) > ROUTE_MAP_MAX)
        return errf(err, errlen, "%s field \"%s\" has more than %d keys",
                    what, field, ROUTE_MAP_MAX);
    json_object_foreach((json_t *)m, key, v) {
        if (!token_ok(key))
            return errf(err, errlen, "%s field \"%s\": invalid key "
                        "\"%.64s\"", what, field, key);
        if (!json_is_string(v)
            || !value_ok(json_string_value(v), json_string_length(v)))
            return errf(err, errlen, "%s field \"%s\": value of \"%.64s\" "
                        "must be a string without control characters", what,
                        field, key);
        size += encoded_len(key) + encoded_len(json_string_value(v));
    }
    if (size > ROUTE_CONFIG_BYTES)
        return errf(err, errlen, "%s field \"%s\" is too large: %zu bytes "
                    "as sent to executors, at most %d", what, field, size,
                    ROUTE_CONFIG_BYTES);
    return 0;
}

static int parse_config(const json_t *obj, const char *field,
                        struct route_def *r, char *err, size_t errlen)
{
    json_t *m = json_object_get(obj, field), *v;
    const char *key;

    if (route_config_check(m, "route", field, err, errlen) < 0)
        return -1;
    if (m == NULL || json_is_null(m))
        return 0;
    json_object_foreach(m, key, v) {
        if (kv_add(&r->config, &r->nconfig, key, json_string_value(v)) < 0)
            return errf(err, errlen, "out of memory");
    }
    return 0;
}

static int parse_headers(const json_t *obj, struct route_def *r, char *err,
                         size_t errlen)
{
    json_t *m = json_object_get(obj, "headers"), *vals, *v;
    const char *name;
    size_t i, size = 0;

    if (m == NULL || json_is_null(m))
        return 0;
    if (!json_is_object(m))
        return errf(err, errlen, "route field \"headers\" must be an object");
    json_object_foreach(m, name, vals) {
        if (!token_ok(name))
            return errf(err, errlen, "route field \"headers\": invalid name "
                        "\"%.64s\"", name);
        if (route_header_reserved(name))
            return errf(err, errlen, "route field \"headers\": \"%.64s\" "
                        "is set by the platform, not by routes", name);
        if (!json_is_array(vals))
            return errf(err, errlen, "route field \"headers\": \"%.64s\" must "
                        "be a list of strings", name);
        json_array_foreach(vals, i, v) {
            struct route_kv *l;

            if (!json_is_string(v)
                || !value_ok(json_string_value(v), json_string_length(v)))
                return errf(err, errlen, "route field \"headers\": values of "
                            "\"%.64s\" must be strings without control "
                            "characters", name);
            size += encoded_len(name) + encoded_len(json_string_value(v));
            if (size > ROUTE_HEADERS_BYTES)
                return errf(err, errlen, "route field \"headers\" is too "
                            "large: more than %d bytes", ROUTE_HEADERS_BYTES);
            if (r->nheaders == ROUTE_MAP_MAX)
                return errf(err, errlen, "route field \"headers\" has more "
                            "than %d values", ROUTE_MAP_MAX);
            l = realloc(r->headers, (r->nheaders + 1) * sizeof(*l));
            if (l == NULL)
                return errf(err, errlen, "out of memory");
            r->headers = l;
            l[r->nheaders].key = strdup(name);
            l[r->nheaders].value = strdup(json_string_value(v));
            if (l[r->nheaders].key == NULL || l[r->nheaders].value == NULL) {
                free(l[r->nheaders].key);
                free(l[r->nheaders].value);
                return errf(err, errlen, "out of memory");
            }
            r->nheaders++;
        }
    }
    return 0;
}

int route_def_parse(const char *json, size_t len, struct route_def *r,
                    char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *root;
    int rc;

    memset(r, 0, sizeof(*r));
    root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL)
        return errf(err, errlen, "route is not valid JSON: %s", jerr.text);
    rc = route_def_from_json(root, r, err, errlen);
    json_decref(root);
    return rc;
}

/* An image reference: printable ASCII without spaces. */
static int image_ok(const char *s)
{
    if (*s == '\0')
        return 0;
    for (; *s; s++) {
        if ((unsigned char)*s <= ' ' || (unsigned char)*s >= 0x7f)
            return 0;
    }
    return 1;
}

int route_def_from_json(const struct json_t *root, struct route_def *r,
                        char *err, size_t errlen)
{
    int rc = -1, v;

    memset(r, 0, sizeof(*r));
    if (!json_is_object(root))
        return errf(err, errlen, "route must be a JSON object");
    if (copy_str(r->app, sizeof(r->app), json_object_get(root, "app"), "app",
                 err, errlen) < 0
        || copy_str(r->path, sizeof(r->path), json_object_get(root, "path"),
                    "path", err, errlen) < 0
        || copy_str(r->image, sizeof(r->image),
                    json_object_get(root, "image"), "image", err, errlen) < 0)
        goto done;
    if (!route_app_name_valid(r->app)) {
        errf(err, errlen, "route field \"app\" must be 1 to 30 of "
             "[A-Za-z0-9_-]");
        goto done;
    }
    if (!route_path_valid(r->path)) {
        errf(err, errlen, "route field \"path\" must be an absolute path "
             "of printable ASCII, at most %d bytes, without empty, \".\" or "
             "\"..\" segments", ROUTE_PATH_MAX);
        goto done;
    }
    if (!image_ok(r->image)) {
        errf(err, errlen, "route field \"image\" must be an image reference "
             "(printable ASCII, no spaces)");
        goto done;
    }
    if (get_enum(root, "format", format_names,
                 sizeof(format_names) / sizeof(format_names[0]), &v, err,
                 errlen) < 0)
        goto done;
    r->format = (enum route_format)v;
    if (get_enum(root, "type", type_names, 2, &v, err, errlen) < 0)
        goto done;
    r->type = (enum route_type)v;
    if (get_uint(root, "memory", 128, 1, ROUTE_MEMORY_MAX, &r->memory_mb,
                 err, errlen) < 0
        || get_uint(root, "timeout", 30, 1, ROUTE_TIMEOUT_MAX, &r->timeout_s,
                    err, errlen) < 0
        || get_uint(root, "idle_timeout", 30, 1, ROUTE_TIMEOUT_MAX,
                    &r->idle_timeout_s, err, errlen) < 0
        || get_uint(root, "max_concurrency", 1, 1, ROUTE_CONCURRENCY_MAX,
                    &r->max_concurrency, err, errlen) < 0)
        goto done;
    if (parse_headers(root, r, err, errlen) < 0
        || parse_config(root, "app_config", r, err, errlen) < 0
        || parse_config(root, "config", r, err, errlen) < 0)
        goto done;
    rc = 0;

done:
    if (rc < 0)
        route_def_free(r);
    return rc;
}

void route_def_free(struct route_def *r)
{
    size_t i;

    for (i = 0; i < r->nheaders; i++) {
        free(r->headers[i].key);
        free(r->headers[i].value);
    }
    for (i = 0; i < r->nconfig; i++) {
        free(r->config[i].key);
        free(r->config[i].value);
    }
    free(r->headers);
    free(r->config);
    r->headers = r->config = NULL;
    r->nheaders = r->nconfig = 0;
}

/* A copy of n key/value pairs in *dst (NULL for none); -1: memory. */
static int copy_kv(struct route_kv **dst, const struct route_kv *src,
                   size_t n)
{
    struct route_kv *l;
    size_t i;

    *dst = NULL;
    if (n == 0)
        return 0;
    l = calloc(n, sizeof(*l));
    if (l == NULL)
        return -1;
    for (i = 0; i < n; i++) {
        l[i].key = strdup(src[i].key);
        l[i].value = strdup(src[i].value);
        if (l[i].key == NULL || l[i].value == NULL) {
            for (; ; i--) {
                free(l[i].key);
                free(l[i].value);
                if (i == 0)
                    break;
            }
            free(l);
            return -1;
        }
    }
    *dst = l;
    return 0;
}

int route_def_copy(struct route_def *dst, const struct route_def *src)
{
    *dst = *src;
    dst->headers = dst->config = NULL;
    dst->nheaders = dst->nconfig = 0;
    if (copy_kv(&dst->headers, src->headers, src->nheaders) < 0)
        return -1;
    dst->nheaders = src->nheaders;
    if (copy_kv(&dst->config, src->config, src->nconfig) < 0) {
        route_def_free(dst);
        return -1;
    }
    dst->nconfig = src->nconfig;
    return 0;
}

/*
 * What executors can run today: the formats they speak and the image
 * references they resolve.  The API refuses the rest when a route is
 * written (an executor would answer every call of it with an error);
 * as executors learn more, this is the one place that follows.
 */
int route_oci_dir_valid(const char *s)
{
    const char *p;

    if (*s == '\0' || *s == '/')
        return 0;
    for (p = s; *p; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
              || (*p >= '0' && *p <= '9') || strchr("._-/", *p)))
            return 0;
    }
    /* no empty, "." or ".." segment: the layout stays under image_dir */
    return path_segments_valid(s);
}

int route_oci_tag_valid(const char *s)
{
    const char *p;

    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')
          || (*s >= '0' && *s <= '9') || *s == '_'))
        return 0;
    for (p = s; *p; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
              || (*p >= '0' && *p <= '9') || strchr("._-", *p)))
            return 0;
    }
    return p - s <= ROUTE_OCI_TAG_MAX;
}

int route_runnable(const struct route_def *r, char *err, size_t errlen)
{
    char dir[ROUTE_OCI_DIR_MAX + 1];
    const char *rest, *colon;
    size_t dlen;

    if (image_ref_is_registry(r->image)) {
        struct image_ref ref;
        char why[400];

        /* the grammar only (each executor knows its registries), with
         * room for the namespace executors put before a one-part name by
         * default ("library/", as Docker Hub's) */
        if (image_ref_parse(r->image, "registry.invalid", "library", &ref,
                            why, sizeof(why)) < 0)
            return errf(err, errlen, "route field \"image\": %s", why);
        return 0;
    }
    rest = r->image + 4;
    colon = strchr(rest, ':');
    dlen = colon ? (size_t)(colon - rest) : strlen(rest);
    if (dlen > ROUTE_OCI_DIR_MAX)
        return errf(err, errlen, "route field \"image\": the directory of "
                    "\"%.200s\" is longer than %d bytes", r->image,
                    ROUTE_OCI_DIR_MAX);
    memcpy(dir, rest, dlen);
    dir[dlen] = '\0';
    if (!route_oci_dir_valid(dir))
        return errf(err, errlen, "route field \"image\": in \"%.200s\", the "
                    "directory must be a relative path of [A-Za-z0-9._-] "
                    "segments, without \"..\"", r->image);
    if (colon != NULL && !route_oci_tag_valid(colon + 1))
        return errf(err, errlen, "route field \"image\": \"%.200s\" has an "
                    "invalid tag", r->image);
    return 0;
}

const char *route_config_get(const struct route_def *r, const char *key)
{
    size_t i;

    for (i = 0; i < r->nconfig; i++) {
        if (strcmp(r->config[i].key, key) == 0)
            return r->config[i].value;
    }
    return NULL;
}
