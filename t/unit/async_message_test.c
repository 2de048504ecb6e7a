/*
 * Async call messages: what the module publishes reads back; broken ones
 * are refused with a reason; base64 and the next attempt.
 */
#include "async_message.h"
#include "base64.h"
#include "tap.h"

#include <stdlib.h>

static struct async_message m;
static char err[256];

static int parse(const char *json)
{
    async_message_free(&m);
    return async_message_parse(json, strlen(json), &m, err, sizeof(err));
}

static void refused(const char *json, const char *needle)
{
    int rc = parse(json);

    if (!ok(rc < 0 && strstr(err, needle) != NULL, "refused: %.60s", json))
        printf("#   rc %d, error '%s', wanted '%s'\n", rc, err, needle);
}

#define ROUTE "\"route\":{\"app\":\"a\",\"path\":\"/b\",\"image\":\"oci:x:v1\"}"
#define GOOD "{\"call_id\":\"01ARZ3NDEKTSV4RRFFQ69G5FAV\",\"app\":\"a\"," \
             "\"path\":\"/b\"," ROUTE ",\"method\":\"POST\",\"url\":" \
             "\"http://h/r/a/b?x=1\",\"headers\":[[\"X-A\",\"1\"]," \
             "[\"X-A\",\"2\"]],\"body\":\"aGVsbG8=\",\"attempt\":1," \
             "\"enqueued_at\":1700000000000}"

int main(void)
{
    unsigned char out[16];
    size_t n;
    char *next;

    is_int(parse(GOOD), 0, "a message as the module writes it");
    is_str(m.call_id, "01ARZ3NDEKTSV4RRFFQ69G5FAV", "call id");
    is_str(m.method, "POST", "method");
    is_str(m.url, "http://h/r/a/b?x=1", "url");
    ok(m.body_len == 5 && memcmp(m.body, "hello", 5) == 0, "body decoded");
    ok(m.header_names.n == 2 && strcmp(m.header_values.v[1], "2") == 0,
       "repeated headers kept in order");
    is_int(m.attempt, 1, "attempt");
    ok(strchr(m.route, '\n') == NULL && strstr(m.route, "oci:x:v1"),
       "the route as one line of JSON");

    next = async_message_next(GOOD, strlen(GOOD), 2);
    ok(next != NULL && parse(next) == 0 && m.attempt == 2,
       "the next attempt's message reads back with attempt 2");
    free(next);

    refused("not json", "not JSON");
    refused("[]", "not a JSON object");
    refused("{\"call_id\":\"x\"}", "\"app\"");
    refused("{\"call_id\":\"01ARZ3NDEKTSV4RRFFQ69G5FA!\",\"app\":\"a\","
            "\"path\":\"/b\",\"method\":\"GET\"}", "not a call id");
    refused("{\"call_id\":\"01ARZ3NDEKTSV4RRFFQ69G5FAV\",\"app\":\"a\","
            "\"path\":\"/b\",\"method\":\"GET\",\"route\":{}}", "route field");
    refused("{\"call_id\":\"01ARZ3NDEKTSV4RRFFQ69G5FAV\",\"app\":\"a\","
            "\"path\":\"/b\"," ROUTE ",\"method\":\"GET\",\"url\":\"u\","
            "\"headers\":[[\"A\\r\\nB\",\"1\"]],\"body\":\"\",\"attempt\":1}",
            "\"headers\"");
    refused("{\"call_id\":\"01ARZ3NDEKTSV4RRFFQ69G5FAV\",\"app\":\"a\","
            "\"path\":\"/b\"," ROUTE ",\"method\":\"GET\",\"url\":\"u\","
            "\"headers\":[],\"body\":\"!!!!\",\"attempt\":1}", "base64");
    refused("{\"call_id\":\"01ARZ3NDEKTSV4RRFFQ69G5FAV\",\"app\":\"a\","
            "\"path\":\"/b\"," ROUTE ",\"method\":\"GET\",\"url\":\"u\","
            "\"headers\":[],\"body\":\"\",\"attempt\":0}", "\"attempt\"");

    ok(base64_decode("aGk=", 4, out, &n) == 0 && n == 2
       && memcmp(out, "hi", 2) == 0, "base64 with padding");
    ok(base64_decode("", 0, out, &n) == 0 && n == 0, "base64 empty");
    ok(base64_decode("aGk", 3, out, &n) < 0, "base64 of a wrong length");
    ok(base64_decode("a=Gk", 4, out, &n) < 0, "base64 with inner padding");
    async_message_free(&m);
    return done_testing();
}
