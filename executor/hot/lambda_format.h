/*
 * The AWS Lambda Runtime API (2018-06-01) as a hot format: its pure parts.
 *
 * A Lambda runtime (AWS's runtime interface clients, or a custom
 * "bootstrap") pulls its work: it asks GET /2018-06-01/runtime/invocation/
 * next, which answers with the next event, then posts the result to
 * .../invocation/<request id>/response or .../error, or a failure to start
 * to /2018-06-01/runtime/init/error.  Here: which of those a request is,
 * the head of a "next" answer, the error a runtime reports, and the
 * API Gateway (HTTP API, payload 2.0) event and proxy answer that a route
 * may ask for instead of the raw body.
 */
#ifndef EXECUTOR_LAMBDA_FORMAT_H
#define EXECUTOR_LAMBDA_FORMAT_H

#include "http_response.h"
#include "sandbox_args.h"

#include <stddef.h>

/* The longest request id taken back from a runtime (ours are ULIDs). */
#define LAMBDA_REQUEST_ID_MAX 64

enum lambda_op {
    LAMBDA_OP_NEXT,             /* GET  .../runtime/invocation/next */
    LAMBDA_OP_RESPONSE,         /* POST .../runtime/invocation/<id>/response */
    LAMBDA_OP_ERROR,            /* POST .../runtime/invocation/<id>/error */
    LAMBDA_OP_INIT_ERROR,       /* POST .../runtime/init/error */
    LAMBDA_OP_BAD_METHOD,       /* one of those paths, another method: 405 */
    LAMBDA_OP_NOT_FOUND,        /* anything else: 404 */
};

/*
 * What a runtime's request asks for: method and request target (a query
 * string is ignored).  For RESPONSE and ERROR, id gets the request id:
 * 1 to LAMBDA_REQUEST_ID_MAX of [A-Za-z0-9-]; another id is NOT_FOUND.
 */
enum lambda_op lambda_runtime_op(const char *method, const char *target,
                                 char id[LAMBDA_REQUEST_ID_MAX + 1]);

/*
 * The head of the answer to "next" that hands a call over, ending with
 * the empty line: 200, Content-Type application/json, Content-Length
 * body_len, Lambda-Runtime-Aws-Request-Id, Lambda-Runtime-Deadline-Ms (Unix
 * milliseconds), Lambda-Runtime-Invoked-Function-Arn and
 * Lambda-Runtime-Trace-Id.  Values must be printable ASCII (a NULL arn or
 * trace id: none sent).  A heap string, its length in *len; NULL for a
 * value that is not printable ASCII, or out of memory.
 */
char *lambda_next_head(const char *request_id, long long deadline_ms,
                       const char *function_arn, const char *trace_id,
                       size_t body_len, size_t *len);

/* What a runtime said went wrong: text, without control characters. */
struct lambda_error {
    char type[128];             /* "errorType", or the header, or
                                 * "Unhandled" */
    char message[512];          /* "errorMessage", or "" */
};

/*
 * Reads an /error or /init/error body ({"errorType":..,"errorMessage":..},
 * as runtimes send it; anything else is taken as no detail) and the
 * Lambda-Runtime-Function-Error-Type header (NULL: none), which the body
 * wins over.  Long values are cut (on a UTF-8 character's boundary).
 */
void lambda_error_read(const char *body, size_t len, const char *type_header,
                       struct lambda_error *e);

/*
 * The client's body for a call whose runtime reported an error: JSON,
 * {"error":{"message":"..."},"errorType":..,"errorMessage":..}.  A heap
 * string, its length in *len; NULL if memory runs out.
 */
char *lambda_error_body(const struct lambda_error *e, const char *what,
                        size_t *len);

/*
 * An API Gateway HTTP API event (payload format 2.0) for a call: version,
 * routeKey "$default", rawPath and rawQueryString from the request URL,
 * cookies, headers (names lower-cased, repeated ones joined with ","),
 * requestContext (http: method, path, protocol, userAgent; requestId the
 * call id, timeEpoch), body (text, or base64 with isBase64Encoded when it
 * is not UTF-8).  A heap string, its length in *len; NULL if memory runs
 * out.
 */
char *lambda_apigw_event(const struct call_info *ci, long long time_ms,
                         const char *body, size_t body_len, size_t *len);

/*
 * An API Gateway proxy answer turned into the client's: a JSON object with
 * "statusCode" (200 to 599), "headers" (name: string), "multiValueHeaders"
 * (name: [string]), "cookies" (each a Set-Cookie), "body" (a string) and
 * "isBase64Encoded"; any other JSON is answered 200 as it is, as
 * application/json.  Header names must be HTTP tokens and values hold no
 * control characters; the head and body stay within max_head and
 * max_body.  res is filled (http_response_free() frees it): 0, or -1 with
 * err.
 */
int lambda_apigw_answer(const char *json, size_t len, size_t max_head,
                        size_t max_body, struct http_response *res,
                        char *err, size_t errlen);

#endif
