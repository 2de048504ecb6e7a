/*
 * functions-sandbox-helper: the first process of every sandbox, run by the
 * executor as
 *
 *     functions-sandbox-helper UID GID PROCS... -- BWRAP ARGS...
 *
 * with the sandbox's seccomp filter (BPF) open on file descriptor 3.  It
 * joins the sandbox's cgroups by writing its pid to each PROCS file (so
 * nothing the function starts can escape them), sets no_new_privs, drops
 * to the unprivileged UID and GID, and executes bubblewrap, which loads
 * the filter (--seccomp 3) after its own setup.
 *
 * bubblewrap then runs this same program, from the descriptor the executor
 * left open for it, as the sandbox's pid 1:
 *
 *     functions-sandbox-helper init CTL
 *
 * which serves the executor on the socket CTL (sandbox_init.c).
 *
 * A small static program of its own, linked with nothing else: starting it
 * is part of every new sandbox's latency.
 */
#include "sandbox_init.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Exit status that tells the executor the sandbox could not be made. */
#define HELPER_FAILED 125
#define SECCOMP_FD 3

static int die(const char *what)
{
    fprintf(stderr, "sandbox: %s: %s\n", what, strerror(errno));
    return HELPER_FAILED;
}

static int parse_id(const char *s, unsigned long *out)
{
    char *end;

    errno = 0;
    *out = strtoul(s, &end, 10);
    return errno == 0 && end != s && *end == '\0' && *out > 0
           && *out < 4294967295UL ? 0 : -1;
}

int main(int argc, char **argv)
{
    struct rlimit none = { 0, 0 };
    char **bwrap, pid[24];
    unsigned long uid, gid;
    int i, sep = -1, fd, n;
    size_t len;

    if (argc == 3 && strcmp(argv[1], "init") == 0) {
        char *end;
        long ctl = strtol(argv[2], &end, 10);

        if (*end != '\0' || end == argv[2] || ctl < 3 || ctl > 1024) {
            fprintf(stderr, "sandbox: bad control descriptor %s\n",
                    argv[2]);
            return HELPER_FAILED;
        }
        return sandbox_init((int)ctl);
    }
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) {
            sep = i;
            break;
        }
    }
    if (argc < 5 || sep < 4 || sep + 1 >= argc) {
        fprintf(stderr, "usage: %s UID GID PROCS... -- BWRAP ARGS...\n"
                "       %s init CTL\n", argv[0], argv[0]);
        return 2;
    }
    /* never root: 0 and anything unparsable are refused */
    if (parse_id(argv[1], &uid) < 0 || parse_id(argv[2], &gid) < 0) {
        fprintf(stderr, "sandbox: refusing uid %s gid %s\n", argv[1],
                argv[2]);
        return HELPER_FAILED;
    }
    if (fcntl(SECCOMP_FD, F_GETFD) < 0)
        return die("no seccomp filter on descriptor 3");
    /* the executor starts us with 0 to 5 only; should anything else be
     * open, it goes now, before any of it could reach the sandbox */
    if (syscall(SYS_close_range, 6U, ~0U, 0U) < 0)
        return die("close_range");

    len = (size_t)snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
    for (i = 3; i < sep; i++) {
        fd = open(argv[i], O_WRONLY | O_CLOEXEC);
        if (fd < 0 || write(fd, pid, len) != (ssize_t)len)
            return die(argv[i]);
        close(fd);
    }

    /* no core files: a crashing function must not fill the host's disk
     * (a core_pattern may pipe to a host program) */
    if (setrlimit(RLIMIT_CORE, &none) < 0)
        return die("RLIMIT_CORE");
    /* no realtime policy (the cpu quota does not hold a SCHED_FIFO task
     * back) and no priority above the default, whatever limits the
     * executor was given */
    if (setrlimit(RLIMIT_RTPRIO, &none) < 0
        || setrlimit(RLIMIT_NICE, &none) < 0)
        return die("RLIMIT_RTPRIO, RLIMIT_NICE");
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return die("no_new_privs");
    if (setgroups(0, NULL) < 0 || setgid((gid_t)gid) < 0
        || setuid((uid_t)uid) < 0)
        return die("dropping privileges");
    if (setuid(0) == 0) {
        fprintf(stderr, "sandbox: privileges were not dropped\n");
        return HELPER_FAILED;
    }

    /* bwrap, then --seccomp 3 before its other options */
    n = argc - sep - 1;
    bwrap = calloc((size_t)n + 3, sizeof(char *));
    if (bwrap == NULL)
        return die("allocating");
    bwrap[0] = argv[sep + 1];
    bwrap[1] = "--seccomp";
    bwrap[2] = "3";
    for (i = 1; i < n; i++)
        bwrap[i + 2] = argv[sep + 1 + i];
    execv(bwrap[0], bwrap);
    return die(bwrap[0]);
}
