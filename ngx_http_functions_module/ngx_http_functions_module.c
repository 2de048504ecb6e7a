
/*
 * ngx_http_functions_module: a serverless functions platform inside nginx.
 *
 * This file holds the module definition and its directive table; each
 * concern (database, route cache, ...) lives in a file of its own.
 */


#include "ngx_http_functions_module.h"


static void *ngx_http_functions_create_main_conf(ngx_conf_t *cf);


static ngx_command_t  ngx_http_functions_commands[] = {

    { ngx_string("functions_mysql"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_functions_db,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("functions_route_cache"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_functions_route_cache,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_functions_module_ctx = {
    NULL,                                  /* preconfiguration */
    NULL,                                  /* postconfiguration */

    ngx_http_functions_create_main_conf,   /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    NULL,                                  /* create location configuration */
    NULL                                   /* merge location configuration */
};


ngx_module_t  ngx_http_functions_module = {
    NGX_MODULE_V1,
    &ngx_http_functions_module_ctx,        /* module context */
    ngx_http_functions_commands,           /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static void *
ngx_http_functions_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_functions_main_conf_t  *fmcf;

    fmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_functions_main_conf_t));
    if (fmcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     fmcf->db = NULL;
     *     fmcf->cache_zone = NULL;
     */

    return fmcf;
}
