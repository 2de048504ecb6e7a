
/*
 * The management API (IronFunctions' /v1), served by "functions_api":
 *
 *     GET /, GET /version                        open
 *     /v1/apps[/{app}]                           Bearer token or JWT
 *     /v1/apps/{app}/routes[/{path...}]          Bearer token or JWT
 *
 * This file is the HTTP side: it maps the URI to an endpoint, checks the
 * token, reads the body as JSON and answers.  Every database step goes
 * through the non-blocking query layer; writes are one statement each (a
 * compound statement with its own transaction), which also bumps the
 * generation counter, so that every nginx instance sees the change.  A
 * PATCH reads its row locked (SELECT ... FOR UPDATE, in a transaction on
 * a connection it holds meanwhile), merges, and its write commits that
 * transaction: concurrent PATCHes of a row run one after the other.
 */


#include "ngx_http_functions_api.h"
#include "ngx_http_functions_conf_file.h"
#include "ngx_http_functions_headers.h"
#include "ngx_http_functions_ctx.h"
#include "ngx_http_functions_jwt.h"
#include "ngx_http_functions_log.h"
#include "ngx_http_functions_send.h"
#include "ulid.h"

#include <mysql.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>


typedef enum {
    NGX_HTTP_FUNCTIONS_API_ROOT = 0,
    NGX_HTTP_FUNCTIONS_API_VERSION,
    NGX_HTTP_FUNCTIONS_API_APPS,
    NGX_HTTP_FUNCTIONS_API_APP,
    NGX_HTTP_FUNCTIONS_API_ROUTES,
    NGX_HTTP_FUNCTIONS_API_ROUTE,
    NGX_HTTP_FUNCTIONS_API_CALLS,
    NGX_HTTP_FUNCTIONS_API_CALL,
    NGX_HTTP_FUNCTIONS_API_CALL_LOG
} ngx_http_functions_api_endpoint_e;


typedef struct {
    ngx_http_functions_api_step_pt    get;
    ngx_http_functions_api_step_pt    post;
    ngx_http_functions_api_step_pt    patch;
    ngx_http_functions_api_step_pt    delete;
    ngx_http_functions_api_args_pt    args;     /* its own query arguments */
    unsigned                          list:1;   /* per_page and cursor */
    unsigned                          pages:1;  /* paged when not asked */
    const char                       *allow;
} ngx_http_functions_api_methods_t;


/*
 * What a function's answer keeps of its headers in a functions_api_auth
 * location: those that describe the body.  The others are renamed.
 */
static ngx_str_t  ngx_http_functions_api_answer_kept[] = {
    ngx_string("Content-Encoding"),
    ngx_string("Content-Language"),
    ngx_string("Cache-Control"),
    ngx_string("ETag"),
    ngx_string("Last-Modified"),
    ngx_string("Expires"),
    ngx_string("Vary"),
    ngx_string("Fn-Call-Id"),   /* the module's own: a function's Fn-* are
                                 * never passed on (functions_params) */
    ngx_null_string
};


static ngx_http_output_header_filter_pt  ngx_http_functions_api_next_filter;


/* by ngx_http_functions_api_endpoint_e */
static ngx_http_functions_api_methods_t  ngx_http_functions_api_methods[] = {
    { NULL, NULL, NULL, NULL, NULL, 0, 0, "GET, HEAD" },
    { NULL, NULL, NULL, NULL, NULL, 0, 0, "GET, HEAD" },
    { ngx_http_functions_api_apps_list, ngx_http_functions_api_app_create,
      NULL, NULL, NULL, 1, 0, "GET, HEAD, POST" },
    { ngx_http_functions_api_app_get, NULL, ngx_http_functions_api_app_patch,
      ngx_http_functions_api_app_delete, NULL, 0, 0,
      "GET, HEAD, PATCH, DELETE" },
    { ngx_http_functions_api_routes_list,
      ngx_http_functions_api_route_create,
      NULL, NULL, NULL, 1, 0, "GET, HEAD, POST" },
    { ngx_http_functions_api_route_get, NULL,
      ngx_http_functions_api_route_patch,
      ngx_http_functions_api_route_delete, NULL, 0, 0,
      "GET, HEAD, PATCH, DELETE" },
    { ngx_http_functions_api_calls_list, NULL, NULL, NULL,
      ngx_http_functions_api_call_args, 1, 1, "GET, HEAD" },
    { ngx_http_functions_api_call_get, NULL, NULL, NULL, NULL, 0, 0,
      "GET, HEAD" },
    { ngx_http_functions_api_call_log, NULL, NULL, NULL, NULL, 0, 0,
      "GET, HEAD" }
};


static ngx_int_t ngx_http_functions_api_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_functions_api_auth_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_functions_api_answer_filter(ngx_http_request_t *r);
static ngx_int_t ngx_http_functions_api_plain_uri(ngx_http_request_t *r);
static ngx_int_t ngx_http_functions_api_parse_uri(ngx_http_request_t *r,
    ngx_uint_t *endpoint, ngx_str_t *app, ngx_str_t *path);
static ngx_uint_t ngx_http_functions_api_ends(u_char *p, u_char *end);
static ngx_int_t ngx_http_functions_api_copy(ngx_http_request_t *r,
    u_char *p, u_char *end, ngx_str_t *out);
static ngx_int_t ngx_http_functions_api_parse_calls(ngx_http_request_t *r,
    u_char *p, u_char *end, ngx_uint_t *endpoint, ngx_str_t *id);
static ngx_int_t ngx_http_functions_api_authorized(ngx_http_request_t *r,
    const char **reason);
static ngx_int_t ngx_http_functions_api_args(ngx_http_request_t *r,
    ngx_http_functions_api_t *api, ngx_uint_t endpoint, const char **error);
static void ngx_http_functions_api_body(ngx_http_request_t *r);


/* ------------------------------------------------------------ directives */

char *
ngx_http_functions_api(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_functions_loc_conf_t  *lcf = conf;

    ngx_http_core_loc_conf_t        *clcf;
    ngx_http_functions_main_conf_t  *fmcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    fmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_functions_module);

    if (clcf->handler != NULL) {
        return "is duplicate, or the location has another content handler";
    }

    if (lcf->route == 1) {
        return "cannot be in a location with \"functions_route\"";
    }

    clcf->handler = ngx_http_functions_api_handler;
    lcf->api = 1;
    fmcf->api = 1;

    return NGX_CONF_OK;
}


/*
 * functions_api_tokens <file>: the tokens /v1 accepts, as SHA-256
 * digests, one per line: "sha256:<64 hex digits>" and, after a space, an
 * optional label.  Blank lines and lines starting with "#" are skipped.
 * Tokens are random (scripts/api-token makes them), so a plain digest is
 * enough: there is nothing to guess from it.
 */

char *
ngx_http_functions_api_tokens(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_functions_main_conf_t *fmcf = conf;

    u_char           *buf, *p, *end, *line, *eol, *digest;
    size_t            n;
    ngx_str_t        *value, name, text;
    ngx_uint_t        lineno, i;
    ngx_file_info_t   fi;

    if (fmcf->api_tokens != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;
    name = value[1];

    if (ngx_http_functions_conf_read_file(cf, &name, 1024 * 1024,
                                          cf->temp_pool, &text, &fi)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    buf = text.data;
    n = text.len;

    fmcf->api_tokens = ngx_array_create(cf->pool, 4, SHA256_DIGEST_LENGTH);
    if (fmcf->api_tokens == NULL) {
        return NGX_CONF_ERROR;
    }

    end = buf + n;
    lineno = 0;

    for (line = buf; line < end; line = eol + 1) {
        lineno++;

        eol = ngx_strlchr(line, end, '\n');
        if (eol == NULL) {
            eol = end;
        }

        while (line < eol && (*line == ' ' || *line == '\t')) {
            line++;
        }

        if (line == eol || *line == '#' || (*line == '\r' && line + 1 == eol))
        {
            continue;
        }

        p = line + sizeof("sha256:") - 1;

        if (eol - line < (ssize_t) (sizeof("sha256:") - 1 + 64)
            || ngx_strncmp(line, "sha256:", sizeof("sha256:") - 1) != 0
            || (p + 64 < eol && p[64] != ' ' && p[64] != '\t'
                && p[64] != '\r'))
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%V\" line %ui: expected "
                               "\"sha256:<64 hex digits> [label]\"",
                               &name, lineno);
            return NGX_CONF_ERROR;
        }

        digest = ngx_array_push(fmcf->api_tokens);
        if (digest == NULL) {
            return NGX_CONF_ERROR;
        }

        for (i = 0; i < SHA256_DIGEST_LENGTH; i++) {
            ngx_int_t  hi, lo;

            hi = ngx_hextoi(p + 2 * i, 1);
            lo = ngx_hextoi(p + 2 * i + 1, 1);

            if (hi == NGX_ERROR || lo == NGX_ERROR) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "\"%V\" line %ui: the digest is not hex",
                                   &name, lineno);
                return NGX_CONF_ERROR;
            }

            digest[i] = (u_char) (hi << 4 | lo);
        }
    }

    if (fmcf->api_tokens->nelts == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" holds no token", &name);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * functions_api_jwt_key <file>: the shared HS256 key of API JWTs, as
 * IronFunctions' "jwt_auth_key" and its fn CLI's JWT_AUTH_KEY: one line
 * (a trailing newline is not part of it), 16 to 1024 bytes, no control
 * bytes.  Read here, once per configuration: never on the event loop.
 */

char *
ngx_http_functions_api_jwt_key(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_functions_main_conf_t *fmcf = conf;

    ngx_str_t  *value, name;

    if (fmcf->api_jwt_key.data != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;
    name = value[1];

    if (ngx_http_functions_conf_read_key(cf, &name,
                                         NGX_HTTP_FUNCTIONS_API_JWT_KEY_MIN,
                                         NGX_HTTP_FUNCTIONS_API_JWT_KEY_MAX,
                                         "can sign API tokens",
                                         &fmcf->api_jwt_key)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* -------------------------------------------------------------- handler */

static ngx_int_t
ngx_http_functions_api_handler(ngx_http_request_t *r)
{
    ngx_int_t                          rc;
    ngx_str_t                          app, path;
    ngx_uint_t                         endpoint;
    const char                        *error, *reason;
    json_t                            *out;
    ngx_table_elt_t                   *h;
    ngx_pool_t                        *pool;
    ngx_pool_cleanup_t                *cln;
    ngx_http_functions_api_t          *api;
    ngx_http_functions_api_step_pt     step;
    ngx_http_functions_api_methods_t  *m;
    ngx_http_functions_ctx_t          *ctx;

    if (ngx_http_functions_api_parse_uri(r, &endpoint, &app, &path)
        != NGX_OK)
    {
        return ngx_http_functions_api_send_error(r, NGX_HTTP_NOT_FOUND,
                                                 "not found");
    }

    m = &ngx_http_functions_api_methods[endpoint];

    switch (r->method) {
    case NGX_HTTP_GET:
    case NGX_HTTP_HEAD:
        step = m->get;
        break;
    case NGX_HTTP_POST:
        step = m->post;
        break;
    case NGX_HTTP_PATCH:
        step = m->patch;
        break;
    case NGX_HTTP_DELETE:
        step = m->delete;
        break;
    default:
        step = NULL;
    }

    if (endpoint == NGX_HTTP_FUNCTIONS_API_ROOT
        || endpoint == NGX_HTTP_FUNCTIONS_API_VERSION)
    {
        if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
            step = NULL;

        } else {
            out = endpoint == NGX_HTTP_FUNCTIONS_API_ROOT
                  ? json_pack("{s:s, s:s, s:s}",
                              "goto", "https://github.com/iron-io/functions",
                              "hello", "world!",
                              "version", NGX_HTTP_FUNCTIONS_VERSION)
                  : json_pack("{s:s}", "version",
                              NGX_HTTP_FUNCTIONS_VERSION);

            rc = ngx_http_discard_request_body(r);
            if (rc != NGX_OK) {
                json_decref(out);
                return rc;
            }

            return ngx_http_functions_api_send(r, NGX_HTTP_OK, out);
        }
    }

    /* everything else needs a token, whatever the method */
    if (endpoint != NGX_HTTP_FUNCTIONS_API_ROOT
        && endpoint != NGX_HTTP_FUNCTIONS_API_VERSION)
    {
        rc = ngx_http_functions_api_authorized(r, &reason);

        if (rc != NGX_OK) {
            return ngx_http_functions_api_refuse(r, rc, reason);
        }
    }

    if (step == NULL) {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "Allow");
        h->value.data = (u_char *) m->allow;
        h->value.len = ngx_strlen(m->allow);

        return ngx_http_functions_api_send_error(r,
                                                 NGX_HTTP_NOT_ALLOWED,
                                                 "method not allowed");
    }

    if (app.len && !route_app_name_valid((char *) app.data)) {
        return ngx_http_functions_api_send_error(r, NGX_HTTP_BAD_REQUEST,
                   "invalid app name: 1 to 30 of [A-Za-z0-9_-], "
                   "not _none or _other");
    }

    if (endpoint == NGX_HTTP_FUNCTIONS_API_CALL
        || endpoint == NGX_HTTP_FUNCTIONS_API_CALL_LOG)
    {
        if (!ulid_valid((char *) path.data, path.len)) {
            return ngx_http_functions_api_send_error(r, NGX_HTTP_NOT_FOUND,
                                                     "Call not found");
        }

    } else if (path.len && !route_path_valid((char *) path.data)) {
        return ngx_http_functions_api_send_error(r, NGX_HTTP_BAD_REQUEST,
                   "invalid route path: absolute, printable ASCII, at most "
                   "255 bytes, without empty, \".\" or \"..\" segments");
    }

    pool = ngx_create_pool(2048, r->connection->log);
    if (pool == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    api = ngx_pcalloc(pool, sizeof(ngx_http_functions_api_t));
    cln = ngx_pool_cleanup_add(r->pool, 0);

    if (api == NULL || cln == NULL) {
        ngx_destroy_pool(pool);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    api->pool = pool;
    api->request = r;
    api->cleanup = cln;
    api->fmcf = ngx_http_get_module_main_conf(r, ngx_http_functions_module);
    api->method = r->method;
    api->next = step;
    api->per_page = NGX_HTTP_FUNCTIONS_PER_PAGE;

    cln->handler = ngx_http_functions_api_cleanup;
    cln->data = api;

    /* the names outlive the request if it goes while a query runs */
    api->app.data = ngx_pstrdup(pool, &app);
    api->app.len = app.len;
    api->path.data = ngx_pstrdup(pool, &path);
    api->path.len = path.len;

    if ((app.len && api->app.data == NULL)
        || (path.len && api->path.data == NULL))
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (m->list) {
        if (ngx_http_functions_api_args(r, api, endpoint, &error) != NGX_OK
            || (m->args != NULL && m->args(r, api, &error) != NGX_OK))
        {
            return ngx_http_functions_api_send_error(r, NGX_HTTP_BAD_REQUEST,
                                                     error);
        }

        /*
         * Apps and routes without per_page or cursor: every item, as
         * IronFunctions answered (its CLI reads no next_cursor), up to
         * functions_api_list_max; calls page by default.
         */
        if (!api->paged && !m->pages) {
            api->per_page = (ngx_uint_t) api->fmcf->api_list_max;
            api->unpaged = 1;
        }
    }

    ctx = ngx_http_functions_ctx_get(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->api = api;

    r->request_body_in_single_buf = 1;

    rc = ngx_http_read_client_request_body(r, ngx_http_functions_api_body);
    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


/*
 * /, /version, /v1/apps, /v1/apps/{app}, /v1/apps/{app}/routes and
 * /v1/apps/{app}/routes/{path...}.  The URI is nginx's normalized one
 * (decoded, slashes merged, dot segments resolved).  app and path are
 * NUL-terminated copies in the request's pool; "/routes/" alone is the
 * route "/", as IronFunctions read it.
 */

static ngx_int_t
ngx_http_functions_api_parse_uri(ngx_http_request_t *r, ngx_uint_t *endpoint,
    ngx_str_t *app, ngx_str_t *path)
{
    u_char     *p, *end, *slash;
    ngx_str_t  *uri = &r->uri;

    ngx_str_null(app);
    ngx_str_null(path);

    if (uri->len == 1 && uri->data[0] == '/') {
        *endpoint = NGX_HTTP_FUNCTIONS_API_ROOT;
        return NGX_OK;
    }

    if (uri->len == sizeof("/version") - 1
        && ngx_strncmp(uri->data, "/version", uri->len) == 0)
    {
        *endpoint = NGX_HTTP_FUNCTIONS_API_VERSION;
        return NGX_OK;
    }

    p = uri->data;
    end = uri->data + uri->len;

    if (end - p < (ssize_t) (sizeof("/v1/apps") - 1)
        || ngx_strncmp(p, "/v1/apps", sizeof("/v1/apps") - 1) != 0)
    {
        return NGX_DECLINED;
    }

    p += sizeof("/v1/apps") - 1;

    if (ngx_http_functions_api_ends(p, end)) {
        *endpoint = NGX_HTTP_FUNCTIONS_API_APPS;
        return NGX_OK;
    }

    if (*p++ != '/') {
        return NGX_DECLINED;
    }

    slash = ngx_strlchr(p, end, '/');
    if (slash == NULL) {
        slash = end;
    }

    if (ngx_http_functions_api_copy(r, p, slash, app) != NGX_OK) {
        return NGX_ERROR;
    }

    p = slash;

    if (ngx_http_functions_api_ends(p, end)) {
        *endpoint = NGX_HTTP_FUNCTIONS_API_APP;
        return NGX_OK;
    }

    if (end - p >= (ssize_t) (sizeof("/calls") - 1)
        && ngx_strncmp(p, "/calls", sizeof("/calls") - 1) == 0)
    {
        return ngx_http_functions_api_parse_calls(r, p + 6, end, endpoint,
                                                  path);
    }

    if (end - p < (ssize_t) (sizeof("/routes") - 1)
        || ngx_strncmp(p, "/routes", sizeof("/routes") - 1) != 0)
    {
        return NGX_DECLINED;
    }

    p += sizeof("/routes") - 1;

    if (p == end) {
        *endpoint = NGX_HTTP_FUNCTIONS_API_ROUTES;
        return NGX_OK;
    }

    if (*p != '/') {
        return NGX_DECLINED;
    }

    /* the rest, from its slash, is the route's path */
    if (ngx_http_functions_api_copy(r, p, end, path) != NGX_OK) {
        return NGX_ERROR;
    }

    *endpoint = NGX_HTTP_FUNCTIONS_API_ROUTE;

    return NGX_OK;
}


/* /calls[/<id>[/log]]: the id goes in *id. */

static ngx_int_t
ngx_http_functions_api_parse_calls(ngx_http_request_t *r, u_char *p,
    u_char *end, ngx_uint_t *endpoint, ngx_str_t *id)
{
    u_char  *slash;

    if (ngx_http_functions_api_ends(p, end)) {
        *endpoint = NGX_HTTP_FUNCTIONS_API_CALLS;
        return NGX_OK;
    }

    if (*p++ != '/') {
        return NGX_DECLINED;
    }

    slash = ngx_strlchr(p, end, '/');

    if (slash == NULL) {
        *endpoint = NGX_HTTP_FUNCTIONS_API_CALL;
        slash = end;

    } else if (end - slash == 4 && ngx_strncmp(slash, "/log", 4) == 0) {
        *endpoint = NGX_HTTP_FUNCTIONS_API_CALL_LOG;

    } else {
        return NGX_DECLINED;
    }

    /* a call id (checked by the endpoint) */
    if (slash - p != ULID_LEN) {
        return NGX_DECLINED;
    }

    return ngx_http_functions_api_copy(r, p, slash, id);
}


/* p is at the end of the URI, or at its last byte, a slash */

static ngx_uint_t
ngx_http_functions_api_ends(u_char *p, u_char *end)
{
    return p == end || (p + 1 == end && *p == '/');
}


/* out: the bytes from p to end, NUL-terminated, in the request's pool */

static ngx_int_t
ngx_http_functions_api_copy(ngx_http_request_t *r, u_char *p, u_char *end,
    ngx_str_t *out)
{
    out->len = end - p;
    out->data = ngx_pnalloc(r->pool, out->len + 1);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    ngx_cpystrn(out->data, p, out->len + 1);

    return NGX_OK;
}


/*
 * NGX_OK: a token of the file, or a JWT signed with functions_api_jwt_key;
 * NGX_DECLINED: none given; NGX_ABORT: a wrong one (*reason says why a JWT
 * was refused, or is NULL).  The digest of what was given is compared with
 * every configured one, each in constant time, all of them every time;
 * then a JWT is verified as RFC 8725 asks (ngx_http_functions_jwt.c): HS256
 * only, "exp" required, "nbf" and "iat" with a small leeway.
 */

static ngx_int_t
ngx_http_functions_api_authorized(ngx_http_request_t *r, const char **reason)
{
    u_char                          *p, *end, *digest;
    ngx_uint_t                       i, match;
    ngx_table_elt_t                 *h;
    ngx_http_functions_log_t         l;
    struct functions_jwt_rules       rules;
    ngx_http_functions_main_conf_t  *fmcf;
    u_char                           given[SHA256_DIGEST_LENGTH];
    static char                      why[64];

    *reason = NULL;

    fmcf = ngx_http_get_module_main_conf(r, ngx_http_functions_module);

    h = r->headers_in.authorization;

    if (h == NULL) {
        return NGX_DECLINED;
    }

    if (h->value.len < sizeof("Bearer ") - 1
        || ngx_strncasecmp(h->value.data, (u_char *) "Bearer ",
                           sizeof("Bearer ") - 1) != 0)
    {
        return NGX_ABORT;
    }

    p = h->value.data + sizeof("Bearer ") - 1;
    end = h->value.data + h->value.len;

    while (p < end && *p == ' ') {
        p++;
    }

    while (end > p && end[-1] == ' ') {
        end--;
    }

    if (p == end) {
        return NGX_ABORT;
    }

    match = 0;

    if (fmcf->api_tokens != NULL) {
        SHA256(p, end - p, given);

        digest = fmcf->api_tokens->elts;

        for (i = 0; i < fmcf->api_tokens->nelts; i++) {
            match |= (CRYPTO_memcmp(given,
                                    digest + i * SHA256_DIGEST_LENGTH,
                                    SHA256_DIGEST_LENGTH)
                      == 0);
        }
    }

    /* the fn CLI's token: a JWT it signs per run with JWT_AUTH_KEY */
    if (!match && fmcf->api_jwt_key.len) {
        rules.require_exp = 1;
        rules.max_lifetime = 0;
        rules.check_iat = 1;

        if (functions_jwt_verify((char *) p, end - p,
                                 fmcf->api_jwt_key.data,
                                 fmcf->api_jwt_key.len, &rules,
                                 (long) ngx_time(), why, sizeof(why))
            == 0)
        {
            match = 1;

        } else if (ngx_strlchr(p, end, '.') != NULL) {
            /* shaped as a JWT: why it was refused names no secret */
            *reason = why;
        }
    }

    if (!match) {
        if (ngx_http_functions_log_begin(&l, r->connection->log,
                                         NGX_LOG_INFO,
                                         "api: a request with a wrong "
                                         "token"))
        {
            ngx_http_functions_log_str(&l, "client",
                                       &r->connection->addr_text);

            if (*reason != NULL) {
                ngx_http_functions_log_cstr(&l, "reason", *reason);
            }

            ngx_http_functions_log_end(&l, r->connection->log);
        }

        return NGX_ABORT;
    }

    return NGX_OK;
}


/*
 * 401 for a request without a valid token (rc and reason as
 * ngx_http_functions_api_authorized() gave them), with the
 * WWW-Authenticate challenge of RFC 6750.
 */

ngx_int_t
ngx_http_functions_api_refuse(ngx_http_request_t *r, ngx_int_t rc,
    const char *reason)
{
    u_char           *p;
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "WWW-Authenticate");

    if (rc == NGX_DECLINED) {
        ngx_str_set(&h->value, "Bearer realm=\"functions\"");
        return ngx_http_functions_api_send_error(r, NGX_HTTP_UNAUTHORIZED,
                   "this API needs \"Authorization: Bearer <token>\"");
    }

    ngx_str_set(&h->value,
                "Bearer realm=\"functions\", error=\"invalid_token\"");

    if (reason != NULL) {
        /* a refused JWT: why, as for route tokens */
        p = ngx_pnalloc(r->pool, sizeof("invalid token: ")
                                 + ngx_strlen(reason));
        if (p == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        (void) ngx_sprintf(p, "invalid token: %s%Z", reason);

        return ngx_http_functions_api_send_error(r, NGX_HTTP_UNAUTHORIZED,
                                                 (char *) p);
    }

    return ngx_http_functions_api_send_error(r, NGX_HTTP_UNAUTHORIZED,
                                             "invalid token");
}


/*
 * NGX_OK if the location was chosen by the path as the client wrote it:
 * no "%2F" or "%5C", and nothing nginx normalised away (dot segments,
 * repeated slashes), so that what a page asked for is what runs.
 * NGX_DECLINED otherwise.
 */

static ngx_int_t
ngx_http_functions_api_plain_uri(ngx_http_request_t *r)
{
    u_char     *p, *end, *dst, *src, *plain;
    ngx_str_t   raw;

    raw.data = r->unparsed_uri.data;
    end = r->unparsed_uri.data + r->unparsed_uri.len;

    p = ngx_strlchr(raw.data, end, '?');
    raw.len = (p != NULL ? p : end) - raw.data;

    for (p = raw.data; p + 2 < raw.data + raw.len; p++) {
        if (p[0] == '%'
            && ((p[1] == '2' && (p[2] | 0x20) == 'f')
                || (p[1] == '5' && (p[2] | 0x20) == 'c')))
        {
            return NGX_DECLINED;
        }
    }

    plain = ngx_pnalloc(r->pool, raw.len);
    if (plain == NULL) {
        return NGX_ERROR;
    }

    dst = plain;
    src = raw.data;
    ngx_unescape_uri(&dst, &src, raw.len, 0);

    if ((size_t) (dst - plain) != r->uri.len
        || ngx_strncmp(plain, r->uri.data, r->uri.len) != 0)
    {
        return NGX_DECLINED;
    }

    for (p = r->uri.data; p < r->uri.data + r->uri.len; p++) {
        if (p[0] == '/' && p + 1 < r->uri.data + r->uri.len && p[1] == '/') {
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}


static ngx_uint_t
ngx_http_functions_authorization(ngx_table_elt_t *h)
{
    return ngx_http_functions_header_is(h, "Authorization",
                                        sizeof("Authorization") - 1);
}


/*
 * functions_api_auth: a location beside the API (the console's calls of
 * routes, its metrics) takes the API's tokens.  The request goes on
 * without its Authorization header, so that nothing it is passed to, a
 * function or an executor, ever sees the token; a route's own jwt_key is
 * not asked for (any API token may read it anyway).  A preaccess handler
 * that runs before routing's.
 */

static ngx_int_t
ngx_http_functions_api_auth_handler(ngx_http_request_t *r)
{
    ngx_int_t                       rc;
    const char                     *reason;
    ngx_http_functions_ctx_t       *ctx;
    ngx_http_functions_loc_conf_t  *lcf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_functions_module);

    if (!lcf->api_auth) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_functions_ctx_get(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ctx->api_authorized) {
        return NGX_DECLINED;    /* an internal redirect, or a phase again */
    }

    rc = ngx_http_functions_api_plain_uri(r);

    if (rc != NGX_OK) {
        if (rc == NGX_ERROR) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_http_finalize_request(r,
            ngx_http_functions_api_send_error(r, NGX_HTTP_BAD_REQUEST,
                "the path may not hold encoded slashes, dot segments "
                "or empty segments"));
        return NGX_DONE;
    }

    rc = ngx_http_functions_api_authorized(r, &reason);

    if (rc != NGX_OK) {
        ngx_http_finalize_request(r,
            ngx_http_functions_api_refuse(r, rc, reason));
        return NGX_DONE;
    }

    ctx->api_authorized = 1;

    if (ngx_http_functions_headers_drop(&r->headers_in.headers, r->pool,
                                        ngx_http_functions_authorization)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->headers_in.authorization = NULL;

    return NGX_DECLINED;
}


/*
 * A function's answer in a functions_api_auth location is read by the web
 * console's page, on the console's origin, whose token it must never
 * reach.  None of the function's headers may set anything for that
 * origin (reporting endpoints, HSTS, cookies, client hints, policies,
 * redirects): each is sent renamed Fn-Answer-<name>, but those that only
 * describe the body.  The location's own add_header come after this.
 */

static ngx_int_t
ngx_http_functions_api_answer_filter(ngx_http_request_t *r)
{
    u_char                        *key, *low;
    ngx_str_t                     *kept;
    ngx_table_elt_t               *h;
    ngx_http_functions_ctx_t      *ctx;
    ngx_http_functions_headers_t   it;

    ctx = (r == r->main)
          ? ngx_http_get_module_ctx(r, ngx_http_functions_module) : NULL;

    if (ctx == NULL || !ctx->api_authorized || r->upstream == NULL) {
        return ngx_http_functions_api_next_filter(r);
    }

    ngx_http_functions_headers_start(&it, &r->headers_out.headers);

    while ((h = ngx_http_functions_headers_next(&it)) != NULL) {

        if (h->hash == 0) {
            continue;
        }

        for (kept = ngx_http_functions_api_answer_kept; kept->len; kept++) {
            if (ngx_http_functions_header_is(h, (char *) kept->data,
                                             kept->len))
            {
                break;
            }
        }

        if (kept->len) {
            continue;
        }

        key = ngx_pnalloc(r->pool, 2 * (sizeof("Fn-Answer-") - 1
                                        + h->key.len));
        if (key == NULL) {
            return NGX_ERROR;
        }

        low = ngx_cpymem(key, "Fn-Answer-", sizeof("Fn-Answer-") - 1);
        low = ngx_cpymem(low, h->key.data, h->key.len);

        h->key.len += sizeof("Fn-Answer-") - 1;
        h->key.data = key;

        ngx_strlow(low, key, h->key.len);
        h->lowcase_key = low;
    }

    /* what nginx would write again from these, or act on */
    r->headers_out.location = NULL;
    r->headers_out.refresh = NULL;
    r->headers_out.www_authenticate = NULL;
    r->headers_out.link.nelts = 0;

    return ngx_http_functions_api_next_filter(r);
}


/* functions_api_auth's handler, before routing's, and its filter. */

ngx_int_t
ngx_http_functions_api_auth_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    /* handlers of a phase run last pushed first: this one is pushed after
     * routing's */
    h = ngx_array_push(&cmcf->phases[NGX_HTTP_PREACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_functions_api_auth_handler;

    ngx_http_functions_api_next_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_functions_api_answer_filter;

    return NGX_OK;
}


/*
 * Lists: ?per_page=1..100, ?cursor=<opaque> (either: a page, else every
 * item for apps and routes), and for routes ?image=.  A cursor is the
 * last item of the page before, base64url-encoded: an app name, a route
 * path or a call id, as the list's items are; anything else is refused
 * before it comes near a statement.
 */

static ngx_int_t
ngx_http_functions_api_args(ngx_http_request_t *r,
    ngx_http_functions_api_t *api, ngx_uint_t endpoint, const char **error)
{
    ngx_int_t   n, rc, valid;
    ngx_str_t   value;

    if (ngx_http_arg(r, (u_char *) "per_page", 8, &value) == NGX_OK) {
        api->paged = 1;
        n = ngx_atoi(value.data, value.len);

        if (n < 1 || n > NGX_HTTP_FUNCTIONS_PER_PAGE_MAX) {
            *error = "per_page must be a number from 1 to 100";
            return NGX_ERROR;
        }

        api->per_page = n;
    }

    rc = ngx_http_arg(r, (u_char *) "cursor", 6, &value);

    if (rc == NGX_OK) {
        api->paged = 1;
    }

    if (rc == NGX_OK && value.len) {
        api->cursor.data = ngx_pnalloc(api->pool,
                                       ngx_base64_decoded_length(value.len)
                                       + 1);
        if (api->cursor.data == NULL) {
            *error = "out of memory";
            return NGX_ERROR;
        }

        if (value.len > 512
            || ngx_decode_base64url(&api->cursor, &value) != NGX_OK
            || api->cursor.len == 0)
        {
            *error = "invalid cursor";
            return NGX_ERROR;
        }

        api->cursor.data[api->cursor.len] = '\0';

        /* the checks read up to a NUL: a NUL inside is no cursor */
        if (ngx_strlen(api->cursor.data) != api->cursor.len) {
            valid = 0;

        } else if (endpoint == NGX_HTTP_FUNCTIONS_API_APPS) {
            valid = route_app_name_valid((char *) api->cursor.data);

        } else if (endpoint == NGX_HTTP_FUNCTIONS_API_ROUTES) {
            valid = route_path_valid((char *) api->cursor.data);

        } else {
            valid = ulid_valid((char *) api->cursor.data,
                               ngx_strlen(api->cursor.data));
        }

        if (!valid) {
            *error = "invalid cursor";
            return NGX_ERROR;
        }
    }

    rc = ngx_http_functions_api_arg(r, api, "image", &api->image);

    if (rc == NGX_ERROR) {
        *error = "out of memory";
        return NGX_ERROR;
    }

    if (rc == NGX_OK && api->image.len > 3 * NGX_HTTP_FUNCTIONS_JWT_KEY_MAX) {
        *error = "the image filter is too long";
        return NGX_ERROR;
    }

    return NGX_OK;
}



/* The body is in: parse it (POST, PATCH), then run the endpoint. */

static void
ngx_http_functions_api_body(ngx_http_request_t *r)
{
    u_char                    *buf, *p;
    size_t                     len;
    ssize_t                    n;
    ngx_chain_t               *cl;
    json_error_t               err;
    ngx_http_functions_api_t  *api;
    ngx_http_functions_ctx_t  *ctx;

    ctx = ngx_http_functions_ctx_find(r);
    api = (ctx != NULL) ? ctx->api : NULL;

    if (api == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (!(api->method & (NGX_HTTP_POST|NGX_HTTP_PATCH))) {
        api->next(api);
        return;
    }

    len = 0;

    if (r->request_body && r->request_body->bufs) {
        for (cl = r->request_body->bufs; cl; cl = cl->next) {
            len += ngx_buf_size(cl->buf);
        }
    }

    if (len == 0) {
        ngx_http_functions_api_fail(api, NGX_HTTP_BAD_REQUEST,
                                    "a JSON body is needed");
        return;
    }

    buf = ngx_pnalloc(r->pool, len);
    if (buf == NULL) {
        ngx_http_functions_api_fail(api, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                    "out of memory");
        return;
    }

    p = buf;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {

        if (cl->buf->in_file) {
            /* a large body went to a temporary file: a local read */
            n = ngx_read_file(cl->buf->file, p,
                              cl->buf->file_last - cl->buf->file_pos,
                              cl->buf->file_pos);
            if (n != cl->buf->file_last - cl->buf->file_pos) {
                ngx_http_functions_api_fail(api,
                                            NGX_HTTP_INTERNAL_SERVER_ERROR,
                                            "cannot read the request body");
                return;
            }

            p += n;

        } else if (cl->buf->last != cl->buf->pos) {
            /* a chunked body ends with an empty buffer (pos NULL) */
            p = ngx_cpymem(p, cl->buf->pos, cl->buf->last - cl->buf->pos);
        }
    }

    api->body = json_loadb((char *) buf, p - buf, JSON_REJECT_DUPLICATES,
                           &err);

    if (api->body == NULL) {
        ngx_http_functions_api_fail(api, NGX_HTTP_BAD_REQUEST,
                                    "invalid JSON: %s (line %d, column %d)",
                                    err.text, err.line, err.column);
        return;
    }

    api->next(api);
}
