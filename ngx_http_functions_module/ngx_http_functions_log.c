
/*
 * The module's log lines in logfmt.
 *
 *     functions_log FILE [error|warn|notice|info|debug];
 *
 * FILE is opened like nginx's own logs (by the master, reopened on
 * USR1); lines are written whole with one write(2), so workers never
 * interleave.  The level defaults to info.
 *
 * The file is kept readable by its owner and group only (0640 or
 * stricter), whatever the umask: when opened, and again when a write
 * finds a descriptor it has not seen (the file was reopened, perhaps
 * created anew).  Its lines carry ids, names and errors, never a header
 * or body of a request.
 */


#include "ngx_http_functions_module.h"
#include "ngx_http_functions_log.h"


/* group write and everything for others */
#define NGX_HTTP_FUNCTIONS_LOG_MODE_DENY  (S_IWGRP|S_IRWXO)


static void ngx_http_functions_log_restrict(ngx_fd_t fd, ngx_log_t *log);


static ngx_open_file_t  *ngx_http_functions_log_file;
static ngx_uint_t        ngx_http_functions_log_level;

/* the descriptor whose mode was last checked (threads write too) */
static ngx_atomic_t      ngx_http_functions_log_checked =
                             (ngx_atomic_uint_t) -1;


static ngx_str_t  ngx_http_functions_log_levels[] = {
    ngx_null_string,
    ngx_string("emerg"),
    ngx_string("alert"),
    ngx_string("crit"),
    ngx_string("error"),
    ngx_string("warn"),
    ngx_string("notice"),
    ngx_string("info"),
    ngx_string("debug"),
};


char *
ngx_http_functions_log(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_functions_main_conf_t *fmcf = conf;

    ngx_str_t   *value;
    ngx_uint_t   i;

    if (fmcf->log_file != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 0 || value[1].data[0] != '/') {
        return "needs an absolute path";
    }

    fmcf->log_level = NGX_LOG_INFO;

    if (cf->args->nelts == 3) {
        fmcf->log_level = 0;

        for (i = NGX_LOG_ERR; i <= NGX_LOG_DEBUG; i++) {
            if (value[2].len == ngx_http_functions_log_levels[i].len
                && ngx_strncmp(value[2].data,
                               ngx_http_functions_log_levels[i].data,
                               value[2].len) == 0)
            {
                fmcf->log_level = i;
            }
        }

        if (fmcf->log_level == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid level \"%V\": use error, warn, "
                               "notice, info or debug", &value[2]);
            return NGX_CONF_ERROR;
        }
    }

    fmcf->log_file = ngx_conf_open_file(cf->cycle, &value[1]);
    if (fmcf->log_file == NULL) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* In the master, once the files are open: it owns a file it created. */

ngx_int_t
ngx_http_functions_log_init_module(ngx_cycle_t *cycle)
{
    ngx_http_functions_main_conf_t  *fmcf;

    fmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_functions_module);
    if (fmcf == NULL || fmcf->log_file == NULL
        || fmcf->log_file->fd == NGX_INVALID_FILE)
    {
        return NGX_OK;
    }

    ngx_http_functions_log_restrict(fmcf->log_file->fd, cycle->log);

    return NGX_OK;
}


/* Takes group write and every right of others away from an open file. */

static void
ngx_http_functions_log_restrict(ngx_fd_t fd, ngx_log_t *log)
{
    ngx_file_info_t  fi;

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, log, ngx_errno,
                      "functions_log: fstat() failed");
        return;
    }

    if ((fi.st_mode & NGX_HTTP_FUNCTIONS_LOG_MODE_DENY) == 0) {
        return;
    }

    if (fchmod(fd, fi.st_mode & 07777 & ~NGX_HTTP_FUNCTIONS_LOG_MODE_DENY)
        == -1)
    {
        ngx_log_error(NGX_LOG_ALERT, log, ngx_errno,
                      "functions_log: fchmod() failed, the file stays "
                      "readable by others");
    }
}


/* Before a write: a descriptor not seen yet (a reopened file) is checked. */

static ngx_fd_t
ngx_http_functions_log_fd(void)
{
    ngx_fd_t  fd;

    fd = ngx_http_functions_log_file->fd;

    if ((ngx_atomic_uint_t) fd != ngx_http_functions_log_checked) {
        ngx_http_functions_log_restrict(fd, ngx_cycle->log);
        ngx_http_functions_log_checked = (ngx_atomic_uint_t) fd;
    }

    return fd;
}


void
ngx_http_functions_log_init_process(ngx_cycle_t *cycle)
{
    ngx_http_functions_main_conf_t  *fmcf;

    fmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_functions_module);
    if (fmcf == NULL) {
        return;
    }

    ngx_http_functions_log_file = fmcf->log_file;
    ngx_http_functions_log_level = fmcf->log_level;
}


/* "time=... level=..." of a line to the file */

static void
ngx_http_functions_log_head(struct logfmt_buf *b, ngx_uint_t level)
{
    ngx_str_t  *name;

    name = &ngx_http_functions_log_levels[level];

    logfmt_add(b, "time", (char *) ngx_cached_http_log_iso8601.data,
               ngx_cached_http_log_iso8601.len);
    logfmt_add(b, "level", (char *) name->data, name->len);
}


ngx_uint_t
ngx_http_functions_log_begin(ngx_http_functions_log_t *l, ngx_log_t *log,
    ngx_uint_t level, const char *msg)
{
    if (log == NULL) {
        log = ngx_cycle->log;
    }

    if (ngx_http_functions_log_file != NULL) {
        l->active = level <= ngx_http_functions_log_level;

    } else {
        l->active = level <= log->log_level;
    }

    if (!l->active) {
        return 0;
    }

    l->level = level;
    logfmt_init(&l->buf, l->data, sizeof(l->data));

    if (ngx_http_functions_log_file != NULL) {
        ngx_http_functions_log_head(&l->buf, level);
    }

    logfmt_add_str(&l->buf, "msg", msg);

    return 1;
}


void
ngx_http_functions_log_str(ngx_http_functions_log_t *l, const char *key,
    ngx_str_t *value)
{
    if (l->active) {
        logfmt_add(&l->buf, key, (char *) value->data, value->len);
    }
}


void
ngx_http_functions_log_cstr(ngx_http_functions_log_t *l, const char *key,
    const char *value)
{
    if (l->active) {
        logfmt_add_str(&l->buf, key, value != NULL ? value : "");
    }
}


void
ngx_http_functions_log_int(ngx_http_functions_log_t *l, const char *key,
    int64_t value)
{
    if (l->active) {
        logfmt_add_int(&l->buf, key, value);
    }
}


void
ngx_http_functions_log_end(ngx_http_functions_log_t *l, ngx_log_t *log)
{
    size_t  len;

    if (!l->active) {
        return;
    }

    l->active = 0;
    len = logfmt_finish(&l->buf);

    if (ngx_http_functions_log_file != NULL) {
        (void) ngx_write_fd(ngx_http_functions_log_fd(), l->data, len);
        return;
    }

    ngx_log_error(l->level, log != NULL ? log : ngx_cycle->log, 0,
                  "functions: %*s", len - 1, l->data);
}


void
ngx_http_functions_log_msg(ngx_log_t *log, ngx_uint_t level,
    const char *msg, const char *error)
{
    ngx_http_functions_log_t  l;

    if (ngx_http_functions_log_begin(&l, log, level, msg)) {
        if (error != NULL) {
            ngx_http_functions_log_cstr(&l, "error", error);
        }

        ngx_http_functions_log_end(&l, log);
    }
}


void
ngx_http_functions_log_lines(ngx_log_t *log, ngx_uint_t level, u_char *data,
    size_t len)
{
    u_char                    *p, *nl, *end;
    ngx_http_functions_log_t   l;

    end = data + len;

    for (p = data; p < end; p = nl + 1) {
        nl = ngx_strlchr(p, end, '\n');
        if (nl == NULL) {
            nl = end;
        }

        if (ngx_http_functions_log_file == NULL) {
            ngx_log_error(level, log, 0, "functions: msg=metric %*s",
                          nl - p, p);
            continue;
        }

        if (level > ngx_http_functions_log_level) {
            return;
        }

        logfmt_init(&l.buf, l.data, sizeof(l.data));
        ngx_http_functions_log_head(&l.buf, level);
        logfmt_add_str(&l.buf, "msg", "metric");

        if (l.buf.len + 1 + (nl - p) + 1 > sizeof(l.data)) {
            continue;   /* no metric line is that long */
        }

        l.data[l.buf.len++] = ' ';
        ngx_memcpy(l.data + l.buf.len, p, nl - p);
        l.buf.len += nl - p;
        l.data[l.buf.len++] = '\n';

        (void) ngx_write_fd(ngx_http_functions_log_fd(), l.data,
                            l.buf.len);
    }
}
