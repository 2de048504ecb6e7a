/*
 * The host ids of sandboxes: a configured range, one uid (and the gid of
 * the same number) per sandbox, so that two functions cannot see each
 * other's processes even from the host, and nothing else on the host
 * shares an id with a function.
 */
#ifndef EXECUTOR_UID_RANGE_H
#define EXECUTOR_UID_RANGE_H

#include <stddef.h>
#include <stdint.h>

struct uid_range {
    uint32_t first;
    uint32_t count;
    uint32_t next;              /* where the search for a free one starts */
    uint32_t used;
    unsigned char *bits;        /* one per id: taken */
};

/*
 * Checks that no user or group of the host (the password and group
 * databases, /etc/subuid and /etc/subgid) has an id in the range.  The
 * subordinate ranges of owner (when not empty) are where the range is
 * reserved, not a conflict.  0, or -1 with err naming the first one found.
 */
int uid_range_check(uint32_t first, uint32_t count, const char *owner,
                    char *err, size_t errlen);

/*
 * Claims the range for this process among the executors of the host (a
 * byte-range lock on one file per host, released when the process ends):
 * two executors never hand out the same uid.  0, or -1 with err naming
 * the executor whose range overlaps.
 */
#define UID_RANGE_LOCK_FILE "/run/functions-sandbox-uids.lock"
int uid_range_lock(uint32_t first, uint32_t count, char *err, size_t errlen);

int uid_range_init(struct uid_range *r, uint32_t first, uint32_t count);
void uid_range_free(struct uid_range *r);

/* A free id, now taken (the least recently freed first); 0 if none. */
uint32_t uid_range_take(struct uid_range *r);
void uid_range_put(struct uid_range *r, uint32_t id);

#endif
