/*
 * The routes calls carried lately, parsed, by the exact text of their
 * Fn-Route header.  The module sends a route's JSON as its cache holds it,
 * the same bytes on every call of the route, so a call of a route seen
 * before copies the parsed route instead of parsing JSON again.  Only
 * routes that parse are kept; a route changed through the API is other
 * bytes, and so another entry.  Pure; the event loop's thread only.
 */
#ifndef EXECUTOR_ROUTE_CACHE_H
#define EXECUTOR_ROUTE_CACHE_H

#include "route_def.h"

#include <stddef.h>

/* Entries kept, the least recently used going first. */
#define ROUTE_CACHE_SIZE 64

/* As route_def_parse(), from the cache when json was seen before. */
int route_cache_parse(const char *json, size_t len, struct route_def *r,
                      char *err, size_t errlen);

/* Forgets every entry. */
void route_cache_clear(void);

/* Hits and misses so far (for tests). */
void route_cache_stats(unsigned long *hits, unsigned long *misses);

#endif
