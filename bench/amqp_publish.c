/*
 * A raw AMQP publisher with the guarantees the module gives an async call
 * (persistent message, mandatory, one publisher confirm awaited per
 * message), written with rabbitmq-c through common/amqp_link.c: the
 * baseline of bench/async.sh, and the tests' way to put a message of
 * their own choosing in the queue.
 *
 *   amqp_publish -u URL [-q QUEUE] [-e EXCHANGE] [-c CONNS]
 *                (-n MESSAGES | -d SECONDS) [-b BODY | -s SIZE]
 *
 * Each connection publishes from its own thread, one message at a time.
 * Prints "messages=N seconds=S rate=R p50_ms=... p99_ms=...".
 */
#include "amqp_link.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static struct amqp_settings settings;
static const char *body = "{}";
static size_t body_len = 2;
static long limit_n;
static double limit_s;
static volatile long published;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static double *lat;
static long nlat, caplat;
static int failures;

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *publisher(void *arg)
{
    struct amqp_link l = { 0 };
    char err[256];
    double start = *(double *)arg, t;

    if (amqp_link_open(&l, &settings, 1, err, sizeof(err)) < 0) {
        fprintf(stderr, "amqp_publish: %s\n", err);
        __sync_fetch_and_add(&failures, 1);
        return NULL;
    }
    for (;;) {
        if (limit_n && __sync_fetch_and_add(&published, 1) >= limit_n)
            break;
        if (limit_s && now() - start >= limit_s)
            break;
        t = now();
        if (amqp_link_publish(&l, &settings, settings.exchange,
                              settings.queue, body, body_len, NULL, NULL,
                              err, sizeof(err)) < 0) {
            fprintf(stderr, "amqp_publish: %s\n", err);
            __sync_fetch_and_add(&failures, 1);
            break;
        }
        t = now() - t;
        pthread_mutex_lock(&mu);
        if (nlat == caplat) {
            caplat = caplat ? caplat * 2 : 4096;
            lat = realloc(lat, caplat * sizeof(*lat));
            if (lat == NULL) {
                pthread_mutex_unlock(&mu);
                abort();
            }
        }
        lat[nlat++] = t;
        pthread_mutex_unlock(&mu);
    }
    amqp_link_close(&l);
    return NULL;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    char err[256], *sized = NULL;
    int opt, conns = 1, i;
    pthread_t t[256];
    double start, took;

    amqp_settings_init(&settings);
    while ((opt = getopt(argc, argv, "u:q:e:c:n:d:b:s:")) != -1) {
        switch (opt) {
        case 'u':
            if (amqp_settings_url(&settings, optarg, err, sizeof(err)) < 0) {
                fprintf(stderr, "amqp_publish: %s\n", err);
                return 2;
            }
            break;
        case 'q':
            snprintf(settings.queue, sizeof(settings.queue), "%s", optarg);
            break;
        case 'e':
            snprintf(settings.exchange, sizeof(settings.exchange), "%s",
                     optarg);
            break;
        case 'c':
            conns = atoi(optarg);
            break;
        case 'n':
            limit_n = atol(optarg);
            break;
        case 'd':
            limit_s = atof(optarg);
            break;
        case 'b':
            body = optarg;
            body_len = strlen(optarg);
            break;
        case 's':
            body_len = (size_t)atol(optarg);
            sized = malloc(body_len + 1);
            if (sized == NULL)
                return 1;
            memset(sized, 'x', body_len);
            body = sized;
            break;
        default:
            fprintf(stderr, "usage: amqp_publish -u URL [-q QUEUE] "
                    "[-e EXCHANGE] [-c CONNS] (-n N | -d SECS) "
                    "[-b BODY | -s SIZE]\n");
            return 2;
        }
    }
    if (conns < 1 || conns > 256 || (!limit_n && !limit_s))
        return 2;
    start = now();
    for (i = 0; i < conns; i++)
        pthread_create(&t[i], NULL, publisher, &start);
    for (i = 0; i < conns; i++)
        pthread_join(t[i], NULL);
    took = now() - start;
    qsort(lat, nlat, sizeof(*lat), cmp);
    printf("messages=%ld seconds=%.2f rate=%.0f p50_ms=%.3f p99_ms=%.3f\n",
           nlat, took, nlat / took, nlat ? lat[nlat / 2] * 1000 : 0,
           nlat ? lat[(long)(nlat * 0.99)] * 1000 : 0);
    free(lat);
    free(sized);
    return failures ? 1 : 0;
}
