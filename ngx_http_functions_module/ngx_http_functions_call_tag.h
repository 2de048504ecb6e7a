
/*
 * Async call ids that prove their own acceptance.  With
 * functions_async_key, the id of an async call is sealed when its body is
 * in and it is about to be published: its last CALL_TAG_CHARS characters
 * (30 of its 80 random bits) become an HMAC-SHA256 tag of the app and the
 * rest of the id, under the key.  GET /v1/apps/{app}/calls/{id} answers
 * "queued" for a sealed id of that app that has no record yet, so the
 * module writes no record of its own when it accepts a call: the message
 * in the broker is the call's record until an executor writes the row.
 * An id keeps the form of a ULID; 50 random bits remain to tell ids of
 * the same millisecond apart.  Plain C (no nginx types), so that a unit
 * test calls it directly.
 */


#ifndef _NGX_HTTP_FUNCTIONS_CALL_TAG_H_INCLUDED_
#define _NGX_HTTP_FUNCTIONS_CALL_TAG_H_INCLUDED_


#include <stddef.h>


#define FUNCTIONS_CALL_TAG_CHARS  6


/* Seals id (a ULID, ULID_LEN characters, changed in place) for app. */
int functions_call_tag_seal(char *id, const unsigned char *key,
    size_t key_len, const char *app, size_t app_len);

/* 1 when id[0 .. id_len) is a ULID sealed for app under key, else 0. */
int functions_call_tag_sealed(const char *id, size_t id_len,
    const unsigned char *key, size_t key_len, const char *app,
    size_t app_len);


#endif /* _NGX_HTTP_FUNCTIONS_CALL_TAG_H_INCLUDED_ */
