/*
 * logfmt encoding and JSON quoting of the executor.
 */
#include "json_out.h"
#include "logfmt.h"
#include "tap.h"

static const char *encode(char *buf, size_t cap, const char *key,
                          const char *value, size_t len)
{
    struct logfmt_buf b;
    size_t n;

    logfmt_init(&b, buf, cap);
    logfmt_add_str(&b, "msg", "x");
    logfmt_add(&b, key, value, len);
    n = logfmt_finish(&b);
    buf[n] = '\0';
    return buf;
}

static void test_logfmt(void)
{
    char buf[256], small[40];
    struct logfmt_buf b;
    size_t n;

    is_str(encode(buf, sizeof(buf) - 1, "k", "plain", 5),
           "msg=x k=plain\n", "plain values stay bare");
    is_str(encode(buf, sizeof(buf) - 1, "k", "", 0),
           "msg=x k=\"\"\n", "empty values are quoted");
    is_str(encode(buf, sizeof(buf) - 1, "k", "a b=c", 5),
           "msg=x k=\"a b=c\"\n", "spaces and = are quoted");
    is_str(encode(buf, sizeof(buf) - 1, "k", "say \"hi\"\\", 9),
           "msg=x k=\"say \\\"hi\\\"\\\\\"\n", "quotes and backslashes");
    is_str(encode(buf, sizeof(buf) - 1, "k", "a\nb\x01", 4),
           "msg=x k=\"a\\nb\\u0001\"\n", "newlines never split a record");

    logfmt_init(&b, small, sizeof(small) - 1);
    logfmt_add_str(&b, "msg", "hello");
    logfmt_add_str(&b, "long", "a value that will never fit here");
    logfmt_add_str(&b, "k", "v");
    n = logfmt_finish(&b);
    small[n] = '\0';
    is_str(small, "msg=hello truncated=true\n",
           "a pair that does not fit is dropped whole and marked");

    logfmt_init(&b, buf, sizeof(buf));
    logfmt_add_int(&b, "n", -42);
    n = logfmt_finish(&b);
    buf[n] = '\0';
    is_str(buf, "n=-42\n", "integers");
}

static void test_json(void)
{
    char buf[256];

    json_error_body(buf, sizeof(buf), "bad \"x\"\n", NULL);
    is_str(buf, "{\"error\":{\"message\":\"bad \\\"x\\\"\\n\"}}",
           "error body escapes the message");
    json_error_body(buf, sizeof(buf), "m", "01ARZ3NDEKTSV4RRFFQ69G5FAV");
    is_str(buf, "{\"error\":{\"message\":\"m\"},"
           "\"call_id\":\"01ARZ3NDEKTSV4RRFFQ69G5FAV\"}",
           "error body with a call id");
    json_quote(buf, sizeof(buf), "\xff\xc3\xa9\xed\xa0\x80", 6);
    is_str(buf, "\"\\ufffd\xc3\xa9\\ufffd\\ufffd\\ufffd\"",
           "invalid UTF-8 and surrogates become U+FFFD, valid stays");
    is_int(json_quote(NULL, 0, "abc", 3), 5, "the needed length is told");
    is_int(json_quote(buf, 3, "abcdef", 6), 8, "even when cut");
    is_str(buf, "\"a", "and what is cut stays terminated");

    ok(utf8_text("", 0), "nothing is text");
    ok(utf8_text(NULL, 0), "nothing at all too");
    ok(utf8_text("h\xc3\xa9llo\tworld\r\n", 14), "UTF-8 with tabs and "
       "line breaks is text");
    ok(!utf8_text("a\0b", 3), "NUL is not");
    ok(!utf8_text("\x01", 1), "nor other control characters");
    ok(!utf8_text("\xff\xfe", 2), "nor invalid UTF-8");
    ok(!utf8_text("\xc3", 1), "nor a cut sequence");
    ok(!utf8_text("\xed\xa0\x80", 3), "nor a surrogate");
}

int main(void)
{
    test_logfmt();
    test_json();
    return done_testing();
}
