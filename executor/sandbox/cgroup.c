/*
 * cgroups for sandboxes.
 */
#include "cgroup.h"
#include "cgroup_self.h"
#include "errf.h"
#include "ulid.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int write_file(const char *dir, const char *file, const char *value)
{
    char path[CGROUP_PATH_MAX + 64];
    ssize_t n;
    int fd;

    snprintf(path, sizeof(path), "%s/%s", dir, file);
    fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    n = write(fd, value, strlen(value));
    close(fd);
    return n == (ssize_t)strlen(value) ? 0 : -1;
}

static int exists(const char *dir, const char *file)
{
    char path[CGROUP_PATH_MAX + 64];

    snprintf(path, sizeof(path), "%s/%s", dir, file);
    return access(path, F_OK) == 0;
}

/*
 * mkdir -p below root for each part of rel.  With cgroup v2, enable (the
 * controllers) is written to each parent's cgroup.subtree_control on the
 * way down, and to the last directory, so our groups get them.
 */
static int make_dirs(const char *root, const char *rel, char *out,
                     size_t size, const char *enable)
{
    char *copy = strdup(rel), *part, *save = NULL;
    size_t len;

    if (copy == NULL)
        return -1;
    len = (size_t)snprintf(out, size, "%s", root);
    for (part = strtok_r(copy, "/", &save); part != NULL;
         part = strtok_r(NULL, "/", &save)) {
        if (enable != NULL)
            write_file(out, "cgroup.subtree_control", enable);
        len += (size_t)snprintf(out + len, size - len, "/%s", part);
        if (len >= size || (mkdir(out, 0755) < 0 && errno != EEXIST)) {
            free(copy);
            return -1;
        }
    }
    free(copy);
    if (enable != NULL && write_file(out, "cgroup.subtree_control", enable) < 0)
        return -1;
    return 0;
}

static int kill_procs(const char *dir)
{
    char path[CGROUP_PATH_MAX + 64], line[32];
    FILE *f;
    int n = 0;

    snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
    f = fopen(path, "re");
    if (f == NULL)
        return 0;
    while (fgets(line, sizeof(line), f) != NULL) {
        long pid = strtol(line, NULL, 10);
        if (pid > 1 && kill((pid_t)pid, SIGKILL) == 0)
            n++;
    }
    fclose(f);
    return n;
}

/* Kills, waits for the kernel to reap (up to a second), removes one
 * directory. */
static int remove_group_dir(const char *dir, int v2)
{
    int i;

    if (v2 && exists(dir, "cgroup.kill"))
        write_file(dir, "cgroup.kill", "1");
    for (i = 0; i < 1000; i++) {
        if (rmdir(dir) == 0 || errno == ENOENT)
            return 0;
        if (errno != EBUSY)
            return -1;
        kill_procs(dir);
        usleep(1000);
    }
    return -1;
}

static void remove_children(const char *dir, int v2)
{
    char path[CGROUP_PATH_MAX + 300];
    struct dirent *d;
    DIR *dp = opendir(dir);

    if (dp == NULL)
        return;
    while ((d = readdir(dp)) != NULL) {
        /* a sandbox group is named by its call id; nothing else is ours */
        if (d->d_type != DT_DIR || !ulid_valid(d->d_name, strlen(d->d_name)))
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, d->d_name);
        remove_group_dir(path, v2);
    }
    closedir(dp);
}

/* Whether the space-separated list holds word ("cpu" is not "cpuset"). */
static int has_word(const char *list, const char *word)
{
    size_t n = strlen(word);
    const char *p = list;

    while ((p = strstr(p, word)) != NULL) {
        if ((p == list || p[-1] == ' ')
            && (p[n] == '\0' || p[n] == ' ' || p[n] == '\n'))
            return 1;
        p += n;
    }
    return 0;
}

/*
 * Where a hierarchy's groups of ours go: dir itself, or with delegated,
 * the executor's own group in it (controller NULL: the unified one).
 */
static int group_root(const char *dir, int delegated, const char *self,
                      const char *controller, char *out, size_t size,
                      char *err, size_t errlen)
{
    char rel[CGROUP_PATH_MAX];

    if (!delegated) {
        snprintf(out, size, "%s", dir);
        return 0;
    }
    if (cgroup_self_path(self, controller, rel, sizeof(rel)) < 0)
        return errf(err, errlen, "cgroup_delegated: /proc/self/cgroup "
                    "names no %s%s group of the executor", controller
                    ? controller : "unified", controller ? "" : " (v2)");
    if ((size_t)snprintf(out, size, "%s%s", dir,
                         strcmp(rel, "/") == 0 ? "" : rel) >= size)
        return errf(err, errlen, "cgroup path too long: %s%s", dir, rel);
    return 0;
}

/* Delegated v2: the executor leaves its group for a leaf below it. */
static int move_self(const char *own, char *err, size_t errlen)
{
    char leaf[CGROUP_PATH_MAX], pid[32];

    if ((size_t)snprintf(leaf, sizeof(leaf), "%s/" CGROUP_SELF_LEAF, own)
        >= sizeof(leaf))
        return errf(err, errlen, "cgroup path too long: %s", own);
    snprintf(pid, sizeof(pid), "%ld", (long)getpid());
    if ((mkdir(leaf, 0755) < 0 && errno != EEXIST)
        || write_file(leaf, "cgroup.procs", pid) < 0)
        return errf(err, errlen, "cgroup_delegated: cannot move the "
                    "executor into %s: %s", leaf, strerror(errno));
    return 0;
}

int cgroups_init(struct cgroups *cg, const char *root, const char *base,
                 int delegated, char *err, size_t errlen)
{
    static const char *const v1[] = { "memory", "pids", "cpu" };
    char path[CGROUP_PATH_MAX], top[CGROUP_PATH_MAX], self[4096] = "";
    int i;

    memset(cg, 0, sizeof(*cg));
    snprintf(cg->root, sizeof(cg->root), "%s", root);
    if (delegated) {
        size_t n = 0;
        FILE *f = fopen("/proc/self/cgroup", "re");

        if (f != NULL) {
            n = fread(self, 1, sizeof(self) - 1, f);
            fclose(f);
        }
        self[n] = '\0';
        /* a cut line could name a group above ours */
        if (n == sizeof(self) - 1)
            return errf(err, errlen, "cgroup_delegated: /proc/self/cgroup "
                        "is longer than %zu bytes", sizeof(self) - 1);
        if (strncmp(base, CGROUP_SELF_LEAF, sizeof(CGROUP_SELF_LEAF) - 1)
            == 0 && (base[sizeof(CGROUP_SELF_LEAF) - 1] == '\0'
                     || base[sizeof(CGROUP_SELF_LEAF) - 1] == '/'))
            return errf(err, errlen, "cgroup_delegated: cgroup_name may "
                        "not start with \"" CGROUP_SELF_LEAF "\", where "
                        "the executor itself goes");
    }
    cg->v2 = exists(root, "cgroup.controllers");
    if (cg->v2) {
        char controllers[256] = "";
        FILE *f;

        /* the controllers our own group may give (delegated), or the
         * root's */
        if (group_root(root, delegated, self, NULL, top, sizeof(top), err,
                       errlen) < 0)
            return -1;
        if ((size_t)snprintf(path, sizeof(path), "%s/cgroup.controllers",
                             top) >= sizeof(path))
            return errf(err, errlen, "cgroup path too long: %s", top);
        f = fopen(path, "re");
        if (f != NULL) {
            if (fgets(controllers, sizeof(controllers), f) == NULL)
                controllers[0] = '\0';
            fclose(f);
        }
        if (!has_word(controllers, "memory")
            || !has_word(controllers, "pids"))
            return errf(err, errlen, "cgroup v2 at %s lacks the memory or "
                        "pids controller", top);
        cg->have_cpu = has_word(controllers, "cpu");
        if (delegated && move_self(top, err, errlen) < 0)
            return -1;
        if (make_dirs(top, base, cg->own[0], sizeof(cg->own[0]),
                      cg->have_cpu ? "+memory +pids +cpu"
                                   : "+memory +pids") < 0)
            return errf(err, errlen, "cannot create %s/%s with the memory "
                        "and pids controllers: %s", top, base,
                        strerror(errno));
        cg->ndirs = 1;
    } else {
        for (i = 0; i < 3; i++) {
            char ctrl[CGROUP_PATH_MAX];

            snprintf(ctrl, sizeof(ctrl), "%s/%s", root, v1[i]);
            if (access(ctrl, F_OK) < 0) {
                if (i == 2)
                    break;      /* cpu is optional */
                return errf(err, errlen, "no cgroup v1 %s hierarchy at %s",
                            v1[i], ctrl);
            }
            if (group_root(ctrl, delegated, self, v1[i], top, sizeof(top),
                           err, errlen) < 0)
                return -1;
            if (make_dirs(top, base, cg->own[i], sizeof(cg->own[i]), NULL)
                < 0)
                return errf(err, errlen, "cannot create %s/%s: %s", top,
                            base, strerror(errno));
            cg->ndirs = i + 1;
        }
        cg->have_cpu = cg->ndirs == 3;
    }
    for (i = 0; i < cg->ndirs; i++)
        remove_children(cg->own[i], cg->v2);
    return 0;
}

void cgroups_fini(struct cgroups *cg)
{
    int i;

    for (i = 0; i < cg->ndirs; i++) {
        remove_children(cg->own[i], cg->v2);
        rmdir(cg->own[i]);
    }
    cg->ndirs = 0;
}

static int open_in(const char *dir, const char *file)
{
    char path[CGROUP_PATH_MAX + 64];

    snprintf(path, sizeof(path), "%s/%s", dir, file);
    return open(path, O_RDONLY | O_CLOEXEC);
}

static void open_counters(struct cgroup *g)
{
    g->oom_fd = open_in(g->dirs[0], g->v2 ? "memory.events"
                                          : "memory.oom_control");
    g->tasks_fd = g->ndirs < (g->v2 ? 1 : 2) ? -1
                  : open_in(g->dirs[g->v2 ? 0 : 1], "pids.current");
    g->have_fds = 1;
}

/* A counter file read again from its start; its length, or -1. */
static ssize_t read_counter(int fd, char *buf, size_t size)
{
    ssize_t n;

    if (fd < 0)
        return -1;
    do
        n = pread(fd, buf, size - 1, 0);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return -1;
    buf[n] = '\0';
    return n;
}

int cgroup_create(const struct cgroups *cg, const char *id,
                  uint64_t memory_bytes, uint64_t pids_max,
                  unsigned cpu_quota_pct, struct cgroup *g, char *err,
                  size_t errlen)
{
    char value[64];
    int i, ndirs = cg->ndirs;

    memset(g, 0, sizeof(*g));
    g->v2 = cg->v2;
    /* v1 without a CPU quota: no group in the cpu hierarchy (one mkdir,
     * one join and one rmdir less per sandbox) */
    if (!cg->v2 && cpu_quota_pct == 0 && ndirs > 2)
        ndirs = 2;
    for (i = 0; i < ndirs; i++) {
        snprintf(g->dirs[i], sizeof(g->dirs[i]), "%.400s/%.100s",
                 cg->own[i], id);
        if (mkdir(g->dirs[i], 0755) < 0) {
            errf(err, errlen, "cannot create cgroup %s: %s", g->dirs[i],
                 strerror(errno));
            g->ndirs = i;
            cgroup_destroy(g);
            return -1;
        }
        g->ndirs = i + 1;
    }
    snprintf(value, sizeof(value), "%llu", (unsigned long long)memory_bytes);
    if (cg->v2) {
        if (write_file(g->dirs[0], "memory.max", value) < 0)
            goto limit_failed;
        write_file(g->dirs[0], "memory.swap.max", "0");
        /* one OOM kill takes the whole sandbox */
        write_file(g->dirs[0], "memory.oom.group", "1");
        snprintf(value, sizeof(value), "%llu", (unsigned long long)pids_max);
        if (write_file(g->dirs[0], "pids.max", value) < 0)
            goto limit_failed;
        errno = 0;
        if (cpu_quota_pct > 0) {
            snprintf(value, sizeof(value), "%u 100000", cpu_quota_pct * 1000);
            if (!cg->have_cpu || write_file(g->dirs[0], "cpu.max", value) < 0)
                goto no_cpu;
        }
    } else {
        if (write_file(g->dirs[0], "memory.limit_in_bytes", value) < 0)
            goto limit_failed;
        if (exists(g->dirs[0], "memory.memsw.limit_in_bytes"))
            write_file(g->dirs[0], "memory.memsw.limit_in_bytes", value);
        write_file(g->dirs[0], "memory.swappiness", "0");
        snprintf(value, sizeof(value), "%llu", (unsigned long long)pids_max);
        if (write_file(g->dirs[1], "pids.max", value) < 0)
            goto limit_failed;
        errno = 0;
        if (cpu_quota_pct > 0) {
            snprintf(value, sizeof(value), "%u", cpu_quota_pct * 1000);
            if (g->ndirs != 3
                || write_file(g->dirs[2], "cpu.cfs_period_us", "100000") < 0
                || write_file(g->dirs[2], "cpu.cfs_quota_us", value) < 0)
                goto no_cpu;
        }
    }
    open_counters(g);
    return 0;

no_cpu:
    /* a quota was asked for: no sandbox runs without it */
    errf(err, errlen, "cannot set the CPU quota of cgroup %s (%s): set "
         "cpu_quota = 0 to run sandboxes without one", g->dirs[0],
         errno ? strerror(errno) : "no cpu controller");
    cgroup_destroy(g);
    return -1;

limit_failed:
    errf(err, errlen, "cannot set the limits of cgroup %s: %s", g->dirs[0],
         strerror(errno));
    cgroup_destroy(g);
    return -1;
}

size_t cgroup_procs_files(const struct cgroup *g,
                          char files[CGROUP_MAX_DIRS][CGROUP_PATH_MAX])
{
    int i;

    for (i = 0; i < g->ndirs; i++)
        snprintf(files[i], CGROUP_PATH_MAX, "%.490s/cgroup.procs",
                 g->dirs[i]);
    return (size_t)g->ndirs;
}

long cgroup_oom_kills(const struct cgroup *g)
{
    char buf[512], key[64], *line, *save = NULL;
    long value, kills = 0;

    /* opened with the group (cgroup_create): no file, no count */
    if (!g->have_fds || read_counter(g->oom_fd, buf, sizeof(buf)) < 0)
        return 0;
    for (line = strtok_r(buf, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        if (sscanf(line, "%63s %ld", key, &value) == 2
            && strcmp(key, "oom_kill") == 0)
            kills = value;
    }
    return kills;
}

long cgroup_tasks(const struct cgroup *g)
{
    char buf[32];
    long n;

    if (!g->have_fds || read_counter(g->tasks_fd, buf, sizeof(buf)) < 0
        || sscanf(buf, "%ld", &n) != 1)
        return -1;
    return n;
}

int cgroup_kill_all(const struct cgroup *g)
{
    int i, n = 0;

    if (g->ndirs == 0)
        return 0;
    if (g->v2 && exists(g->dirs[0], "cgroup.kill")) {
        write_file(g->dirs[0], "cgroup.kill", "1");
        return 0;
    }
    /* v1: the memory group holds every process of the sandbox */
    for (i = 0; i < 20; i++) {
        n = kill_procs(g->dirs[0]);
        if (n == 0)
            break;
    }
    return n;
}

int cgroup_destroy(const struct cgroup *g)
{
    int i, rc = 0;

    if (g->have_fds) {
        if (g->oom_fd >= 0)
            close(g->oom_fd);
        if (g->tasks_fd >= 0)
            close(g->tasks_fd);
    }

    cgroup_kill_all(g);
    for (i = g->ndirs - 1; i >= 0; i--) {
        if (remove_group_dir(g->dirs[i], g->v2) < 0)
            rc = -1;
    }
    return rc;
}
