/*
 * HTTP/1.1 responses from hot functions, and the requests they read.
 */
#include "hot_request.h"
#include "http_response.h"
#include "route_def.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>

static struct http_response_parser p;

/* Feeds s whole; returns how many bytes were used. */
static size_t feed(const char *s)
{
    http_response_parser_reset(&p);
    return http_response_feed(&p, s, strlen(s));
}

static void test_good(void)
{
    const char *two = "HTTP/1.1 201 Created\r\nContent-Length: 5\r\n"
                      "X-A: 1\r\nX-Empty:\r\n\r\nhelloHTTP/1.1 200 OK\r\n";
    size_t used;

    used = feed(two);
    ok(p.complete && p.error[0] == '\0', "a response is read");
    is_int(p.res.status, 201, "its status");
    is_int((long)p.res.nheaders, 3, "its headers");
    is_str(p.res.names[1], "X-A", "a header name");
    is_str(p.res.values[1], "1", "its value");
    is_str(p.res.values[2], "", "an empty value");
    ok(p.res.body_len == 5 && memcmp(p.res.body, "hello", 5) == 0,
       "its body");
    ok(used < strlen(two), "what follows is left: a second answer");

    http_response_parser_reset(&p);
    {
        const char *s = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc";
        size_t i, total = 0;

        for (i = 0; s[i] != '\0'; i++)
            total += http_response_feed(&p, s + i, 1);
        ok(p.complete && total == strlen(s), "byte by byte");
    }
    feed("HTTP/1.1 204 No Content\r\n\r\n");
    ok(p.complete && p.res.status == 204, "204 needs no Content-Length");
    feed("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    ok(p.complete && p.res.body_len == 0, "an empty body");
}

static void test_bad(void)
{
    feed("this is not HTTP\r\n\r\n");
    ok(!p.complete && strstr(p.error, "malformed") != NULL, "garbage");
    feed("HTTP/1.1 200 OK\r\n\r\nno length");
    ok(!p.complete && strstr(p.error, "Content-Length") != NULL,
       "no Content-Length");
    feed("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc"
         "\r\n0\r\n\r\n");
    ok(!p.complete && strstr(p.error, "chunked") != NULL, "chunked");
    feed("HTTP/1.1 100 Continue\r\n\r\n");
    ok(!p.complete && p.error[0] != '\0', "an interim answer");
    feed("HTTP/1.1 200 OK\r\nContent-Length: 2000\r\n\r\n");
    ok(!p.complete && p.too_large, "a body over the limit");
    feed("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n");
    ok(!p.complete && p.error[0] != '\0', "two Content-Lengths");
    {
        char *big = malloc(5000);

        memset(big, 'a', 4999);
        big[4999] = '\0';
        memcpy(big, "HTTP/1.1 200 OK\r\nX: ", 20);
        feed(big);
        ok(!p.complete && strstr(p.error, "too large") != NULL,
           "headers over the limit");
        free(big);
    }
    ok(http_response_feed(&p, "more", 4) == 0, "nothing more is taken");
    {
        /* a NUL would end the value as a C string, or not, depending on
         * how the bytes arrived ("" whole, "b" byte by byte) */
        static const char nul[] = "HTTP/1.1 200 OK\r\nX: \0b\r\n"
                                  "Content-Length: 0\r\n\r\n";
        size_t i;

        http_response_parser_reset(&p);
        http_response_feed(&p, nul, sizeof(nul) - 1);
        ok(!p.complete && strstr(p.error, "NUL") != NULL,
           "a NUL in a header value");
        http_response_parser_reset(&p);
        for (i = 0; i < sizeof(nul) - 1 && p.error[0] == '\0'; i++)
            http_response_feed(&p, nul + i, 1);
        ok(!p.complete && strstr(p.error, "NUL") != NULL,
           "  fed byte by byte too");
    }
}

static void test_request(void)
{
    struct route_def r = { .app = "demo", .path = "/hot" };
    char *names[] = { "X-A", "Connection", "Fn-Forged", "Bad", NULL };
    char *values[] = { "1", "close", "x", "a\r\nInjected: 1", NULL };
    struct call_info ci = {
        .call_id = "01ARZ3NDEKTSV4RRFFQ69G5FAV", .method = "PUT",
        .request_url = "http://example.com:8080/r/demo/hot?x=1",
        .deadline = "2026-01-01T00:00:00Z", .route = &r,
        .header_names = names, .header_values = values,
    };
    size_t len;
    char *head = hot_request_head(&ci, 42, &len);

    ok(head != NULL && len == strlen(head), "a request head");
    ok(strncmp(head, "PUT /r/demo/hot?x=1 HTTP/1.1\r\n", 30) == 0,
       "method, path and query");
    ok(strstr(head, "\r\nHost: example.com:8080\r\n") != NULL, "Host");
    ok(strstr(head, "\r\nContent-Length: 42\r\n") != NULL, "Content-Length");
    ok(strstr(head, "\r\nX-A: 1\r\n") != NULL, "client headers");
    ok(strstr(head, "Connection") == NULL, "not hop-by-hop ones");
    ok(strstr(head, "Fn-Forged") == NULL, "not Fn-* ones");
    ok(strstr(head, "Injected") == NULL, "no header injection");
    ok(strstr(head, "\r\nFn-Call-Id: 01ARZ3NDEKTSV4RRFFQ69G5FAV\r\n") != NULL,
       "the call id");
    ok(strstr(head, "\r\nFn-Deadline: 2026-01-01T00:00:00Z\r\n") != NULL,
       "the deadline");
    ok(len > 4 && strcmp(head + len - 4, "\r\n\r\n") == 0, "ends the head");
    free(head);

    ci.request_url = "not a url";
    head = hot_request_head(&ci, 0, &len);
    ok(strncmp(head, "PUT / HTTP/1.1\r\nHost: function\r\n", 32) == 0,
       "an odd URL: / on host function");
    free(head);
}

/* Answers with no body, and heads counted as the executor writes them. */
static void test_no_body(void)
{
    const char *nc = "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n"
                     "hello";
    const char *hd = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n";
    char *many;
    size_t used, i, n;

    used = feed(nc);
    ok(p.complete && p.error[0] == '\0' && p.res.body_len == 0,
       "a 204 has no body, whatever its Content-Length");
    ok(used == strlen(nc) - 5, "  bytes after it are another answer");
    used = feed("HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n");
    ok(p.complete && p.res.body_len == 0, "a 304 neither");
    http_response_parser_reset(&p);
    p.head_request = 1;
    used = http_response_feed(&p, hd, strlen(hd));
    ok(p.complete && p.error[0] == '\0' && used == strlen(hd),
       "the answer to a HEAD: Content-Length and no body is whole");

    /* 90 empty headers of 42-byte names: 3780 bytes of names, 4140 as
     * written on ("name: \r\n"), over the limit of 4096 */
    many = malloc(16 + 1200 * 4 + 64);
    n = (size_t)sprintf(many, "HTTP/1.1 200 OK\r\n");
    for (i = 0; i < 90; i++)
        n += (size_t)sprintf(many + n, "x-%040zu:\r\n", i);
    sprintf(many + n, "Content-Length: 0\r\n\r\n");
    feed(many);
    ok(!p.complete && strstr(p.error, "too large") != NULL,
       "a head counts the bytes each header takes when written on");
    /* 1200 lines "a:" */
    n = (size_t)sprintf(many, "HTTP/1.1 200 OK\r\n");
    for (i = 0; i < 1200; i++)
        n += (size_t)sprintf(many + n, "a:\r\n");
    sprintf(many + n, "Content-Length: 0\r\n\r\n");
    http_response_parser_free(&p);
    http_response_parser_init(&p, 1 << 20, 1024);
    feed(many);
    ok(!p.complete && strstr(p.error, "too many headers") != NULL,
       "and more than HTTP_RESPONSE_HEADERS_MAX headers are refused");
    http_response_parser_free(&p);
    http_response_parser_init(&p, 4096, 1024);
    free(many);

    /* a function that writes a head of 99 headers near the 8 KiB limit
     * a byte at a time: each name and value grows in pieces, across the
     * arena's blocks and its header arrays' growth, and all are kept */
    {
        char *head = malloc(HTTP_RESPONSE_HEAD_MAX + 256), want[96];
        size_t k, total = 0;
        int all = 1;

        n = (size_t)sprintf(head, "HTTP/1.1 200 OK\r\n");
        for (k = 0; k < 98; k++)
            n += (size_t)sprintf(head + n, "x-h%02zu: %065zu\r\n", k, k);
        n += (size_t)sprintf(head + n, "Content-Length: 2\r\n\r\nok");
        http_response_parser_free(&p);
        http_response_parser_init(&p, HTTP_RESPONSE_HEAD_MAX, 1024);
        for (k = 0; k < n && p.error[0] == '\0'; k++)
            total += http_response_feed(&p, head + k, 1);
        ok(p.complete && total == n && p.res.nheaders == 99,
           "99 headers fed a byte at a time: all there");
        for (k = 0; k < 98 && p.complete; k++) {
            snprintf(want, sizeof(want), "x-h%02zu", k);
            if (strcmp(p.res.names[k], want) != 0)
                all = 0;
            snprintf(want, sizeof(want), "%065zu", k);
            if (strcmp(p.res.values[k], want) != 0)
                all = 0;
        }
        ok(all && p.complete && strcmp(p.res.values[98], "2") == 0
           && p.res.body_len == 2, "  each name and value whole");
        free(head);
        http_response_parser_free(&p);
        http_response_parser_init(&p, 4096, 1024);
    }
}

int main(void)
{
    http_response_parser_init(&p, 4096, 1024);
    test_good();
    test_bad();
    test_no_body();
    http_response_parser_free(&p);
    test_request();
    return done_testing();
}
