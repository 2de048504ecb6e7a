/*
 * A process's own cgroup, from /proc/<pid>/cgroup ("id:controllers:path"
 * lines).  Pure: the caller reads the file.
 */
#include "cgroup_self.h"

#include <string.h>

/* Whether the comma-separated list [list, end) holds name. */
static int names(const char *list, const char *end, const char *name)
{
    size_t n = strlen(name);
    const char *p = list, *comma;

    while (p < end) {
        comma = memchr(p, ',', (size_t)(end - p));
        if (comma == NULL)
            comma = end;
        if ((size_t)(comma - p) == n && memcmp(p, name, n) == 0)
            return 1;
        p = comma + 1;
    }
    return 0;
}

/* An absolute path without "." or ".." parts (nor empty ones but "/"). */
static int clean_path(const char *p, size_t len)
{
    size_t i = 0, start;

    if (len == 0 || p[0] != '/')
        return 0;
    if (len == 1)
        return 1;
    while (i < len) {
        start = ++i;
        while (i < len && p[i] != '/')
            i++;
        if (i == start || (i - start == 1 && p[start] == '.')
            || (i - start == 2 && p[start] == '.' && p[start + 1] == '.'))
            return 0;
    }
    return 1;
}

int cgroup_self_path(const char *text, const char *controller, char *out,
                     size_t size)
{
    const char *line = text, *eol, *c1, *c2;
    size_t len;

    while (*line != '\0') {
        eol = strchr(line, '\n');
        if (eol == NULL)
            eol = line + strlen(line);
        c1 = memchr(line, ':', (size_t)(eol - line));
        c2 = c1 != NULL ? memchr(c1 + 1, ':', (size_t)(eol - c1 - 1)) : NULL;
        if (c2 != NULL
            && (controller == NULL
                ? c1 - line == 1 && line[0] == '0' && c2 == c1 + 1
                : names(c1 + 1, c2, controller))) {
            len = (size_t)(eol - c2 - 1);
            if (!clean_path(c2 + 1, len) || len >= size)
                return -1;
            memcpy(out, c2 + 1, len);
            out[len] = '\0';
            return 0;
        }
        line = *eol == '\n' ? eol + 1 : eol;
    }
    return -1;
}
