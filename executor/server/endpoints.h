/*
 * What the executor answers, by method and path.
 */
#ifndef EXECUTOR_ENDPOINTS_H
#define EXECUTOR_ENDPOINTS_H

#include "http_conn.h"
#include "server.h"

#define EXECUTOR_VERSION "0.1.0"

void endpoints_serve(struct server *s, struct http_conn *c);

/* GET /metrics alone (the metrics_listen port). */
void endpoints_serve_metrics(struct server *s, struct http_conn *c);

/* What the metrics' gauges show, read from the executor's state. */
struct metrics_gauges;
void endpoints_gauges(struct server *s, struct metrics_gauges *g);

#endif
