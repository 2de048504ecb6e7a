
/*
 * The database server of the route lookups and the API: functions_mysql
 * (ngx_http_functions_db.c).
 */


#ifndef _NGX_HTTP_FUNCTIONS_DB_H_INCLUDED_
#define _NGX_HTTP_FUNCTIONS_DB_H_INCLUDED_


#include "ngx_http_functions_module.h"


/* functions_mysql: a password longer is refused */
#define NGX_HTTP_FUNCTIONS_DB_PASSWORD_MAX  127


/* functions_mysql: server= at most so many times */
#define NGX_HTTP_FUNCTIONS_DB_SERVERS_MAX   8


/*
 * One server.  Its address is resolved while the configuration is read,
 * so that connecting later never waits on DNS.  host and socket end with
 * a null byte, for the client library.
 */
typedef struct {
    ngx_str_t                       host;       /* numeric address, or empty */
    in_port_t                       port;
    ngx_str_t                       socket;     /* Unix socket path, or empty */
    ngx_str_t                       name;       /* as written, for messages */
} ngx_http_functions_db_server_t;


/*
 * Where route definitions live: one server, or the nodes of a cluster
 * (MariaDB Galera) that all take reads and writes.  A worker connects to
 * one of them, and to the next after a failure there.
 */
struct ngx_http_functions_db_conf_s {
    ngx_http_functions_db_server_t  servers[
                                        NGX_HTTP_FUNCTIONS_DB_SERVERS_MAX];
    ngx_uint_t                      nservers;
    ngx_str_t                       user;
    ngx_str_t                       password;
    ngx_str_t                       database;
    ngx_msec_t                      connect_timeout;
    ngx_msec_t                      timeout;
};



char *ngx_http_functions_db(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);


#endif /* _NGX_HTTP_FUNCTIONS_DB_H_INCLUDED_ */
