/*
 * pid 1 of a sandbox: runs function processes and cleans up after them.
 *
 * As pid 1 it cannot be killed from inside its namespace, it reaps every
 * orphan, and kill(-1) from it reaches every other process there.
 */
#include "sandbox_init.h"
#include "sandbox_proto.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/xattr.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define INIT_FAILED 125
#define REAP_TIMEOUT_MS 2000

extern char **environ;

static long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void say(const char *what)
{
    fprintf(stderr, "sandbox init: %s: %s\n", what, strerror(errno));
}

/* A line on the function's stderr, without stdio: no buffer, no lock. */
static void child_say(const char *what, const char *name, int err)
{
    const char *e = strerror(err);
    struct iovec iov[] = {
        { (void *)what, strlen(what) }, { (void *)name, strlen(name) },
        { (void *)": ", 2 }, { (void *)e, strlen(e) }, { (void *)"\n", 1 },
    };
    ssize_t n = writev(2, iov, 5);

    (void)n;
}

/*
 * The function process, a vfork child: it runs in the init's memory
 * until it execs, so it calls nothing that allocates or takes a lock,
 * and never returns into the init's frames (noinline: the compiler
 * cannot share the caller's stack slots with it).
 */
static __attribute__((noinline, noreturn))
void child(const struct sandbox_run *run, const int fds[3])
{
    int i, err;

    for (i = 0; i < 3; i++) {
        if (dup2(fds[i], i) < 0)
            _exit(INIT_FAILED);
    }
    environ = run->env;
    if (chdir(run->cwd) < 0) {
        err = errno;
        child_say("cannot change to the working directory ", run->cwd, err);
        _exit(126);
    }
    /* PATH comes from the function's environment */
    execvp(run->argv[0], run->argv);
    err = errno;
    child_say("cannot run ", run->argv[0], err);
    _exit(err == ENOENT ? 127 : 126);
}

/* SIGCHLD wakes the loop below through this pipe. */
static int chld_pipe[2] = { -1, -1 };

static void on_sigchld(int sig)
{
    int e = errno;
    ssize_t n;

    (void)sig;
    n = write(chld_pipe[1], "c", 1);   /* full: a wake-up is pending */
    (void)n;
    errno = e;
}

/*
 * CONNECTED: err, and the socket fd beside it (fd >= 0), which this
 * process then closes: it keeps no copy.  0, or -1 if it cannot be sent.
 */
static int send_connected(int ctl, int err, int fd)
{
    char reply[SANDBOX_CONNECTED_LEN], cbuf[CMSG_SPACE(sizeof(int))];
    struct iovec iov = { reply, sizeof(reply) };
    struct msghdr m = { 0 };
    struct cmsghdr *cm;
    ssize_t n;

    sandbox_connected_encode(reply, err);
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    if (fd >= 0) {
        memset(cbuf, 0, sizeof(cbuf));
        m.msg_control = cbuf;
        m.msg_controllen = sizeof(cbuf);
        cm = CMSG_FIRSTHDR(&m);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cm), &fd, sizeof(int));
    }
    do
        n = sendmsg(ctl, &m, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (fd >= 0)
        close(fd);
    return n == (ssize_t)sizeof(reply) ? 0 : -1;
}

/*
 * CONNECT: connects to the Unix socket at the path as the function would,
 * from inside the sandbox (so a link the function made resolves within
 * it, never to a socket of the host), and hands the socket over.  running:
 * a process of the call is up; else the answer is ESRCH.
 */
static int answer_connect(int ctl, const char *msg, size_t len, int running)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    const char *path;
    int fd = -1, err = 0;

    if (sandbox_connect_decode(msg, len, &path) < 0) {
        fprintf(stderr, "sandbox init: malformed message\n");
        return -1;
    }
    if (!running) {
        err = ESRCH;
    } else {
        /* never blocks: a full backlog is EAGAIN, tried again later */
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        memcpy(sa.sun_path, path, strlen(path) + 1);
        if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
            err = errno != 0 ? errno : EIO;
            if (fd >= 0)
                close(fd);
            fd = -1;
        }
    }
    return send_connected(ctl, err, fd);
}

/*
 * LISTEN: a TCP socket listening on the port of 127.0.0.1 in the
 * sandbox's network namespace (its own, where nothing else runs but the
 * function), handed over: the executor serves the Lambda Runtime API on
 * it.  This process keeps no copy.
 */
static int answer_listen(int ctl, const char *msg, size_t len)
{
    struct sockaddr_in sa = { .sin_family = AF_INET };
    unsigned port;
    int fd, err = 0, one = 1;

    if (sandbox_listen_decode(msg, len, &port) < 0) {
        fprintf(stderr, "sandbox init: malformed message\n");
        return -1;
    }
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0
        || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0
        || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0
        || listen(fd, 16) < 0) {
        err = errno != 0 ? errno : EIO;
        if (fd >= 0)
            close(fd);
        fd = -1;
    }
    return send_connected(ctl, err, fd);
}

/* A CONNECT or a LISTEN; -1 for anything else, or a failure to answer. */
static int answer(int ctl, const char *msg, size_t len, int running)
{
    if (len > 0 && msg[0] == SANDBOX_LISTEN)
        return answer_listen(ctl, msg, len);
    return answer_connect(ctl, msg, len, running);
}

/*
 * Waits for pid, reaping any other process on the way, and answers the
 * executor's CONNECTs and LISTENs meanwhile.  -1 if the executor is gone.
 */
static int wait_for(int ctl, pid_t pid, int *status)
{
    struct pollfd pfd[2] = { { ctl, POLLIN, 0 }, { chld_pipe[0], POLLIN, 0 } };
    char msg[SANDBOX_CONNECT_MAX + 1], drain[64];
    ssize_t n;
    pid_t w;
    int st;

    for (;;) {
        while ((w = waitpid(-1, &st, WNOHANG)) > 0) {
            if (w == pid) {
                *status = st;
                return 0;
            }
        }
        if (w < 0 && errno != EINTR && errno != ECHILD)
            return -1;
        if (poll(pfd, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (pfd[1].revents != 0) {
            while (read(chld_pipe[0], drain, sizeof(drain)) > 0)
                ;
        }
        if (pfd[0].revents == 0)
            continue;
        n = recv(ctl, msg, sizeof(msg), MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        /* the executor closed (or failed): nothing more to do here */
        if (n <= 0 || answer(ctl, msg, (size_t)n, 1) < 0)
            return -1;
    }
}

/* Reaps what has ended; 1 when no child is left. */
static int reap_all(void)
{
    pid_t w;

    while ((w = waitpid(-1, NULL, WNOHANG)) > 0)
        ;
    return w < 0 && errno == ECHILD;
}

/*
 * Kills every process but this one and reaps them all.  Every process of
 * the namespace descends from this one, and an orphan comes back to it:
 * with no child left, none is left at all, and the usual call (its
 * process reaped, nothing started in the background) needs no kill(-1),
 * which walks every task of the host.
 */
static int kill_the_rest(void)
{
    long deadline = now_ms() + REAP_TIMEOUT_MS;
    struct timespec ms = { 0, 1000000 };

    for (;;) {
        if (reap_all())
            return 0;
        if (now_ms() > deadline)
            return -1;
        kill(-1, SIGKILL);
        if (reap_all())
            return 0;
        nanosleep(&ms, NULL);
    }
}

/* Removes what is inside the directory dfd (closed here). */
static int empty_dir(int dfd, int depth)
{
    struct dirent *d;
    DIR *dp;
    int rc = 0, sub;

    dp = fdopendir(dfd);
    if (dp == NULL) {
        close(dfd);
        return -1;
    }
    while ((d = readdir(dp)) != NULL) {
        if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0)
            continue;
        if (unlinkat(dfd, d->d_name, 0) == 0)
            continue;
        if (errno != EISDIR || depth > 256) {
            rc = -1;
            continue;
        }
        /* a directory the function made unreadable is still its own;
         * if this fails, so does what follows */
        if (fchmodat(dfd, d->d_name, 0700, 0) < 0)
            rc = -1;
        sub = openat(dfd, d->d_name,
                     O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sub < 0 || empty_dir(sub, depth + 1) < 0
            || unlinkat(dfd, d->d_name, AT_REMOVEDIR) < 0)
            rc = -1;
        if (rc < 0)
            break;
    }
    closedir(dp);
    return rc;
}

/*
 * The sandbox's tmpfs roots as they were when it started.  A function
 * owns /tmp and /dev/shm: besides their contents it may change their
 * mode, times, extended attributes (POSIX ACLs among them) and flags,
 * which emptying them does not undo, and which the next call could
 * read.  The init notes them at its start and puts them back after
 * every call.
 */
struct tmpfs_root {
    const char *path;
    int present;
    mode_t mode;
    struct timespec atime, mtime;
    int flags;                  /* FS_IOC_GETFLAGS; -1 if unsupported */
};

static struct tmpfs_root roots[] = { { .path = "/tmp" },
                                     { .path = "/dev/shm" } };

static int root_note(struct tmpfs_root *r)
{
    struct stat st;
    int dfd;

    dfd = open(r->path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0)
        return errno == ENOENT ? 0 : -1;
    if (fstat(dfd, &st) < 0) {
        close(dfd);
        return -1;
    }
    r->present = 1;
    r->mode = st.st_mode & 07777;
    r->atime = st.st_atim;
    r->mtime = st.st_mtim;
    if (ioctl(dfd, FS_IOC_GETFLAGS, &r->flags) < 0)
        r->flags = -1;
    close(dfd);
    return 0;
}

static int same_time(struct timespec a, struct timespec b)
{
    return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

/* Removes what a function may set on the root: user attributes and
 * ACLs (an LSM's labels are the host's, and stay). */
static int root_xattrs_clear(int dfd)
{
    char names[4096];
    ssize_t len, i;
    int rc = 0;

    /* more than fit here (ERANGE) is more than can be cleared: unclean */
    len = flistxattr(dfd, names, sizeof(names));
    if (len < 0)
        return errno == ENOTSUP ? 0 : -1;
    for (i = 0; i < len; i += (ssize_t)strlen(names + i) + 1) {
        if ((strncmp(names + i, "user.", 5) == 0
             || strncmp(names + i, "system.posix_acl_", 17) == 0)
            && fremovexattr(dfd, names + i) < 0)
            rc = -1;
    }
    return rc;
}

/*
 * Empties the tmpfs root r and puts its attributes back.  One that counts
 * a single inode, its root, holds nothing (any file, directory or link
 * counts one more): it is not read.
 */
static int root_clean(const struct tmpfs_root *r)
{
    struct timespec times[2];
    struct statfs fs;
    struct stat st;
    int dfd, sub, flags, rc = 0;

    if (!r->present)
        return 0;
    dfd = open(r->path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0)
        return -1;
    if (fstatfs(dfd, &fs) < 0 || fs.f_type != TMPFS_MAGIC || fs.f_files == 0
        || fs.f_files - fs.f_ffree != 1) {
        sub = fcntl(dfd, F_DUPFD_CLOEXEC, 0);
        if (sub < 0 || empty_dir(sub, 0) < 0)
            rc = -1;
    }
    if (root_xattrs_clear(dfd) < 0)
        rc = -1;
    /* after the emptying, which changed its times */
    if (fstat(dfd, &st) < 0) {
        rc = -1;
    } else {
        if ((st.st_mode & 07777) != r->mode && fchmod(dfd, r->mode) < 0)
            rc = -1;
        if (!same_time(st.st_atim, r->atime)
            || !same_time(st.st_mtim, r->mtime)) {
            times[0] = r->atime;
            times[1] = r->mtime;
            if (futimens(dfd, times) < 0)
                rc = -1;
        }
    }
    if (r->flags >= 0
        && (ioctl(dfd, FS_IOC_GETFLAGS, &flags) < 0
            || (flags != r->flags
                && ioctl(dfd, FS_IOC_SETFLAGS, &r->flags) < 0)))
        rc = -1;
    close(dfd);
    return rc;
}

/*
 * How many System V IPC objects of a kind the sandbox's IPC namespace
 * holds (its *_INFO counters: one call, where reading /proc/sysvipc costs
 * an open, reads and a close); -1 if it cannot tell.
 */
static int ipc_count(const char *what)
{
    struct shm_info shm;
    struct seminfo sem;
    struct msginfo msg;
    union {
        int val;
        struct semid_ds *buf;
        unsigned short *array;
        struct seminfo *__buf;
    } arg;

    if (what[1] == 'h')
        return shmctl(0, SHM_INFO, (struct shmid_ds *)(void *)&shm) < 0
               ? -1 : shm.used_ids;
    if (what[1] == 'e') {
        arg.__buf = &sem;
        return semctl(0, 0, SEM_INFO, arg) < 0 ? -1 : sem.semusz;
    }
    return msgctl(0, MSG_INFO, (struct msqid_ds *)(void *)&msg) < 0
           ? -1 : msg.msgpool;
}

/* Removes the System V IPC objects listed in /proc/sysvipc/<what>. */
static int remove_ipc(const char *what)
{
    char path[64], line[512];
    int rc = 0, key, id;
    FILE *f;

    if (ipc_count(what) == 0)
        return 0;       /* nothing to remove (the usual case) */

    snprintf(path, sizeof(path), "/proc/sysvipc/%s", what);
    f = fopen(path, "re");
    if (f == NULL)
        return -1;
    if (fgets(line, sizeof(line), f) == NULL) {    /* the header */
        fclose(f);
        return -1;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        if (sscanf(line, "%d %d", &key, &id) != 2)
            continue;
        if (what[1] == 'h')
            rc |= shmctl(id, IPC_RMID, NULL);
        else if (what[1] == 'e')
            rc |= semctl(id, 0, IPC_RMID);
        else
            rc |= msgctl(id, IPC_RMID, NULL);
    }
    fclose(f);
    return rc < 0 ? -1 : 0;
}

static int clean_up(void)
{
    int clean = 1;

    if (kill_the_rest() < 0) {
        fprintf(stderr, "sandbox init: processes survive SIGKILL\n");
        return 0;   /* nothing else can be trusted to stay removed */
    }
    if (root_clean(&roots[0]) < 0 || root_clean(&roots[1]) < 0) {
        say("emptying /tmp and /dev/shm");
        clean = 0;
    }
    if (remove_ipc("shm") < 0 || remove_ipc("sem") < 0
        || remove_ipc("msg") < 0) {
        say("removing System V IPC objects");
        clean = 0;
    }
    return clean;
}

/*
 * What a process of the sandbox may change of the init from outside: it
 * shares the init's uid, so it may renice it, change its scheduling
 * policy and attributes, CPU affinity or I/O priority, and the init
 * could not undo all of it (lowering nice needs a capability).  Every
 * later process would inherit it: a sandbox whose init changed is not
 * clean.
 */
struct sched_state {
    int nice;
    int policy;
    struct sched_param param;
    cpu_set_t cpus;
    long ioprio;
    /* sched_getattr's answer as it comes (SCHED_ATTR_SIZE_VER1): a time
     * slice or utilisation clamps set with sched_setattr leave the policy
     * and nice as they were */
    unsigned char attr[56];
};

static int sched_state_get(struct sched_state *st)
{
    memset(st, 0, sizeof(*st));
    errno = 0;
    st->nice = getpriority(PRIO_PROCESS, 0);
    if (errno != 0)
        return -1;
    st->policy = sched_getscheduler(0);
    st->ioprio = syscall(SYS_ioprio_get, 1 /* IOPRIO_WHO_PROCESS */, 0);
    if (st->policy < 0 || sched_getparam(0, &st->param) < 0
        || sched_getaffinity(0, sizeof(st->cpus), &st->cpus) < 0
        || st->ioprio < 0
        || syscall(SYS_sched_getattr, 0, st->attr, sizeof(st->attr), 0) < 0)
        return -1;
    return 0;
}

static struct sched_state sched_at_start;

static int sched_unchanged(void)
{
    struct sched_state now;

    return sched_state_get(&now) == 0
           && now.nice == sched_at_start.nice
           && now.policy == sched_at_start.policy
           && now.param.sched_priority == sched_at_start.param.sched_priority
           && CPU_EQUAL(&now.cpus, &sched_at_start.cpus)
           && now.ioprio == sched_at_start.ioprio
           && memcmp(now.attr, sched_at_start.attr, sizeof(now.attr)) == 0;
}

/* One RUN: receive, start, wait, clean up, answer.  -1 ends the init. */
static int serve_one(int ctl, char *buf)
{
    char cbuf[CMSG_SPACE(3 * sizeof(int))], done[SANDBOX_DONE_LEN];
    struct iovec iov = { buf, SANDBOX_MSG_MAX };
    struct msghdr msg = { 0 };
    struct sandbox_run run;
    struct cmsghdr *cm;
    int fds[3] = { -1, -1, -1 }, nfds = 0, status, i, ok, clean;
    char **env;
    ssize_t n;
    pid_t pid;

    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf;
    msg.msg_controllen = sizeof(cbuf);
    for (;;) {
        do
            n = recvmsg(ctl, &msg, MSG_CMSG_CLOEXEC);
        while (n < 0 && errno == EINTR);
        if (n <= 0)
            return n == 0 ? 1 : -1;     /* the executor is done with us */
        if (buf[0] != SANDBOX_CONNECT && buf[0] != SANDBOX_LISTEN)
            break;
        /* a LISTEN before the process; a CONNECT that crossed the end of
         * the last process: no process */
        if (msg.msg_controllen > 0 || answer(ctl, buf, (size_t)n, 0) < 0)
            return -1;
        msg.msg_controllen = sizeof(cbuf);
        msg.msg_flags = 0;
    }
    for (cm = CMSG_FIRSTHDR(&msg); cm != NULL; cm = CMSG_NXTHDR(&msg, cm)) {
        if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
            size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            if (k == 3 && nfds == 0) {
                memcpy(fds, CMSG_DATA(cm), sizeof(fds));
                nfds = 3;
            }
        }
    }
    ok = nfds == 3 && !(msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC))
         && sandbox_run_decode(buf, (size_t)n, &run) == 0;
    if (!ok) {
        fprintf(stderr, "sandbox init: malformed message\n");
        for (i = 0; i < nfds; i++)
            close(fds[i]);
        return -1;
    }
    /*
     * vfork: until the child execs it runs in our memory, so no page
     * table is copied and none of ours is write-protected (0.14 ms a
     * call on a 2-core VM, most of what a reused sandbox added to a bare
     * fork+exec; bench/README.md).  The child only dup2s, changes
     * directory and execs or _exits; environ, which it sets for execvp's
     * PATH search, is ours again here.
     */
    env = environ;
    pid = vfork();
    if (pid == 0)
        child(&run, fds);
    environ = env;
    for (i = 0; i < 3; i++)
        close(fds[i]);
    sandbox_run_free(&run);
    if (pid < 0) {
        say("fork");
        status = INIT_FAILED << 8;
    } else if (wait_for(ctl, pid, &status) < 0) {
        say("wait");
        return -1;
    }
    clean = clean_up();
    if (clean && !sched_unchanged()) {
        fprintf(stderr, "sandbox init: a function changed its scheduling\n");
        clean = 0;
    }
    sandbox_done_encode(done, status, clean);
    if (send(ctl, done, sizeof(done), MSG_NOSIGNAL) != sizeof(done))
        return -1;
    return 0;
}

int sandbox_init(int ctl)
{
    char ready = SANDBOX_READY, *buf;
    int rc;

    /*
     * The function runs under our uid (an unprivileged user namespace
     * maps one): not dumpable, this process's /proc entries (fd, mem,
     * environ) belong to root, and ptrace access (pidfd_getfd,
     * process_vm_readv, /proc/1/mem) needs CAP_SYS_PTRACE, which
     * nothing in the sandbox has.  Children are dumpable again once
     * they exec the function.
     */
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) {
        say("not dumpable");
        return INIT_FAILED;
    }
    /* nothing of ours reaches a function */
    if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) < 0) {
        say("close_range");
        return INIT_FAILED;
    }
    /*
     * Functions run under SCHED_BATCH: a function that the executor
     * wakes with a call does not preempt it, so the executor goes on
     * with the other calls ready in its loop and the function runs when
     * it sleeps (or on an idle core).  Their fair share of the CPU is the
     * same; a function may switch itself back, which changes nothing
     * else.
     */
    if (sched_setscheduler(0, SCHED_BATCH, &(struct sched_param) { 0 }) < 0) {
        say("SCHED_BATCH");
        return INIT_FAILED;
    }
    if (sched_state_get(&sched_at_start) < 0) {
        say("reading its scheduling");
        return INIT_FAILED;
    }
    if (root_note(&roots[0]) < 0 || root_note(&roots[1]) < 0) {
        say("reading /tmp and /dev/shm");
        return INIT_FAILED;
    }
    if (pipe2(chld_pipe, O_CLOEXEC | O_NONBLOCK) < 0
        || signal(SIGCHLD, on_sigchld) == SIG_ERR) {
        say("watching its children");
        return INIT_FAILED;
    }
    buf = malloc(SANDBOX_MSG_MAX);
    if (buf == NULL
        || send(ctl, &ready, 1, MSG_NOSIGNAL) != 1) {
        say("starting");
        return INIT_FAILED;
    }
    while ((rc = serve_one(ctl, buf)) == 0)
        ;
    free(buf);
    return rc > 0 ? 0 : INIT_FAILED;
}
