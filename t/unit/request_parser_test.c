/*
 * The executor's HTTP request parser: framing, limits, pipelining.
 */
#include "request_parser.h"
#include "tap.h"

#include <stdlib.h>

static struct request_parser p;

static size_t feed_str(const char *s)
{
    return request_parser_feed(&p, s, strlen(s));
}

static void test_simple(void)
{
    const char *req = "GET /health?x=1 HTTP/1.1\r\nHost: a\r\n"
                      "X-Empty:\r\nX-Multi: one\r\n\r\n";

    request_parser_init(&p, 1024, 1024);
    is_int(feed_str(req), strlen(req), "a whole GET is consumed");
    ok(p.complete, "and complete");
    is_int(p.req.method, HTTP_GET, "method GET");
    is_str(p.req.url, "/health?x=1", "URL with query");
    is_int(p.req.nheaders, 3, "three headers");
    is_str(http_request_header(&p.req, "host"), "a",
           "header lookup ignores case");
    is_str(http_request_header(&p.req, "X-Empty"), "", "an empty header");
    ok(http_request_header(&p.req, "nope") == NULL, "absent header: NULL");
    ok(p.req.keep_alive, "HTTP/1.1 keeps the connection");
    is_int(request_parser_feed(&p, "GET", 3), 0,
           "nothing more is taken before request_parser_next()");
    request_parser_free(&p);
}

static void test_pipelined_bodies(void)
{
    const char *two = "POST /a HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"
                      "POST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
                      "GET /c HTTP/1.0\r\n\r\n";
    size_t len = strlen(two), off = 0, n;

    request_parser_init(&p, 1024, 1024);
    n = request_parser_feed(&p, two, len);
    off += n;
    ok(p.complete, "first request complete");
    is_str(p.req.url, "/a", "first URL");
    is_int(p.req.body_len, 5, "first body length");
    ok(memcmp(p.req.body, "hello", 5) == 0, "first body");
    ok(off < len, "the rest is left for later");

    request_parser_next(&p);
    off += request_parser_feed(&p, two + off, len - off);
    ok(p.complete, "second (chunked) request complete");
    is_str(p.req.url, "/b", "second URL");
    is_int(p.req.body_len, 5, "chunks joined");
    ok(memcmp(p.req.body, "abcde", 5) == 0, "second body");

    request_parser_next(&p);
    off += request_parser_feed(&p, two + off, len - off);
    ok(p.complete, "third request complete");
    is_int(off, len, "all bytes consumed");
    ok(!p.req.keep_alive, "HTTP/1.0 without keep-alive closes");
    request_parser_free(&p);
}

static void test_byte_by_byte(void)
{
    const char *req = "PUT /x HTTP/1.1\r\nA: 1\r\nBb: 22\r\n"
                      "Content-Length: 3\r\n\r\nxyz";
    size_t i;

    request_parser_init(&p, 1024, 1024);
    for (i = 0; req[i] != '\0' && !p.complete; i++)
        request_parser_feed(&p, req + i, 1);
    ok(p.complete, "a request fed one byte at a time completes");
    is_str(http_request_header(&p.req, "bb"), "22", "split header value");
    is_int(p.req.body_len, 3, "and body");
    request_parser_free(&p);
}

static void test_limits(void)
{
    char big[600];

    request_parser_init(&p, 256, 8);
    memset(big, 'a', sizeof(big));
    big[sizeof(big) - 1] = '\0';
    feed_str("GET /");
    feed_str(big);
    is_int(p.error_status, 431, "an overlong URL is 431");
    request_parser_free(&p);

    request_parser_init(&p, 256, 8);
    feed_str("POST / HTTP/1.1\r\nContent-Length: 9\r\n\r\n");
    is_int(p.error_status, 413, "an announced body over the limit is 413");
    request_parser_free(&p);

    request_parser_init(&p, 256, 8);
    feed_str("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
             "5\r\n12345\r\n5\r\n12345\r\n");
    is_int(p.error_status, 413, "a chunked body over the limit is 413");
    request_parser_free(&p);

    request_parser_init(&p, 1 << 20, 8);
    {
        size_t i;
        feed_str("GET / HTTP/1.1\r\n");
        for (i = 0; i < REQUEST_MAX_HEADERS + 1 && !p.error_status; i++)
            feed_str("X: y\r\n");
    }
    is_int(p.error_status, 431, "too many header lines is 431");
    request_parser_free(&p);
}

static void test_malformed(void)
{
    static const struct {
        const char *text;
        int status;
    } bad[] = {
        { "GARBAGE\r\n\r\n", 400 },
        { "GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
          400 },
        { "GET / HTTP/1.1\r\nBad Header\r\n\r\n", 400 },
        { "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400 },
        { "GET /\x01 HTTP/1.1\r\n\r\n", 400 },
        { "GET / HTTP/9.9\r\n\r\n", 505 },
        { "GET / HTTP/2.0\r\n\r\n", 505 },
    };
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        request_parser_init(&p, 1024, 1024);
        feed_str(bad[i].text);
        is_int(p.error_status, bad[i].status, "malformed request %zu is %d",
               i, bad[i].status);
        ok(!p.complete, "and not complete");
        is_int(feed_str("GET / HTTP/1.1\r\n\r\n"), 0,
               "and takes nothing more");
        request_parser_free(&p);
    }
}

static void test_nul_in_value(void)
{
    static const char req[] = "GET / HTTP/1.1\r\nX: \0b\r\nY: 1\r\n\r\n";
    size_t i;

    /* values are C strings: a NUL would cut one short, and what a split
     * value kept of it would depend on how the bytes arrived ("" whole,
     * "b" byte by byte).  http_parser refuses a NUL inside a value, not
     * at its start. */
    request_parser_init(&p, 1024, 1024);
    request_parser_feed(&p, req, sizeof(req) - 1);
    is_int(p.error_status, 400, "a NUL in a header value is 400");
    ok(!p.complete, "  and the request not complete");
    request_parser_free(&p);

    request_parser_init(&p, 1024, 1024);
    for (i = 0; i < sizeof(req) - 1 && !p.complete && !p.error_status; i++)
        request_parser_feed(&p, req + i, 1);
    is_int(p.error_status, 400, "  fed one byte at a time too");
    request_parser_free(&p);
}

int main(void)
{
    test_simple();
    test_pipelined_bodies();
    test_byte_by_byte();
    test_limits();
    test_malformed();
    test_nul_in_value();
    return done_testing();
}
