/*
 * The executor's two HTTP parsers on the bytes of one hot call, in one
 * process: nginx's request (as functions_params makes it) and a hot
 * function's answer (as t/fn/hot.c writes it), each read N times with
 * the one-pass reading of strict heads (http_head.c) and N times by
 * http-parser alone, alternating in rounds.  Prints ns per message for
 * both and their ratio.  Built by bench/heads.sh.
 *
 *   heads N ROUNDS
 */
#include "http_response.h"
#include "request_parser.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char request[] =
    "POST /call HTTP/1.1\r\n"
    "Fn-Call-Id: 01M8TTAYNSHK090VQE0TCJ0D85\r\n"
    "Fn-Route: {\"app\":\"bench\",\"path\":\"/hot\",\"image\":\"oci:hot:v1\","
    "\"memory\":128,\"type\":\"sync\",\"format\":\"http\",\"timeout\":30,"
    "\"idle_timeout\":600,\"max_concurrency\":16,\"headers\":{},"
    "\"config\":{},\"app_config\":{}}\r\n"
    "Fn-Method: POST\r\n"
    "Fn-Request-Url: http://bench/r/bench/hot\r\n"
    "Host: executors\r\n"
    "Content-Length: 5\r\n"
    "\r\n"
    "hello";

static const char answer[] =
    "HTTP/1.1 200 Whatever\r\n"
    "Content-Length: 5\r\n"
    "Content-Type: application/x-test\r\n"
    "X-Instance: 17f3b1b360f5fb8a67f209c45771d65b\r\n"
    "X-Pid: 2\r\n"
    "X-In: \r\n"
    "X-Env: \r\n"
    "X-Call-Id: 01M8TTAYNSHK090VQE0TCJ0D85\r\n"
    "X-Seen: 119924\r\n"
    "\r\n"
    "hello";

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ns per request, a connection's parser reading n of them */
static double requests(long n, int slow_only)
{
    struct request_parser p;
    double t0 = now();
    long i;

    request_parser_init(&p, 65536, 1 << 20);
    p.slow_only = slow_only;
    for (i = 0; i < n; i++) {
        if (request_parser_feed(&p, request, sizeof(request) - 1)
            != sizeof(request) - 1 || !p.complete) {
            fprintf(stderr, "heads: the request was not read\n");
            exit(1);
        }
        request_parser_next(&p);
    }
    request_parser_free(&p);
    return (now() - t0) * 1e9 / n;
}

/* ns per answer, an instance's parser reading n of them */
static double answers(long n, int slow_only)
{
    struct http_response_parser p;
    double t0 = now();
    long i;

    http_response_parser_init(&p, 8192, 1 << 20);
    p.slow_only = slow_only;
    for (i = 0; i < n; i++) {
        if (http_response_feed(&p, answer, sizeof(answer) - 1)
            != sizeof(answer) - 1 || !p.complete) {
            fprintf(stderr, "heads: the answer was not read\n");
            exit(1);
        }
        http_response_parser_reset(&p);
    }
    http_response_parser_free(&p);
    return (now() - t0) * 1e9 / n;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 200000;
    int rounds = argc > 2 ? atoi(argv[2]) : 5, r, k;
    double v[4][64];
    static const char *names[4] = {
        "request_fast_ns", "request_http_parser_ns",
        "answer_fast_ns", "answer_http_parser_ns",
    };

    if (n < 1 || rounds < 1 || rounds > 64) {
        fprintf(stderr, "usage: heads N ROUNDS (ROUNDS 1 to 64)\n");
        return 2;
    }
    requests(n / 10 + 1, 0);        /* warm caches and the allocator */
    requests(n / 10 + 1, 1);
    for (r = 0; r < rounds; r++) {
        v[0][r] = requests(n, 0);
        v[1][r] = requests(n, 1);
        v[2][r] = answers(n, 0);
        v[3][r] = answers(n, 1);
    }
    for (k = 0; k < 4; k++) {
        qsort(v[k], (size_t)rounds, sizeof(double), by_value);
        printf("%s=%.0f\n", names[k], v[k][rounds / 2]);
    }
    printf("request: one pass at %.2f of http-parser's time (%zu bytes); "
           "answer: %.2f (%zu bytes); medians of %d rounds of %ld\n",
           v[0][rounds / 2] / v[1][rounds / 2], sizeof(request) - 1,
           v[2][rounds / 2] / v[3][rounds / 2], sizeof(answer) - 1, rounds,
           n);
    return 0;
}
