
/*
 * The MySQL (MariaDB) connection settings of the module.
 *
 *     functions_mysql server=127.0.0.1:3306 user=functions
 *                     password_file=/etc/nginx/functions-db.password
 *                     database=functions connect_timeout=3s timeout=2s;
 *
 * server= may be given up to eight times: the nodes of a Galera cluster.
 *
 * password_file keeps the password out of nginx.conf (and of "nginx -T");
 * password= still works.
 */


#include "ngx_http_functions_module.h"
#include "ngx_http_functions_conf_file.h"
#include "ngx_http_functions_db.h"


#define NGX_HTTP_FUNCTIONS_DB_PORT             3306
#define NGX_HTTP_FUNCTIONS_DB_CONNECT_TIMEOUT  3000
#define NGX_HTTP_FUNCTIONS_DB_TIMEOUT          2000


static char *ngx_http_functions_db_server(ngx_conf_t *cf,
    ngx_http_functions_db_conf_t *dcf, ngx_str_t *value);
static ngx_int_t ngx_http_functions_db_valid_name(ngx_str_t *name);
static char *ngx_http_functions_db_password_file(ngx_conf_t *cf,
    ngx_http_functions_db_conf_t *dcf, ngx_str_t *name);


typedef struct {
    ngx_str_t                       name;
    ngx_uint_t                      seen;
} ngx_http_functions_db_param_t;


char *
ngx_http_functions_db(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_functions_main_conf_t *fmcf = conf;

    char                           *rv;
    u_char                         *eq;
    ngx_str_t                      *value, name, arg;
    ngx_uint_t                      i, n;
    ngx_msec_t                      ms;
    ngx_http_functions_db_conf_t   *dcf;
    ngx_http_functions_db_param_t   params[] = {
        { ngx_string("server"), 0 },
        { ngx_string("user"), 0 },
        { ngx_string("password"), 0 },
        { ngx_string("database"), 0 },
        { ngx_string("connect_timeout"), 0 },
        { ngx_string("timeout"), 0 },
        { ngx_string("password_file"), 0 },
    };

    if (fmcf->db != NULL) {
        return "is duplicate";
    }

    dcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_functions_db_conf_t));
    if (dcf == NULL) {
        return NGX_CONF_ERROR;
    }

    dcf->connect_timeout = NGX_HTTP_FUNCTIONS_DB_CONNECT_TIMEOUT;
    dcf->timeout = NGX_HTTP_FUNCTIONS_DB_TIMEOUT;

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        eq = ngx_strlchr(value[i].data, value[i].data + value[i].len, '=');
        if (eq == NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\", expected name=value",
                               &value[i]);
            return NGX_CONF_ERROR;
        }

        name.data = value[i].data;
        name.len = eq - value[i].data;
        arg.data = eq + 1;
        arg.len = value[i].data + value[i].len - arg.data;

        for (n = 0; n < sizeof(params) / sizeof(params[0]); n++) {
            if (name.len == params[n].name.len
                && ngx_strncmp(name.data, params[n].name.data, name.len) == 0)
            {
                break;
            }
        }

        if (n == sizeof(params) / sizeof(params[0])) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "unknown parameter \"%V\"", &name);
            return NGX_CONF_ERROR;
        }

        /* server= names each node of a cluster */
        if (params[n].seen++ && n != 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "duplicate parameter \"%V\"", &name);
            return NGX_CONF_ERROR;
        }

        switch (n) {

        case 0:
            rv = ngx_http_functions_db_server(cf, dcf, &arg);
            if (rv != NGX_CONF_OK) {
                return rv;
            }
            break;

        case 1:
            if (arg.len == 0 || arg.len > 80) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid user \"%V\"", &arg);
                return NGX_CONF_ERROR;
            }
            dcf->user = arg;
            break;

        case 2:
            if (params[6].seen) {
                return "takes password= or password_file=, not both";
            }
            dcf->password = arg;
            break;

        case 6:
            if (params[2].seen) {
                return "takes password= or password_file=, not both";
            }
            rv = ngx_http_functions_db_password_file(cf, dcf, &arg);
            if (rv != NGX_CONF_OK) {
                return rv;
            }
            break;

        case 3:
            if (ngx_http_functions_db_valid_name(&arg) != NGX_OK) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid database name \"%V\", "
                                   "expected 1 to 64 of [A-Za-z0-9_]", &arg);
                return NGX_CONF_ERROR;
            }
            dcf->database = arg;
            break;

        case 4:
        case 5:     /* connect_timeout, timeout */
            ms = ngx_parse_time(&arg, 0);
            if (ms == (ngx_msec_t) NGX_ERROR || ms == 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid %V \"%V\"", &name, &arg);
                return NGX_CONF_ERROR;
            }

            if (n == 4) {
                dcf->connect_timeout = ms;

            } else {
                dcf->timeout = ms;
            }

            break;
        }
    }

    if (!params[0].seen) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"server\" parameter is required");
        return NGX_CONF_ERROR;
    }

    if (!params[3].seen) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"database\" parameter is required");
        return NGX_CONF_ERROR;
    }

    /* the connection keeps it in a buffer of its own (..._query.c) */
    if (dcf->password.len > NGX_HTTP_FUNCTIONS_DB_PASSWORD_MAX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "the password is longer than %d bytes",
                           NGX_HTTP_FUNCTIONS_DB_PASSWORD_MAX);
        return NGX_CONF_ERROR;
    }

    fmcf->db = dcf;

    return NGX_CONF_OK;
}


static char *
ngx_http_functions_db_server(ngx_conf_t *cf, ngx_http_functions_db_conf_t *dcf,
    ngx_str_t *value)
{
    u_char                          *p;
    size_t                           len;
    ngx_url_t                        u;
    ngx_uint_t                       i;
    ngx_http_functions_db_server_t  *s;

    for (i = 0; i < dcf->nservers; i++) {
        if (dcf->servers[i].name.len == value->len
            && ngx_strncmp(dcf->servers[i].name.data, value->data,
                           value->len) == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "duplicate server \"%V\"", value);
            return NGX_CONF_ERROR;
        }
    }

    if (dcf->nservers == NGX_HTTP_FUNCTIONS_DB_SERVERS_MAX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "more than %d servers",
                           NGX_HTTP_FUNCTIONS_DB_SERVERS_MAX);
        return NGX_CONF_ERROR;
    }

    s = &dcf->servers[dcf->nservers];
    s->name = *value;

    if (value->len > 5 && ngx_strncmp(value->data, "unix:", 5) == 0) {
        len = value->len - 5;

        if (value->data[5] != '/'
            || len >= sizeof(((struct sockaddr_un *) 0)->sun_path))
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid server \"%V\", a Unix socket needs "
                               "an absolute path shorter than %uz bytes",
                               value,
                               sizeof(((struct sockaddr_un *) 0)->sun_path));
            return NGX_CONF_ERROR;
        }

        /* the client library wants a null-terminated path */

        p = ngx_pnalloc(cf->pool, len + 1);
        if (p == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_memcpy(p, value->data + 5, len);
        p[len] = '\0';

        s->socket.data = p;
        s->socket.len = len;
        dcf->nservers++;

        return NGX_CONF_OK;
    }

    ngx_memzero(&u, sizeof(ngx_url_t));

    u.url = *value;
    u.default_port = NGX_HTTP_FUNCTIONS_DB_PORT;

    if (ngx_parse_url(cf->pool, &u) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid server \"%V\": %s",
                           value, u.err ? u.err : "cannot parse");
        return NGX_CONF_ERROR;
    }

    if (u.uri.len || u.naddrs == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid server \"%V\"", value);
        return NGX_CONF_ERROR;
    }

    /*
     * The address is resolved here, once; the connection is later made to
     * the numeric address so that no worker ever waits on DNS.
     */

    p = ngx_pnalloc(cf->pool, NGX_SOCKADDR_STRLEN + 1);
    if (p == NULL) {
        return NGX_CONF_ERROR;
    }

    len = ngx_sock_ntop(u.addrs[0].sockaddr, u.addrs[0].socklen, p,
                        NGX_SOCKADDR_STRLEN, 0);
    p[len] = '\0';

    s->host.data = p;
    s->host.len = len;
    s->port = u.port;
    dcf->nservers++;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_functions_db_valid_name(ngx_str_t *name)
{
    u_char      ch;
    ngx_uint_t  i;

    if (name->len == 0 || name->len > 64) {
        return NGX_ERROR;
    }

    for (i = 0; i < name->len; i++) {
        ch = name->data[i];

        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')
            || (ch >= '0' && ch <= '9') || ch == '_')
        {
            continue;
        }

        return NGX_ERROR;
    }

    return NGX_OK;
}


/* The password: the file's first line, read at configuration time. */

static char *
ngx_http_functions_db_password_file(ngx_conf_t *cf,
    ngx_http_functions_db_conf_t *dcf, ngx_str_t *name)
{
    u_char           *p, *end;
    ngx_str_t         text;
    ngx_file_info_t   fi;

    if (ngx_http_functions_conf_read_file(cf, name, 4096, cf->pool, &text,
                                          &fi)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (ngx_file_access(&fi) & 0007) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "\"%V\" is readable by every user", name);
    }

    end = ngx_strlchr(text.data, text.data + text.len, '\n');
    if (end == NULL) {
        end = text.data + text.len;
    }

    if (end > text.data && end[-1] == '\r') {
        end--;
    }

    for (p = text.data; p < end; p++) {
        if (*p < 0x20 || *p == 0x7f) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%V\" must hold the password on its first "
                               "line, without control bytes", name);
            return NGX_CONF_ERROR;
        }
    }

    dcf->password.data = text.data;
    dcf->password.len = end - text.data;

    return NGX_CONF_OK;
}
