/*
 * libFuzzer harness: an async call's message as it comes off the queue
 * (anything may: the queue is shared), its base64 body, and the message
 * rewritten for its next attempt, which must read back the same.
 */
#include "async_message.h"
#include "base64.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct async_message m, again;
    char err[256], *next;
    unsigned char out[64];
    size_t n;

    /* the decoder alone, on raw input of a size it can hold */
    if (size <= 80)
        base64_decode((const char *)data, size, out, &n);

    if (async_message_parse(data, size, &m, err, sizeof(err)) < 0)
        return 0;
    next = async_message_next(data, size, m.attempt + 1);
    if (next == NULL)
        __builtin_trap();
    if (async_message_parse(next, strlen(next), &again, err, sizeof(err)) < 0
        || again.attempt != m.attempt + 1 || again.body_len != m.body_len
        || memcmp(again.body, m.body, m.body_len) != 0
        || strcmp(again.call_id, m.call_id) != 0)
        __builtin_trap();
    async_message_free(&again);
    free(next);
    async_message_free(&m);
    return 0;
}
