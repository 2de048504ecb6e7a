/*
 * An async call's message, as the nginx module publishes it: parsed and
 * checked here, with no I/O.
 *
 * {"call_id","app","path","route":{...},"method","url",
 *  "headers":[[name,value],...],"body":"<base64>","attempt":1,
 *  "enqueued_at":<ms>}
 */
#ifndef EXECUTOR_ASYNC_MESSAGE_H
#define EXECUTOR_ASYNC_MESSAGE_H

#include "sandbox_args.h"
#include "ulid.h"

#include <stddef.h>
#include <stdint.h>

struct async_message {
    char call_id[ULID_LEN + 1];
    char app[31];
    char path[256];
    char method[16];
    char *route;                    /* compact JSON, one line */
    char *url;
    struct strvec header_names;
    struct strvec header_values;
    unsigned char *body;
    size_t body_len;
    unsigned attempt;               /* 1 for the first */
    int64_t enqueued_at_ms;
};

/* 0, or -1 with a reason in err (the message is then dead-lettered). */
int async_message_parse(const void *data, size_t len,
                        struct async_message *m, char *err, size_t errlen);
void async_message_free(struct async_message *m);

/* The same message for its next attempt (malloc()ed JSON), or NULL. */
char *async_message_next(const void *data, size_t len, unsigned attempt);

#endif
