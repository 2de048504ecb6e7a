
/*
 * The small files a configuration names (the API's tokens and JWT key, the
 * async call key, the database password), opened, checked and read the
 * same way.
 */


#include "ngx_http_functions_conf_file.h"


/*
 * A small file of the configuration, read whole: at configuration time
 * only, never on the event loop.  *name becomes its full name; *fi is its
 * file information (its mode, for the caller's checks).
 */

ngx_int_t
ngx_http_functions_conf_read_file(ngx_conf_t *cf, ngx_str_t *name,
    size_t max, ngx_pool_t *pool, ngx_str_t *text, ngx_file_info_t *fi)
{
    u_char    *buf;
    size_t     len;
    ssize_t    n;
    ngx_fd_t   fd;

    if (ngx_conf_full_name(cf->cycle, name, 1) != NGX_OK) {
        return NGX_ERROR;
    }

    fd = ngx_open_file(name->data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_open_file_n " \"%V\" failed", name);
        return NGX_ERROR;
    }

    if (ngx_fd_info(fd, fi) == NGX_FILE_ERROR
        || !ngx_is_file(fi)
        || (size_t) ngx_file_size(fi) > max)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" is not a regular file of at most %uz "
                           "bytes", name, max);
        ngx_close_file(fd);
        return NGX_ERROR;
    }

    len = (size_t) ngx_file_size(fi);

    buf = ngx_pnalloc(pool, len + 1);
    if (buf == NULL) {
        ngx_close_file(fd);
        return NGX_ERROR;
    }

    n = ngx_read_fd(fd, buf, len);

    if (ngx_close_file(fd) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_ALERT, cf, ngx_errno,
                           ngx_close_file_n " \"%V\" failed", name);
    }

    if (n != (ssize_t) len) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "cannot read \"%V\"", name);
        return NGX_ERROR;
    }

    text->data = buf;
    text->len = len;

    return NGX_OK;
}


/*
 * A secret key on one line of a file (its newline is not part of it),
 * min to max bytes, no control bytes.  A file others than its owner may
 * read is warned about: "whoever reads it <can>".
 */

ngx_int_t
ngx_http_functions_conf_read_key(ngx_conf_t *cf, ngx_str_t *name,
    size_t min, size_t max, const char *can, ngx_str_t *key)
{
    u_char           *buf, *p;
    size_t            len;
    ngx_str_t         text;
    ngx_file_info_t   fi;

    if (ngx_http_functions_conf_read_file(cf, name, max + 2, cf->pool,
                                          &text, &fi)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_file_access(&fi) & 0077) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "\"%V\" is readable by other users than its "
                           "owner: whoever reads it %s", name, can);
    }

    buf = text.data;
    len = text.len;

    if (len && buf[len - 1] == '\n') {
        len--;

        if (len && buf[len - 1] == '\r') {
            len--;
        }
    }

    for (p = buf; p < buf + len; p++) {
        if (*p < 0x20 || *p == 0x7f) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%V\" must hold the key on one line, "
                               "without control bytes", name);
            return NGX_ERROR;
        }
    }

    if (len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "\"%V\" holds no key",
                           name);
        return NGX_ERROR;
    }

    if (len < min) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "the key in \"%V\" is %uz bytes long, "
                           "at least %uz are needed", name, len, min);
        return NGX_ERROR;
    }

    if (len > max) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "the key in \"%V\" is longer than %uz bytes",
                           name, max);
        return NGX_ERROR;
    }

    key->data = buf;
    key->len = len;

    return NGX_OK;
}
