/*
 * The socket files the executor listens on: one left by an earlier run,
 * and the owner and mode a new one gets.
 */
#include "unix_socket.h"
#include "errf.h"

#include <errno.h>
#include <grp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* errf() for an errno: "<what> <arg>: <strerror>". */
static int fail_errno(char *err, size_t errlen, const char *what,
                      const char *arg, int code)
{
    return errf(err, errlen, "%s %s: %s", what, arg, strerror(code));
}

/*
 * A socket file left by an earlier run is removed; one that still answers
 * belongs to a running executor and is left alone.
 */
int unix_socket_clear_stale(const char *path, int type, char *err,
                            size_t errlen)
{
    struct sockaddr_un sun;
    struct stat st;
    int fd, rc;

    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : fail_errno(err, errlen, "cannot stat",
                                                path, errno);
    if (!S_ISSOCK(st.st_mode)) {
        errf(err, errlen, "%s exists and is not a socket", path);
        return -1;
    }
    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sun.sun_path)) {
        errf(err, errlen, "socket path %s is too long", path);
        return -1;
    }
    memcpy(sun.sun_path, path, strlen(path));
    fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return fail_errno(err, errlen, "socket for", path, errno);
    rc = connect(fd, (struct sockaddr *)&sun, sizeof(sun));
    close(fd);
    if (rc == 0) {
        errf(err, errlen, "%s is in use by a running process", path);
        return -1;
    }
    if (unlink(path) < 0 && errno != ENOENT)
        return fail_errno(err, errlen, "cannot remove stale socket", path,
                          errno);
    return 0;
}

int unix_socket_access(const char *path, const struct config *cfg,
                       char *err, size_t errlen)
{
    if (cfg->listen_group[0] != '\0') {
        struct group *gr = getgrnam(cfg->listen_group);
        char *end;
        unsigned long gid;

        if (gr != NULL) {
            gid = gr->gr_gid;
        } else {
            gid = strtoul(cfg->listen_group, &end, 10);
            if (*end != '\0') {
                errf(err, errlen, "no such group \"%s\"",
                     cfg->listen_group);
                return -1;
            }
        }
        if (chown(path, (uid_t)-1, (gid_t)gid) < 0)
            return fail_errno(err, errlen, "cannot chown", path, errno);
    }
    if (chmod(path, cfg->listen_mode) < 0)
        return fail_errno(err, errlen, "cannot chmod", path, errno);
    return 0;
}
