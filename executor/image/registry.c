/*
 * Images from registries (registry.h).
 */
#include "registry.h"
#include "registry_auth.h"
#include "registry_store.h"
#include "file_read.h"
#include "fs_tree.h"
#include "errf.h"
#include "image_ref.h"
#include "log.h"
#include "metrics.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#define ACCEPT_MANIFESTS                                                  \
    "Accept: " OCI_MEDIA_MANIFEST ", " OCI_MEDIA_INDEX ", "               \
    OCI_MEDIA_DOCKER_MANIFEST ", " OCI_MEDIA_DOCKER_LIST
#define REDIRECTS_MAX 5
#define TAGS_MAX 1024           /* tags whose digest is kept */
#define FAILURES_MAX 256        /* failed pulls remembered */
#define ATTEMPTS 3              /* tries of one request */
#define RETRY_FIRST_MS 250      /* the pause after the first, doubling */
#define BACKOFF_FIRST_MS 1000   /* pulls of a failed image: after this, */
#define BACKOFF_MAX_MS 30000    /* doubling up to this */

/* The settings, as the last configuration gave them. */
static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int inited;
    char default_registry[256];
    char default_namespace[128];
    char allowed[1024];
    char insecure[1024];
    char ca_file[CONFIG_PATH_MAX];
    uint64_t timeout_ms;
    uint64_t tag_ttl_ms;
    uint64_t manifest_max;
    uint64_t blob_max;
    uint64_t image_max;
    struct registry_cred creds[REGISTRY_CREDS_MAX];
    size_t ncreds;
    /* repositories being pulled now: "registry/repository" */
    char *busy[64];
    size_t nbusy;
    /* tag -> manifest, while fresh */
    struct tag_entry {
        char *key;              /* registry/repository:tag, or @digest */
        struct oci_descriptor manifest;
        uint64_t at_ms;
    } tags[TAGS_MAX];
    size_t ntags;
    /* key -> the last pull's failure, and the pause before the next */
    struct failure {
        char *key;
        enum image_error rc;
        char message[512];
        uint64_t at_ms, backoff_ms;
    } failures[FAILURES_MAX];
    size_t nfailures;
    uint64_t generation;        /* pulls ended */
} R = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

/* What one pull works with: a snapshot of the settings and its target. */
struct pull {
    struct image_ref ref;
    const char *name;           /* as the route says, for messages */
    char base[600];             /* http[s]://registry/v2/repository */
    int explicit;               /* the registry is in allowed_registries */
    char ca_file[CONFIG_PATH_MAX];
    uint64_t deadline_ms;       /* of the whole pull (monotonic) */
    size_t manifest_max;
    uint64_t blob_max;
    uint64_t image_max;         /* what all its blobs may take */
    char allowed[1024];         /* allowed_registries */
    struct registry_cred cred;  /* for this registry, if any */
    int have_cred;
    int auth_tried;
    char auth[8192];            /* "Authorization: ..." once earned */
    uint64_t *fetched;          /* bytes fetched (the fetchers share it) */
};

static uint64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The credentials file: not readable by others, parsed whole. */
static int load_creds(const char *path, struct registry_cred *out, size_t *n)
{
    struct stat st;
    char *text, err[256];
    size_t len;
    int rc;

    *n = 0;
    if (path[0] == '\0')
        return 0;
    if (stat(path, &st) < 0 || (st.st_mode & 0004)) {
        log_msg(LOG_LEVEL_ERROR, "registry_credentials_file must exist and "
                "not be readable by others (chmod 600)", path);
        return -1;
    }
    text = file_read(path, 64 * 1024, &len);
    if (text == NULL) {
        log_msg(LOG_LEVEL_ERROR, "cannot read registry_credentials_file",
                strerror(errno));
        return -1;
    }
    rc = registry_creds_parse(text, len, out, REGISTRY_CREDS_MAX, n, err,
                              sizeof(err));
    OPENSSL_cleanse(text, len);
    free(text);
    if (rc < 0) {
        log_msg(LOG_LEVEL_ERROR, "registry_credentials_file", err);
        return -1;
    }
    return 0;
}

int registry_configure(const struct config *cfg)
{
    static struct registry_cred creds[REGISTRY_CREDS_MAX];
    size_t ncreds;
    int rc;

    rc = load_creds(cfg->registry_credentials_file, creds, &ncreds);
    pthread_mutex_lock(&R.mu);
    if (!R.inited) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        R.inited = 1;
    }
    memcpy(R.default_registry, cfg->default_registry,
           sizeof(R.default_registry));
    memcpy(R.default_namespace, cfg->default_namespace,
           sizeof(R.default_namespace));
    memcpy(R.allowed, cfg->allowed_registries, sizeof(R.allowed));
    memcpy(R.insecure, cfg->insecure_registries, sizeof(R.insecure));
    memcpy(R.ca_file, cfg->registry_ca_file, sizeof(R.ca_file));
    R.timeout_ms = cfg->registry_timeout_ms;
    R.tag_ttl_ms = cfg->registry_tag_ttl_ms;
    R.manifest_max = cfg->registry_manifest_max;
    R.blob_max = cfg->layer_max_bytes;
    R.image_max = cfg->image_max_bytes;
    if (rc == 0) {      /* else the credentials read before stay */
        OPENSSL_cleanse(R.creds, sizeof(R.creds));
        memcpy(R.creds, creds, sizeof(R.creds));
        R.ncreds = ncreds;
    }
    OPENSSL_cleanse(creds, sizeof(creds));
    pthread_mutex_unlock(&R.mu);
    return rc;
}

/* ----------------------------------------------------------- addresses */

int registry_address_private(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        const unsigned char *a = (const unsigned char *)
            &((const struct sockaddr_in *)sa)->sin_addr;

        return a[0] == 0 || a[0] == 10 || a[0] == 127
               || (a[0] == 100 && (a[1] & 0xc0) == 64)
               || (a[0] == 169 && a[1] == 254)
               || (a[0] == 172 && (a[1] & 0xf0) == 16)
               || (a[0] == 192 && a[1] == 168)
               || (a[0] == 192 && a[1] == 0 && a[2] == 0)
               || (a[0] == 198 && (a[1] & 0xfe) == 18)
               || a[0] >= 224;
    }
    if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)
                                         ->sin6_addr;
        const unsigned char *a = a6->s6_addr;
        struct sockaddr_in v4;

        if (IN6_IS_ADDR_V4MAPPED(a6) || IN6_IS_ADDR_V4COMPAT(a6)) {
            memset(&v4, 0, sizeof(v4));
            v4.sin_family = AF_INET;
            memcpy(&v4.sin_addr, a + 12, 4);
            return registry_address_private((struct sockaddr *)&v4);
        }
        /* forms that carry an IPv4 address another way (NAT64 64:ff9b::/96
         * and 64:ff9b:1::/48, 6to4 2002::/16, Teredo 2001::/32, SIIT
         * ::ffff:0:0:0/96) and the discard prefix 100::/64: refused
         * rather than decoded */
        if ((a[0] == 0x00 && a[1] == 0x64 && a[2] == 0xff && a[3] == 0x9b)
            || (a[0] == 0x20 && a[1] == 0x02)
            || (a[0] == 0x20 && a[1] == 0x01 && a[2] == 0 && a[3] == 0)
            || (a[0] == 0x01 && a[1] == 0x00 && a[2] == 0 && a[3] == 0
                && a[4] == 0 && a[5] == 0 && a[6] == 0 && a[7] == 0)
            || (memcmp(a, "\0\0\0\0\0\0\0\0\xff\xff\0\0", 12) == 0))
            return 1;
        return IN6_IS_ADDR_UNSPECIFIED(a6) || IN6_IS_ADDR_LOOPBACK(a6)
               || IN6_IS_ADDR_LINKLOCAL(a6) || IN6_IS_ADDR_SITELOCAL(a6)
               || IN6_IS_ADDR_MULTICAST(a6) || (a[0] & 0xfe) == 0xfc;
    }
    return 1;   /* no other family reaches a registry */
}

/* ------------------------------------------------------------ requests */

struct request {
    const struct pull *p;
    const char *auth;           /* an Authorization line of its own */
    const char *auth_origin;    /* the URL whose origin it is for (NULL:
                                 * the registry's) */
    CURL *curl;                 /* a handle to reuse, or NULL: one each */
    int explicit;               /* this URL's host may be private */
    /* the answer */
    long status;
    char location[2048];
    char content_type[OCI_MEDIA_TYPE_MAX];
    char challenge[2048];       /* WWW-Authenticate of a 401 */
    char refused[160];          /* why a connection was refused */
    int transient;              /* get() failed, but a retry may not */
    /* into memory, or into a file while hashing */
    char *buf;
    size_t len, max;
    int fd;
    EVP_MD_CTX *md;
    uint64_t written, limit;
    int over;                   /* more than max or limit */
};

static curl_socket_t open_socket(void *arg, curlsocktype purpose,
                                 struct curl_sockaddr *a)
{
    struct request *q = arg;
    curl_socket_t fd;

    (void)purpose;
    if (!q->explicit && registry_address_private(&a->addr)) {
        snprintf(q->refused, sizeof(q->refused), "it connects to a "
                 "loopback, private or link-local address, and is not "
                 "listed in allowed_registries");
        return CURL_SOCKET_BAD;
    }
    /* close-on-exec: a sandbox started meanwhile must not inherit it */
    fd = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
    return fd < 0 ? CURL_SOCKET_BAD : fd;
}

static size_t on_header(char *line, size_t size, size_t n, void *arg)
{
    struct request *q = arg;
    size_t len = size * n, vlen;
    const char *v;
    char *dst;
    size_t cap;

    if (len > 9 && strncasecmp(line, "Location:", 9) == 0) {
        dst = q->location;
        cap = sizeof(q->location);
        v = line + 9;
    } else if (len > 13 && strncasecmp(line, "Content-Type:", 13) == 0) {
        dst = q->content_type;
        cap = sizeof(q->content_type);
        v = line + 13;
    } else if (len > 17
               && strncasecmp(line, "WWW-Authenticate:", 17) == 0) {
        if (q->challenge[0] != '\0')
            return len;     /* the first challenge header */
        dst = q->challenge;
        cap = sizeof(q->challenge);
        v = line + 17;
    } else {
        return len;
    }
    while (v < line + len && (*v == ' ' || *v == '\t'))
        v++;
    vlen = (size_t)(line + len - v);
    while (vlen > 0 && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n'
                        || v[vlen - 1] == ' '))
        vlen--;
    if (dst == q->content_type) {
        const char *semi = memchr(v, ';', vlen);

        if (semi != NULL)
            vlen = (size_t)(semi - v);
    }
    if (vlen >= cap)
        vlen = 0;       /* too long to be one we follow or accept */
    memcpy(dst, v, vlen);
    dst[vlen] = '\0';
    return len;
}

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
    struct request *q = arg;
    size_t len = size * n;

    if (q->status == 0 || q->status >= 300)
        return len;             /* an error page or a redirect: dropped */
    if (q->fd >= 0) {
        if (q->written + len > q->limit) {
            q->over = 1;
            return 0;           /* stops the transfer */
        }
        if (EVP_DigestUpdate(q->md, data, len) != 1
            || write(q->fd, data, len) != (ssize_t)len)
            return 0;
        q->written += len;
        return len;
    }
    if (q->len + len > q->max) {
        q->over = 1;
        return 0;
    }
    if (q->buf == NULL) {
        q->buf = malloc(q->max + 1);
        if (q->buf == NULL)
            return 0;
    }
    memcpy(q->buf + q->len, data, len);
    q->len += len;
    return len;
}

static size_t on_status_seen(char *line, size_t size, size_t n, void *arg)
{
    struct request *q = arg;

    /* the status of the answer being read: after a 100, the next one */
    if (size * n > 9 && strncmp(line, "HTTP/", 5) == 0) {
        const char *sp = memchr(line, ' ', size * n);

        q->status = sp != NULL ? strtol(sp + 1, NULL, 10) : 0;
        q->location[0] = q->content_type[0] = q->challenge[0] = '\0';
        return size * n;
    }
    return on_header(line, size, n, arg);
}

/* The length of url's "scheme://host[:port]". */
static size_t origin_len(const char *url)
{
    const char *host = strstr(url, "://");

    host = host != NULL ? host + 3 : url;
    return (size_t)(host - url) + strcspn(host, "/");
}

/* Whether url is on the registry itself (scheme, host and port). */
static int same_origin(const struct pull *p, const char *url)
{
    size_t n = origin_len(p->base);

    return strncmp(url, p->base, n) == 0 && (url[n] == '/' || url[n] == '\0');
}

/* Whether url's host[:port] is in allowed_registries (may be private). */
static int origin_listed(const struct pull *p, const char *url)
{
    const char *host = strstr(url, "://");
    char hp[256];
    size_t n;

    host = host != NULL ? host + 3 : url;
    n = strcspn(host, "/?#");
    if (n == 0 || n >= sizeof(hp) || memchr(host, '@', n) != NULL)
        return 0;
    memcpy(hp, host, n);
    hp[n] = '\0';
    return config_registry_listed(p->allowed, hp);
}

/*
 * GET url (following redirects, each checked), the answer into q.
 * Returns 0 with q->status set, or -1 with err (no answer).
 */
static int get(struct request *q, const char *first_url,
               const char *accept, char *err, size_t errlen)
{
    const struct pull *p = q->p;
    char url[2048];
    struct curl_slist *h = NULL;
    CURL *c;
    CURLcode rc;
    uint64_t now;
    long left;
    int hops;

    snprintf(url, sizeof(url), "%s", first_url);
    for (hops = 0; hops <= REDIRECTS_MAX; hops++) {
        /* one deadline for the whole pull, redirects included */
        now = now_ms();
        if (now >= p->deadline_ms)
            return errf(err, errlen, "registry_timeout reached");
        left = (long)(p->deadline_ms - now);
        /* a fetcher's own handle keeps its connections for the next
         * blob (a TLS handshake each saved); its options start afresh */
        if (q->curl != NULL)
            curl_easy_reset(q->curl);
        c = q->curl != NULL ? q->curl : curl_easy_init();
        if (c == NULL)
            return errf(err, errlen, "out of memory");
        h = NULL;
        if (accept != NULL)
            h = curl_slist_append(h, accept);
        /* credentials go to the registry itself, never to a redirect's
         * host; q->auth: a token request's own, for q->auth_origin if
         * set (a realm's own credentials, to it only) */
        if (q->auth_origin != NULL) {
            if (origin_len(url) == origin_len(q->auth_origin)
                && strncmp(url, q->auth_origin, origin_len(url)) == 0)
                h = curl_slist_append(h, q->auth);
        } else if (same_origin(p, url)
                   && (q->auth != NULL || p->auth[0] != '\0')) {
            h = curl_slist_append(h, q->auth != NULL ? q->auth : p->auth);
        }
        q->explicit = same_origin(p, url) ? p->explicit
                      : origin_listed(p, url);
        q->status = 0;
        q->transient = 0;
        q->location[0] = q->refused[0] = '\0';
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        /* no proxy from the environment: the address check below must
         * see the registry's own address */
        curl_easy_setopt(c, CURLOPT_PROXY, "");
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                         left < 10000 ? left : 10000L);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, left);
        /* a registry that trickles is as good as gone */
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1024L);
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 30L);
        curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, open_socket);
        curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, q);
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_status_seen);
        curl_easy_setopt(c, CURLOPT_HEADERDATA, q);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, q);
        curl_easy_setopt(c, CURLOPT_USERAGENT, "functions-executor");
        if (p->ca_file[0] != '\0')
            curl_easy_setopt(c, CURLOPT_CAINFO, p->ca_file);
        if (h != NULL)
            curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
        rc = curl_easy_perform(c);
        if (q->curl == NULL)
            curl_easy_cleanup(c);
        curl_slist_free_all(h);
        if (q->over)
            return errf(err, errlen, "the registry sent more than the "
                        "document or blob may hold");
        if (q->refused[0] != '\0')
            return errf(err, errlen, "%s", q->refused);
        if (rc != CURLE_OK) {
            q->transient = rc == CURLE_COULDNT_CONNECT
                           || rc == CURLE_SEND_ERROR
                           || rc == CURLE_RECV_ERROR
                           || rc == CURLE_GOT_NOTHING
                           || rc == CURLE_PARTIAL_FILE;
            return errf(err, errlen, "%s", curl_easy_strerror(rc));
        }
        if (q->status < 300 || q->status >= 400 || q->status == 304)
            return 0;
        /* a redirect: to http(s) only, and never back to plain HTTP from
         * HTTPS; credentials follow it only within the registry's own
         * origin (above) */
        if (q->location[0] == '\0')
            return errf(err, errlen, "a redirect without a location");
        if (q->location[0] == '/' && q->location[1] != '/') {
            size_t n = origin_len(url);

            if (n + strlen(q->location) >= sizeof(url))
                return errf(err, errlen, "a redirect too long");
            memmove(url + n, q->location, strlen(q->location) + 1);
        } else if (strncmp(q->location, "https://", 8) == 0
                   || (strncmp(q->location, "http://", 7) == 0
                       && strncmp(url, "http://", 7) == 0)) {
            snprintf(url, sizeof(url), "%s", q->location);
        } else {
            return errf(err, errlen, "a redirect to a scheme or place the "
                        "executor does not follow");
        }
    }
    return errf(err, errlen, "more than %d redirects", REDIRECTS_MAX);
}

/* ------------------------------------------------------- credentials */

/* "Authorization: Basic <user:password in base64>" into line. */
static int basic_line(const struct registry_cred *cred, char *line,
                      size_t size)
{
    char plain[sizeof(cred->user) + sizeof(cred->password) + 2];
    int n = snprintf(plain, sizeof(plain), "%s:%s", cred->user,
                     cred->password);
    size_t need = 21 + 4 * (((size_t)n + 2) / 3) + 1;

    if (n < 0 || need > size) {
        OPENSSL_cleanse(plain, sizeof(plain));
        return -1;
    }
    memcpy(line, "Authorization: Basic ", 21);
    EVP_EncodeBlock((unsigned char *)line + 21, (unsigned char *)plain, n);
    OPENSSL_cleanse(plain, sizeof(plain));
    return 0;
}

/*
 * Earns p->auth from a 401's challenge: Basic with this registry's
 * credentials, or a Bearer token from the challenge's realm (asked with
 * the credentials only when the realm is the registry itself).  0, or -1
 * with err.
 */
/*
 * The credentials registry_credentials_file gives for url's own host[:port]
 * (a token realm's): 1 with a copy in *out, or 0.
 */
static int realm_cred(const char *url, struct registry_cred *out)
{
    const char *host = strstr(url, "://");
    size_t n, i;
    int found = 0;

    host = host != NULL ? host + 3 : url;
    n = strcspn(host, "/?#");
    if (n == 0 || memchr(host, '@', n) != NULL)
        return 0;
    pthread_mutex_lock(&R.mu);
    for (i = 0; i < R.ncreds && !found; i++) {
        if (strlen(R.creds[i].registry) == n
            && strncasecmp(R.creds[i].registry, host, n) == 0) {
            *out = R.creds[i];
            found = 1;
        }
    }
    pthread_mutex_unlock(&R.mu);
    return found;
}

static int authenticate(struct pull *p, const char *challenge, char *err,
                        size_t errlen)
{
    struct www_auth wa;
    struct request tq;
    struct registry_cred realm;
    char *url = NULL, *service = NULL, *scope = NULL, basic[2048] = "";
    char why[256];
    const char *token;
    json_t *root = NULL;
    CURL *c;
    int rc = -1;
    size_t i, n;

    memset(&tq, 0, sizeof(tq));
    if (www_auth_parse(challenge, strlen(challenge), &wa) < 0)
        return errf(err, errlen, "the registry asks for credentials in a "
                    "way this executor does not speak");
    if (wa.scheme == WWW_AUTH_BASIC) {
        if (!p->have_cred)
            return errf(err, errlen, "the registry asks for credentials, "
                        "and registry_credentials_file has none for %s",
                        p->ref.registry);
        if (basic_line(&p->cred, p->auth, sizeof(p->auth)) < 0)
            return errf(err, errlen, "the credentials are too long");
        return 0;
    }
    /* Bearer: the realm over HTTPS, or plain HTTP if the registry is */
    if (strncmp(wa.realm, "https://", 8) != 0
        && !(strncmp(wa.realm, "http://", 7) == 0
             && strncmp(p->base, "http://", 7) == 0))
        return errf(err, errlen, "the registry's token realm is not an "
                    "https:// URL");
    c = curl_easy_init();
    if (c == NULL)
        return errf(err, errlen, "out of memory");
    if (wa.scope[0] == '\0')
        snprintf(wa.scope, sizeof(wa.scope), "repository:%s:pull",
                 p->ref.repository);
    service = curl_easy_escape(c, wa.service, 0);
    scope = curl_easy_escape(c, wa.scope, 0);
    n = strlen(wa.realm) + (service ? strlen(service) : 0)
        + (scope ? strlen(scope) : 0) + 32;
    url = service && scope ? malloc(n) : NULL;
    if (url == NULL) {
        errf(err, errlen, "out of memory");
        goto out;
    }
    snprintf(url, n, "%s%cservice=%s&scope=%s", wa.realm,
             strchr(wa.realm, '?') ? '&' : '?', service, scope);
    tq.p = p;
    tq.fd = -1;
    tq.max = 64 * 1024;
    /* credentials go with the token request to the host they are given
     * for: the registry's own, or the realm's own (a token service of
     * its own host, as Docker Hub's auth.docker.io) */
    if (p->have_cred && same_origin(p, url)) {
        if (basic_line(&p->cred, basic, sizeof(basic)) < 0) {
            errf(err, errlen, "the credentials are too long");
            goto out;
        }
        tq.auth = basic;
    } else if (realm_cred(url, &realm)) {
        rc = basic_line(&realm, basic, sizeof(basic));
        OPENSSL_cleanse(&realm, sizeof(realm));
        if (rc < 0) {
            errf(err, errlen, "the credentials are too long");
            goto out;
        }
        rc = -1;
        tq.auth = basic;
        tq.auth_origin = url;
    }
    if (get(&tq, url, "Accept: application/json", why, sizeof(why)) < 0) {
        errf(err, errlen, "the token service: %s", why);
        goto out;
    }
    if (tq.status != 200 || tq.buf == NULL) {
        errf(err, errlen, "the token service answered %ld", tq.status);
        goto out;
    }
    root = json_loadb(tq.buf, tq.len, 0, NULL);
    token = json_string_value(json_object_get(root, "token"));
    if (token == NULL)
        token = json_string_value(json_object_get(root, "access_token"));
    n = token != NULL ? strlen(token) : 0;
    for (i = 0; i < n; i++) {
        if (token[i] <= ' ' || token[i] >= 0x7f)
            break;
    }
    if (n == 0 || i < n || n + 23 >= sizeof(p->auth)) {
        errf(err, errlen, "the token service sent no usable token");
        goto out;
    }
    snprintf(p->auth, sizeof(p->auth), "Authorization: Bearer %s", token);
    rc = 0;
out:
    if (tq.buf != NULL) {
        OPENSSL_cleanse(tq.buf, tq.len);
        free(tq.buf);
    }
    OPENSSL_cleanse(basic, sizeof(basic));
    json_decref(root);
    curl_free(service);
    curl_free(scope);
    free(url);
    curl_easy_cleanup(c);
    return rc;
}

/* GET of the registry, earning credentials once if it answers 401. */
static int get_authorized(struct pull *p, struct request *q,
                          const char *url, const char *accept, char *err,
                          size_t errlen)
{
    if (get(q, url, accept, err, errlen) < 0)
        return -1;
    if (q->status != 401 || p->auth_tried)
        return 0;
    p->auth_tried = 1;
    if (authenticate(p, q->challenge, err, errlen) < 0)
        return -1;
    q->len = 0;
    q->over = 0;
    return get(q, url, accept, err, errlen);
}

/* ------------------------------------------------------------- the pull */

/*
 * After a failed attempt (get() failed, or answered q->status): whether
 * to try again, having waited.  A registry that could not be reached for
 * a moment, or said it was overloaded, gets ATTEMPTS tries with a pause
 * that doubles, within the pull's deadline.
 */
static int retry_after(const struct pull *p, int attempt, int failed,
                       const struct request *q)
{
    uint64_t pause = (uint64_t)RETRY_FIRST_MS << attempt;

    if (attempt + 1 >= ATTEMPTS)
        return 0;
    if (failed ? !q->transient
               : !(q->status >= 500 && q->status != 501)
                 && q->status != 429)
        return 0;
    if (now_ms() + pause >= p->deadline_ms)
        return 0;
    usleep((useconds_t)(pause * 1000));
    return 1;
}

/* Fetches a blob into the store, checked against d as it streams in. */
static enum image_error fetch_blob(const struct pull *p, CURL *curl,
                                   const struct oci_descriptor *d,
                                   char *err, size_t errlen)
{
    struct request q;
    char url[900], path[256], tmp[300], got[OCI_DIGEST_MAX], why[256];
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0, i;
    enum image_error rc = IMAGE_BROKEN;
    int attempt, failed;

    if (d->size < 0 || (uint64_t)d->size > p->blob_max) {
        errf(err, errlen, "image \"%s\": blob %s is larger than "
             "layer_max_bytes (%llu bytes)", p->name, d->digest,
             (unsigned long long)p->blob_max);
        return IMAGE_TOO_LARGE;
    }
    registry_store_blob_path(path, sizeof(path), d->digest);
    snprintf(tmp, sizeof(tmp), "%s" REGISTRY_TEMP "%lu", path,
             (unsigned long)pthread_self());
    memset(&q, 0, sizeof(q));
    q.p = p;
    q.curl = curl;
    q.limit = (uint64_t)d->size;
    q.md = EVP_MD_CTX_new();
    q.fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                0644);
    if (q.md == NULL || q.fd < 0) {
        errf(err, errlen, "image \"%s\": cannot store blob %s: %s", p->name,
             d->digest, strerror(errno));
        rc = IMAGE_IO;
        goto out;
    }
    snprintf(url, sizeof(url), "%s/blobs/%s", p->base, d->digest);
    for (attempt = 0;; attempt++) {
        /* each attempt from the first byte */
        q.written = 0;
        if (EVP_DigestInit_ex(q.md, EVP_sha256(), NULL) != 1
            || lseek(q.fd, 0, SEEK_SET) < 0 || ftruncate(q.fd, 0) < 0) {
            errf(err, errlen, "image \"%s\": cannot store blob %s: %s",
                 p->name, d->digest, strerror(errno));
            rc = IMAGE_IO;
            goto out;
        }
        failed = get(&q, url, NULL, why, sizeof(why)) < 0;
        if (!failed && q.status == 200)
            break;
        if (!retry_after(p, attempt, failed, &q))
            break;
    }
    if (failed) {
        errf(err, errlen, "image \"%s\": blob %s: %s", p->name, d->digest,
             why);
        goto out;
    }
    if (q.status != 200) {
        errf(err, errlen, "image \"%s\": blob %s: the registry answered %ld",
             p->name, d->digest, q.status);
        rc = q.status == 404 ? IMAGE_NOT_FOUND : IMAGE_BROKEN;
        goto out;
    }
    EVP_DigestFinal_ex(q.md, md, &n);
    strcpy(got, "sha256:");
    for (i = 0; i < n; i++)
        sprintf(got + 7 + 2 * i, "%02x", md[i]);
    if (q.written != (uint64_t)d->size || strcmp(got, d->digest) != 0) {
        errf(err, errlen, "image \"%s\": blob %s from the registry does not "
             "match its digest or size", p->name, d->digest);
        goto out;
    }
    /* no fsync: a blob a crash damaged is refused by its digest when it
     * is unpacked, and removed then (image_store.c) */
    if (close(q.fd) < 0 || rename(tmp, path) < 0) {
        q.fd = -1;
        errf(err, errlen, "image \"%s\": cannot store blob %s: %s", p->name,
             d->digest, strerror(errno));
        rc = IMAGE_IO;
        goto out;
    }
    q.fd = -1;
    __atomic_add_fetch(p->fetched, q.written, __ATOMIC_RELAXED);
    rc = IMAGE_OK;
out:
    if (q.fd >= 0)
        close(q.fd);
    if (rc != IMAGE_OK)
        unlink(tmp);
    EVP_MD_CTX_free(q.md);
    return rc;
}

/*
 * Fetches the manifest named by what (a tag or a digest) into memory:
 * *doc (malloc()ed), its digest and media type in *d.
 */
static enum image_error fetch_manifest(struct pull *p, const char *what,
                                       char **doc, size_t *len,
                                       struct oci_descriptor *d,
                                       char *err, size_t errlen)
{
    struct request q;
    char url[900], why[256];
    int attempt, failed;

    memset(&q, 0, sizeof(q));
    q.p = p;
    q.fd = -1;
    q.max = p->manifest_max;
    snprintf(url, sizeof(url), "%s/manifests/%s", p->base, what);
    for (attempt = 0;; attempt++) {
        q.len = 0;
        q.over = 0;
        failed = get_authorized(p, &q, url, ACCEPT_MANIFESTS, why,
                                sizeof(why)) < 0;
        if ((!failed && q.status == 200)
            || !retry_after(p, attempt, failed, &q))
            break;
    }
    if (failed) {
        free(q.buf);
        errf(err, errlen, "image \"%s\": the registry %s: %s", p->name,
             p->ref.registry, why);
        return IMAGE_BROKEN;
    }
    if (q.status != 200 || q.buf == NULL) {
        free(q.buf);
        errf(err, errlen, "image \"%s\": the registry %s answered %ld for "
             "its manifest", p->name, p->ref.registry, q.status);
        return q.status == 404 ? IMAGE_NOT_FOUND : IMAGE_BROKEN;
    }
    memset(d, 0, sizeof(*d));
    registry_store_sha256(q.buf, q.len, d->digest);
    d->size = (int64_t)q.len;
    snprintf(d->media_type, sizeof(d->media_type), "%s", q.content_type);
    if (!oci_is_manifest(d->media_type) && !oci_is_index(d->media_type))
        oci_document_media_type(q.buf, q.len, d->media_type,
                                sizeof(d->media_type));
    if (strncmp(what, "sha256:", 7) == 0 && strcmp(what, d->digest) != 0) {
        free(q.buf);
        errf(err, errlen, "image \"%s\": the manifest the registry sent does "
             "not match its digest", p->name);
        return IMAGE_BROKEN;
    }
    q.buf[q.len] = '\0';
    __atomic_add_fetch(p->fetched, (uint64_t)q.len, __ATOMIC_RELAXED);
    *doc = q.buf;
    *len = q.len;
    return IMAGE_OK;
}

/* The blobs of a manifest that are not here, FETCHERS at a time. */
#define FETCHERS 4

struct fetcher {
    const struct pull *p;
    const struct oci_descriptor *todo[OCI_MAX_LAYERS + 1];
    size_t n;
    enum image_error rc;
    char err[512];
};

static void *fetcher_run(void *arg)
{
    struct fetcher *f = arg;
    CURL *curl = curl_easy_init();      /* its connections, blob to blob */
    size_t i;

    f->rc = IMAGE_OK;
    for (i = 0; i < f->n && f->rc == IMAGE_OK; i++)
        f->rc = fetch_blob(f->p, curl, f->todo[i], f->err, sizeof(f->err));
    if (curl != NULL)
        curl_easy_cleanup(curl);
    return NULL;
}

static enum image_error fetch_blobs(const struct pull *p,
                                    const struct oci_manifest *m,
                                    char *err, size_t errlen)
{
    struct fetcher *f;
    pthread_t t[FETCHERS];
    int started[FETCHERS] = { 0 };
    size_t i, k = 0, nf;
    enum image_error rc = IMAGE_OK;

    f = calloc(FETCHERS, sizeof(*f));
    if (f == NULL) {
        errf(err, errlen, "out of memory");
        return IMAGE_IO;
    }
    /* dealt round, the config first */
    for (i = 0; i <= m->nlayers; i++) {
        const struct oci_descriptor *d = i == 0 ? &m->config
                                                : &m->layers[i - 1];

        if (registry_store_has(d))
            continue;
        f[k % FETCHERS].todo[f[k % FETCHERS].n++] = d;
        k++;
    }
    nf = k < FETCHERS ? k : FETCHERS;
    for (i = 0; i < nf; i++) {
        f[i].p = p;
        if (i + 1 < nf)
            started[i] = pthread_create(&t[i], NULL, fetcher_run,
                                        &f[i]) == 0;
        if (!started[i])
            fetcher_run(&f[i]);     /* this thread's share, or no thread */
    }
    for (i = 0; i < nf; i++) {
        if (started[i])
            pthread_join(t[i], NULL);
        if (f[i].rc != IMAGE_OK && rc == IMAGE_OK) {
            rc = f[i].rc;
            errf(err, errlen, "%s", f[i].err);
        }
    }
    free(f);
    return rc;
}

/* This host's platform, as image indexes name it. */
static const char *host_arch(void)
{
    struct utsname u;

    if (uname(&u) < 0)
        return "amd64";
    if (strcmp(u.machine, "x86_64") == 0)
        return "amd64";
    if (strcmp(u.machine, "aarch64") == 0)
        return "arm64";
    if (strncmp(u.machine, "arm", 3) == 0)
        return "arm";
    if (strcmp(u.machine, "i686") == 0 || strcmp(u.machine, "i386") == 0)
        return "386";
    if (strcmp(u.machine, "ppc64le") == 0 || strcmp(u.machine, "s390x") == 0
        || strcmp(u.machine, "riscv64") == 0)
        return u.machine[0] == 'p' ? "ppc64le"
               : u.machine[0] == 's' ? "s390x" : "riscv64";
    return "unknown";
}

/* The manifest (by tag or digest), its index resolved, and its blobs. */
static enum image_error pull(struct pull *p,
                             struct oci_descriptor *out, char *err,
                             size_t errlen)
{
    struct oci_manifest *m = NULL;
    struct oci_descriptor d;
    enum image_error rc;
    char *doc = NULL;
    size_t len, i;
    uint64_t total;

    rc = fetch_manifest(p, p->ref.digest[0] ? p->ref.digest : p->ref.tag,
                        &doc, &len, &d, err, errlen);
    if (rc != IMAGE_OK)
        return rc;
    if (oci_is_index(d.media_type)) {
        struct oci_descriptor pick;

        if (oci_index_platform(doc, len, "linux", host_arch(), &pick, err,
                               errlen) < 0) {
            errf_append(err, errlen, " (image \"%s\")", p->name);
            free(doc);
            return IMAGE_NOT_FOUND;
        }
        free(doc);
        doc = NULL;
        rc = fetch_manifest(p, pick.digest, &doc, &len, &d, err, errlen);
        if (rc != IMAGE_OK)
            return rc;
    }
    if (!oci_is_manifest(d.media_type)) {
        errf(err, errlen, "image \"%s\": the registry sent a manifest of "
             "unsupported media type \"%s\"", p->name, d.media_type);
        rc = IMAGE_BROKEN;
        goto out;
    }
    m = oci_manifest_new(doc, len, err, errlen);
    if (m == NULL) {
        rc = errno == ENOMEM ? IMAGE_IO : IMAGE_BROKEN;
        errf_append(err, errlen, " (image \"%s\")", p->name);
        goto out;
    }
    /* the limits, before anything is fetched */
    total = (uint64_t)(m->config.size > 0 ? m->config.size : 0);
    for (i = 0; i < m->nlayers; i++) {
        if ((uint64_t)m->layers[i].size > p->blob_max) {
            errf(err, errlen, "image \"%s\": layer %zu of %zu takes %lld "
                 "bytes, more than layer_max_bytes (%llu)", p->name, i + 1,
                 m->nlayers, (long long)m->layers[i].size,
                 (unsigned long long)p->blob_max);
            rc = IMAGE_TOO_LARGE;
            goto out;
        }
        total += (uint64_t)m->layers[i].size;
    }
    if (total > p->image_max) {
        errf(err, errlen, "image \"%s\": its blobs take %llu bytes, more than "
             "image_max_bytes (%llu)", p->name, (unsigned long long)total,
             (unsigned long long)p->image_max);
        rc = IMAGE_TOO_LARGE;
        goto out;
    }
    rc = fetch_blobs(p, m, err, errlen);
    if (rc != IMAGE_OK)
        goto out;
    /* the manifest last, then the image kept (and pinned for the
     * caller): a kept manifest has all its blobs */
    if (registry_store_put(d.digest, doc, len) < 0
        || registry_store_keep(&d) < 0) {
        errf(err, errlen, "image \"%s\": cannot store its manifest: %s",
             p->name, strerror(errno));
        rc = IMAGE_IO;
        goto out;
    }
    *out = d;
    rc = IMAGE_OK;
out:
    free(m);
    free(doc);
    return rc;
}

/* ---------------------------------------------------- one pull at a time */

static struct tag_entry *tag_find(const char *key)
{
    size_t i;

    for (i = 0; i < R.ntags; i++) {
        if (strcmp(R.tags[i].key, key) == 0)
            return &R.tags[i];
    }
    return NULL;
}

static void tag_keep(const char *key, const struct oci_descriptor *d)
{
    struct tag_entry *t = tag_find(key);
    size_t i, oldest = 0;

    if (t == NULL) {
        if (R.ntags == TAGS_MAX) {
            for (i = 1; i < R.ntags; i++) {
                if (R.tags[i].at_ms < R.tags[oldest].at_ms)
                    oldest = i;
            }
            free(R.tags[oldest].key);
            R.tags[oldest] = R.tags[--R.ntags];
        }
        t = &R.tags[R.ntags];
        t->key = strdup(key);
        if (t->key == NULL)
            return;
        R.ntags++;
    }
    t->manifest = *d;
    t->at_ms = now_ms();
}

static struct failure *failure_find(const char *key)
{
    size_t i;

    for (i = 0; i < R.nfailures; i++) {
        if (strcmp(R.failures[i].key, key) == 0)
            return &R.failures[i];
    }
    return NULL;
}

/* The pull of key failed: the next waits a pause twice the last one. */
static void failure_keep(const char *key, enum image_error rc,
                         const char *err)
{
    struct failure *f = failure_find(key);
    size_t i, oldest = 0;

    if (f == NULL) {
        if (R.nfailures == FAILURES_MAX) {
            for (i = 1; i < R.nfailures; i++) {
                if (R.failures[i].at_ms < R.failures[oldest].at_ms)
                    oldest = i;
            }
            free(R.failures[oldest].key);
            R.failures[oldest] = R.failures[--R.nfailures];
        }
        f = &R.failures[R.nfailures];
        f->key = strdup(key);
        if (f->key == NULL)
            return;
        f->backoff_ms = 0;
        R.nfailures++;
    }
    f->backoff_ms = f->backoff_ms == 0 ? BACKOFF_FIRST_MS
                    : f->backoff_ms * 2 < BACKOFF_MAX_MS ? f->backoff_ms * 2
                    : BACKOFF_MAX_MS;
    f->rc = rc;
    f->at_ms = now_ms();
    snprintf(f->message, sizeof(f->message), "%s", err);
}

static void failure_clear(const char *key)
{
    struct failure *f = failure_find(key);

    if (f != NULL) {
        free(f->key);
        *f = R.failures[--R.nfailures];
    }
}

static int busy_index(const char *repo)
{
    size_t i;

    for (i = 0; i < R.nbusy; i++) {
        if (strcmp(R.busy[i], repo) == 0)
            return (int)i;
    }
    return -1;
}

/*
 * The pull failed (rc, err): the digest the tag had last, if the registry
 * failed us (not "no such image") and that image is here, serves: a
 * registry outage stops no route that ran.
 */
static enum image_error fall_back(enum image_error rc, const char *stale,
                                  size_t max, struct oci_descriptor *manifest,
                                  const char *err)
{
    if (rc != IMAGE_BROKEN || stale[0] == '\0'
        || registry_store_acquire(stale, max, manifest) < 0)
        return rc;
    log_msg(LOG_LEVEL_WARN, "registry failed, the tag's last digest serves",
            err);
    return IMAGE_OK;
}

/*
 * The repository of ref ("registry/repository": one pull at a time) and
 * its key in the tag and failure tables: a digest names the same image
 * for ever (an index's: the manifest picked from it), a tag for
 * registry_tag_ttl.
 */
static void ref_key(const struct image_ref *ref, char *repo, size_t rlen,
                    char *key, size_t klen)
{
    snprintf(repo, rlen, "%s/%s", ref->registry, ref->repository);
    if (ref->digest[0] != '\0')
        snprintf(key, klen, "%s@%s", repo, ref->digest);
    else
        snprintf(key, klen, "%s:%s", repo, ref->tag);
}

void registry_failed(const char *name, enum image_error rc, const char *err)
{
    struct image_ref ref;
    char repo[600], key[800], why[256];

    pthread_mutex_lock(&R.mu);
    if (image_ref_parse(name, R.default_registry, R.default_namespace, &ref,
                        why, sizeof(why)) == 0) {
        ref_key(&ref, repo, sizeof(repo), key, sizeof(key));
        failure_keep(key, rc, err);
    }
    pthread_mutex_unlock(&R.mu);
}

enum image_error registry_resolve(const char *name,
                                  struct oci_descriptor *manifest,
                                  char *err, size_t errlen)
{
    struct pull p;
    struct tag_entry *t;
    struct failure *f;
    char repo[600], key[800], want[OCI_DIGEST_MAX], stale[OCI_DIGEST_MAX];
    uint64_t arrived = now_ms(), fetched = 0, started, gen, now;
    enum image_error rc;
    int secure, i;

    memset(&p, 0, sizeof(p));
    p.name = name;
    p.fetched = &fetched;
    stale[0] = '\0';
    pthread_mutex_lock(&R.mu);
    if (image_ref_parse(name, R.default_registry, R.default_namespace,
                        &p.ref, err, errlen) < 0) {
        pthread_mutex_unlock(&R.mu);
        return IMAGE_BAD_NAME;
    }
    p.explicit = config_registry_listed(R.allowed, p.ref.registry);
    memcpy(p.allowed, R.allowed, sizeof(p.allowed));
    if (!p.explicit && strcasecmp(p.ref.registry, R.default_registry) != 0) {
        pthread_mutex_unlock(&R.mu);
        errf(err, errlen, "image \"%s\": the registry %s is not in this "
             "executor's allowed_registries", name, p.ref.registry);
        return IMAGE_BAD_NAME;
    }
    secure = !config_registry_listed(R.insecure, p.ref.registry);
    snprintf(p.base, sizeof(p.base), "%s://%s/v2/%s",
             secure ? "https" : "http", p.ref.registry, p.ref.repository);
    memcpy(p.ca_file, R.ca_file, sizeof(p.ca_file));
    p.manifest_max = (size_t)R.manifest_max;
    p.blob_max = R.blob_max;
    p.image_max = R.image_max;
    ref_key(&p.ref, repo, sizeof(repo), key, sizeof(key));

    /* one pull per repository: later calls wait, then find its image */
    for (;;) {
        t = tag_find(key);
        want[0] = '\0';
        if (t != NULL && (p.ref.digest[0] != '\0'
                          || now_ms() - t->at_ms < R.tag_ttl_ms))
            strcpy(want, t->manifest.digest);
        else if (p.ref.digest[0] != '\0')
            strcpy(want, p.ref.digest);
        if (t != NULL)
            strcpy(stale, t->manifest.digest);
        gen = R.generation;
        /* the files are read with no lock held */
        pthread_mutex_unlock(&R.mu);
        if (want[0] != '\0'
            && registry_store_acquire(want, p.manifest_max, manifest) == 0)
            return IMAGE_OK;
        pthread_mutex_lock(&R.mu);
        if (R.generation != gen)
            continue;       /* a pull ended meanwhile: look again */
        /* a pull that failed while this call waited, or not long ago:
         * its answer, until the pause after it is over */
        f = failure_find(key);
        now = now_ms();
        if (f != NULL && (f->at_ms >= arrived
                          || now < f->at_ms + f->backoff_ms)) {
            rc = f->rc;
            if (f->at_ms >= arrived)
                errf(err, errlen, "%s", f->message);
            else
                errf(err, errlen, "%s (this failed %llu ms ago; tried "
                     "again in %llu ms)", f->message,
                     (unsigned long long)(now - f->at_ms),
                     (unsigned long long)(f->at_ms + f->backoff_ms - now));
            pthread_mutex_unlock(&R.mu);
            return fall_back(rc, stale, p.manifest_max, manifest, err);
        }
        if (busy_index(repo) < 0
            && R.nbusy < sizeof(R.busy) / sizeof(R.busy[0]))
            break;
        pthread_cond_wait(&R.cv, &R.mu);
    }
    R.busy[R.nbusy] = strdup(repo);
    if (R.busy[R.nbusy] == NULL) {
        pthread_mutex_unlock(&R.mu);
        errf(err, errlen, "out of memory");
        return IMAGE_IO;
    }
    R.nbusy++;
    /* what the pull needs from here: its deadline, this registry's
     * credentials (wiped when it ends) */
    p.deadline_ms = now_ms() + R.timeout_ms;
    for (i = 0; i < (int)R.ncreds; i++) {
        if (strcasecmp(R.creds[i].registry, p.ref.registry) == 0) {
            p.cred = R.creds[i];
            p.have_cred = 1;
        }
    }
    pthread_mutex_unlock(&R.mu);

    started = now_ms();
    registry_store_pull_begin();
    rc = pull(&p, manifest, err, errlen);   /* its image pinned */
    registry_store_pull_end(rc != IMAGE_OK);
    metrics_image_pull(now_ms() - started, fetched, rc == IMAGE_OK);
    OPENSSL_cleanse(&p.cred, sizeof(p.cred));
    OPENSSL_cleanse(p.auth, sizeof(p.auth));

    pthread_mutex_lock(&R.mu);
    if (rc == IMAGE_OK) {
        tag_keep(key, manifest);
        failure_clear(key);
    } else if (rc != IMAGE_IO) {
        failure_keep(key, rc, err);     /* the executor's own disk: not */
    }
    i = busy_index(repo);
    free(R.busy[i]);
    R.busy[i] = R.busy[--R.nbusy];
    R.generation++;
    pthread_cond_broadcast(&R.cv);
    pthread_mutex_unlock(&R.mu);
    if (rc != IMAGE_OK)
        rc = fall_back(rc, stale, p.manifest_max, manifest, err);
    return rc;
}
