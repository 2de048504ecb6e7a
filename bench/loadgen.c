/*
 * A small HTTP/1.1 load generator for the benchmarks: N connections, each
 * in its own thread, keep-alive, one request at a time; reports
 * throughput and latency percentiles.
 *
 *   loadgen (-u SOCKET | -t HOST:PORT) [-c CONNS] (-n REQUESTS | -d SECS)
 *           [-r RATE] [-m METHOD] [-p PATH] [-H 'Name: value']... [-b BODY]
 *
 * -r: RATE requests per second in all, spread over the connections, each
 * request sent at its scheduled time; a request's latency counts from
 * that time, so a server that falls behind shows it.
 * -k N: each request's path is PATH followed by a number, a different one
 * for each request, modulo N (distinct URLs, e.g. to miss a cache).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define MAX_HEADERS 32
#define BUF_SIZE (1 << 20)

static const char *unix_path, *tcp_addr, *method = "GET", *path = "/";
static const char *headers[MAX_HEADERS], *body = "";
static int nheaders, conns = 1, seconds;
static double rate;
static long keys;
static long next_key;
static long total_requests = 0;
static long next_request;
static double deadline;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

struct worker {
    pthread_t thread;
    double *lat;            /* seconds per request */
    long n, cap, errors, statuses[6];
};

static struct worker *workers;

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int connect_to(void)
{
    int fd, one = 1;

    if (unix_path != NULL) {
        struct sockaddr_un a = { .sun_family = AF_UNIX };
        snprintf(a.sun_path, sizeof(a.sun_path), "%s", unix_path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
            close(fd);
            return -1;
        }
        return fd;
    } else {
        struct sockaddr_in a = { .sin_family = AF_INET };
        char host[64];
        const char *colon = strrchr(tcp_addr, ':');
        if (colon == NULL || (size_t)(colon - tcp_addr) >= sizeof(host))
            return -1;
        memcpy(host, tcp_addr, (size_t)(colon - tcp_addr));
        host[colon - tcp_addr] = '\0';
        a.sin_port = htons((unsigned short)atoi(colon + 1));
        if (inet_pton(AF_INET, host, &a.sin_addr) != 1)
            return -1;
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            return -1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
            close(fd);
            return -1;
        }
        return fd;
    }
}

static int send_all(int fd, const char *p, size_t n)
{
    ssize_t w;

    while (n > 0) {
        w = write(fd, p, n);
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Reads one response (Content-Length or chunked); its status, or -1. */
static int read_response(int fd, char *buf, int *keep)
{
    size_t have = 0, need = 0, head = 0;
    ssize_t r;
    char *end, *cl, *te;
    int status, chunked = 0;

    for (;;) {
        r = read(fd, buf + have, BUF_SIZE - 1 - have);
        if (r <= 0)
            return -1;
        have += (size_t)r;
        buf[have] = '\0';
        if (head == 0 && (end = strstr(buf, "\r\n\r\n")) != NULL) {
            head = (size_t)(end - buf) + 4;
            cl = strcasestr(buf, "\r\nContent-Length:");
            te = strcasestr(buf, "\r\nTransfer-Encoding: chunked");
            if (te != NULL && te < end)
                chunked = 1;
            else if (cl == NULL || cl > end)
                return -1;
            else
                need = head + strtoul(cl + 17, NULL, 10);
            *keep = strcasestr(buf, "\r\nConnection: close") == NULL
                    || strcasestr(buf, "\r\nConnection: close") > end;
        }
        /* chunked: done at the last chunk (no trailers are expected) */
        if (head > 0 && chunked && have >= head + 5
            && memcmp(buf + have - 5, "0\r\n\r\n", 5) == 0)
            break;
        if (head > 0 && !chunked && have >= need)
            break;
        if (have == BUF_SIZE - 1)
            return -1;
    }
    if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1)
        return -1;
    return status;
}

/* The request; with -k, for key (or the next one if key < 0). */
static size_t build(char *req, long key)
{
    char suffix[32] = "";
    size_t len;
    int i;

    if (keys > 0) {
        if (key < 0) {
            pthread_mutex_lock(&lock);
            key = next_key++ % keys;
            pthread_mutex_unlock(&lock);
        }
        snprintf(suffix, sizeof(suffix), "%ld", key);
    }
    len = (size_t)snprintf(req, BUF_SIZE, "%s %s%s HTTP/1.1\r\n"
                           "Host: bench\r\nContent-Length: %zu\r\n",
                           method, path, suffix, strlen(body));
    for (i = 0; i < nheaders; i++)
        len += (size_t)snprintf(req + len, BUF_SIZE - len, "%s\r\n",
                                headers[i]);
    len += (size_t)snprintf(req + len, BUF_SIZE - len, "\r\n%s", body);
    return len;
}

static int take_request(void)
{
    int ok;

    if (seconds > 0)
        return now() < deadline;
    pthread_mutex_lock(&lock);
    ok = next_request < total_requests;
    next_request++;
    pthread_mutex_unlock(&lock);
    return ok;
}

static void *run(void *arg)
{
    struct worker *w = arg;
    char *req = malloc(BUF_SIZE), *buf = malloc(BUF_SIZE);
    size_t len;
    int fd = -1, keep, status;
    double t0, start = now(), interval = rate > 0 ? conns / rate : 0;
    long k = 0;

    len = build(req, -1);

    /* connections start spread over one interval */
    start += interval * (double)(w - workers) / conns;
    while (take_request()) {
        if (keys > 0)
            len = build(req, -1);
        t0 = now();
        if (interval > 0) {
            double at = start + interval * (double)k++;

            if (at > t0) {
                struct timespec ts;
                double d = at - t0;

                ts.tv_sec = (time_t)d;
                ts.tv_nsec = (long)((d - (double)ts.tv_sec) * 1e9);
                nanosleep(&ts, NULL);
            }
            t0 = at;
        }
        if (fd < 0 && (fd = connect_to()) < 0) {
            w->errors++;
            usleep(1000);
            continue;
        }
        if (send_all(fd, req, len) < 0
            || (status = read_response(fd, buf, &keep)) < 0) {
            w->errors++;
            close(fd);
            fd = -1;
            continue;
        }
        if (!keep) {
            close(fd);
            fd = -1;
        }
        w->statuses[status / 100 < 6 ? status / 100 : 0]++;
        if (w->n == w->cap) {
            w->cap = w->cap ? w->cap * 2 : 1024;
            w->lat = realloc(w->lat, (size_t)w->cap * sizeof(double));
        }
        w->lat[w->n++] = now() - t0;
    }
    if (fd >= 0)
        close(fd);
    free(req);
    free(buf);
    return NULL;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    struct worker *ws;
    double *all, t0, elapsed;
    long n = 0, errors = 0, ok2xx = 0, other = 0;
    int opt, i, j;

    while ((opt = getopt(argc, argv, "u:t:c:n:d:r:k:m:p:H:b:")) != -1) {
        switch (opt) {
        case 'u': unix_path = optarg; break;
        case 't': tcp_addr = optarg; break;
        case 'c': conns = atoi(optarg); break;
        case 'n': total_requests = atol(optarg); break;
        case 'd': seconds = atoi(optarg); break;
        case 'r': rate = atof(optarg); break;
        case 'k': keys = atol(optarg); break;
        case 'm': method = optarg; break;
        case 'p': path = optarg; break;
        case 'H':
            if (nheaders < MAX_HEADERS)
                headers[nheaders++] = optarg;
            break;
        case 'b': body = optarg; break;
        default:
            fprintf(stderr, "usage: see the comment in loadgen.c\n");
            return 2;
        }
    }
    if ((unix_path == NULL) == (tcp_addr == NULL) || conns < 1
        || (total_requests <= 0 && seconds <= 0)) {
        fprintf(stderr, "loadgen: one of -u/-t, and -n or -d, are needed\n");
        return 2;
    }
    ws = calloc((size_t)conns, sizeof(*ws));
    workers = ws;
    t0 = now();
    deadline = t0 + seconds;
    for (i = 0; i < conns; i++)
        pthread_create(&ws[i].thread, NULL, run, &ws[i]);
    for (i = 0; i < conns; i++) {
        pthread_join(ws[i].thread, NULL);
        n += ws[i].n;
        errors += ws[i].errors;
        ok2xx += ws[i].statuses[2];
    }
    elapsed = now() - t0;
    other = n - ok2xx;
    all = malloc((size_t)(n ? n : 1) * sizeof(double));
    for (i = 0, n = 0; i < conns; i++)
        for (j = 0; j < ws[i].n; j++)
            all[n++] = ws[i].lat[j];
    qsort(all, (size_t)n, sizeof(double), cmp);
    /* one line of key=value pairs, for scripts */
    printf("requests=%ld ok=%ld non_2xx=%ld errors=%ld seconds=%.3f "
           "rps=%.1f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f\n",
           n, ok2xx, other, errors, elapsed, (double)n / elapsed,
           n ? all[n / 2] * 1e3 : 0, n ? all[n * 9 / 10] * 1e3 : 0,
           n ? all[n * 99 / 100] * 1e3 : 0, n ? all[n - 1] * 1e3 : 0);
    return errors > 0 || other > 0 ? 1 : 0;
}
