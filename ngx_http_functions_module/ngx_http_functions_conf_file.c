
/*
 * The small files a configuration names (the API's tokens and JWT key, the
 * database password), opened, checked and read the same way.
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
