/*
 * Host ids of sandboxes: the range's check against the host's users, and
 * the allocation of one id per sandbox.
 */
#include "uid_range.h"
#include "errf.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
    return a < b + blen && b < a + alen;
}

/* "name:start:count" lines; a file that is not there holds nothing. */
static int check_sub_file(const char *path, uint32_t first, uint32_t count,
                          const char *owner, char *err, size_t errlen)
{
    unsigned long long start, n;
    char line[512], name[256];
    FILE *f = fopen(path, "re");
    int rc = 0;

    if (f == NULL)
        return 0;
    while (rc == 0 && fgets(line, sizeof(line), f) != NULL) {
        if (sscanf(line, "%255[^:]:%llu:%llu", name, &start, &n) == 3
            && overlaps(first, count, start, n)
            && (owner[0] == '\0' || strcmp(name, owner) != 0))
            rc = errf(err, errlen, "%s gives %s the ids %llu to %llu, which "
                      "overlap sandbox_uids", path, name, start,
                      start + n - 1);
    }
    fclose(f);
    return rc;
}

/*
 * The owner of a reservation must be a system user nobody logs in as:
 * whoever owns subordinate ids may map them (newuidmap), and so reach the
 * sandboxes' processes and files.
 */
static int owner_check(const char *owner, char *err, size_t errlen)
{
    struct passwd *pw = getpwnam(owner);
    const char *shell, *base;

    if (pw == NULL)
        return errf(err, errlen, "sandbox_uids_owner %s is no user of this "
                    "host", owner);
    shell = pw->pw_shell != NULL ? pw->pw_shell : "";
    base = strrchr(shell, '/') != NULL ? strrchr(shell, '/') + 1 : shell;
    if (pw->pw_uid == 0 || pw->pw_uid >= 1000
        || (strcmp(base, "nologin") != 0 && strcmp(base, "false") != 0))
        return errf(err, errlen, "sandbox_uids_owner %s must be a system "
                    "user (uid 1 to 999) whose shell is nologin or false: "
                    "it could map the ids its subordinate ranges give it",
                    owner);
    return 0;
}

int uid_range_check(uint32_t first, uint32_t count, const char *owner,
                    char *err, size_t errlen)
{
    struct passwd *pw;
    struct group *gr;
    int rc = 0;

    if (owner[0] != '\0' && owner_check(owner, err, errlen) < 0)
        return -1;

    setpwent();
    while (rc == 0 && (pw = getpwent()) != NULL) {
        if (overlaps(first, count, pw->pw_uid, 1)
            || overlaps(first, count, pw->pw_gid, 1))
            rc = errf(err, errlen, "user %s (uid %u, gid %u) has an id in "
                      "sandbox_uids", pw->pw_name, (unsigned)pw->pw_uid,
                      (unsigned)pw->pw_gid);
    }
    endpwent();
    setgrent();
    while (rc == 0 && (gr = getgrent()) != NULL) {
        if (overlaps(first, count, gr->gr_gid, 1))
            rc = errf(err, errlen, "group %s (gid %u) is in sandbox_uids",
                      gr->gr_name, (unsigned)gr->gr_gid);
    }
    endgrent();
    if (rc == 0)
        rc = check_sub_file("/etc/subuid", first, count, owner, err, errlen);
    if (rc == 0)
        rc = check_sub_file("/etc/subgid", first, count, owner, err, errlen);
    return rc;
}

int uid_range_lock(uint32_t first, uint32_t count, char *err, size_t errlen)
{
    static int fd = -1;
    struct flock fl;

    if (fd >= 0)
        close(fd);          /* a claim of ours from before (tests) */
    fd = open(UID_RANGE_LOCK_FILE, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
              0600);
    if (fd < 0)
        return errf(err, errlen, "cannot open %s: %s", UID_RANGE_LOCK_FILE,
                    strerror(errno));
    memset(&fl, 0, sizeof(fl));
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    fl.l_start = (off_t)first;
    fl.l_len = (off_t)count;
    if (fcntl(fd, F_SETLK, &fl) == 0)
        return 0;       /* the descriptor stays open: so does the claim */
    if (errno == EACCES || errno == EAGAIN) {
        if (fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK)
            errf(err, errlen, "sandbox_uids overlap those of another "
                 "executor of this host (pid %ld, from uid %lld): give "
                 "each executor a range of its own", (long)fl.l_pid,
                 (long long)fl.l_start);
        else
            errf(err, errlen, "sandbox_uids overlap those of another "
                 "executor of this host");
    } else {
        errf(err, errlen, "cannot lock %s: %s", UID_RANGE_LOCK_FILE,
             strerror(errno));
    }
    close(fd);
    fd = -1;
    return -1;
}

int uid_range_init(struct uid_range *r, uint32_t first, uint32_t count)
{
    memset(r, 0, sizeof(*r));
    r->bits = calloc((count + 7) / 8, 1);
    if (r->bits == NULL)
        return -1;
    r->first = first;
    r->count = count;
    return 0;
}

void uid_range_free(struct uid_range *r)
{
    free(r->bits);
    memset(r, 0, sizeof(*r));
}

uint32_t uid_range_take(struct uid_range *r)
{
    uint32_t i, k;

    if (r->used == r->count)
        return 0;
    /* round robin: an id just given back is the last to be given again */
    for (i = 0; i < r->count; i++) {
        k = (r->next + i) % r->count;
        if (!(r->bits[k / 8] & (1u << (k % 8)))) {
            r->bits[k / 8] |= (unsigned char)(1u << (k % 8));
            r->next = (k + 1) % r->count;
            r->used++;
            return r->first + k;
        }
    }
    return 0;
}

void uid_range_put(struct uid_range *r, uint32_t id)
{
    uint32_t k = id - r->first;

    if (id < r->first || k >= r->count
        || !(r->bits[k / 8] & (1u << (k % 8))))
        return;
    r->bits[k / 8] &= (unsigned char)~(1u << (k % 8));
    r->used--;
}
