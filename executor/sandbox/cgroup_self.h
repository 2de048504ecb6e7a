/*
 * A process's own cgroup, read from the text of /proc/<pid>/cgroup.
 */
#ifndef EXECUTOR_CGROUP_SELF_H
#define EXECUTOR_CGROUP_SELF_H

#include <stddef.h>

/*
 * Copies to out the path of the cgroup the text gives: the unified one's
 * ("0::/path") when controller is NULL, else that of the v1 hierarchy
 * whose controller list names controller ("4:cpu,cpuacct:/path").  The
 * path is absolute and has no "." or ".." part.  Returns 0, or -1 when
 * there is no such line, it is malformed, or out is too small.
 */
int cgroup_self_path(const char *text, const char *controller, char *out,
                     size_t size);

#endif
