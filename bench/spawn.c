/*
 * Times N runs of a command (fork, exec, wait), one after the other, and
 * reports latency percentiles: the baseline of the cold-call benchmark.
 *
 *   spawn [-u UID] N COMMAND [ARGS...]
 *
 * -u: the child drops to that uid and gid first, as the executor's
 * sandbox helper does before it runs bubblewrap.
 */
#include <grp.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    long n, i, failed = 0, uid = -1;
    double *lat, t0, start;
    int status;
    pid_t pid;

    if (argc > 2 && strcmp(argv[1], "-u") == 0) {
        uid = atol(argv[2]);
        argv += 2;
        argc -= 2;
    }
    if (argc < 3 || (n = atol(argv[1])) <= 0) {
        fprintf(stderr, "usage: spawn [-u UID] N COMMAND [ARGS...]\n");
        return 2;
    }
    lat = malloc((size_t)n * sizeof(double));
    start = now();
    for (i = 0; i < n; i++) {
        t0 = now();
        pid = fork();
        if (pid == 0) {
            if (uid > 0 && (setgroups(0, NULL) < 0 || setgid((gid_t)uid) < 0
                            || setuid((uid_t)uid) < 0))
                _exit(126);
            execv(argv[2], argv + 2);
            _exit(127);
        }
        if (pid < 0 || waitpid(pid, &status, 0) < 0 || status != 0)
            failed++;
        lat[i] = now() - t0;
    }
    qsort(lat, (size_t)n, sizeof(double), cmp);
    printf("requests=%ld failed=%ld seconds=%.3f rps=%.1f p50_ms=%.3f "
           "p90_ms=%.3f p99_ms=%.3f max_ms=%.3f\n", n, failed,
           now() - start, (double)n / (now() - start), lat[n / 2] * 1e3,
           lat[n * 9 / 10] * 1e3, lat[n * 99 / 100] * 1e3,
           lat[n - 1] * 1e3);
    return failed ? 1 : 0;
}
