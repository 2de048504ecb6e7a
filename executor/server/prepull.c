/*
 * Pre-pulls (prepull.h).
 */
#include "prepull.h"
#include "image_ref.h"
#include "image_store.h"
#include "json_out.h"
#include "log.h"
#include "metrics.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct prepull {
    uv_work_t work;
    struct http_conn *conn;     /* NULL once the caller is gone */
    char image_dir[CONFIG_PATH_MAX];
    char state_dir[CONFIG_PATH_MAX];
    char name[IMAGE_REF_MAX + 1];
    struct image img;
    enum image_error rc;
    char err[512];
};

static void on_conn_closed(void *arg)
{
    struct prepull *p = arg;

    p->conn = NULL;
}

static void work(uv_work_t *w)
{
    struct prepull *p = w->data;

    p->rc = image_prepare(p->image_dir, p->state_dir, p->name, &p->img,
                          p->err, sizeof(p->err));
}

static void done(uv_work_t *w, int status)
{
    struct prepull *p = w->data;
    json_t *o;
    char *body;

    if (status < 0 && p->rc == IMAGE_OK)
        p->rc = IMAGE_IO;
    if (p->rc != IMAGE_OK) {
        metrics_count(METRICS_IMAGE_ERRORS);
        log_msg(p->rc == IMAGE_IO ? LOG_LEVEL_ERROR : LOG_LEVEL_WARN,
                "pre-pull failed", p->err);
    }
    if (p->conn != NULL) {
        p->conn->on_close = NULL;
        if (p->rc != IMAGE_OK) {
            http_conn_respond_error(p->conn, p->rc == IMAGE_BAD_NAME ? 400
                                    : p->rc == IMAGE_IO ? 500 : 502, p->err);
        } else {
            o = json_pack("{s:s, s:s, s:b}", "image", p->name, "digest",
                          p->img.digest, "unpacked", p->img.unpacked);
            body = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
            if (body != NULL)
                http_conn_respond(p->conn, 200, "application/json", NULL,
                                  body, strlen(body));
            else
                http_conn_respond_error(p->conn, 500, "out of memory");
            free(body);
            json_decref(o);
        }
    }
    if (p->rc == IMAGE_OK)
        image_free(&p->img);
    free(p);
}

void prepull_start(uv_loop_t *loop, const struct config *cfg,
                   struct http_conn *c)
{
    const struct http_request *req = &c->rp.req;
    json_t *root;
    const char *image;
    struct prepull *p;

    root = json_loadb(req->body ? req->body : "", req->body_len,
                      JSON_REJECT_DUPLICATES, NULL);
    image = json_string_value(json_object_get(root, "image"));
    if (image == NULL || json_object_size(root) != 1
        || strlen(image) > IMAGE_REF_MAX || image[0] == '\0') {
        json_decref(root);
        http_conn_respond_error(c, 400, "the body must be {\"image\":"
                                "\"<reference>\"}");
        return;
    }
    p = calloc(1, sizeof(*p));
    if (p == NULL) {
        json_decref(root);
        http_conn_respond_error(c, 500, "out of memory");
        return;
    }
    strcpy(p->name, image);
    json_decref(root);
    memcpy(p->image_dir, cfg->image_dir, sizeof(p->image_dir));
    memcpy(p->state_dir, cfg->state_dir, sizeof(p->state_dir));
    p->conn = c;
    p->work.data = p;
    c->on_close = on_conn_closed;
    c->on_close_arg = p;
    if (uv_queue_work(loop, &p->work, work, done) < 0) {
        c->on_close = NULL;
        free(p);
        http_conn_respond_error(c, 500, "cannot queue work");
    }
}
