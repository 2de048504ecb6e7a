/*
 * A call as nginx sends it (POST /call, docs/protocol.md): the call id, the
 * route definition and the client request, checked.  Pure.
 */
#ifndef EXECUTOR_CALL_REQUEST_H
#define EXECUTOR_CALL_REQUEST_H

#include "request_parser.h"
#include "route_def.h"
#include "sandbox_args.h"
#include "ulid.h"


struct call_request {
    char call_id[ULID_LEN + 1];
    char method[16];
    char *request_url;
    struct route_def route;
    struct strvec header_names;     /* client headers, in order */
    struct strvec header_values;
};

/* A ULID, NUL-terminated (common/ulid.h). */
int call_id_valid(const char *s);

/*
 * Reads the call from an HTTP request.  Returns 0, or the HTTP status to
 * answer (400) with a message in err.
 */
int call_request_parse(const struct http_request *req,
                       struct call_request *cr, char *err, size_t errlen);
void call_request_free(struct call_request *cr);

#endif
