/*
 * Executor configuration: parsed from text, with no I/O, so that tests and
 * fuzzers can call the parser directly.
 */
#ifndef EXECUTOR_CONFIG_H
#define EXECUTOR_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define CONFIG_PATH_MAX 256
#define CONFIG_ERR_MAX 256

enum log_level {
    LOG_LEVEL_DEBUG,
    LOG_LEVEL_INFO,
    LOG_LEVEL_WARN,
    LOG_LEVEL_ERROR,
};

struct config {
    char listen[CONFIG_PATH_MAX];       /* Unix socket path (required) */
    mode_t listen_mode;                 /* permission bits of the socket */
    char listen_group[64];              /* group owning the socket, or "" */
    char listen_tcp[CONFIG_PATH_MAX];   /* host:port, or "" for none */
    char direct_listen[CONFIG_PATH_MAX];    /* SOCK_SEQPACKET socket for
                                             * direct dispatch, or "" */
    char secret_file[CONFIG_PATH_MAX];  /* required with listen_tcp */
    enum log_level log_level;
    char log_file[CONFIG_PATH_MAX];     /* "" means stderr */
    uint64_t drain_timeout_ms;          /* SIGTERM: wait this long for calls */
    uint64_t max_request_header;        /* bytes of request line + headers */
    uint64_t max_request_body;          /* bytes of a request body */
    uint64_t read_timeout_ms;           /* for a whole request, or idle */

    /* functions */
    char image_dir[CONFIG_PATH_MAX];    /* where oci:<dir> layouts are */
    char state_dir[CONFIG_PATH_MAX];    /* the image store and such */
    char bwrap[CONFIG_PATH_MAX];
    char sandbox_helper[CONFIG_PATH_MAX];   /* "": beside the executor */
    char cgroup_root[CONFIG_PATH_MAX];
    char cgroup_name[128];              /* our directory below the root */
    int cgroup_delegated;               /* ... below our own group */
    char sandbox_uids_owner[33];        /* its /etc/subuid reservation */
    uint32_t sandbox_uid_first;         /* host uids (and gids) of the */
    uint32_t sandbox_uid_count;         /* sandboxes: one each */
    int allow_network;
    uint64_t max_response_body;
    uint64_t tmp_size;
    uint64_t pids_max;
    uint64_t cpu_quota;                 /* percent of one core, 0: none */
    uint64_t log_max_per_call;          /* bytes of stderr kept per call */
    uint64_t log_retention_ms;          /* how long call logs are kept */
    uint64_t log_store_max;             /* bytes they may take, 0: any */

    /* capacity */
    uint64_t max_sandboxes;
    uint64_t memory_budget;
    uint64_t queue_size;
    uint64_t queue_timeout_ms;

    /* images: what one may unpack to, and what the unpacked ones may
     * take together (unpack_limits.h, image_trees.h) */
    uint64_t layer_max_bytes;           /* a layer's tar stream, and blob */
    uint64_t layer_max_entries;
    uint64_t image_max_bytes;           /* all its layers */
    uint64_t image_max_entries;
    uint64_t image_store_max_bytes;     /* unpacked trees on disk */

    /* registries (registry.h): where images not in image_dir come from */
    char default_registry[256];         /* host[:port] of "name[:tag]" */
    char default_namespace[128];        /* "hello" -> "<ns>/hello", "": no */
    char allowed_registries[1024];      /* host[:port],...; "": the default */
    char insecure_registries[1024];     /* host:port,... over plain HTTP */
    char registry_ca_file[CONFIG_PATH_MAX];     /* "": the system's */
    char registry_credentials_file[CONFIG_PATH_MAX];    /* "": none */
    uint64_t registry_timeout_ms;       /* one request, a blob included */
    uint64_t registry_tag_ttl_ms;       /* a tag's digest, cached */
    uint64_t registry_manifest_max;     /* bytes of a manifest or index */

    /* sandboxes kept for the next call of the same route */
    uint64_t sandbox_idle_timeout_ms;   /* 0: none kept */
    uint64_t listen_timeout_ms;         /* for an http-stream instance to
                                         * listen on FN_LISTENER */
    uint64_t sandbox_idle_max;          /* idle ones at most, 0: none */

    /* async calls: consumed from RabbitMQ, recorded in MySQL */
    char amqp_url[2048];                /* "": no async calls here; or
                                         * URLs separated by spaces */
    char amqp_exchange[128];
    char amqp_queue[128];
    int amqp_quorum;
    uint64_t async_slots;               /* 0: half of max_sandboxes */
    uint64_t async_retries;             /* further attempts of a failure */
    uint64_t async_retry_delay_ms;      /* the first; doubles each time */
    char mysql_server[1024];            /* host:port or unix:/path, or
                                         * several separated by spaces */
    char mysql_user[64];
    char mysql_password_file[CONFIG_PATH_MAX];
    char mysql_database[65];

    /* metrics (metrics.h) */
    uint64_t metrics_interval_ms;       /* metric log lines; 0: none */
    uint64_t metrics_max_series;        /* routes with series of their own */
    char metrics_listen[CONFIG_PATH_MAX];   /* host:port for GET /metrics
                                             * alone, or "" */
};

void config_defaults(struct config *cfg);

/*
 * Parses "key = value" lines ('#' starts a comment) over the defaults
 * already in cfg.  Returns 0, or -1 with a message naming the line in err.
 */
int config_parse(struct config *cfg, const char *text, size_t len,
                 char *err, size_t errlen);

/* Checks what no single line can: required keys and combinations. */
int config_validate(const struct config *cfg, char *err, size_t errlen);

/* Whether host[:port] is in a comma-separated list of them (as written
 * in allowed_registries and insecure_registries). */
int config_registry_listed(const char *list, const char *registry);

/* "30s", "500ms", "2m", "1h" -> milliseconds; -1 if malformed. */
int parse_duration_ms(const char *s, uint64_t *out);

/* "512", "64k", "16m", "2g" -> bytes; -1 if malformed. */
int parse_size(const char *s, uint64_t *out);

const char *log_level_name(enum log_level level);

#endif
