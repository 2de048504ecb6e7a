/*
 * Executor configuration parser.  Pure: no I/O, no allocation.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void config_defaults(struct config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->listen_mode = 0660;
    cfg->log_level = LOG_LEVEL_INFO;
    cfg->drain_timeout_ms = 30000;
    cfg->max_request_header = 64 * 1024;
    cfg->max_request_body = 10 * 1024 * 1024;
    cfg->read_timeout_ms = 60000;
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

__attribute__((format(printf, 3, 4)))
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (errlen) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
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

static int set_size(uint64_t *dst, const char *value)
{
    return parse_size(value, dst);
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
        *expect = "a size from 1k to 1m";
        if (set_size(&cfg->max_request_header, value) < 0
            || cfg->max_request_header < 1024
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
        if (set_duration(&cfg->read_timeout_ms, value) < 0
            || cfg->read_timeout_ms < 1000
            || cfg->read_timeout_ms > 3600 * 1000)
            return -1;
        return 0;
    }
    return -2;
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
            return fail(err, errlen, "line %u: longer than %zu bytes",
                        lineno, sizeof(line) - 1);
        memcpy(line, text + start, n);
        line[n] = '\0';
        if (memchr(line, '\0', n) != NULL)
            return fail(err, errlen, "line %u: contains a NUL byte", lineno);

        if ((p = strchr(line, '#')) != NULL)
            *p = '\0';

        key = line;
        while (isspace((unsigned char)*key))
            key++;
        if (*key == '\0')
            continue;

        eq = strchr(key, '=');
        if (eq == NULL)
            return fail(err, errlen, "line %u: expected \"key = value\"",
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
            return fail(err, errlen, "line %u: missing key", lineno);
        if (*value == '\0')
            return fail(err, errlen, "line %u: \"%s\" has no value",
                        lineno, key);

        rc = apply(cfg, key, value, &expect);
        if (rc == -2)
            return fail(err, errlen, "line %u: unknown key \"%.64s\"",
                        lineno, key);
        if (rc < 0)
            return fail(err, errlen,
                        "line %u: invalid %s \"%.128s\", expected %s",
                        lineno, key, value, expect);
    }
    return 0;
}

int config_validate(const struct config *cfg, char *err, size_t errlen)
{
    if (cfg->listen[0] == '\0')
        return fail(err, errlen, "\"listen\" is required");
    if (cfg->listen_tcp[0] != '\0' && cfg->secret_file[0] == '\0')
        return fail(err, errlen,
                    "\"listen_tcp\" needs \"secret_file\": the TCP listener "
                    "only serves callers that present the shared secret");
    return 0;
}
