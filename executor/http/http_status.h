/*
 * Reason phrases of HTTP status codes.
 */
#ifndef EXECUTOR_HTTP_STATUS_H
#define EXECUTOR_HTTP_STATUS_H

/*
 * The registered reason phrase of status (RFC 9110 and the IANA registry),
 * or "" for a code without one: a status line may leave the phrase empty,
 * and a made-up one would be passed on to the client as if it meant
 * something.
 */
const char *http_status_text(int status);

#endif
