/*
 * Async call messages: parsing and checks.
 */
#include "async_message.h"
#include "base64.h"
#include "call_request.h"
#include "errf.h"
#include "route_def.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static int get_str(json_t *o, const char *field, char *dst, size_t size,
                   char *err, size_t errlen)
{
    json_t *v = json_object_get(o, field);

    if (!json_is_string(v) || json_string_length(v) >= size
        || strlen(json_string_value(v)) != json_string_length(v))
        return errf(err, errlen, "message field \"%s\" is missing or "
                    "invalid", field);
    memcpy(dst, json_string_value(v), json_string_length(v) + 1);
    return 0;
}

static int value_ok(const char *s)
{
    for (; *s; s++) {
        if (*s == '\r' || *s == '\n')
            return 0;
    }
    return 1;
}

static int parse(json_t *root, struct async_message *m, char *err,
                 size_t errlen)
{
    json_t *route, *headers, *h, *body, *v;
    struct route_def def;
    size_t i;

    if (!json_is_object(root))
        return errf(err, errlen, "the message is not a JSON object");
    if (get_str(root, "call_id", m->call_id, sizeof(m->call_id), err,
                errlen) < 0
        || get_str(root, "app", m->app, sizeof(m->app), err, errlen) < 0
        || get_str(root, "path", m->path, sizeof(m->path), err, errlen) < 0
        || get_str(root, "method", m->method, sizeof(m->method), err,
                   errlen) < 0)
        return -1;
    if (!call_id_valid(m->call_id))
        return errf(err, errlen, "message field \"call_id\" is not a call "
                    "id");
    route = json_object_get(root, "route");
    if (route_def_from_json(route, &def, err, errlen) < 0)
        return -1;
    route_def_free(&def);
    m->route = json_dumps(route, JSON_COMPACT);
    v = json_object_get(root, "url");
    if (m->route == NULL || !json_is_string(v)
        || !value_ok(json_string_value(v)))
        return errf(err, errlen, "message field \"url\" is missing or "
                    "invalid");
    m->url = strdup(json_string_value(v));
    if (m->url == NULL)
        return errf(err, errlen, "out of memory");

    headers = json_object_get(root, "headers");
    if (!json_is_array(headers))
        return errf(err, errlen, "message field \"headers\" must be a list");
    json_array_foreach(headers, i, h) {
        json_t *n = json_array_get(h, 0), *val = json_array_get(h, 1);

        if (!json_is_array(h) || json_array_size(h) != 2
            || !json_is_string(n) || !json_is_string(val)
            || json_string_length(n) == 0
            || strlen(json_string_value(n)) != json_string_length(n)
            || strlen(json_string_value(val)) != json_string_length(val)
            || !value_ok(json_string_value(n))
            || !value_ok(json_string_value(val)) || strchr(
                json_string_value(n), ':') != NULL)
            return errf(err, errlen, "message field \"headers\": entry %zu "
                        "is not [name, value]", i);
        strvec_push(&m->header_names, json_string_value(n));
        strvec_push(&m->header_values, json_string_value(val));
    }

    body = json_object_get(root, "body");
    if (!json_is_string(body))
        return errf(err, errlen, "message field \"body\" must be a string");
    m->body = malloc(json_string_length(body) / 4 * 3 + 1);
    if (m->body == NULL)
        return errf(err, errlen, "out of memory");
    if (base64_decode(json_string_value(body), json_string_length(body),
                      m->body, &m->body_len) < 0)
        return errf(err, errlen, "message field \"body\" is not base64");

    v = json_object_get(root, "attempt");
    if (!json_is_integer(v) || json_integer_value(v) < 1
        || json_integer_value(v) > 1000)
        return errf(err, errlen, "message field \"attempt\" must be a "
                    "number from 1");
    m->attempt = (unsigned)json_integer_value(v);
    v = json_object_get(root, "enqueued_at");
    m->enqueued_at_ms = json_is_integer(v) ? json_integer_value(v) : 0;
    return 0;
}

int async_message_parse(const void *data, size_t len,
                        struct async_message *m, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *root;
    int rc;

    memset(m, 0, sizeof(*m));
    root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL)
        return errf(err, errlen, "the message is not JSON: %s", jerr.text);
    rc = parse(root, m, err, errlen);
    json_decref(root);
    if (rc < 0)
        async_message_free(m);
    return rc;
}

void async_message_free(struct async_message *m)
{
    free(m->route);
    free(m->url);
    free(m->body);
    strvec_free(&m->header_names);
    strvec_free(&m->header_values);
    memset(m, 0, sizeof(*m));
}

char *async_message_next(const void *data, size_t len, unsigned attempt)
{
    json_t *root;
    char *out = NULL;

    root = json_loadb(data, len, JSON_REJECT_DUPLICATES, NULL);
    if (json_is_object(root)
        && json_object_set_new(root, "attempt", json_integer(attempt)) == 0)
        out = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    return out;
}
