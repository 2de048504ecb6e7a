
/*
 * Sealed async call ids: ngx_http_functions_call_tag.h.
 */


#include "ngx_http_functions_call_tag.h"
#include "ulid.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>


/* kept apart from every other use of the key's bytes (its NUL too) */
#define CALL_TAG_CONTEXT  "functions async call id"

#define CALL_TAG_HEAD     (ULID_LEN - FUNCTIONS_CALL_TAG_CHARS)

/* longer than any app's name (the API allows 30 characters) */
#define CALL_TAG_APP_MAX  255


/* The tag of id's head for app, as characters. */

static int
call_tag(char *tag, const char *id, const unsigned char *key,
    size_t key_len, const char *app, size_t app_len)
{
    int            i;
    size_t         n;
    unsigned int   mac_len;
    unsigned char  in[sizeof(CALL_TAG_CONTEXT) + CALL_TAG_APP_MAX + 1
                      + CALL_TAG_HEAD];
    unsigned char  mac[EVP_MAX_MD_SIZE];

    if (app_len > CALL_TAG_APP_MAX) {
        return -1;
    }

    /* the context, the app's name ended by a NUL (names hold none), and
     * the id's head (of fixed length) */
    n = sizeof(CALL_TAG_CONTEXT);
    memcpy(in, CALL_TAG_CONTEXT, n);
    memcpy(in + n, app, app_len);
    n += app_len;
    in[n++] = '\0';
    memcpy(in + n, id, CALL_TAG_HEAD);
    n += CALL_TAG_HEAD;

    if (HMAC(EVP_sha256(), key, (int) key_len, in, n, mac, &mac_len) == NULL
        || mac_len < FUNCTIONS_CALL_TAG_CHARS)
    {
        return -1;
    }

    /* 5 bits of each byte: 256 is a multiple of 32, no digit favoured */
    for (i = 0; i < FUNCTIONS_CALL_TAG_CHARS; i++) {
        tag[i] = ulid_digits[mac[i] & 31];
    }

    OPENSSL_cleanse(mac, sizeof(mac));

    return 0;
}


int
functions_call_tag_seal(char *id, const unsigned char *key, size_t key_len,
    const char *app, size_t app_len)
{
    return call_tag(id + CALL_TAG_HEAD, id, key, key_len, app, app_len);
}


int
functions_call_tag_sealed(const char *id, size_t id_len,
    const unsigned char *key, size_t key_len, const char *app,
    size_t app_len)
{
    char  tag[FUNCTIONS_CALL_TAG_CHARS];

    if (key_len == 0 || !ulid_valid(id, id_len)
        || memchr(app, '\0', app_len) != NULL
        || call_tag(tag, id, key, key_len, app, app_len) != 0)
    {
        return 0;
    }

    return CRYPTO_memcmp(tag, id + CALL_TAG_HEAD,
                         FUNCTIONS_CALL_TAG_CHARS) == 0;
}
