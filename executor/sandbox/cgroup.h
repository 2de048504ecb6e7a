/*
 * cgroups for sandboxes, v2 (unified) or v1 (memory, pids and cpu
 * hierarchies).  The executor creates and removes groups only under its
 * own directory, <root>/<base>/<name>/, and never touches any other.
 */
#ifndef EXECUTOR_CGROUP_H
#define EXECUTOR_CGROUP_H

#include <stddef.h>
#include <stdint.h>

#define CGROUP_PATH_MAX 512
#define CGROUP_MAX_DIRS 3           /* v1: memory, pids, cpu */
#define CGROUP_SELF_LEAF "executor" /* delegated v2: the executor's own */

struct cgroups {
    int v2;
    char root[CGROUP_PATH_MAX];     /* /sys/fs/cgroup (tests may differ) */
    char own[CGROUP_MAX_DIRS][CGROUP_PATH_MAX];     /* our directories */
    int ndirs;
    int have_cpu;
};

struct cgroup {
    char dirs[CGROUP_MAX_DIRS][CGROUP_PATH_MAX];
    int ndirs;
    int v2;
    /* kept open (read with pread after every call, where opening them
     * each time walks cgroupfs): its OOM counter and its task count;
     * valid when have_fds, each -1 if it could not be opened */
    int have_fds;
    int oom_fd;
    int tasks_fd;
};

/*
 * Finds the hierarchy under root, creates our directory base/name in it
 * (base may hold several parts, e.g. "functions/executor-1") and removes
 * what an earlier run of ours left there.  0, or -1 with err.
 *
 * delegated: base is taken below the executor's own cgroup (as systemd's
 * Delegate=yes gives a service one), not below root.  With v2, whose
 * groups with controllers for their children may hold no process, the
 * executor first moves itself into the leaf CGROUP_SELF_LEAF there.
 */
int cgroups_init(struct cgroups *cg, const char *root, const char *base,
                 int delegated, char *err, size_t errlen);

/* Removes every group of ours and our own directories (at exit). */
void cgroups_fini(struct cgroups *cg);

/* Creates one group with its limits (cpu_quota_pct 0: none). */
int cgroup_create(const struct cgroups *cg, const char *id,
                  uint64_t memory_bytes, uint64_t pids_max,
                  unsigned cpu_quota_pct, struct cgroup *g, char *err,
                  size_t errlen);

/* The files a process writes its pid to, to join the group. */
size_t cgroup_procs_files(const struct cgroup *g,
                          char files[CGROUP_MAX_DIRS][CGROUP_PATH_MAX]);

/* How many times the kernel's OOM killer struck in the group. */
long cgroup_oom_kills(const struct cgroup *g);

/*
 * How many tasks (processes and threads) the group holds now, as the
 * kernel counts them (pids.current); -1 if it cannot be read.
 */
long cgroup_tasks(const struct cgroup *g);

/* Kills every process of the group; returns how many were left alive. */
int cgroup_kill_all(const struct cgroup *g);

/* Kills what is left and removes the group's directories. */
int cgroup_destroy(const struct cgroup *g);

#endif
