/*
 * A hot test function in Fn's json format: reads one call object per line
 * on stdin, answers each with one object and a newline on stdout (as most
 * languages' print would).  What it does is chosen per call by its X-Mode
 * header:
 *
 *   echo (default)  status X-Status (200), the body back, content type
 *                   X-Type (text/plain), and the headers X-Instance (a
 *                   random id chosen at its start),
 *                   X-Seen (calls so far), X-Call-Id, X-Deadline, X-Method,
 *                   X-Url (the call's), X-Env (the value of the environment
 *                   variable named by X-Env-Name)
 *   garbage         a line that is not JSON
 *   badstatus       an answer whose status_code is a string
 *   twice           two answers to one call
 *   exit            exits with status 3 without answering
 *   hang            no answer
 *   log             writes "json log line" to stderr, then echoes
 *   bare            echoes, without the newline after the answer
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static const char *header(json_t *call, const char *name)
{
    json_t *h = json_object_get(json_object_get(call, "protocol"),
                                "headers");
    const char *key;
    json_t *v;

    json_object_foreach(h, key, v) {
        if (strcasecmp(key, name) == 0)
            return json_string_value(json_array_get(v, 0));
    }
    return NULL;
}

static int newline = 1;

static void say(json_t *answer)
{
    char *s = json_dumps(answer, JSON_COMPACT);

    fputs(s, stdout);
    if (newline)
        fputc('\n', stdout);
    fflush(stdout);
    free(s);
}

int main(void)
{
    char *line = NULL, seen[32], instance[33];
    unsigned char rnd[16];
    size_t cap = 0;
    unsigned long calls = 0;
    FILE *ur = fopen("/dev/urandom", "r");
    int i;

    if (ur == NULL || fread(rnd, 1, sizeof(rnd), ur) != sizeof(rnd))
        return 2;
    fclose(ur);
    for (i = 0; i < 16; i++)
        sprintf(instance + 2 * i, "%02x", rnd[i]);
    while (getline(&line, &cap, stdin) > 0) {
        json_t *call = json_loads(line, JSON_ALLOW_NUL, NULL), *a, *h;
        const char *mode, *st, *env;
        json_t *body;

        if (call == NULL)
            return 4;
        calls++;
        mode = header(call, "X-Mode");
        mode = mode != NULL ? mode : "echo";
        newline = strcmp(mode, "bare") != 0;
        if (strcmp(mode, "garbage") == 0) {
            fputs("this is not json\n", stdout);
            fflush(stdout);
            continue;
        }
        if (strcmp(mode, "exit") == 0)
            return 3;
        if (strcmp(mode, "hang") == 0) {
            pause();
            continue;
        }
        if (strcmp(mode, "badstatus") == 0) {
            say(json_pack("{s:{s:s}}", "protocol", "status_code", "200"));
            continue;
        }
        if (strcmp(mode, "log") == 0)
            fputs("json log line\n", stderr);
        st = header(call, "X-Status");
        env = header(call, "X-Env-Name");
        env = env != NULL ? getenv(env) : NULL;
        snprintf(seen, sizeof(seen), "%lu", calls);
        h = json_pack("{s:[s],s:[s],s:[s],s:[s],s:[s],s:[s],s:[s]}",
            "X-Instance", instance, "X-Seen", seen,
            "X-Call-Id", json_string_value(json_object_get(call, "call_id")),
            "X-Deadline",
            json_string_value(json_object_get(call, "deadline")),
            "X-Method", json_string_value(json_object_get(
                json_object_get(call, "protocol"), "method")),
            "X-Url", json_string_value(json_object_get(
                json_object_get(call, "protocol"), "request_url")),
            "X-Env", env != NULL ? env : "");
        body = json_object_get(call, "body");
        a = json_pack("{s:O,s:s,s:{s:i,s:o}}", "body", body,
                      "content_type", header(call, "X-Type") != NULL
                                      ? header(call, "X-Type")
                                      : "text/plain",
                      "protocol", "status_code", st != NULL ? atoi(st) : 200,
                      "headers", h);
        say(a);
        if (strcmp(mode, "twice") == 0)
            say(a);
        json_decref(a);
        json_decref(call);
    }
    return 0;
}
