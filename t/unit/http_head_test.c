/*
 * Strict heads read in one pass (http_head.c): what the fast path takes,
 * what it leaves to http-parser, and that the parsers built on it give
 * the same requests and answers either way.
 */
#include "http_head.h"
#include "http_response.h"
#include "request_parser.h"
#include "tap.h"

#include <stdlib.h>

#define CALL "POST /call HTTP/1.1\r\nFn-Call-Id: 01M8TTAYNSHK090VQE0TCJ0D85\r\n" \
             "Fn-Route: {\"app\":\"a\",\"path\":\"/p\"}\r\n"               \
             "Host: executors\r\nContent-Length: 5\r\n\r\nhello"

static struct http_head_line lines[8];

static int request(const char *s)
{
    struct http_head h;

    return http_head_request(s, strlen(s), &h, lines, 8);
}

static int response(const char *s)
{
    struct http_head h;

    return http_head_response(s, strlen(s), &h, lines, 8);
}

static void test_request_heads(void)
{
    struct http_head h;

    ok(http_head_request(CALL, strlen(CALL), &h, lines, 8),
       "nginx's call is taken");
    is_int(h.head_len, strlen(CALL) - 5, "up to the empty line");
    is_int(h.text_len, 5, "the URL");
    ok(memcmp(h.text, "/call", 5) == 0, "is /call");
    is_int(h.nlines, 4, "four header lines");
    ok(h.has_length && h.length == 5, "Content-Length 5");
    ok(lines[1].value_len == 23 && lines[1].value[0] == '{',
       "a value is given whole");
    ok(!http_head_request(CALL, 30, &h, lines, 8), "a cut head is left");
    ok(!http_head_request(CALL, strlen(CALL), &h, lines, 3),
       "more lines than room is left");
    ok(request("POST /a HTTP/1.1\r\nX-A: \r\n\r\n"), "an empty value");
    ok(request("POST /a?b=%20;c=@:d HTTP/1.1\r\n\r\n"), "a query");
    ok(!request("GET /a HTTP/1.1\r\n\r\n"), "a GET is left");
    ok(!request("POST /a HTTP/1.0\r\n\r\n"), "HTTP/1.0 is left");
    ok(!request("POST a HTTP/1.1\r\n\r\n"), "a target not from / is left");
    ok(!request("POST /a#f HTTP/1.1\r\n\r\n"), "a fragment is left");
    ok(!request("POST /a HTTP/1.1\nX: y\n\n"), "bare LFs are left");
    ok(!request("POST /a HTTP/1.1\r\nX: y\r\n z\r\n\r\n"),
       "a folded line is left");
    ok(!request("POST /a HTTP/1.1\r\nX : y\r\n\r\n"),
       "a blank before the colon is left");
    ok(!request("POST /a HTTP/1.1\r\nX: y \r\n\r\n"),
       "a blank at a value's end is left");
    ok(!request("POST /a HTTP/1.1\r\nX: a\x01" "b\r\n\r\n"),
       "a control byte in a value is left");
    ok(request("POST /a HTTP/1.1\r\nX: caf\xc3\xa9\r\n\r\n"),
       "bytes over 0x7f in a value are taken");
    ok(!request("POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"),
       "Transfer-Encoding is left");
    ok(!request("POST /a HTTP/1.1\r\ntransfer-encodingx: a\r\n\r\n"),
       "a name that starts as Transfer-Encoding is left");
    ok(!request("POST /a HTTP/1.1\r\nConnection: close\r\n\r\n"),
       "Connection is left");
    ok(!request("POST /a HTTP/1.1\r\nUpgrade: h2c\r\n\r\n"),
       "Upgrade is left");
    ok(!request("POST /a HTTP/1.1\r\nProxy-Connection: x\r\n\r\n"),
       "Proxy-Connection is left");
    ok(!request("POST /a HTTP/1.1\r\nContent-Length: 1\r\n"
                "Content-Length: 1\r\n\r\nx"),
       "two Content-Lengths are left");
    ok(!request("POST /a HTTP/1.1\r\nContent-Length: 1234567890123456789"
                "\r\n\r\n"), "a Content-Length of 19 digits is left");
    ok(!request("POST /a HTTP/1.1\r\nContent-Length: +1\r\n\r\n"),
       "a signed Content-Length is left");
    ok(!request("POST /a HTTP/1.1\r\nContent-Lengths: 1\r\n\r\n"),
       "a longer name from Content-Length is left");
}

static void test_response_heads(void)
{
    struct http_head h;
    const char *r = "HTTP/1.1 201 Made it\r\nContent-Length: 2\r\n"
                    "X-A: b\r\n\r\nok";

    ok(http_head_response(r, strlen(r), &h, lines, 8), "an answer is taken");
    is_int(h.status, 201, "its status");
    is_int(h.text_len, 7, "its reason");
    is_int(h.nlines, 2, "two lines");
    ok(response("HTTP/1.1 599 \r\n\r\n"), "an empty reason");
    ok(!response("HTTP/1.1 199 x\r\n\r\n"), "a status under 200 is left");
    ok(!response("HTTP/1.1 600 x\r\n\r\n"), "a status over 599 is left");
    ok(!response("HTTP/1.1 200\r\n\r\n"), "no space after the status: left");
    ok(!response("HTTP/1.0 200 OK\r\n\r\n"), "HTTP/1.0 is left");
    ok(!response("HTTP/1.1 2000 OK\r\n\r\n"), "four digits are left");
}

/* Both ways of reading give the same; the fast one did read it. */
static void test_requests_both_ways(void)
{
    struct request_parser fast, slow;
    size_t i, a, b;

    request_parser_init(&fast, 1024, 1024);
    request_parser_init(&slow, 1024, 1024);
    slow.slow_only = 1;
    /* the body comes a byte at a time after the head */
    a = request_parser_feed(&fast, CALL, strlen(CALL) - 5);
    b = request_parser_feed(&slow, CALL, strlen(CALL) - 5);
    is_int(a, b, "the head is used whole either way");
    ok(!fast.complete, "the body is awaited");
    is_int(HTTP_PARSER_ERRNO(&fast.parser), HPE_OK,
           "http-parser saw none of it");
    for (i = strlen(CALL) - 5; i < strlen(CALL); i++) {
        request_parser_feed(&fast, CALL + i, 1);
        request_parser_feed(&slow, CALL + i, 1);
    }
    ok(fast.complete && slow.complete, "both are complete");
    is_str(fast.req.url, slow.req.url, "the same URL");
    is_int(fast.req.method, slow.req.method, "the same method");
    is_int(fast.req.nheaders, slow.req.nheaders, "as many headers");
    for (i = 0; i < fast.req.nheaders && i < slow.req.nheaders; i++) {
        is_str(fast.req.headers[i].name, slow.req.headers[i].name,
               "name %zu", i);
        is_str(fast.req.headers[i].value, slow.req.headers[i].value,
               "value %zu", i);
    }
    is_str(fast.req.body, "hello", "the body");
    is_int(fast.req.keep_alive, slow.req.keep_alive, "the same keep-alive");
    request_parser_free(&fast);
    request_parser_free(&slow);

    /* a length announced: the body grows as it comes */
    request_parser_init(&fast, 1024, 1 << 20);
    request_parser_feed(&fast, "POST /a HTTP/1.1\r\nContent-Length: 1000000"
                        "\r\n\r\n", 45);
    ok(!fast.complete && fast.req.body == NULL,
       "a body announced and not sent holds no memory");
    request_parser_feed(&fast, "abc", 3);
    ok(fast.req.body_len == 3 && strcmp(fast.req.body, "abc") == 0,
       "  what comes of it is kept, terminated");
    request_parser_free(&fast);

    /* over a limit: left to http-parser, which refuses it */
    request_parser_init(&fast, 1024, 4);
    request_parser_feed(&fast, CALL, strlen(CALL));
    is_int(fast.error_status, 413, "a body over the limit: 413");
    request_parser_free(&fast);
    request_parser_init(&fast, 16, 1024);
    request_parser_feed(&fast, CALL, strlen(CALL));
    is_int(fast.error_status, 431, "a head over the limit: 431");
    request_parser_free(&fast);
}

static void test_answers_both_ways(void)
{
    const char *r = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
                    "X-Empty: \r\n\r\nhello";
    struct http_response_parser p;

    http_response_parser_init(&p, 1024, 1024);
    is_int(http_response_feed(&p, r, strlen(r) - 3), strlen(r) - 3,
           "a head and part of the body are used");
    is_int(HTTP_PARSER_ERRNO(&p.parser), HPE_OK,
           "http-parser saw none of it");
    is_int(http_response_feed(&p, r + strlen(r) - 3, 10), 3,
           "the rest of the body, and no more");
    ok(p.complete && p.keep_alive, "complete, and the pipe is kept");
    is_int(p.res.body_len, 5, "the body");
    ok(memcmp(p.res.body, "hello", 5) == 0, "is hello");
    is_str(p.res.values[1], "", "an empty value");
    http_response_parser_free(&p);

    http_response_parser_init(&p, 1024, 1024);
    p.head_request = 1;
    is_int(http_response_feed(&p, r, strlen(r)), strlen(r) - 5,
           "an answer to HEAD ends with its head");
    ok(p.complete && p.res.body_len == 0, "with no body");
    http_response_parser_free(&p);

    http_response_parser_init(&p, 1024, 4);
    http_response_feed(&p, r, strlen(r));
    ok(p.too_large, "a body over the limit is refused as such");
    http_response_parser_free(&p);

    http_response_parser_init(&p, 1024, 1024);
    http_response_feed(&p, "HTTP/1.1 200 OK\r\n\r\n", 19);
    is_str(p.error, "the response has no Content-Length",
           "no Content-Length: http-parser's verdict");
    http_response_parser_free(&p);
}

/* start, then a header of 50 KiB of blanks before a value of one byte,
 * into buf (60000 bytes): the head's length */
static size_t big_head(char *buf, const char *start)
{
    size_t n = strlen(start);

    memcpy(buf, start, n);
    memcpy(buf + n, "X:", 2);
    memset(buf + n + 2, ' ', 50000);
    n += 50002;
    strcpy(buf + n, "a\r\nContent-Length: 0\r\n\r\n");
    return n + strlen(buf + n);
}

/* Blank lines before a message: http-parser counts them against its
 * 80 KiB limit on a head, so the one pass leaves what follows to it. */
static void test_blank_lines_first(void)
{
    struct request_parser rp[2];
    struct http_response_parser ap[2];
    size_t crlf_len = 40000, big_len, i, k, served[2] = { 0, 0 };
    char *crlf = malloc(crlf_len), *big;
    const char *small = "POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n";

    for (i = 0; i < crlf_len; i += 2)
        memcpy(crlf + i, "\r\n", 2);
    big = malloc(60000);
    big_len = big_head(big, "POST / HTTP/1.1\r\n");
    for (k = 0; k < 2; k++) {
        request_parser_init(&rp[k], 1024, 1024);
        rp[k].slow_only = (int)k;
        request_parser_feed(&rp[k], crlf, crlf_len);
        request_parser_feed(&rp[k], big, big_len);
    }
    is_int(rp[0].error_status, rp[1].error_status,
           "40000 blank bytes, then a 50 KiB head: http-parser's verdict");
    is_int(rp[0].error_status, 431, "  which is 431");
    for (k = 0; k < 2; k++)
        request_parser_free(&rp[k]);

    /* on one connection, again and again */
    for (k = 0; k < 2; k++) {
        request_parser_init(&rp[k], 1024, 1024);
        rp[k].slow_only = (int)k;
        for (i = 0; i < 100 && !rp[k].error_status; i++) {
            request_parser_feed(&rp[k], crlf, 2000);
            request_parser_feed(&rp[k], small, strlen(small));
            if (rp[k].complete) {
                served[k]++;
                request_parser_next(&rp[k]);
            }
        }
        request_parser_free(&rp[k]);
    }
    is_int(served[0], 100, "2000 blank bytes before each of 100 requests: "
           "all are served");
    is_int(served[0], served[1], "  as http-parser serves them");

    /* a hot function's answer, the same way */
    big_len = big_head(big, "HTTP/1.1 200 OK\r\n");
    for (k = 0; k < 2; k++) {
        http_response_parser_init(&ap[k], 1024, 1024);
        ap[k].slow_only = (int)k;
        http_response_feed(&ap[k], crlf, crlf_len);
        http_response_feed(&ap[k], big, big_len);
    }
    ok(!ap[0].complete && ap[0].error[0] != '\0',
       "40000 blank bytes, then a 50 KiB answer head: refused");
    is_str(ap[0].error, ap[1].error, "  as http-parser refuses it");
    for (k = 0; k < 2; k++)
        http_response_parser_free(&ap[k]);
    free(crlf);
    free(big);
}

int main(void)
{
    test_blank_lines_first();
    test_request_heads();
    test_response_heads();
    test_requests_both_ways();
    test_answers_both_ways();
    return done_testing();
}
