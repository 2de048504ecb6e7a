
/*
 * ngx_http_functions_module: a serverless functions platform inside nginx.
 *
 * This file holds the module definition and its directive table; each
 * concern (database, route cache, ...) lives in a file of its own.
 */


#include "ngx_http_functions_module.h"
#include "ngx_http_functions_cache.h"
#include "ngx_http_functions_query.h"
#include "ngx_http_functions_log.h"
#include "ngx_http_functions_metrics.h"
#include "ngx_http_functions_api.h"
#include "ngx_http_functions_async.h"
#include "ngx_http_functions_publisher.h"
#include "ngx_http_functions_db.h"
#include "ngx_http_functions_generation.h"
#include "ngx_http_functions_direct.h"
#include "ngx_http_functions_guard.h"
#include "ngx_http_functions_route.h"
#include "image_ref.h"

#include <mysql.h>


static ngx_int_t ngx_http_functions_preconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_http_functions_postconfiguration(ngx_conf_t *cf);
static void *ngx_http_functions_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_functions_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_functions_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_functions_api_auth(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_functions_route(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_functions_image_registries(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_functions_executors(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_functions_jwt_max_lifetime(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static ngx_int_t ngx_http_functions_init_module(ngx_cycle_t *cycle);
static ngx_int_t ngx_http_functions_init_process(ngx_cycle_t *cycle);
static void ngx_http_functions_exit_process(ngx_cycle_t *cycle);


/* the items a list of apps or routes asked without paging may hold */
static ngx_conf_num_bounds_t  ngx_http_functions_api_list_max_bounds = {
    ngx_conf_check_num_bounds, 1, 100000
};


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

    { ngx_string("functions_route"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_functions_route,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("functions_api"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_functions_api,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("functions_api_auth"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_http_functions_api_auth,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_functions_loc_conf_t, api_auth),
      NULL },

    { ngx_string("functions_api_tokens"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_functions_api_tokens,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("functions_api_jwt_key"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_functions_api_jwt_key,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("functions_amqp"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_functions_amqp,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("functions_async_key"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_functions_async_key,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("functions_executors"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_functions_executors,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("functions_direct"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_functions_direct,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("functions_log"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE12,
      ngx_http_functions_log,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("functions_metrics_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_ANY,
      ngx_http_functions_metrics_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("functions_metrics"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_functions_metrics,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("functions_jwt_require_exp"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_functions_loc_conf_t, jwt_require_exp),
      NULL },

    { ngx_string("functions_jwt_max_lifetime"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_functions_jwt_max_lifetime,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("functions_async_credentials"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_functions_loc_conf_t, async_credentials),
      NULL },

    { ngx_string("functions_image_registries"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_functions_image_registries,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("functions_api_list_max"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_functions_main_conf_t, api_list_max),
      &ngx_http_functions_api_list_max_bounds },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_functions_module_ctx = {
    ngx_http_functions_preconfiguration,   /* preconfiguration */
    ngx_http_functions_postconfiguration,  /* postconfiguration */

    ngx_http_functions_create_main_conf,   /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_functions_create_loc_conf,    /* create location configuration */
    ngx_http_functions_merge_loc_conf      /* merge location configuration */
};


ngx_module_t  ngx_http_functions_module = {
    NGX_MODULE_V1,
    &ngx_http_functions_module_ctx,        /* module context */
    ngx_http_functions_commands,           /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    ngx_http_functions_init_module,        /* init module */
    ngx_http_functions_init_process,       /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_functions_exit_process,       /* exit process */
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
     *     fmcf->api_tokens = NULL;
     *     fmcf->api_jwt_key = { 0, NULL };
     *     fmcf->cache_zone = NULL;
     *     fmcf->log_file = NULL;
     *     fmcf->metrics_zone = NULL;
     *     fmcf->image_registries = NULL;
     */

    fmcf->metrics_max_apps = NGX_CONF_UNSET_UINT;
    fmcf->api_list_max = NGX_CONF_UNSET;

    if (ngx_array_init(&fmcf->guarded, cf->pool, 1, sizeof(ngx_str_t))
        != NGX_OK)
    {
        return NULL;
    }

    return fmcf;
}


static void *
ngx_http_functions_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_functions_loc_conf_t  *lcf;

    lcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_functions_loc_conf_t));
    if (lcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     lcf->prefix = { 0, NULL };
     */

    lcf->route = NGX_CONF_UNSET;
    lcf->jwt_require_exp = NGX_CONF_UNSET;
    lcf->jwt_max_lifetime = NGX_CONF_UNSET;
    lcf->async_credentials = NGX_CONF_UNSET;
    lcf->api_auth = NGX_CONF_UNSET;

    return lcf;
}


static char *
ngx_http_functions_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_functions_loc_conf_t  *prev = parent;
    ngx_http_functions_loc_conf_t  *conf = child;

    /* a location inside a routed one routes with the same prefix */
    if (conf->route == NGX_CONF_UNSET) {
        conf->route = prev->route == NGX_CONF_UNSET ? 0 : prev->route;
        conf->prefix = prev->prefix;
    }

    /* a token without "exp" would be valid forever */
    ngx_conf_merge_value(conf->jwt_require_exp, prev->jwt_require_exp, 1);
    ngx_conf_merge_sec_value(conf->jwt_max_lifetime, prev->jwt_max_lifetime,
                             0);

    /* queued messages sit in the broker and its dead-letter queue */
    ngx_conf_merge_value(conf->async_credentials, prev->async_credentials,
                         0);

    ngx_conf_merge_value(conf->api_auth, prev->api_auth, 0);

    return NGX_CONF_OK;
}


/* functions_jwt_max_lifetime TIME|off */

static char *
ngx_http_functions_jwt_max_lifetime(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_functions_loc_conf_t  *lcf = conf;

    time_t      t;
    ngx_str_t  *value;

    if (lcf->jwt_max_lifetime != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 3 && ngx_strncmp(value[1].data, "off", 3) == 0) {
        lcf->jwt_max_lifetime = 0;
        return NGX_CONF_OK;
    }

    t = ngx_parse_time(&value[1], 1);

    if (t == (time_t) NGX_ERROR || t == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\", expected a time "
                           "(such as 1h) or \"off\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    lcf->jwt_max_lifetime = t;

    return NGX_CONF_OK;
}


/* functions_image_registries host[:port] ... */

static char *
ngx_http_functions_image_registries(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_functions_main_conf_t  *fmcf = conf;

    ngx_str_t   *value, *reg;
    ngx_uint_t   i;

    if (fmcf->image_registries != NULL) {
        return "is duplicate";
    }

    fmcf->image_registries = ngx_array_create(cf->pool, cf->args->nelts - 1,
                                              sizeof(ngx_str_t));
    if (fmcf->image_registries == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        if (!image_ref_registry_valid((char *) value[i].data, value[i].len)) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid registry \"%V\", expected "
                               "host[:port]", &value[i]);
            return NGX_CONF_ERROR;
        }

        reg = ngx_array_push(fmcf->image_registries);
        if (reg == NULL) {
            return NGX_CONF_ERROR;
        }

        *reg = value[i];
    }

    return NGX_CONF_OK;
}


/* functions_api_auth on|off: a flag; "on" anywhere installs its handler */

static char *
ngx_http_functions_api_auth(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char                            *rv;
    ngx_http_functions_loc_conf_t   *lcf = conf;
    ngx_http_functions_main_conf_t  *fmcf;

    rv = ngx_conf_set_flag_slot(cf, cmd, conf);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    if (lcf->api_auth) {
        fmcf = ngx_http_conf_get_module_main_conf(cf,
                                                  ngx_http_functions_module);
        fmcf->api_auth = 1;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_functions_route(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_functions_loc_conf_t  *lcf = conf;

    ngx_http_core_loc_conf_t        *clcf;
    ngx_http_functions_main_conf_t  *fmcf;

    if (lcf->route != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->regex || clcf->named || clcf->exact_match) {
        return "is allowed only in a prefix location, such as "
               "\"location /r/\"";
    }

    fmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_functions_module);

    lcf->route = 1;
    lcf->prefix = clcf->name;
    fmcf->routing = 1;

    return NGX_CONF_OK;
}


static char *
ngx_http_functions_executors(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_functions_main_conf_t *fmcf = conf;

    ngx_str_t  *value, *name;

    value = cf->args->elts;

    name = ngx_array_push(&fmcf->guarded);
    if (name == NULL) {
        return NGX_CONF_ERROR;
    }

    *name = value[1];

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_functions_preconfiguration(ngx_conf_t *cf)
{
    return ngx_http_functions_route_add_variables(cf);
}


static ngx_int_t
ngx_http_functions_postconfiguration(ngx_conf_t *cf)
{
    ngx_http_functions_main_conf_t  *fmcf;

    fmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_functions_module);

    ngx_conf_init_value(fmcf->api_list_max, NGX_HTTP_FUNCTIONS_LIST_MAX);

    if (fmcf->routing && (fmcf->db == NULL || fmcf->cache_zone == NULL)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"functions_route\" needs \"functions_mysql\" "
                           "and \"functions_route_cache\" in the http "
                           "block");
        return NGX_ERROR;
    }

    if (fmcf->api_auth
        && fmcf->api_tokens == NULL && fmcf->api_jwt_key.len == 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"functions_api_auth\" needs "
                           "\"functions_api_tokens\" (or "
                           "\"functions_api_jwt_key\") in the http block");
        return NGX_ERROR;
    }

    if (fmcf->api
        && (fmcf->db == NULL
            || (fmcf->api_tokens == NULL && fmcf->api_jwt_key.len == 0)))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"functions_api\" needs \"functions_mysql\" "
                           "and \"functions_api_tokens\" (or "
                           "\"functions_api_jwt_key\") in the http block");
        return NGX_ERROR;
    }

    if (ngx_http_functions_guard_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_functions_metrics_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (fmcf->routing && ngx_http_functions_route_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    /* after routing's */
    if (fmcf->api_auth && ngx_http_functions_api_auth_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_functions_init_module(ngx_cycle_t *cycle)
{
    /* in the master, with the files of the new cycle open */
    return ngx_http_functions_log_init_module(cycle);
}


static ngx_int_t
ngx_http_functions_init_process(ngx_cycle_t *cycle)
{
    /* once, before any thread of the pool may call mysql_init() (whose
     * implicit library set-up is not thread-safe) */
    if (mysql_library_init(0, NULL, NULL) != 0) {
        ngx_http_functions_log_msg(cycle->log, NGX_LOG_EMERG,
                                   "mysql_library_init() failed", NULL);
        return NGX_ERROR;
    }

    ngx_http_functions_log_init_process(cycle);

    if (ngx_http_functions_metrics_init_process(cycle) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_functions_direct_init_process(cycle) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_functions_generation_init(cycle);
}


static void
ngx_http_functions_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_functions_direct_exit_process(cycle);
    ngx_http_functions_pub_exit();
    ngx_http_functions_query_exit();
}
