/*
 * Nothing between nginx and a hot (http format) function, for the
 * benchmarks.  Each connection
 * accepted on SOCKET becomes the stdin and stdout of a new copy of the
 * function, started unsandboxed, which reads nginx's requests and writes
 * its answers on it until nginx closes it.  No route, no sandbox, no
 * limits, no check of what the function answers: what a design with no
 * process between nginx and the function would pay (nginx's work, the
 * function's, and the kernel's between the two), beside a process in
 * between, the executor or bench/relay.c.  A function that reads a
 * socket slower than a pipe pays more here (bench/README.md, "The
 * handoff"), and so does one whose copies nginx closes and this starts
 * anew (bench/e2e.sh keeps nginx's connections to it for the whole run).
 *
 *   handoff SOCKET COMMAND [ARG]...
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static void __attribute__((noreturn)) die(const char *what)
{
    perror(what);
    exit(1);
}

static void reap(int sig)
{
    int saved = errno;

    (void)sig;
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
    errno = saved;
}

int main(int argc, char **argv)
{
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    struct sigaction sa;
    int l, c;

    if (argc < 3) {
        fprintf(stderr, "usage: handoff SOCKET COMMAND [ARG]...\n");
        return 2;
    }
    if (strlen(argv[1]) >= sizeof(a.sun_path)) {
        fprintf(stderr, "handoff: socket path too long\n");
        return 2;
    }
    strcpy(a.sun_path, argv[1]);
    /* the copies are reaped here, so that the time of those that ended
     * is counted in this process's cutime and cstime */
    sa.sa_handler = reap;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
    if (sigaction(SIGCHLD, &sa, NULL) < 0)
        die("handoff: sigaction");
    unlink(argv[1]);
    l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) < 0
        || listen(l, 128) < 0)
        die("handoff: listen");
    for (;;) {
        c = accept(l, NULL, NULL);
        if (c < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            die("handoff: accept");
        }
        switch (fork()) {
        case -1:
            die("handoff: fork");
        case 0:
            /* gone with the bench (the exec resets the handler) */
            prctl(PR_SET_PDEATHSIG, SIGTERM);
            if (dup2(c, 0) < 0 || dup2(c, 1) < 0)
                die("handoff: dup2");
            if (c > 1)
                close(c);
            execvp(argv[2], argv + 2);
            die("handoff: exec");
        default:
            close(c);
        }
    }
}
