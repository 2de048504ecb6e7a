/*
 * The route definition carried by Fn-Route: defaults, every field's
 * checks, config precedence.
 */
#include "route_def.h"
#include "tap.h"

#define NAME10 "abcdefghij"
#define NAME50 NAME10 NAME10 NAME10 NAME10 NAME10
#define NAME240 NAME50 NAME50 NAME50 NAME50 NAME10 NAME10 NAME10 NAME10
#define NAME250 NAME240 NAME10

#include <jansson.h>

static struct route_def r;
static char err[512];

static int parse(const char *json)
{
    route_def_free(&r);
    return route_def_parse(json, strlen(json), &r, err, sizeof(err));
}

static void refused(const char *json, const char *needle)
{
    int rc = parse(json);

    if (!ok(rc < 0 && strstr(err, needle) != NULL, "refused: %s", json))
        printf("#   rc %d, error '%s', wanted '%s'\n", rc, err, needle);
}

int main(void)
{
    is_int(parse("{\"app\":\"a\",\"path\":\"/b\",\"image\":\"oci:x\"}"), 0,
           "the three required fields are enough");
    is_int(r.memory_mb, 128, "memory defaults to 128");
    is_int(r.timeout_s, 30, "timeout to 30");
    is_int(r.format, ROUTE_FORMAT_DEFAULT, "format to default");
    is_int(r.type, ROUTE_TYPE_SYNC, "type to sync");
    is_int(r.max_concurrency, 1, "max_concurrency to 1");

    is_int(parse("{\"app\":\"my-app_1\",\"path\":\"/a/b/c\",\"image\":"
                 "\"oci:x:v1\",\"format\":\"http\",\"type\":\"async\","
                 "\"memory\":8192,\"timeout\":3600,\"future\":[1],"
                 "\"headers\":{\"X-A\":[\"1\",\"2\"]},"
                 "\"app_config\":{\"K\":\"app\",\"ONLY\":\"a\"},"
                 "\"config\":{\"K\":\"route\"}}"), 0,
           "every field, and an unknown one");
    is_str(r.path, "/a/b/c", "multi-segment path");
    is_int(r.format, ROUTE_FORMAT_HTTP, "format http");
    is_int(r.type, ROUTE_TYPE_ASYNC, "type async");
    is_int(r.nheaders, 2, "one header entry per value");
    is_str(route_config_get(&r, "K"), "route", "route config wins");
    is_str(route_config_get(&r, "ONLY"), "a", "app config is there");
    ok(route_config_get(&r, "NONE") == NULL, "absent key: NULL");

    refused("", "not valid JSON");
    refused("[]", "must be a JSON object");
    refused("{\"app\":\"a\",\"app\":\"b\",\"path\":\"/\",\"image\":\"x\"}",
            "duplicate");
    refused("{\"path\":\"/\",\"image\":\"x\"}", "\"app\"");
    refused("{\"app\":\"a b\",\"path\":\"/\",\"image\":\"x\"}", "\"app\"");
    refused("{\"app\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\",\"path\":\"/\","
            "\"image\":\"x\"}", "\"app\"");
    refused("{\"app\":\"a\",\"path\":\"b\",\"image\":\"x\"}", "\"path\"");
    refused("{\"app\":\"a\",\"path\":\"/a//b\",\"image\":\"x\"}", "\"path\"");
    refused("{\"app\":\"a\",\"path\":\"/a/./b\",\"image\":\"x\"}", "\"path\"");
    refused("{\"app\":\"a\",\"path\":\"/a/..\",\"image\":\"x\"}", "\"path\"");
    refused("{\"app\":\"a\",\"path\":\"/a%2f\",\"image\":\"x\"}", "\"path\"");
    refused("{\"app\":\"a\",\"path\":\"/\",\"image\":\"\"}", "\"image\"");
    refused("{\"app\":\"a\",\"path\":\"/\",\"image\":\"x\",\"memory\":0}",
            "\"memory\" must be from 1 to 8192");
    refused("{\"app\":\"a\",\"path\":\"/\",\"image\":\"x\",\"memory\":1.5}",
            "\"memory\" must be an integer");
    refused("{\"app\":\"a\",\"path\":\"/\",\"image\":\"x\",\"timeout\":3601}",
            "\"timeout\"");
    refused("{\"app\":\"a\",\"path\":\"/\",\"image\":\"x\",\"format\":1}",
            "\"format\" must be one of");
    refused("{\"app\":\"a\",\"path\":\"/\",\"image\":\"x\",\"type\":\"x\"}",
            "\"type\" must be one of");
    refused("{\"app\":\"a\",\"path\":\"/\",\"image\":\"x\","
            "\"headers\":{\"X\":\"v\"}}", "must be a list of strings");
    refused("{\"app\":\"a\",\"path\":\"/\",\"image\":\"x\","
            "\"headers\":{\"Bad Name\":[\"v\"]}}", "\"headers\"");
    refused("{\"app\":\"a\",\"path\":\"/\",\"image\":\"x\","
            "\"headers\":{\"X\":[\"a\\r\\nB: c\"]}}", "without control characters");
    refused("{\"app\":\"a\",\"path\":\"/\",\"image\":\"x\","
            "\"config\":{\"A\":\"x\\u0000y\"}}", "is not allowed");
    refused("{\"app\":\"a\",\"path\":\"/\",\"image\":\"x\","
            "\"config\":{\"A\":1}}", "\"config\"");
    refused("{\"app\":\"a\",\"path\":\"/\",\"image\":\"a b\"}",
            "\"image\" must be an image reference");
    refused("{\"app\":\"a\",\"path\":\"/\",\"image\":\"a\\u00e9\"}",
            "\"image\" must be an image reference");
    refused("{\"app\":\"a\",\"path\":\"/\",\"image\":\"x\","
            "\"max_concurrency\":1001}", "\"max_concurrency\"");

    /* an app's config, checked alone (the /v1 API) */
    {
        json_t *m = json_loads("{\"K\":\"v\",\"A.B\":\"w\"}", 0, NULL);

        is_int(route_config_check(m, "app", "config", err, sizeof(err)), 0,
               "config: string values, token keys");
        json_object_set_new(m, "bad key", json_string("v"));
        ok(route_config_check(m, "app", "config", err, sizeof(err)) < 0
           && strstr(err, "app field \"config\": invalid key") != NULL,
           "config: a key with a space is refused, naming app and field");
        json_decref(m);
        is_int(route_config_check(NULL, "app", "config", err, sizeof(err)),
               0, "config: none is an empty map");
        m = json_array();
        ok(route_config_check(m, "app", "config", err, sizeof(err)) < 0
           && strstr(err, "must be an object") != NULL,
           "config: a list is refused");
        json_decref(m);
    }

    /* what no route and no function may answer (the executor drops the
     * same names from a function's answer) */
    {
        static const char *const reserved[] = {
            "Content-Length", "transfer-encoding", "Connection", "TE",
            "Trailer", "Upgrade", "Keep-Alive", "Proxy-Connection",
            "X-Accel-Redirect", "x-accel-limit-rate", "Fn-Executor-Busy",
            "fn-call-id", "Proxy-Authenticate", "PROXY-AUTHORIZATION",
            "content-length", "uPgRaDe",
        };
        static const char *const allowed[] = {
            "Content-Type", "X-Accel", "Set-Cookie", "Location",
            "Retry-After", "Cache-Control", "Fnord", "Connections", "TEA",
            "T", "Upgrade-Insecure-Requests", "Keep-Alive-X", "Content",
            "Trailers", "Proxy-Connection-", "",
        };
        size_t i;

        for (i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
            ok(route_header_reserved(reserved[i]), "reserved: %s",
               reserved[i]);
        for (i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
            ok(!route_header_reserved(allowed[i]), "allowed: %s",
               allowed[i]);
        ok(!route_header_name_valid("X Y"), "a name with a space");
        ok(!route_header_name_valid(""), "an empty name");
        {
            char name[4] = "a?b";
            int c, wrong = 0;

            /* every byte, against the token characters spelt out */
            for (c = 1; c < 256; c++) {
                int token = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
                            || (c >= '0' && c <= '9')
                            || strchr("!#$%&'*+-.^_`|~", c) != NULL;

                name[1] = (char)c;
                if (route_header_name_valid(name) != token)
                    wrong++;
            }
            ok(wrong == 0, "a name's byte is taken if and only if it is "
               "a token character");
        }
        {
            char name[258];

            memset(name, 'a', 257);
            name[257] = '\0';
            ok(!route_header_name_valid(name), "a name of 257 bytes");
            name[256] = '\0';
            ok(route_header_name_valid(name), "a name of 256 bytes");
        }
        ok(route_header_value_valid("a\tb c", 5), "a tab in a value");
        ok(!route_header_value_valid("a\x7f", 2), "DEL in a value");
        ok(!route_header_value_valid("a\rb", 3), "CR in a value");
        ok(route_header_value_valid("\xc3\xa9", 2), "UTF-8 in a value");
    }
    refused("{\"app\":\"a\",\"path\":\"/p\",\"image\":\"i\","
            "\"headers\":{\"Content-Length\":[\"0\"]}}",
            "is set by the platform");
    refused("{\"app\":\"a\",\"path\":\"/p\",\"image\":\"i\","
            "\"config\":{\"K\":\"\\u007f\"}}", "control characters");

    /* sizes as sent to executors: a stored route always fits */
    {
        char *big = malloc(ROUTE_CONFIG_BYTES + 256);
        size_t n;

        n = (size_t)sprintf(big, "{\"app\":\"a\",\"path\":\"/p\","
                            "\"image\":\"i\",\"config\":{\"K\":\"");
        memset(big + n, 'c', ROUTE_CONFIG_BYTES - 10);
        strcpy(big + n + ROUTE_CONFIG_BYTES - 10, "\"}}");
        is_int(parse(big), 0, "config just under the limit");
        memset(big + n, 'c', ROUTE_CONFIG_BYTES);
        strcpy(big + n + ROUTE_CONFIG_BYTES, "\"}}");
        refused(big, "\"config\" is too large");
        /* 2100 two-byte characters: 4200 bytes, 12600 escaped */
        for (size_t i = 0; i < 2100; i++)
            memcpy(big + n + 2 * i, "\xc3\xa9", 2);
        strcpy(big + n + 4200, "\"}}");
        refused(big, "\"config\" is too large");
        n = (size_t)sprintf(big, "{\"app\":\"a\",\"path\":\"/p\","
                            "\"image\":\"i\",\"headers\":{\"X\":[\"");
        memset(big + n, 'h', ROUTE_HEADERS_BYTES);
        strcpy(big + n + ROUTE_HEADERS_BYTES, "\"]}}");
        refused(big, "\"headers\" is too large");
        free(big);
    }

    /* what executors run today: route_runnable() */
    {
        static const struct {
            const char *json;
            const char *needle;     /* NULL: runnable */
        } cases[] = {
            { "{\"image\":\"oci:echo:v1\"}", NULL },
            { "{\"image\":\"oci:echo\"}", NULL },
            { "{\"image\":\"oci:team/fn:v1.2_b-3\",\"format\":\"http\"}",
              NULL },
            { "{\"image\":\"oci:x\",\"format\":\"default\"}", NULL },
            { "{\"image\":\"iron/hello\"}", NULL },
            { "{\"image\":\"registry.example:5000/team/fn:1.2\"}", NULL },
            { "{\"image\":\"registry.example:5000/fn@sha256:ab\"}",
              "route field \"image\": in the image reference" },
            { "{\"image\":\"OCI:x\"}", "is no repository name" },
            { "{\"image\":\"oci:\"}", "the directory must be" },
            { "{\"image\":\"oci:../x\"}", "the directory must be" },
            { "{\"image\":\"oci:/abs\"}", "the directory must be" },
            { "{\"image\":\"oci:a//b\"}", "the directory must be" },
            { "{\"image\":\"oci:x:\"}", "invalid tag" },
            { "{\"image\":\"oci:x:-v\"}", "invalid tag" },
            { "{\"image\":\"oci:x:v:w\"}", "invalid tag" },
            { "{\"image\":\"oci:x\",\"format\":\"http-stream\"}", NULL },
            /* a one-part name becomes library/<name> on an executor */
            { "{\"image\":\"" NAME250 "\"}", "is too long" },
            { "{\"image\":\"team/" NAME240 "\"}", NULL },
            { "{\"image\":\"oci:x\",\"format\":\"json\"}", NULL },
        };
        char json[512];
        size_t i;
        int rc;

        for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
            /* the same object with app and path: a valid route */
            snprintf(json, sizeof(json), "{\"app\":\"a\",\"path\":\"/p\",%s",
                     cases[i].json + 1);
            if (!ok(parse(json) == 0, "valid: %s", json)) {
                printf("#   %s\n", err);
                continue;
            }
            err[0] = '\0';
            rc = route_runnable(&r, err, sizeof(err));
            if (cases[i].needle == NULL) {
                if (!ok(rc == 0, "runnable: %s", cases[i].json))
                    printf("#   %s\n", err);
            } else if (!ok(rc < 0 && strstr(err, cases[i].needle) != NULL,
                           "not runnable: %s", cases[i].json)) {
                printf("#   rc %d, error '%s', wanted '%s'\n", rc, err,
                       cases[i].needle);
            }
        }

        /* the longest directory and tag an executor takes, and one more */
        {
            char big[1100];
            size_t n;

            n = (size_t)sprintf(big, "{\"app\":\"a\",\"path\":\"/p\","
                                "\"image\":\"oci:");
            memset(big + n, 'd', ROUTE_OCI_DIR_MAX);
            strcpy(big + n + ROUTE_OCI_DIR_MAX, "\"}");
            is_int(parse(big) == 0 && route_runnable(&r, err, sizeof(err)) == 0,
                   1, "a directory of ROUTE_OCI_DIR_MAX bytes");
            memset(big + n, 'd', ROUTE_OCI_DIR_MAX + 1);
            strcpy(big + n + ROUTE_OCI_DIR_MAX + 1, "\"}");
            is_int(parse(big) == 0 && route_runnable(&r, err, sizeof(err)) < 0,
                   1, "one byte more: not runnable");
            n = (size_t)sprintf(big, "{\"app\":\"a\",\"path\":\"/p\","
                                "\"image\":\"oci:d:");
            memset(big + n, 't', ROUTE_OCI_TAG_MAX);
            strcpy(big + n + ROUTE_OCI_TAG_MAX, "\"}");
            is_int(parse(big) == 0 && route_runnable(&r, err, sizeof(err)) == 0,
                   1, "a tag of ROUTE_OCI_TAG_MAX bytes");
            memset(big + n, 't', ROUTE_OCI_TAG_MAX + 1);
            strcpy(big + n + ROUTE_OCI_TAG_MAX + 1, "\"}");
            is_int(parse(big) == 0 && route_runnable(&r, err, sizeof(err)) < 0,
                   1, "one byte more: not runnable");
        }
    }

    route_def_free(&r);
    /* app names: the metrics' two labels are not names */
    ok(route_app_name_valid("app_1-x"), "an app name");
    ok(!route_app_name_valid("_other"), "_other is the overflow label");
    ok(!route_app_name_valid("_none"), "_none is the no-route label");
    ok(route_app_name_valid("_others"), "_others is a name");
    ok(!route_app_name_valid(""), "an empty name is not");
    ok(!route_app_name_valid("a.b"), "a dot is not");

    return done_testing();
}
