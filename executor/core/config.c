/*
 * Executor configuration parser.  Pure: no I/O, no allocation.
 */
#include "config.h"
#include "image_ref.h"
#include "errf.h"
#include "route_def.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void config_defaults(struct config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->listen_mode = 0660;
    cfg->log_level = LOG_LEVEL_INFO;
    cfg->drain_timeout_ms = 30000;
    cfg->max_request_header = 64 * 1024;
    cfg->max_request_body = 10 * 1024 * 1024;
    cfg->read_timeout_ms = 60000;
    strcpy(cfg->bwrap, "/usr/bin/bwrap");
    strcpy(cfg->cgroup_root, "/sys/fs/cgroup");
    strcpy(cfg->cgroup_name, "functions/executor");
    /* just above systemd's range for containers' users (524288 to
     * 1879048191): no distribution gives these to anyone */
    cfg->sandbox_uid_first = 1879048192;
    cfg->sandbox_uid_count = 65536;
    /* one core each: no function takes the host's every core */
    cfg->cpu_quota = 100;
    cfg->max_response_body = 10 * 1024 * 1024;
    cfg->tmp_size = 64 * 1024 * 1024;
    cfg->pids_max = 256;
    cfg->log_max_per_call = 64 * 1024;
    cfg->log_retention_ms = 3600 * 1000;
    cfg->log_store_max = 1ULL << 30;
    cfg->max_sandboxes = 16;
    cfg->memory_budget = 4ULL * 1024 * 1024 * 1024;
    cfg->queue_size = 100;
    cfg->queue_timeout_ms = 10000;
    cfg->metrics_interval_ms = 10000;
    cfg->metrics_max_series = 200;
    cfg->sandbox_idle_timeout_ms = 30000;
    cfg->listen_timeout_ms = 10000;
    cfg->sandbox_idle_max = 64;
    cfg->layer_max_bytes = 1ULL << 30;
    cfg->layer_max_entries = 100000;
    cfg->image_max_bytes = 2ULL << 30;
    cfg->image_max_entries = 200000;
    cfg->image_store_max_bytes = 10ULL << 30;
    strcpy(cfg->amqp_exchange, "functions");
    strcpy(cfg->amqp_queue, "functions.calls");
    cfg->amqp_quorum = 1;
    cfg->async_retries = 3;
    cfg->async_retry_delay_ms = 1000;
    strcpy(cfg->mysql_database, "functions");
    strcpy(cfg->default_registry, "registry-1.docker.io");
    strcpy(cfg->default_namespace, "library");
    cfg->registry_timeout_ms = 300 * 1000;
    cfg->registry_tag_ttl_ms = 60 * 1000;
    cfg->registry_manifest_max = 4 * 1024 * 1024;
}

const char *log_level_name(enum log_level level)
{
    switch (level) {
    case LOG_LEVEL_DEBUG: return "debug";
    case LOG_LEVEL_INFO: return "info";
    case LOG_LEVEL_WARN: return "warn";
    case LOG_LEVEL_ERROR: return "error";
    }
    return "unknown";
}

static int parse_unsigned(const char *s, uint64_t *out, const char **rest)
{
    uint64_t v = 0;

    if (!isdigit((unsigned char)*s))
        return -1;
    while (isdigit((unsigned char)*s)) {
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
        s++;
    }
    *out = v;
    *rest = s;
    return 0;
}

static int scale(uint64_t v, uint64_t mul, uint64_t *out)
{
    if (mul && v > UINT64_MAX / mul)
        return -1;
    *out = v * mul;
    return 0;
}

int parse_duration_ms(const char *s, uint64_t *out)
{
    uint64_t v, mul;
    const char *unit;

    if (parse_unsigned(s, &v, &unit) < 0)
        return -1;
    if (strcmp(unit, "ms") == 0)
        mul = 1;
    else if (strcmp(unit, "s") == 0 || *unit == '\0')
        mul = 1000;
    else if (strcmp(unit, "m") == 0)
        mul = 60 * 1000;
    else if (strcmp(unit, "h") == 0)
        mul = 3600 * 1000;
    else
        return -1;
    return scale(v, mul, out);
}

int parse_size(const char *s, uint64_t *out)
{
    uint64_t v, mul;
    const char *unit;

    if (parse_unsigned(s, &v, &unit) < 0)
        return -1;
    if (*unit == '\0')
        mul = 1;
    else if (unit[1] != '\0')
        return -1;
    else if (*unit == 'k' || *unit == 'K')
        mul = 1024;
    else if (*unit == 'm' || *unit == 'M')
        mul = 1024 * 1024;
    else if (*unit == 'g' || *unit == 'G')
        mul = 1024 * 1024 * 1024;
    else
        return -1;
    return scale(v, mul, out);
}

static int set_string(char *dst, size_t size, const char *value)
{
    size_t n = strlen(value);

    if (n == 0 || n >= size)
        return -1;
    memcpy(dst, value, n + 1);
    return 0;
}

static int set_group(char *dst, size_t size, const char *value)
{
    const char *p;

    /* a group name as useradd accepts it, or a numeric gid */
    for (p = value; *p; p++) {
        if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-'
            && *p != '.')
            return -1;
    }
    return set_string(dst, size, value);
}

static int set_tcp(char *dst, size_t size, const char *value)
{
    const char *colon = strrchr(value, ':');
    uint64_t port;
    const char *rest;

    if (colon == NULL || colon == value)
        return -1;
    if (parse_unsigned(colon + 1, &port, &rest) < 0 || *rest != '\0'
        || port == 0 || port > 65535)
        return -1;
    return set_string(dst, size, value);
}

static int set_mode(mode_t *dst, const char *value)
{
    char *end;
    unsigned long v;

    if (value[0] < '0' || value[0] > '7')
        return -1;
    errno = 0;
    v = strtoul(value, &end, 8);
    if (errno || *end != '\0' || v > 0777)
        return -1;
    *dst = (mode_t)v;
    return 0;
}

static int set_level(enum log_level *dst, const char *value)
{
    static const enum log_level levels[] = {
        LOG_LEVEL_DEBUG, LOG_LEVEL_INFO, LOG_LEVEL_WARN, LOG_LEVEL_ERROR,
    };
    size_t i;

    for (i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
        if (strcmp(value, log_level_name(levels[i])) == 0) {
            *dst = levels[i];
            return 0;
        }
    }
    return -1;
}

static int set_duration(uint64_t *dst, const char *value)
{
    return parse_duration_ms(value, dst);
}

/* A duration from min to max milliseconds. */
static int set_range_duration(uint64_t *dst, const char *value, uint64_t min,
                              uint64_t max)
{
    uint64_t v;

    if (parse_duration_ms(value, &v) < 0 || v < min || v > max)
        return -1;
    *dst = v;
    return 0;
}

static int set_size(uint64_t *dst, const char *value)
{
    return parse_size(value, dst);
}

static int set_number(uint64_t *dst, const char *value, uint64_t min,
                      uint64_t max)
{
    uint64_t v;
    const char *rest;

    if (parse_unsigned(value, &v, &rest) < 0 || *rest != '\0' || v < min
        || v > max)
        return -1;
    *dst = v;
    return 0;
}

/* "FIRST-LAST": at least one id, never 0, never 4294967295 */
static int set_id_range(uint32_t *first, uint32_t *count, const char *value)
{
    unsigned long long a, b;
    char *end;

    if (*value < '0' || *value > '9')
        return -1;
    errno = 0;
    a = strtoull(value, &end, 10);
    if (errno != 0 || *end != '-' || end[1] < '0' || end[1] > '9')
        return -1;
    b = strtoull(end + 1, &end, 10);
    if (errno != 0 || *end != '\0' || a == 0 || b < a || b > 4294967294ULL)
        return -1;
    *first = (uint32_t)a;
    *count = (uint32_t)(b - a + 1);
    return 0;
}

static int set_bool(int *dst, const char *value)
{
    if (strcmp(value, "yes") == 0 || strcmp(value, "on") == 0) {
        *dst = 1;
        return 0;
    }
    if (strcmp(value, "no") == 0 || strcmp(value, "off") == 0) {
        *dst = 0;
        return 0;
    }
    return -1;
}

static int set_abs_path(char *dst, size_t size, const char *value)
{
    if (value[0] != '/' || strstr(value, "/../") != NULL)
        return -1;
    return set_string(dst, size, value);
}

/* A user name as the shadow tools take it. */
static int set_user_name(char *dst, size_t size, const char *value)
{
    const char *p;

    if (value[0] != '\0' && !islower((unsigned char)value[0])
        && value[0] != '_')
        return -1;
    for (p = value; *p; p++) {
        if (!islower((unsigned char)*p) && !isdigit((unsigned char)*p)
            && !strchr("_.-", *p))
            return -1;
    }
    return set_string(dst, size, value);
}

static int set_cgroup_name(char *dst, size_t size, const char *value)
{
    const char *p;

    if (value[0] == '/' || strstr(value, "..") != NULL)
        return -1;
    for (p = value; *p; p++) {
        if (!isalnum((unsigned char)*p) && !strchr("_.-/", *p))
            return -1;
    }
    return set_string(dst, size, value);
}

static int set_range_size(uint64_t *dst, const char *value, uint64_t min,
                          uint64_t max)
{
    uint64_t v;

    if (parse_size(value, &v) < 0 || v < min || v > max)
        return -1;
    *dst = v;
    return 0;
}

/* The keys about running functions and capacity. */
static int apply_function_key(struct config *cfg, const char *key,
                              const char *value, const char **expect)
{
    if (strcmp(key, "image_dir") == 0 || strcmp(key, "state_dir") == 0
        || strcmp(key, "bwrap") == 0 || strcmp(key, "cgroup_root") == 0) {
        char *dst = key[0] == 'i' ? cfg->image_dir
                  : key[0] == 's' ? cfg->state_dir
                  : key[0] == 'b' ? cfg->bwrap : cfg->cgroup_root;
        *expect = "an absolute path";
        return set_abs_path(dst, CONFIG_PATH_MAX, value);
    }
    if (strcmp(key, "sandbox_helper") == 0) {
        *expect = "an absolute path";
        return set_abs_path(cfg->sandbox_helper, CONFIG_PATH_MAX, value);
    }
    if (strcmp(key, "cgroup_name") == 0) {
        *expect = "a relative path of [A-Za-z0-9_.-] parts";
        return set_cgroup_name(cfg->cgroup_name, sizeof(cfg->cgroup_name),
                               value);
    }
    if (strcmp(key, "sandbox_uids") == 0) {
        *expect = "FIRST-LAST, host ids from 1 to 4294967294 (never root)";
        return set_id_range(&cfg->sandbox_uid_first, &cfg->sandbox_uid_count,
                            value);
    }
    if (strcmp(key, "sandbox_uids_owner") == 0) {
        *expect = "a user name: [a-z_][a-z0-9_.-]*, up to 32 characters";
        return set_user_name(cfg->sandbox_uids_owner,
                             sizeof(cfg->sandbox_uids_owner), value);
    }
    if (strcmp(key, "sandbox_uid") == 0 || strcmp(key, "sandbox_gid") == 0) {
        *expect = "nothing: every sandbox has a uid of its own now; set "
                  "the range \"sandbox_uids\" instead";
        return -1;
    }
    if (strcmp(key, "allow_network") == 0) {
        *expect = "yes or no";
        return set_bool(&cfg->allow_network, value);
    }
    if (strcmp(key, "cgroup_delegated") == 0) {
        *expect = "yes or no";
        return set_bool(&cfg->cgroup_delegated, value);
    }
    if (strcmp(key, "max_response_body") == 0) {
        *expect = "a size up to 1g";
        return set_range_size(&cfg->max_response_body, value, 0, 1ULL << 30);
    }
    if (strcmp(key, "tmp_size") == 0) {
        *expect = "a size from 64k to 16g";
        return set_range_size(&cfg->tmp_size, value, 64 * 1024, 16ULL << 30);
    }
    if (strcmp(key, "log_max_per_call") == 0) {
        *expect = "a size up to 16m";
        return set_range_size(&cfg->log_max_per_call, value, 0, 16 << 20);
    }
    if (strcmp(key, "log_store_max") == 0) {
        *expect = "a size such as 1g (0: no cap)";
        return set_range_size(&cfg->log_store_max, value, 0, 1ULL << 40);
    }
    if (strcmp(key, "log_retention") == 0) {
        *expect = "a duration such as 1h (0: call logs are not kept)";
        return set_duration(&cfg->log_retention_ms, value);
    }
    if (strcmp(key, "memory_budget") == 0) {
        *expect = "a size from 16m";
        return set_range_size(&cfg->memory_budget, value, 16 << 20,
                              UINT64_MAX);
    }
    if (strcmp(key, "pids_max") == 0) {
        *expect = "a number from 1 to 100000";
        return set_number(&cfg->pids_max, value, 1, 100000);
    }
    if (strcmp(key, "cpu_quota") == 0) {
        *expect = "a percentage of one core from 0 (none) to 100000";
        return set_number(&cfg->cpu_quota, value, 0, 100000);
    }
    if (strcmp(key, "max_sandboxes") == 0) {
        *expect = "a number from 1 to 100000";
        return set_number(&cfg->max_sandboxes, value, 1, 100000);
    }
    if (strcmp(key, "queue_size") == 0) {
        *expect = "a number from 0 to 1000000";
        return set_number(&cfg->queue_size, value, 0, 1000000);
    }
    if (strcmp(key, "queue_timeout") == 0) {
        *expect = "a duration up to 1h";
        return set_range_duration(&cfg->queue_timeout_ms, value,
                                  0, 3600 * 1000);
    }
    if (strcmp(key, "sandbox_idle_timeout") == 0) {
        *expect = "a duration up to 1h (0: a sandbox serves one call)";
        return set_range_duration(&cfg->sandbox_idle_timeout_ms, value,
                                  0, 3600 * 1000);
    }
    if (strcmp(key, "listen_timeout") == 0) {
        *expect = "a duration from 100ms to 10m";
        return set_range_duration(&cfg->listen_timeout_ms, value,
                                  100, 600 * 1000);
    }
    if (strcmp(key, "sandbox_idle_max") == 0) {
        *expect = "a number from 0 (a sandbox serves one call) to 100000";
        return set_number(&cfg->sandbox_idle_max, value, 0, 100000);
    }
    return -2;
}

/* The limits on images (unpack_limits.h) and the image store's size. */
static int apply_image_key(struct config *cfg, const char *key,
                           const char *value, const char **expect)
{
    if (strcmp(key, "layer_max_bytes") == 0
        || strcmp(key, "image_max_bytes") == 0
        || strcmp(key, "image_store_max_bytes") == 0) {
        *expect = "a size from 64k to 1024g";
        return set_range_size(key[0] == 'l' ? &cfg->layer_max_bytes
                              : key[6] == 'm' ? &cfg->image_max_bytes
                              : &cfg->image_store_max_bytes, value,
                              64 * 1024, 1ULL << 40);
    }
    if (strcmp(key, "layer_max_entries") == 0
        || strcmp(key, "image_max_entries") == 0) {
        *expect = "a number from 1 to 100000000";
        return set_number(key[0] == 'l' ? &cfg->layer_max_entries
                          : &cfg->image_max_entries, value, 1, 100000000);
    }
    return -2;
}

/* host[:port],host[:port],... (no spaces) */
static int set_registry_list(char *dst, size_t size, const char *value)
{
    const char *p = value, *comma;

    if (strlen(value) >= size)
        return -1;
    while (*p != '\0') {
        comma = strchr(p, ',');
        if (comma == NULL)
            comma = p + strlen(p);
        if (!image_ref_registry_valid(p, (size_t)(comma - p)))
            return -1;
        p = *comma == ',' ? comma + 1 : comma;
        if (*comma == ',' && *p == '\0')
            return -1;
    }
    return set_string(dst, size, value);
}

int config_registry_listed(const char *list, const char *registry)
{
    size_t n = strlen(registry);
    const char *p = list, *comma;

    while (*p != '\0') {
        comma = strchr(p, ',');
        if (comma == NULL)
            comma = p + strlen(p);
        if ((size_t)(comma - p) == n && strncasecmp(p, registry, n) == 0)
            return 1;
        p = *comma == ',' ? comma + 1 : comma;
    }
    return 0;
}

/* Where images come from (registry.h). */
static int apply_registry_key(struct config *cfg, const char *key,
                              const char *value, const char **expect)
{
    if (strcmp(key, "default_registry") == 0) {
        *expect = "host[:port]";
        if (!image_ref_registry_valid(value, strlen(value)))
            return -1;
        return set_string(cfg->default_registry,
                          sizeof(cfg->default_registry), value);
    }
    if (strcmp(key, "default_namespace") == 0) {
        struct image_ref ref;
        char err[64];

        *expect = "a repository path (lowercase letters, digits, . _ -)";
        if (strlen(value) >= sizeof(cfg->default_namespace)
            || image_ref_parse(value, "x.example", "", &ref, err,
                               sizeof(err)) < 0
            || strcmp(ref.repository, value) != 0)
            return -1;
        return set_string(cfg->default_namespace,
                          sizeof(cfg->default_namespace), value);
    }
    if (strcmp(key, "allowed_registries") == 0
        || strcmp(key, "insecure_registries") == 0) {
        *expect = "host[:port] names, comma-separated";
        return set_registry_list(key[0] == 'a' ? cfg->allowed_registries
                                 : cfg->insecure_registries,
                                 sizeof(cfg->allowed_registries), value);
    }
    if (strcmp(key, "registry_ca_file") == 0
        || strcmp(key, "registry_credentials_file") == 0) {
        *expect = "an absolute path";
        return set_abs_path(key[9] == 'c' && key[10] == 'a'
                            ? cfg->registry_ca_file
                            : cfg->registry_credentials_file,
                            CONFIG_PATH_MAX, value);
    }
    if (strcmp(key, "registry_timeout") == 0) {
        *expect = "a duration from 1s to 1h";
        return set_range_duration(&cfg->registry_timeout_ms, value,
                                  1000, 3600 * 1000);
    }
    if (strcmp(key, "registry_tag_ttl") == 0) {
        *expect = "a duration up to 1d";
        return set_range_duration(&cfg->registry_tag_ttl_ms, value,
                                  0, 86400 * 1000);
    }
    if (strcmp(key, "registry_manifest_max") == 0) {
        *expect = "a size from 4k to 64m";
        return set_range_size(&cfg->registry_manifest_max, value, 4096,
                              64 * 1024 * 1024);
    }
    return -2;
}

static int set_name(char *dst, size_t size, const char *value)
{
    const char *p;

    if (*value == '\0' || strlen(value) >= size)
        return -1;
    for (p = value; *p; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
              || (*p >= '0' && *p <= '9') || *p == '.' || *p == '_'
              || *p == '-'))
            return -1;
    }
    return set_string(dst, size, value);
}

static size_t words(const char *s)
{
    size_t n = 0;

    for (;;) {
        s += strspn(s, " \t");
        if (*s == '\0')
            return n;
        n++;
        s += strcspn(s, " \t");
    }
}

/* At least one word, each starting with prefix. */
static int each_word_starts(const char *s, const char *prefix)
{
    size_t n = strlen(prefix);

    if (words(s) == 0)
        return 0;
    for (;;) {
        s += strspn(s, " \t");
        if (*s == '\0')
            return 1;
        if (strncmp(s, prefix, n) != 0)
            return 0;
        s += strcspn(s, " \t");
    }
}

static int apply_async_key(struct config *cfg, const char *key,
                           const char *value, const char **expect)
{
    if (strcmp(key, "amqp_url") == 0) {
        *expect = "amqp://user:password@host:port/vhost, or several "
                  "separated by spaces";
        if (!each_word_starts(value, "amqp://"))
            return -1;
        return set_string(cfg->amqp_url, sizeof(cfg->amqp_url), value);
    }
    if (strcmp(key, "amqp_exchange") == 0 || strcmp(key, "amqp_queue") == 0) {
        *expect = "1 to 127 of [A-Za-z0-9._-]";
        return set_name(key[5] == 'e' ? cfg->amqp_exchange : cfg->amqp_queue,
                        128, value);
    }
    if (strcmp(key, "amqp_queue_type") == 0) {
        *expect = "quorum or classic";
        if (strcmp(value, "quorum") != 0 && strcmp(value, "classic") != 0)
            return -1;
        cfg->amqp_quorum = value[0] == 'q';
        return 0;
    }
    if (strcmp(key, "async_slots") == 0) {
        *expect = "a number from 1 to 100000";
        return set_number(&cfg->async_slots, value, 1, 100000);
    }
    if (strcmp(key, "async_retries") == 0) {
        *expect = "a number from 0 to 8";
        return set_number(&cfg->async_retries, value, 0, 8);
    }
    if (strcmp(key, "async_retry_delay") == 0) {
        *expect = "a duration from 100ms to 1h";
        return set_range_duration(&cfg->async_retry_delay_ms, value,
                                  100, 3600 * 1000);
    }
    if (strcmp(key, "mysql_server") == 0) {
        *expect = "host:port or unix:/path, or several separated by spaces "
                  "(at most 8)";
        if (!each_word_starts(value, "") || words(value) > 8)
            return -1;
        return set_string(cfg->mysql_server, sizeof(cfg->mysql_server),
                          value);
    }
    if (strcmp(key, "mysql_user") == 0) {
        *expect = "a user name";
        return set_string(cfg->mysql_user, sizeof(cfg->mysql_user), value);
    }
    if (strcmp(key, "mysql_password_file") == 0) {
        *expect = "an absolute path";
        return set_abs_path(cfg->mysql_password_file, CONFIG_PATH_MAX, value);
    }
    if (strcmp(key, "mysql_database") == 0) {
        *expect = "1 to 64 of [A-Za-z0-9_]";
        if (strchr(value, '.') != NULL || strchr(value, '-') != NULL)
            return -1;
        return set_name(cfg->mysql_database, sizeof(cfg->mysql_database),
                        value);
    }
    return -2;
}

/* Applies one key; returns 0, -1 for a bad value, -2 for an unknown key. */
static int apply(struct config *cfg, const char *key, const char *value,
                 const char **expect)
{
    if (strcmp(key, "listen") == 0) {
        *expect = "an absolute socket path shorter than 108 bytes";
        if (value[0] != '/' || strlen(value) >= 108)
            return -1;
        return set_string(cfg->listen, sizeof(cfg->listen), value);
    }
    if (strcmp(key, "direct_listen") == 0) {
        *expect = "an absolute socket path shorter than 108 bytes";
        if (value[0] != '/' || strlen(value) >= 108)
            return -1;
        return set_string(cfg->direct_listen, sizeof(cfg->direct_listen),
                          value);
    }
    if (strcmp(key, "listen_mode") == 0) {
        *expect = "an octal mode such as 0660";
        return set_mode(&cfg->listen_mode, value);
    }
    if (strcmp(key, "listen_group") == 0) {
        *expect = "a group name or number";
        return set_group(cfg->listen_group, sizeof(cfg->listen_group), value);
    }
    if (strcmp(key, "listen_tcp") == 0) {
        *expect = "host:port";
        return set_tcp(cfg->listen_tcp, sizeof(cfg->listen_tcp), value);
    }
    if (strcmp(key, "metrics_listen") == 0) {
        *expect = "host:port";
        return set_tcp(cfg->metrics_listen, sizeof(cfg->metrics_listen),
                       value);
    }
    if (strcmp(key, "metrics_interval") == 0) {
        *expect = "a duration from 1s to 1h, or 0 for no metric lines";
        if (set_duration(&cfg->metrics_interval_ms, value) < 0
            || cfg->metrics_interval_ms > 3600 * 1000
            || (cfg->metrics_interval_ms > 0
                && cfg->metrics_interval_ms < 1000))
            return -1;
        return 0;
    }
    if (strcmp(key, "metrics_max_series") == 0) {
        *expect = "a number from 1 to 10000";
        return set_number(&cfg->metrics_max_series, value, 1, 10000);
    }
    if (strcmp(key, "secret_file") == 0) {
        *expect = "an absolute path";
        if (value[0] != '/')
            return -1;
        return set_string(cfg->secret_file, sizeof(cfg->secret_file), value);
    }
    if (strcmp(key, "log_level") == 0) {
        *expect = "debug, info, warn or error";
        return set_level(&cfg->log_level, value);
    }
    if (strcmp(key, "log_file") == 0) {
        *expect = "an absolute path";
        if (value[0] != '/')
            return -1;
        return set_string(cfg->log_file, sizeof(cfg->log_file), value);
    }
    if (strcmp(key, "drain_timeout") == 0) {
        *expect = "a duration such as 30s";
        return set_duration(&cfg->drain_timeout_ms, value);
    }
    if (strcmp(key, "max_request_header") == 0) {
        /* room for the largest route, its URL and some client headers */
        *expect = "a size from 48k to 1m";
        if (set_size(&cfg->max_request_header, value) < 0
            || cfg->max_request_header < ROUTE_HEAD_MAX + 8192
            || cfg->max_request_header > 1024 * 1024)
            return -1;
        return 0;
    }
    if (strcmp(key, "max_request_body") == 0) {
        *expect = "a size up to 1g";
        if (set_size(&cfg->max_request_body, value) < 0
            || cfg->max_request_body > 1024 * 1024 * 1024)
            return -1;
        return 0;
    }
    if (strcmp(key, "read_timeout") == 0) {
        *expect = "a duration from 1s to 1h";
        return set_range_duration(&cfg->read_timeout_ms, value,
                                  1000, 3600 * 1000);
    }
    if (strncmp(key, "amqp_", 5) == 0 || strncmp(key, "async_", 6) == 0
        || strncmp(key, "mysql_", 6) == 0)
        return apply_async_key(cfg, key, value, expect);
    if (strncmp(key, "layer_", 6) == 0 || strncmp(key, "image_", 6) == 0) {
        int rc = apply_image_key(cfg, key, value, expect);

        if (rc != -2)
            return rc;
    }
    if (strstr(key, "registr") != NULL
        || strcmp(key, "default_namespace") == 0) {
        int rc = apply_registry_key(cfg, key, value, expect);

        if (rc != -2)
            return rc;
    }
    return apply_function_key(cfg, key, value, expect);
}

int config_parse(struct config *cfg, const char *text, size_t len,
                 char *err, size_t errlen)
{
    char line[1024];
    size_t pos = 0;
    unsigned lineno = 0;

    while (pos < len) {
        size_t start = pos, n;
        char *key, *value, *eq, *end, *p;
        const char *expect = "";
        int rc;

        while (pos < len && text[pos] != '\n')
            pos++;
        n = pos - start;
        pos++;  /* past the newline */
        lineno++;

        if (n >= sizeof(line))
            return errf(err, errlen, "line %u: longer than %zu bytes",
                        lineno, sizeof(line) - 1);
        memcpy(line, text + start, n);
        line[n] = '\0';
        if (memchr(line, '\0', n) != NULL)
            return errf(err, errlen, "line %u: contains a NUL byte", lineno);

        if ((p = strchr(line, '#')) != NULL)
            *p = '\0';

        key = line;
        while (isspace((unsigned char)*key))
            key++;
        if (*key == '\0')
            continue;

        eq = strchr(key, '=');
        if (eq == NULL)
            return errf(err, errlen, "line %u: expected \"key = value\"",
                        lineno);
        end = eq;
        while (end > key && isspace((unsigned char)end[-1]))
            end--;
        *end = '\0';

        value = eq + 1;
        while (isspace((unsigned char)*value))
            value++;
        end = value + strlen(value);
        while (end > value && isspace((unsigned char)end[-1]))
            end--;
        *end = '\0';

        if (*key == '\0')
            return errf(err, errlen, "line %u: missing key", lineno);
        if (*value == '\0')
            return errf(err, errlen, "line %u: \"%s\" has no value",
                        lineno, key);

        rc = apply(cfg, key, value, &expect);
        if (rc == -2)
            return errf(err, errlen, "line %u: unknown key \"%.64s\"",
                        lineno, key);
        if (rc < 0)
            return errf(err, errlen,
                        "line %u: invalid %s \"%.128s\", expected %s",
                        lineno, key, value, expect);
    }
    return 0;
}

int config_validate(const struct config *cfg, char *err, size_t errlen)
{
    if (cfg->listen[0] == '\0')
        return errf(err, errlen, "\"listen\" is required");
    if (cfg->image_dir[0] == '\0')
        return errf(err, errlen, "\"image_dir\" is required");
    if (cfg->state_dir[0] == '\0')
        return errf(err, errlen, "\"state_dir\" is required");
    if (cfg->listen_tcp[0] != '\0' && cfg->secret_file[0] == '\0')
        return errf(err, errlen,
                    "\"listen_tcp\" needs \"secret_file\": the TCP listener "
                    "only serves callers that present the shared secret");
    if (cfg->amqp_url[0] != '\0' && cfg->mysql_server[0] == '\0')
        return errf(err, errlen, "\"amqp_url\" needs \"mysql_server\": "
                    "async calls are recorded as they run");
    if (cfg->sandbox_uid_first <= 65534
        && 65534 - cfg->sandbox_uid_first < cfg->sandbox_uid_count)
        return errf(err, errlen, "\"sandbox_uids\" holds 65534 (nobody): "
                    "anything else running as nobody could read a "
                    "function's environment");
    /* every sandbox alive, idle or closing has a uid of its own */
    if (cfg->sandbox_uid_count
        < 2 * (cfg->max_sandboxes + cfg->sandbox_idle_max))
        return errf(err, errlen, "\"sandbox_uids\" has %u ids: give it at "
                    "least twice max_sandboxes + sandbox_idle_max (%llu)",
                    cfg->sandbox_uid_count,
                    (unsigned long long)(2 * (cfg->max_sandboxes
                                              + cfg->sandbox_idle_max)));
    if (cfg->async_slots > cfg->max_sandboxes)
        return errf(err, errlen, "\"async_slots\" is more than "
                    "\"max_sandboxes\": sync calls would starve");
    if (cfg->image_store_max_bytes < cfg->image_max_bytes)
        return errf(err, errlen, "\"image_store_max_bytes\" is less than "
                    "\"image_max_bytes\": the store could not keep an "
                    "image it accepts");
    return 0;
}
