/*
 * The shared read buffer.
 */
#include "read_buf.h"

void read_buf_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    static char data[64 * 1024];

    (void)h;
    (void)suggested;
    buf->base = data;
    buf->len = sizeof(data);
}
