/*
 * Fn's http-stream format: the request a call becomes, the client's answer
 * from the function's, and chunked answers as the parser takes them.
 */
#include "http_response.h"
#include "route_def.h"
#include "stream_format.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>

static struct http_response_parser p;

static size_t feed(const char *s)
{
    http_response_parser_reset(&p);
    return http_response_feed(&p, s, strlen(s));
}

static const char *value(const struct http_response *r, const char *name)
{
    size_t i;

    for (i = 0; i < r->nheaders; i++) {
        if (strcmp(r->names[i], name) == 0)
            return r->values[i];
    }
    return NULL;
}

static void test_request(void)
{
    struct route_def route = { .app = "demo", .path = "/s" };
    char *names[] = { "Content-Type", "X-Mine", "Fn-Call-Id", "Host",
                      "X-Evil", NULL };
    char *values[] = { "text/plain", "a", "forged", "h", "a\r\nX-Inj: 1",
                       NULL };
    struct call_info ci = {
        .call_id = "01ARZ3NDEKTSV4RRFFQ69G5FAV", .method = "PUT",
        .request_url = "http://h/r/demo/s?q=1",
        .deadline = "2030-01-01T00:00:00Z", .route = &route,
        .header_names = names, .header_values = values,
    };
    size_t len = 0;
    char *h = stream_format_request(&ci, 12, &len);

    ok(h != NULL && len == strlen(h), "a request head");
    if (h == NULL)
        return;
    ok(strncmp(h, "POST /call HTTP/1.1\r\n", 21) == 0, "POST /call");
    ok(strstr(h, "\r\nContent-Length: 12\r\n") != NULL, "the body's length");
    ok(strstr(h, "\r\nFn-Call-Id: 01ARZ3NDEKTSV4RRFFQ69G5FAV\r\n") != NULL,
       "the call id");
    ok(strstr(h, "forged") == NULL, "a client's Fn-Call-Id goes nowhere");
    ok(strstr(h, "\r\nFn-Deadline: 2030-01-01T00:00:00Z\r\n") != NULL,
       "the deadline");
    ok(strstr(h, "\r\nFn-Intent: httprequest\r\n") != NULL, "the intent");
    ok(strstr(h, "\r\nFn-Http-Method: PUT\r\n") != NULL, "the method");
    ok(strstr(h, "\r\nFn-Http-Request-Url: http://h/r/demo/s?q=1\r\n")
       != NULL, "the URL");
    ok(strstr(h, "\r\nFn-Http-H-X-Mine: a\r\n") != NULL,
       "a client header, prefixed");
    ok(strstr(h, "\r\nFn-Http-H-Content-Type: text/plain\r\n") != NULL
       && strstr(h, "\r\nContent-Type: text/plain\r\n") != NULL,
       "its content type, both ways");
    ok(strstr(h, "Fn-Http-H-Host") == NULL, "no Host of the client's");
    ok(strstr(h, "X-Inj") == NULL, "a value with CRLF is left out");
    ok(len >= 4 && strcmp(h + len - 4, "\r\n\r\n") == 0,
       "the head ends with an empty line");
    free(h);
}

static void test_chunked(void)
{
    const char *two = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\n\r\nHTTP/1.1";
    size_t used, i, total = 0;
    char big[64];

    used = feed(two);
    ok(p.complete && p.res.body_len == 5
       && memcmp(p.res.body, "abcde", 5) == 0, "a chunked body, whole");
    ok(used == strlen(two) - 8, "what follows is another answer");
    ok(p.keep_alive, "HTTP/1.1: the connection stays");
    http_response_parser_reset(&p);
    for (i = 0; two[i] != '\0' && !p.complete; i++)
        total += http_response_feed(&p, two + i, 1);
    ok(p.complete && p.res.body_len == 5 && total == used, "byte by byte");
    feed("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
    ok(p.complete && p.res.body_len == 0, "an empty chunked body");
    feed("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
         "Connection: close\r\n\r\n0\r\n\r\n");
    ok(p.complete && !p.keep_alive, "Connection: close is heard");
    feed("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
         "0\r\nX-Trailer: t\r\n\r\n");
    ok(p.complete, "a trailer is read past");
    /* the body limit (1024 here) holds over chunks */
    http_response_parser_reset(&p);
    feed("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
    memset(big, 'x', sizeof(big));
    for (i = 0; i < 40 && p.error[0] == '\0'; i++) {
        http_response_feed(&p, "20\r\n", 4);
        http_response_feed(&p, big, 32);
        http_response_feed(&p, "\r\n", 2);
    }
    ok(!p.complete && p.too_large && i == 33,
       "chunks over the body limit: too large, at the limit");
    feed("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
         "ffffffffffffffffff\r\n");
    ok(!p.complete && p.error[0] != '\0', "an overflowing chunk size");
    feed("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
    ok(!p.complete && strstr(p.error, "malformed") != NULL,
       "a chunk size that is not hex");
}

static void test_answer(void)
{
    char err[160];

    feed("HTTP/1.1 200 OK\r\nContent-Type: text/x\r\nFn-Http-Status: 201\r\n"
         "Fn-Http-H-X-A: 1\r\nfn-http-h-x-b: 2\r\nFn-Http-H-: none\r\n"
         "Fn-Fdk-Version: v\r\nX-Other: o\r\nContent-Length: 0\r\n\r\n");
    ok(p.complete, "an answer");
    ok(stream_format_answer(&p.res, err, sizeof(err)) == 0, "mapped");
    is_int(p.res.status, 201, "Fn-Http-Status is the status");
    is_int((long)p.res.nheaders, 3, "three headers are left");
    is_str(value(&p.res, "Content-Type"), "text/x", "Content-Type");
    is_str(value(&p.res, "X-A"), "1", "Fn-Http-H-X-A as X-A");
    is_str(value(&p.res, "x-b"), "2", "the prefix in any case");

    feed("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    stream_format_answer(&p.res, err, sizeof(err));
    is_int(p.res.status, 200, "no Fn-Http-Status, 200: 200");
    feed("HTTP/1.1 302 Found\r\nContent-Length: 0\r\n\r\n");
    stream_format_answer(&p.res, err, sizeof(err));
    is_int(p.res.status, 200, "no Fn-Http-Status, 302: 200 (as Fn)");
    feed("HTTP/1.1 400 Bad\r\nContent-Length: 0\r\n\r\n");
    stream_format_answer(&p.res, err, sizeof(err));
    is_int(p.res.status, 502, "no Fn-Http-Status, 400: 502");
    feed("HTTP/1.1 502 Bad\r\nFn-Http-Status: 404\r\n"
         "Content-Length: 0\r\n\r\n");
    stream_format_answer(&p.res, err, sizeof(err));
    is_int(p.res.status, 404, "Fn-Http-Status wins over the answer's");

    feed("HTTP/1.1 200 OK\r\nX-First: 1\r\nFn-Http-Status: abc\r\n"
         "Content-Length: 0\r\n\r\n");
    ok(stream_format_answer(&p.res, err, sizeof(err)) < 0
       && strstr(err, "\"abc\"") != NULL, "Fn-Http-Status abc: refused");
    is_int((long)p.res.nheaders, 3, "  and the answer is as it came");
    feed("HTTP/1.1 200 OK\r\nFn-Http-Status: 99\r\nContent-Length: 0\r\n\r\n");
    ok(stream_format_answer(&p.res, err, sizeof(err)) < 0, "99: refused");
    feed("HTTP/1.1 200 OK\r\nFn-Http-Status: 600\r\n"
         "Content-Length: 0\r\n\r\n");
    ok(stream_format_answer(&p.res, err, sizeof(err)) < 0, "600: refused");
    feed("HTTP/1.1 200 OK\r\nFn-Http-Status: 99999999999999999999\r\n"
         "Content-Length: 0\r\n\r\n");
    ok(stream_format_answer(&p.res, err, sizeof(err)) < 0,
       "a huge number: refused");
    feed("HTTP/1.1 200 OK\r\nFn-Http-Status: 2O1\r\n"
         "Content-Length: 0\r\n\r\n");
    ok(stream_format_answer(&p.res, err, sizeof(err)) < 0,
       "letters in it: refused");
    feed("HTTP/1.1 200 OK\r\nFn-Http-Status: 418\r\nFn-Http-Status: abc\r\n"
         "Content-Length: 0\r\n\r\n");
    ok(stream_format_answer(&p.res, err, sizeof(err)) == 0
       && p.res.status == 418, "the first Fn-Http-Status counts");
}

int main(void)
{
    http_response_parser_init(&p, 4096, 1024);
    p.allow_chunked = 1;
    test_request();
    test_chunked();
    test_answer();
    http_response_parser_free(&p);
    return done_testing();
}
