
/*
 * Routing of /r/<app>/<path>: functions_route, the route lookup, the
 * call id and the variables (ngx_http_functions_route.c).
 */


#ifndef _NGX_HTTP_FUNCTIONS_ROUTE_H_INCLUDED_
#define _NGX_HTTP_FUNCTIONS_ROUTE_H_INCLUDED_


#include "ngx_http_functions_module.h"


ngx_int_t ngx_http_functions_route_init(ngx_conf_t *cf);
ngx_int_t ngx_http_functions_route_add_variables(ngx_conf_t *cf);


#endif /* _NGX_HTTP_FUNCTIONS_ROUTE_H_INCLUDED_ */
