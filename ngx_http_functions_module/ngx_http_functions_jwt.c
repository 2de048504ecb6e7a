
/*
 * HS256 JSON Web Tokens.
 */


#include "ngx_http_functions_jwt.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#define FUNCTIONS_JWT_MAX  8192         /* bytes of a whole token */


static int
functions_jwt_fail(char *err, size_t err_len, const char *reason)
{
    snprintf(err, err_len, "%s", reason);
    return -1;
}


/* base64url without padding; -1 on a byte outside its alphabet. */

static long
functions_jwt_b64url_decode(const char *src, size_t len, unsigned char *dst)
{
    size_t         i;
    long           n;
    int            v, bits;
    unsigned long  acc;

    acc = 0;
    bits = 0;
    n = 0;

    for (i = 0; i < len; i++) {
        char  c = src[i];

        if (c >= 'A' && c <= 'Z') {
            v = c - 'A';

        } else if (c >= 'a' && c <= 'z') {
            v = c - 'a' + 26;

        } else if (c >= '0' && c <= '9') {
            v = c - '0' + 52;

        } else if (c == '-') {
            v = 62;

        } else if (c == '_') {
            v = 63;

        } else {
            return -1;
        }

        acc = (acc << 6) | (unsigned long) v;
        bits += 6;

        if (bits >= 8) {
            bits -= 8;
            dst[n++] = (unsigned char) (acc >> bits);
            acc &= (1UL << bits) - 1;
        }
    }

    /* a lone sixth of a byte, or bits that should be zero, are not
     * base64url of anything */
    if (bits >= 6 || acc != 0) {
        return -1;
    }

    return n;
}


/* A decoded segment as a JSON object, or NULL. */

static json_t *
functions_jwt_json(const char *src, size_t len)
{
    long            n;
    json_t         *v;
    json_error_t    jerr;
    unsigned char  *buf;

    buf = malloc(len + 1);
    if (buf == NULL) {
        return NULL;
    }

    n = functions_jwt_b64url_decode(src, len, buf);
    if (n <= 0) {
        free(buf);
        return NULL;
    }

    v = json_loadb((const char *) buf, (size_t) n, JSON_REJECT_DUPLICATES,
                   &jerr);
    free(buf);

    if (v == NULL || !json_is_object(v)) {
        json_decref(v);
        return NULL;
    }

    return v;
}


/* A NumericDate claim: absent (1), a number (0, in *out), or bad (-1). */

static int
functions_jwt_time(json_t *payload, const char *name, double *out)
{
    json_t  *v = json_object_get(payload, name);

    if (v == NULL) {
        return 1;
    }

    if (!json_is_number(v)) {
        return -1;
    }

    *out = json_number_value(v);
    return 0;
}


int
functions_jwt_verify(const char *token, size_t len,
    const unsigned char *key, size_t key_len,
    const struct functions_jwt_rules *rules, long now, char *err,
    size_t err_len)
{
    int             rc, has_exp, require_exp, check_iat;
    long            sig_len, max_lifetime;
    double          t, exp, iat;
    json_t         *header, *payload, *alg;
    const char     *dot1, *dot2;
    unsigned int    mac_len;
    unsigned char   mac[EVP_MAX_MD_SIZE], sig[64];

    if (len == 0 || len > FUNCTIONS_JWT_MAX) {
        return functions_jwt_fail(err, err_len, "malformed token");
    }

    dot1 = memchr(token, '.', len);
    dot2 = dot1 ? memchr(dot1 + 1, '.', len - (dot1 + 1 - token)) : NULL;

    if (dot1 == NULL || dot2 == NULL
        || memchr(dot2 + 1, '.', len - (dot2 + 1 - token)) != NULL)
    {
        return functions_jwt_fail(err, err_len, "malformed token");
    }

    /* the header first: only HS256 is ever verified */
    header = functions_jwt_json(token, dot1 - token);
    if (header == NULL) {
        return functions_jwt_fail(err, err_len, "malformed token");
    }

    alg = json_object_get(header, "alg");
    rc = json_is_string(alg) && strcmp(json_string_value(alg), "HS256") == 0;
    json_decref(header);

    if (!rc) {
        return functions_jwt_fail(err, err_len,
                                  "token algorithm is not HS256");
    }

    /* 32 bytes of HMAC-SHA256 are 43 characters */
    if (len - (dot2 + 1 - token) != 43) {
        return functions_jwt_fail(err, err_len, "bad token signature");
    }

    sig_len = functions_jwt_b64url_decode(dot2 + 1, 43, sig);

    if (HMAC(EVP_sha256(), key, (int) key_len, (const unsigned char *) token,
             dot2 - token, mac, &mac_len) == NULL
        || sig_len != (long) mac_len
        || CRYPTO_memcmp(mac, sig, mac_len) != 0)
    {
        return functions_jwt_fail(err, err_len, "bad token signature");
    }

    /* signed by the key: now the claims */
    payload = functions_jwt_json(dot1 + 1, dot2 - dot1 - 1);
    if (payload == NULL) {
        return functions_jwt_fail(err, err_len, "malformed token claims");
    }

    require_exp = rules ? rules->require_exp : 1;
    max_lifetime = rules ? rules->max_lifetime : 0;
    check_iat = rules ? rules->check_iat : 0;

    rc = 0;
    has_exp = 0;
    exp = 0;

    switch (functions_jwt_time(payload, "exp", &exp)) {
    case -1:
        rc = functions_jwt_fail(err, err_len, "malformed token claims");
        break;
    case 0:
        has_exp = 1;
        if ((double) now >= exp + FUNCTIONS_JWT_LEEWAY) {
            rc = functions_jwt_fail(err, err_len, "token has expired");
        }
        break;
    default:
        /* valid forever: only if nothing asks for an end */
        if (require_exp || max_lifetime > 0) {
            rc = functions_jwt_fail(err, err_len, "token has no expiry");
        }
        break;
    }

    if (rc == 0) {
        switch (functions_jwt_time(payload, "nbf", &t)) {
        case -1:
            rc = functions_jwt_fail(err, err_len, "malformed token claims");
            break;
        case 0:
            if ((double) now + FUNCTIONS_JWT_LEEWAY < t) {
                rc = functions_jwt_fail(err, err_len,
                                        "token is not valid yet");
            }
            break;
        }
    }

    if (rc == 0 && check_iat) {
        switch (functions_jwt_time(payload, "iat", &iat)) {
        case -1:
            rc = functions_jwt_fail(err, err_len, "malformed token claims");
            break;
        case 0:
            if ((double) now + FUNCTIONS_JWT_LEEWAY < iat) {
                rc = functions_jwt_fail(err, err_len,
                                        "token is issued in the future");
            }
            break;
        }
    }

    if (rc == 0 && has_exp && max_lifetime > 0) {
        switch (functions_jwt_time(payload, "iat", &iat)) {
        case -1:
            rc = functions_jwt_fail(err, err_len, "malformed token claims");
            break;
        case 0:
            if (exp - iat > (double) max_lifetime) {
                rc = functions_jwt_fail(err, err_len,
                                        "token lifetime is too long");
            }
            break;
        }

        /* whatever "iat" says, what is left of it counts */
        if (rc == 0
            && exp - (double) now
               > (double) max_lifetime + FUNCTIONS_JWT_LEEWAY)
        {
            rc = functions_jwt_fail(err, err_len,
                                    "token lifetime is too long");
        }
    }

    json_decref(payload);

    return rc;
}
