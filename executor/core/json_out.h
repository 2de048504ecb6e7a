/*
 * Small JSON writers for the executor's own answers.  Pure.
 */
#ifndef EXECUTOR_JSON_OUT_H
#define EXECUTOR_JSON_OUT_H

#include <stddef.h>

/*
 * Writes s as a JSON string (with quotes) into dst; returns the length it
 * needs, like snprintf.  Bytes that are not valid UTF-8 become U+FFFD.
 */
size_t json_quote(char *dst, size_t size, const char *s, size_t len);

/*
 * 1 if s is text: valid UTF-8 without NUL or other control characters
 * than tab, line feed and carriage return.
 */
int utf8_text(const char *s, size_t len);

/*
 * Makes s valid UTF-8 without NUL, in place: a byte that starts no valid
 * sequence (overlong forms, surrogates and code points above U+10FFFF
 * included) and a NUL become '?'.  For text stored in utf8mb4 columns.
 */
void utf8_clean(char *s, size_t len);

/* {"error":{"message":"..."}[,"call_id":"..."]}; call_id may be NULL. */
size_t json_error_body(char *dst, size_t size, const char *message,
                       const char *call_id);

#endif
