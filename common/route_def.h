/*
 * Route definitions: the rules every part applies (the module's /v1 API
 * when a route is written, the executor when a call carries one in its
 * Fn-Route header).  Parsed and checked here, with no I/O.
 */
#ifndef EXECUTOR_ROUTE_DEF_H
#define EXECUTOR_ROUTE_DEF_H

#include <stddef.h>
#include <stdint.h>

#define ROUTE_APP_MAX 30
#define ROUTE_PATH_MAX 255
#define ROUTE_IMAGE_MAX 1024
#define ROUTE_MAP_MAX 256           /* entries of headers or config */
#define ROUTE_MEMORY_MAX 8192       /* MiB */
#define ROUTE_TIMEOUT_MAX 3600      /* seconds */
#define ROUTE_CONCURRENCY_MAX 1000
/* Bytes of a config map (app's or route's) and of a route's headers, as
 * sent to executors: both configs, the headers and the rest of the route
 * fit in an executor's request head (64 KiB) beside the client's own. */
#define ROUTE_CONFIG_BYTES 12288
#define ROUTE_HEADERS_BYTES 4096
/* The most a call takes of an executor's request head before the client's
 * own headers: both configs, the route's headers, Fn-Request-Url (8 KiB)
 * and 4 KiB for the rest of Fn-Route and the other Fn-* headers.  An
 * executor's max_request_header is at least this and 8 KiB more, so that
 * no route the API accepts is refused (431) on every call. */
#define ROUTE_HEAD_MAX (2 * ROUTE_CONFIG_BYTES + ROUTE_HEADERS_BYTES \
                        + 8192 + 4096)
/* "oci:<dir>[:<tag>]": the longest dir and tag an executor takes */
#define ROUTE_OCI_DIR_MAX 511
#define ROUTE_OCI_TAG_MAX 128

enum route_format {
    ROUTE_FORMAT_DEFAULT,
    ROUTE_FORMAT_HTTP,
    ROUTE_FORMAT_JSON,
    ROUTE_FORMAT_HTTP_STREAM,
    ROUTE_FORMAT_LAMBDA,            /* AWS Lambda's Runtime API */
};

enum route_type {
    ROUTE_TYPE_SYNC,
    ROUTE_TYPE_ASYNC,
};

struct route_kv {
    char *key;
    char *value;
};

struct route_def {
    char app[ROUTE_APP_MAX + 1];
    char path[ROUTE_PATH_MAX + 1];
    char image[ROUTE_IMAGE_MAX + 1];
    enum route_format format;
    enum route_type type;
    uint32_t memory_mb;
    uint32_t timeout_s;
    uint32_t idle_timeout_s;
    uint32_t max_concurrency;
    struct route_kv *headers;       /* one entry per value */
    size_t nheaders;
    struct route_kv *config;        /* app config, then route config over it */
    size_t nconfig;
};

struct json_t;

/* Parses and checks; 0, or -1 with a message naming the field.  Fields
 * that are not route fields are ignored. */
int route_def_parse(const char *json, size_t len, struct route_def *r,
                    char *err, size_t errlen);
/* The same, from a parsed object (a jansson json_t). */
int route_def_from_json(const struct json_t *root, struct route_def *r,
                        char *err, size_t errlen);
/* A config map (string -> string): what ("route", "app") and field name
 * the object in messages.  NULL or null is an empty map. */
int route_config_check(const struct json_t *m, const char *what,
                       const char *field, char *err, size_t errlen);
void route_def_free(struct route_def *r);
/* A deep copy of src into dst; 0, or -1 (memory: dst is left empty). */
int route_def_copy(struct route_def *dst, const struct route_def *src);

/*
 * Whether executors can run the route today (a parsed, valid one): its
 * image is a reference form they resolve ("oci:<dir>[:<tag>]", or a
 * registry's: common/image_ref.h); every format parsed is one they run.
 * 0, or -1 with a message naming the field.  The API applies it when a
 * route is written.
 */
int route_runnable(const struct route_def *r, char *err, size_t errlen);
/* The parts of "oci:<dir>[:<tag>]": dir a relative path of
 * [A-Za-z0-9._-] segments without "." or ".."; tag [A-Za-z0-9_] then
 * [A-Za-z0-9._-], at most ROUTE_OCI_TAG_MAX. */
int route_oci_dir_valid(const char *dir);
int route_oci_tag_valid(const char *tag);

const char *route_format_name(enum route_format f);
const char *route_type_name(enum route_type t);

/* The value of a config key, or NULL. */
const char *route_config_get(const struct route_def *r, const char *key);

/* Header names: HTTP tokens of at most 256 bytes. */
int route_header_name_valid(const char *name);
/* Header values: no control byte but HTAB, no DEL. */
int route_header_value_valid(const char *value, size_t len);
/*
 * Response headers that neither a route nor a function may set: framing
 * (Content-Length, Transfer-Encoding), hop-by-hop ones, nginx's X-Accel-*
 * and the platform's Fn-*.
 */
int route_header_reserved(const char *name);

/* App names: 1-30 of [A-Za-z0-9_-]. */
int route_app_name_valid(const char *s);
/* Paths: absolute, no empty, "." or ".." segments, printable ASCII. */
int route_path_valid(const char *s);

/* "a/b/c": no empty, "." or ".." segment (a path that stays below its
 * start). */
int path_segments_valid(const char *s);

#endif
