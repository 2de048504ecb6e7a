
/*
 * Small files of the configuration: ngx_http_functions_conf_file.c.
 */


#ifndef _NGX_HTTP_FUNCTIONS_CONF_FILE_H_INCLUDED_
#define _NGX_HTTP_FUNCTIONS_CONF_FILE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


ngx_int_t ngx_http_functions_conf_read_file(ngx_conf_t *cf, ngx_str_t *name,
    size_t max, ngx_pool_t *pool, ngx_str_t *text, ngx_file_info_t *fi);
ngx_int_t ngx_http_functions_conf_read_key(ngx_conf_t *cf, ngx_str_t *name,
    size_t min, size_t max, const char *can, ngx_str_t *key);


#endif /* _NGX_HTTP_FUNCTIONS_CONF_FILE_H_INCLUDED_ */
