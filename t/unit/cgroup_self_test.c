/* A process's own cgroup from /proc/<pid>/cgroup (cgroup_self.c). */
#include "tap.h"
#include "cgroup_self.h"

#include <string.h>

int main(void)
{
    const char *hybrid =
        "12:pids:/system.slice/functions-executor.service\n"
        "11:cpu,cpuacct:/system.slice/functions-executor.service\n"
        "10:memory:/system.slice/functions-executor.service\n"
        "4:name=systemd:/system.slice/functions-executor.service\n"
        "0::/system.slice/functions-executor.service\n";
    const char *v2 = "0::/system.slice/functions-executor.service";
    char out[64], tiny[8];

    ok(cgroup_self_path(v2, NULL, out, sizeof(out)) == 0
       && strcmp(out, "/system.slice/functions-executor.service") == 0,
       "the unified line, without a newline at the end");
    ok(cgroup_self_path(hybrid, "memory", out, sizeof(out)) == 0
       && strcmp(out, "/system.slice/functions-executor.service") == 0,
       "a v1 controller");
    ok(cgroup_self_path(hybrid, "cpu", out, sizeof(out)) == 0,
       "a controller mounted with another (cpu,cpuacct)");
    ok(cgroup_self_path(hybrid, "cpuacct", out, sizeof(out)) == 0,
       "  either of them");
    ok(cgroup_self_path(hybrid, "systemd", out, sizeof(out)) < 0,
       "a name= hierarchy is not a controller");
    ok(cgroup_self_path(hybrid, "cpus", out, sizeof(out)) < 0,
       "a prefix of a name is not the name");
    ok(cgroup_self_path(v2, "memory", out, sizeof(out)) < 0,
       "no v1 line: none");
    ok(cgroup_self_path("4:memory:/a\n", NULL, out, sizeof(out)) < 0,
       "no unified line: none");
    ok(cgroup_self_path("0::/\n", NULL, out, sizeof(out)) == 0
       && strcmp(out, "/") == 0, "the root");
    ok(cgroup_self_path(v2, NULL, tiny, sizeof(tiny)) < 0,
       "a path longer than the room for it");
    ok(cgroup_self_path("0::/a/../b\n", NULL, out, sizeof(out)) < 0,
       "a .. part");
    ok(cgroup_self_path("0::/a/./b\n", NULL, out, sizeof(out)) < 0,
       "a . part");
    ok(cgroup_self_path("0::/a//b\n", NULL, out, sizeof(out)) < 0,
       "an empty part");
    ok(cgroup_self_path("0::a/b\n", NULL, out, sizeof(out)) < 0,
       "a relative path");
    ok(cgroup_self_path("0::\n", NULL, out, sizeof(out)) < 0, "no path");
    ok(cgroup_self_path("0:/a\n", NULL, out, sizeof(out)) < 0,
       "one colon");
    ok(cgroup_self_path("", NULL, out, sizeof(out)) < 0, "nothing");
    ok(cgroup_self_path("\n\n0::/x\n", NULL, out, sizeof(out)) == 0
       && strcmp(out, "/x") == 0, "empty lines first");
    ok(cgroup_self_path("10:memory:/a/\n", "memory", out, sizeof(out)) < 0,
       "a trailing slash");
    return done_testing();
}
