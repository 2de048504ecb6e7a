/*
 * Fn's json format: the call's object a function reads, and the answers
 * it writes.
 */
#include "json_format.h"
#include "route_def.h"
#include "tap.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static struct json_answer_parser p;

/* Feeds s whole; returns how many bytes were used. */
static size_t feed(const char *s)
{
    json_answer_reset(&p);
    return json_answer_feed(&p, s, strlen(s));
}

static void test_request(void)
{
    struct route_def route = { .app = "demo", .path = "/hello" };
    char *names[] = { "Content-Type", "X-Two", "x-two", "Connection",
                      "Fn-Call-Id", "X-Bad\r\nX-Evil", NULL };
    char *values[] = { "text/plain", "a", "b", "close", "forged", "1", NULL };
    struct call_info ci = {
        .call_id = "01ARZ3NDEKTSV4RRFFQ69G5FAV", .method = "POST",
        .request_url = "http://example.com/r/demo/hello?x=1",
        .deadline = "2026-11-30T10:00:00.000Z", .route = &route,
        .header_names = names, .header_values = values,
    };
    json_t *o, *proto, *h;
    size_t len;
    char *req;

    req = json_format_request(&ci, "h\xc3\xa9llo \"you\"\n", 13, &len);
    ok(req != NULL, "a call's object");
    if (req == NULL)
        return;
    ok(len == strlen(req) && req[len - 1] == '\n'
       && memchr(req, '\n', len - 1) == NULL, "one line, a newline after");
    o = json_loads(req, 0, NULL);
    ok(o != NULL, "JSON");
    is_str(json_string_value(json_object_get(o, "call_id")), ci.call_id,
           "call_id");
    is_str(json_string_value(json_object_get(o, "deadline")), ci.deadline,
           "deadline");
    is_str(json_string_value(json_object_get(o, "content_type")),
           "text/plain", "content_type: the client's");
    is_str(json_string_value(json_object_get(o, "body")),
           "h\xc3\xa9llo \"you\"\n", "the body, as it came");
    proto = json_object_get(o, "protocol");
    is_str(json_string_value(json_object_get(proto, "type")), "http",
           "protocol.type");
    is_str(json_string_value(json_object_get(proto, "method")), "POST",
           "protocol.method");
    is_str(json_string_value(json_object_get(proto, "request_url")),
           ci.request_url, "protocol.request_url");
    h = json_object_get(proto, "headers");
    is_int((long)json_array_size(json_object_get(h, "X-Two")), 1,
           "a header's values in an array");
    is_int((long)json_object_size(h), 3,
           "no hop-by-hop, Fn-* or two-line header");
    ok(json_object_get(h, "Fn-Call-Id") == NULL
       && json_object_get(h, "Connection") == NULL, "  (those named)");
    json_decref(o);
    free(req);

    errno = 0;
    req = json_format_request(&ci, "\xff\xfe", 2, &len);
    ok(req == NULL && errno == EILSEQ, "a body that is not UTF-8: refused");
    free(req);
}

static void test_answers(void)
{
    const char *two = " \n{\"body\":\"hi {\\\"}\",\"content_type\":\"text/x\","
                      "\"protocol\":{\"status_code\":201,\"headers\":"
                      "{\"X-A\":[\"1\",\"2\"],\"X-B\":\"b\"}}}{\"body\":\"\"}";
    size_t used;

    used = feed(two);
    ok(p.complete && p.error[0] == '\0', "an answer is read");
    ok(used > 0 && used < strlen(two), "what follows is left: a second one");
    is_int(p.res.status, 201, "its status");
    is_int((long)p.res.nheaders, 4, "its headers, and its content type");
    is_str(p.res.names[1], "X-A", "a header's name");
    is_str(p.res.values[1], "2", "each of its values");
    is_str(p.res.names[3], "Content-Type", "content_type is a header");
    is_str(p.res.values[3], "text/x", "  its value");
    ok(p.res.body_len == 6 && memcmp(p.res.body, "hi {\"}", 6) == 0,
       "its body, braces and quotes in it");

    feed("{}");
    ok(p.complete && p.res.status == 200 && p.res.nheaders == 0
       && p.res.body_len == 0, "{}: an empty 200");
    feed("{\"body\":\"a\\u0000b\"}");
    ok(p.complete && p.res.body_len == 3 && p.res.body[1] == '\0',
       "a body may hold a NUL");

    json_answer_reset(&p);
    {
        const char *s = "{\"body\":\"split\",\"protocol\":{\"status_code\":202}}";
        size_t i;

        for (i = 0; s[i] != '\0'; i++)
            json_answer_feed(&p, s + i, 1);
        ok(p.complete && p.res.status == 202 && p.res.body_len == 5,
           "byte by byte, the same");
    }
}

static void test_bad(void)
{
    static const struct { const char *in, *error; } cases[] = {
        { "HTTP/1.1 200 OK\r\n", "not a JSON object" },
        { "[1]", "not a JSON object" },
        { "{\"body\":1}", "\"body\" must be a string" },
        { "{\"body\":\"x\",\"body\":\"y\"}", "not JSON" },
        { "{\"content_type\":[]}", "\"content_type\" must be a string" },
        { "{\"protocol\":1}", "\"protocol\" must be an object" },
        { "{\"protocol\":{\"status_code\":99}}", "from 200 to 599" },
        { "{\"protocol\":{\"status_code\":101}}", "from 200 to 599" },
        { "{\"protocol\":{\"status_code\":600}}", "from 200 to 599" },
        { "{\"protocol\":{\"status_code\":\"200\"}}", "from 200 to 599" },
        { "{\"protocol\":{\"headers\":[]}}", "must be an object" },
        { "{\"protocol\":{\"headers\":{\"X\":1}}}", "must be strings" },
        { "{\"protocol\":{\"headers\":{\"X\":\"a\\u0000b\"}}}",
          "must be strings" },
        { "{\"body\":\"x\" oops}", "not JSON" },
        { "{\"content_type\":\"a\\u0000\"}", "must be a string" },
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        feed(cases[i].in);
        if (!ok(!p.complete && strstr(p.error, cases[i].error) != NULL,
                "refused: %s", cases[i].in))
            printf("#   error: %s\n", p.error);
    }

    {
        /* 101 headers; then one of 9000 bytes */
        char big[12000];
        size_t n = 0;
        int k;

        n += (size_t)sprintf(big + n, "{\"protocol\":{\"headers\":{");
        for (k = 0; k < 101; k++)
            n += (size_t)sprintf(big + n, "%s\"H%d\":\"v\"", k ? "," : "",
                                 k);
        sprintf(big + n, "}}}");
        feed(big);
        ok(!p.complete && strstr(p.error, "too many or too large") != NULL,
           "more than 100 headers");
        n = (size_t)sprintf(big, "{\"protocol\":{\"headers\":{\"H\":\"");
        memset(big + n, 'x', 9000);
        sprintf(big + n + 9000, "\"}}}");
        feed(big);
        ok(!p.complete && strstr(p.error, "too many or too large") != NULL,
           "a head over 8 KiB");
        n = (size_t)sprintf(big, "{\"protocol\":{\"headers\":{\"H\":[");
        for (k = 0; k < 50; k++)
            n += (size_t)sprintf(big + n, "%s\"v\"", k ? "," : "");
        sprintf(big + n, "]}}}");
        feed(big);
        ok(p.complete && p.res.nheaders == 50, "50 values of one header: 50 "
           "header lines");
    }

    json_answer_free(&p);
    json_answer_init(&p, 64, 8);
    feed("{\"body\":\"0123456789\"}");
    ok(!p.complete && strstr(p.error, "body is larger") != NULL,
       "a body over its limit");
    feed("{\"body\":\"                                                      "
         "          \"}");
    ok(!p.complete && strstr(p.error, "answer is larger") != NULL,
       "an answer over its limit");
    json_answer_reset(&p);
    json_answer_feed(&p, "{\"body\":\"", 9);
    json_answer_feed(&p, "01234567890123456789012345678901234567890123456789"
                         "0123456789", 60);
    ok(!p.complete && strstr(p.error, "answer is larger") != NULL,
       "  also when it comes in pieces");
}

int main(void)
{
    json_answer_init(&p, 1 << 20, 1 << 16);
    test_request();
    test_answers();
    test_bad();
    json_answer_free(&p);
    return done_testing();
}
