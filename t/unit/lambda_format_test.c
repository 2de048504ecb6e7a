/*
 * The Lambda Runtime API's pure parts: which request a runtime made, the
 * head of a "next" answer, a runtime's errors, and API Gateway's event
 * and proxy answers.
 */
#include "lambda_format.h"
#include "route_def.h"
#include "tap.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static const char *value(const struct http_response *r, const char *name)
{
    size_t i;

    for (i = 0; i < r->nheaders; i++) {
        if (strcmp(r->names[i], name) == 0)
            return r->values[i];
    }
    return NULL;
}

static void test_ops(void)
{
    char id[LAMBDA_REQUEST_ID_MAX + 1];
    char long_id[200];

    is_int(lambda_runtime_op("GET", "/2018-06-01/runtime/invocation/next",
                             id), LAMBDA_OP_NEXT, "next");
    is_int(lambda_runtime_op("GET",
                             "/2018-06-01/runtime/invocation/next?x=1", id),
           LAMBDA_OP_NEXT, "next, with a query string");
    is_int(lambda_runtime_op("POST", "/2018-06-01/runtime/invocation/next",
                             id), LAMBDA_OP_BAD_METHOD, "POST next: 405");
    is_int(lambda_runtime_op("POST", "/2018-06-01/runtime/invocation/"
                             "01ARZ3NDEKTSV4RRFFQ69G5FAV/response", id),
           LAMBDA_OP_RESPONSE, "a response");
    is_str(id, "01ARZ3NDEKTSV4RRFFQ69G5FAV", "  and its id");
    is_int(lambda_runtime_op("POST", "/2018-06-01/runtime/invocation/"
                             "8476a536-e9f4-11e8-9739-2dfe598c3fcd/error",
                             id),
           LAMBDA_OP_ERROR, "an error, for an id as AWS makes them");
    is_str(id, "8476a536-e9f4-11e8-9739-2dfe598c3fcd", "  and its id");
    is_int(lambda_runtime_op("GET", "/2018-06-01/runtime/invocation/"
                             "abc/response", id),
           LAMBDA_OP_BAD_METHOD, "GET a response: 405");
    ok(id[0] == '\0', "  and no id");
    is_int(lambda_runtime_op("POST", "/2018-06-01/runtime/init/error", id),
           LAMBDA_OP_INIT_ERROR, "init/error");
    is_int(lambda_runtime_op("POST", "/2018-06-01/runtime/invocation/"
                             "../response", id),
           LAMBDA_OP_NOT_FOUND, "an id of dots: 404");
    is_int(lambda_runtime_op("POST", "/2018-06-01/runtime/invocation/"
                             "a%2Fb/response", id),
           LAMBDA_OP_NOT_FOUND, "an id with %%: 404");
    is_int(lambda_runtime_op("POST", "/2018-06-01/runtime/invocation/"
                             "/response", id),
           LAMBDA_OP_NOT_FOUND, "an empty id: 404");
    is_int(lambda_runtime_op("POST", "/2018-06-01/runtime/invocation/"
                             "abc/response/x", id),
           LAMBDA_OP_NOT_FOUND, "more after it: 404");
    memset(long_id, 'a', sizeof(long_id));
    memcpy(long_id, "/2018-06-01/runtime/invocation/", 31);
    strcpy(long_id + 31 + 65, "/response");
    is_int(lambda_runtime_op("POST", long_id, id), LAMBDA_OP_NOT_FOUND,
           "an id of 65 characters: 404");
    is_int(lambda_runtime_op("GET", "/2018-06-01/runtime/invocation/nex",
                             id), LAMBDA_OP_NOT_FOUND, "a near miss: 404");
    is_int(lambda_runtime_op("GET", "/2018-06-01/runtime", id),
           LAMBDA_OP_NOT_FOUND, "the prefix alone: 404");
    is_int(lambda_runtime_op("GET", "/", id), LAMBDA_OP_NOT_FOUND, "/: 404");
}

static void test_next_head(void)
{
    size_t len = 0;
    char *h = lambda_next_head("01ARZ3NDEKTSV4RRFFQ69G5FAV", 1700000000123LL,
                               "arn:aws:lambda:local:0:function:f",
                               "Root=1-0-0", 17, &len);

    ok(h != NULL && strlen(h) == len, "a next head");
    if (h != NULL) {
        ok(strncmp(h, "HTTP/1.1 200 OK\r\n", 17) == 0, "200");
        ok(strstr(h, "\r\nContent-Length: 17\r\n") != NULL, "its length");
        ok(strstr(h, "\r\nLambda-Runtime-Aws-Request-Id: "
                     "01ARZ3NDEKTSV4RRFFQ69G5FAV\r\n") != NULL,
           "the request id");
        ok(strstr(h, "\r\nLambda-Runtime-Deadline-Ms: 1700000000123\r\n")
           != NULL, "the deadline in milliseconds");
        ok(strstr(h, "\r\nLambda-Runtime-Invoked-Function-Arn: "
                     "arn:aws:lambda:local:0:function:f\r\n") != NULL,
           "the arn");
        ok(strstr(h, "\r\nLambda-Runtime-Trace-Id: Root=1-0-0\r\n") != NULL,
           "the trace id");
        ok(len > 4 && strcmp(h + len - 4, "\r\n\r\n") == 0, "the end");
    }
    free(h);
    ok(lambda_next_head("id\r\nX-Inj: 1", 0, NULL, NULL, 0, &len) == NULL,
       "a value with a line break: refused");
    ok(lambda_next_head("id", 0, "arn\n", NULL, 0, &len) == NULL,
       "  in the arn too");
    h = lambda_next_head("id", 5, NULL, NULL, 0, &len);
    ok(h != NULL && strstr(h, "Invoked-Function-Arn") == NULL
       && strstr(h, "Trace-Id") == NULL, "no arn or trace id: not sent");
    free(h);
}

static void test_errors(void)
{
    struct lambda_error e;
    const char *b;
    char *s, long_msg[2000];
    size_t len = 0, i;
    json_t *o;

    b = "{\"errorType\":\"TypeError\",\"errorMessage\":\"boom\","
        "\"trace\":[\"at x\"]}";
    lambda_error_read(b, strlen(b), NULL, &e);
    is_str(e.type, "TypeError", "errorType");
    is_str(e.message, "boom", "errorMessage");
    lambda_error_read(b, strlen(b), "Unhandled", &e);
    is_str(e.type, "TypeError", "the body wins over the header");
    lambda_error_read("not json", 8, "Runtime.HandlerNotFound", &e);
    is_str(e.type, "Runtime.HandlerNotFound", "the header, when the body "
           "says nothing");
    is_str(e.message, "", "  and no message");
    lambda_error_read("", 0, NULL, &e);
    is_str(e.type, "Unhandled", "neither: Unhandled");
    b = "{\"errorType\":\"X\\u0000Y\\nZ\",\"errorMessage\":\"a\\r\\nb\"}";
    lambda_error_read(b, strlen(b), "H\x01\xff", &e);
    is_str(e.type, "X Y Z", "control characters become spaces");
    is_str(e.message, "a  b", "  in the message too");
    lambda_error_read("[]", 2, "H\x01\xff", &e);
    is_str(e.type, "H ?", "a header's bytes outside ASCII become ?");
    b = "{\"errorType\":5,\"errorMessage\":[1]}";
    lambda_error_read(b, strlen(b), NULL, &e);
    ok(strcmp(e.type, "Unhandled") == 0 && e.message[0] == '\0',
       "members of the wrong type: ignored");

    /* a long message of two-byte characters, cut between characters */
    strcpy(long_msg, "{\"errorMessage\":\"");
    for (i = 0; i < 600; i++)
        strcat(long_msg, "\xc3\xa9");
    strcat(long_msg, "\"}");
    lambda_error_read(long_msg, strlen(long_msg), NULL, &e);
    ok(strlen(e.message) < sizeof(e.message)
       && strlen(e.message) % 2 == 0, "a long message is cut between "
       "characters");

    b = "{\"errorType\":\"E\",\"errorMessage\":\"m \\\"q\\\"\"}";
    lambda_error_read(b, strlen(b), NULL, &e);
    s = lambda_error_body(&e, "the function failed", &len);
    o = s != NULL ? json_loads(s, 0, NULL) : NULL;
    ok(o != NULL && len == strlen(s), "an error body, JSON");
    ok(o != NULL
       && strcmp(json_string_value(json_object_get(o, "errorType")), "E")
          == 0
       && strcmp(json_string_value(json_object_get(o, "errorMessage")),
                 "m \"q\"") == 0
       && strcmp(json_string_value(json_object_get(
                     json_object_get(o, "error"), "message")),
                 "the function failed: E: m \"q\"") == 0,
       "  with the type, the message and the error's message");
    json_decref(o);
    free(s);
}

static void test_event(void)
{
    struct route_def route = { .app = "demo", .path = "/s" };
    char *names[] = { "Content-Type", "X-Many", "Cookie", "x-many",
                      "User-Agent", NULL };
    char *values[] = { "text/plain", "a", "a=1; b=2;  c=3", "b", "ua/1",
                       NULL };
    struct call_info ci = {
        .call_id = "01ARZ3NDEKTSV4RRFFQ69G5FAV", .method = "PUT",
        .request_url = "http://h:8080/r/demo/s?q=1&r=2",
        .route = &route, .header_names = names, .header_values = values,
    };
    size_t len = 0;
    char *s = lambda_apigw_event(&ci, 1700000000000LL, "h\xc3\xa9llo", 6,
                                 &len);
    json_t *o = s != NULL ? json_loads(s, 0, NULL) : NULL, *h, *c, *http;

    ok(o != NULL && len == strlen(s), "an event, JSON");
    if (o == NULL) {
        free(s);
        return;
    }
    is_str(json_string_value(json_object_get(o, "version")), "2.0",
           "version 2.0");
    is_str(json_string_value(json_object_get(o, "rawPath")), "/r/demo/s",
           "rawPath");
    is_str(json_string_value(json_object_get(o, "rawQueryString")),
           "q=1&r=2", "rawQueryString");
    h = json_object_get(o, "headers");
    is_str(json_string_value(json_object_get(h, "x-many")), "a,b",
           "headers lower-cased, repeated ones joined");
    is_str(json_string_value(json_object_get(h, "content-type")),
           "text/plain", "content-type");
    ok(json_object_get(h, "cookie") == NULL, "no cookie header");
    c = json_object_get(o, "cookies");
    ok(json_array_size(c) == 3
       && strcmp(json_string_value(json_array_get(c, 2)), "c=3") == 0,
       "the cookies, one an item");
    http = json_object_get(json_object_get(o, "requestContext"), "http");
    is_str(json_string_value(json_object_get(http, "method")), "PUT",
           "the method");
    is_str(json_string_value(json_object_get(http, "userAgent")), "ua/1",
           "the user agent");
    is_str(json_string_value(json_object_get(
               json_object_get(o, "requestContext"), "requestId")),
           "01ARZ3NDEKTSV4RRFFQ69G5FAV", "the call id as requestId");
    is_str(json_string_value(json_object_get(o, "body")), "h\xc3\xa9llo",
           "a UTF-8 body as it is");
    ok(json_is_false(json_object_get(o, "isBase64Encoded")),
       "  not base64");
    json_decref(o);
    free(s);

    s = lambda_apigw_event(&ci, 0, "\xff\x00\x01", 3, &len);
    o = s != NULL ? json_loads(s, 0, NULL) : NULL;
    is_str(o != NULL ? json_string_value(json_object_get(o, "body")) : "",
           "/wAB", "a binary body in base64");
    ok(o != NULL && json_is_true(json_object_get(o, "isBase64Encoded")),
       "  said so");
    json_decref(o);
    free(s);

    /* nginx takes a "?" in Host: the authority ends at the first "/" */
    ci.request_url = "http://x?foo=bar/r/demo/s?q=1";
    names[1] = "X-Bytes";
    values[1] = "caf\xe9";
    s = lambda_apigw_event(&ci, 0, "", 0, &len);
    o = s != NULL ? json_loads(s, 0, NULL) : NULL;
    ok(o != NULL
       && strcmp(json_string_value(json_object_get(o, "rawPath")),
                 "/r/demo/s") == 0
       && strcmp(json_string_value(json_object_get(o, "rawQueryString")),
                 "q=1") == 0, "a Host holding \"?\" moves neither path nor "
       "query");
    is_str(o != NULL ? json_string_value(json_object_get(
               json_object_get(o, "headers"), "x-bytes")) : NULL,
           "caf?", "a header value that is not UTF-8: its odd byte a ?");
    json_decref(o);
    free(s);

    ci.request_url = "/plain";
    s = lambda_apigw_event(&ci, 0, "", 0, &len);
    o = s != NULL ? json_loads(s, 0, NULL) : NULL;
    ok(o != NULL
       && strcmp(json_string_value(json_object_get(o, "rawPath")), "/plain")
          == 0
       && strcmp(json_string_value(json_object_get(o, "rawQueryString")),
                 "") == 0, "a URL without host or query");
    json_decref(o);
    free(s);
}

static int answer(const char *json, struct http_response *res, char *err)
{
    return lambda_apigw_answer(json, strlen(json), 8192, 1024, res, err,
                               160);
}

static void test_answer(void)
{
    struct http_response res;
    char err[160];

    ok(answer("{\"statusCode\":201,\"headers\":{\"X-A\":\"1\",\"X-N\":7},"
              "\"multiValueHeaders\":{\"X-M\":[\"p\",\"q\"],\"X-A\":[\"no\"]},"
              "\"cookies\":[\"a=1\",\"b=2\"],\"body\":\"made\"}", &res, err)
       == 0, "a proxy answer");
    is_int(res.status, 201, "its status");
    is_str(value(&res, "X-A"), "1", "a header (headers win)");
    is_str(value(&res, "X-N"), "7", "a number as a header");
    ok(res.nheaders == 7, "headers, multi-value headers, cookies and a "
       "Content-Type: %zu", res.nheaders);
    is_str(res.body, "made", "the body");
    is_str(value(&res, "Content-Type"), "application/json",
           "application/json when it says none");
    http_response_free(&res);

    ok(answer("{\"statusCode\":200,\"body\":\"aGk=\",\"isBase64Encoded\":true}",
              &res, err) == 0 && res.body_len == 2
       && memcmp(res.body, "hi", 2) == 0, "a base64 body, decoded");
    http_response_free(&res);
    ok(answer("{\"statusCode\":200,\"body\":\"a!==\",\"isBase64Encoded\":true}",
              &res, err) < 0, "bad base64: refused (%s)", err);
    ok(answer("{\"statusCode\":204}", &res, err) == 0 && res.status == 204
       && res.body_len == 0 && res.nheaders == 0, "no body, no type");
    http_response_free(&res);

    ok(answer("{\"hello\":\"world\"}", &res, err) == 0 && res.status == 200
       && strcmp(res.body, "{\"hello\":\"world\"}") == 0
       && strcmp(value(&res, "Content-Type"), "application/json") == 0,
       "any other JSON: 200, as it is");
    http_response_free(&res);
    ok(answer("\"text\"", &res, err) == 0 && res.status == 200,
       "a string, too");
    http_response_free(&res);
    ok(answer("not json", &res, err) < 0, "not JSON: refused (%s)", err);

    ok(answer("{\"statusCode\":99}", &res, err) < 0, "a status below 200");
    ok(answer("{\"statusCode\":\"200\"}", &res, err) < 0,
       "a status that is a string");
    ok(answer("{\"statusCode\":200,\"headers\":{\"A B\":\"x\"}}", &res, err)
       < 0, "a header name that is no token");
    ok(answer("{\"statusCode\":200,\"headers\":{\"X\":\"a\\r\\nB: c\"}}",
              &res, err) < 0, "a value with a line break");
    ok(answer("{\"statusCode\":200,\"headers\":{\"X\":\"a\\u0000b\"}}",
              &res, err) < 0, "a value with a NUL");
    ok(answer("{\"statusCode\":200,\"headers\":[1]}", &res, err) < 0,
       "headers that are not an object");
    ok(answer("{\"statusCode\":200,\"cookies\":[1]}", &res, err) < 0,
       "a cookie that is not a string");
    ok(answer("{\"statusCode\":200,\"body\":5}", &res, err) < 0,
       "a body that is not a string");
    ok(lambda_apigw_answer("{\"statusCode\":200,\"body\":\"12345\"}", 32,
                           8192, 4, &res, err, sizeof(err)) < 0,
       "a body over the limit");
    ok(lambda_apigw_answer("[1,2,3,4,5]", 11, 8192, 4, &res, err,
                           sizeof(err)) < 0,
       "a raw answer over the limit");
    ok(lambda_apigw_answer("{\"statusCode\":200,\"headers\":{\"X\":"
                           "\"0123456789\"}}", 41, 10, 1024, &res, err,
                           sizeof(err)) < 0, "a head over the limit");
    ok(answer("{\"statusCode\":200,\"statusCode\":201}", &res, err) < 0,
       "a key twice");
}

int main(void)
{
    test_ops();
    test_next_head();
    test_errors();
    test_event();
    test_answer();
    return done_testing();
}
