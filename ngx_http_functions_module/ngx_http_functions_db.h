
/*
 * The database server of the route lookups and the API: functions_mysql
 * (ngx_http_functions_db.c).
 */


#ifndef _NGX_HTTP_FUNCTIONS_DB_H_INCLUDED_
#define _NGX_HTTP_FUNCTIONS_DB_H_INCLUDED_


#include "ngx_http_functions_module.h"


/* functions_mysql: a password longer is refused */
#define NGX_HTTP_FUNCTIONS_DB_PASSWORD_MAX  127


/*
 * Where route definitions live.  The server address is resolved while the
 * configuration is read, so that connecting later never waits on DNS.
 */
struct ngx_http_functions_db_conf_s {
    ngx_str_t                       host;       /* numeric address, or empty */
    in_port_t                       port;
    ngx_str_t                       socket;     /* Unix socket path, or empty */
    ngx_str_t                       server;     /* as written, for messages */
    ngx_str_t                       user;
    ngx_str_t                       password;
    ngx_str_t                       database;
    ngx_msec_t                      connect_timeout;
    ngx_msec_t                      timeout;
};



char *ngx_http_functions_db(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);


#endif /* _NGX_HTTP_FUNCTIONS_DB_H_INCLUDED_ */
