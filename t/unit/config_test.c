/*
 * The executor's configuration parser.
 */
#include "config.h"
#include "tap.h"

static int parse(struct config *cfg, const char *text, char *err)
{
    config_defaults(cfg);
    return config_parse(cfg, text, strlen(text), err, CONFIG_ERR_MAX);
}

static void test_defaults_and_values(void)
{
    struct config cfg;
    char err[CONFIG_ERR_MAX] = "";
    const char *text =
        "# a comment\n"
        "\n"
        "listen = /run/functions/executor.sock   # trailing comment\n"
        "listen_mode=0600\n"
        "  listen_group =  www-data\n"
        "listen_tcp = 127.0.0.1:9090\n"
        "secret_file = /etc/functions/secret\n"
        "log_level = debug\n"
        "drain_timeout = 1500ms\n"
        "max_request_body = 2m\n"
        "image_dir = /var/lib/functions/images\n"
        "state_dir = /var/lib/functions/state\n"
        "cgroup_name = functions/a\n"
        "cgroup_delegated = yes\n"
        "sandbox_uids_owner = functions-sandbox\n"
        "log_retention = 2h\n"
        "pids_max = 100\n"
        "allow_network = no\n"
        "read_timeout = 2m";

    is_int(parse(&cfg, text, err), 0, "a full configuration parses");
    is_str(err, "", "and leaves no error");
    is_str(cfg.listen, "/run/functions/executor.sock",
           "listen, with the comment and blanks cut");
    is_int(cfg.listen_mode, 0600, "listen_mode is octal");
    is_str(cfg.listen_group, "www-data", "listen_group");
    is_str(cfg.listen_tcp, "127.0.0.1:9090", "listen_tcp");
    is_int(cfg.log_level, LOG_LEVEL_DEBUG, "log_level");
    is_int(cfg.drain_timeout_ms, 1500, "drain_timeout in ms");
    is_int(cfg.max_request_body, 2 * 1024 * 1024, "max_request_body");
    is_int(cfg.read_timeout_ms, 120000, "read_timeout in minutes");
    is_str(cfg.image_dir, "/var/lib/functions/images", "image_dir");
    is_str(cfg.cgroup_name, "functions/a", "cgroup_name");
    is_int(cfg.cgroup_delegated, 1, "cgroup_delegated");
    is_str(cfg.sandbox_uids_owner, "functions-sandbox", "sandbox_uids_owner");
    is_int(cfg.log_retention_ms, 2 * 3600 * 1000, "log_retention in hours");
    is_int(cfg.pids_max, 100, "pids_max");
    is_int(config_validate(&cfg, err, sizeof(err)), 0, "it validates");

    config_defaults(&cfg);
    is_int(cfg.listen_mode, 0660, "default listen_mode 0660");
    is_int(cfg.log_level, LOG_LEVEL_INFO, "default log_level info");
    is_int(cfg.drain_timeout_ms, 30000, "default drain_timeout 30s");
}

static void test_rejections(void)
{
    static const struct {
        const char *text;
        const char *error;
    } cases[] = {
        { "bogus = 1\n", "line 1: unknown key \"bogus\"" },
        { "\nlisten\n", "line 2: expected \"key = value\"" },
        { "listen =\n", "line 1: \"listen\" has no value" },
        { "= x\n", "line 1: missing key" },
        { "listen = relative.sock\n",
          "line 1: invalid listen \"relative.sock\", expected an absolute "
          "socket path shorter than 108 bytes" },
        { "listen_mode = 0999\n",
          "line 1: invalid listen_mode \"0999\", expected an octal mode "
          "such as 0660" },
        { "listen_mode = 1777\n",
          "line 1: invalid listen_mode \"1777\", expected an octal mode "
          "such as 0660" },
        { "listen_group = a;b\n",
          "line 1: invalid listen_group \"a;b\", expected a group name or "
          "number" },
        { "listen_tcp = 127.0.0.1\n",
          "line 1: invalid listen_tcp \"127.0.0.1\", expected host:port" },
        { "listen_tcp = 127.0.0.1:70000\n",
          "line 1: invalid listen_tcp \"127.0.0.1:70000\", expected "
          "host:port" },
        { "cgroup_delegated = maybe\n",
          "line 1: invalid cgroup_delegated \"maybe\", expected yes or no" },
        { "sandbox_uids_owner = Root\n",
          "line 1: invalid sandbox_uids_owner \"Root\", expected a user "
          "name: [a-z_][a-z0-9_.-]*, up to 32 characters" },
        { "sandbox_uids_owner = a:b\n",
          "line 1: invalid sandbox_uids_owner \"a:b\", expected a user "
          "name: [a-z_][a-z0-9_.-]*, up to 32 characters" },
        { "log_level = loud\n",
          "line 1: invalid log_level \"loud\", expected debug, info, warn "
          "or error" },
        { "drain_timeout = 5 s\n",
          "line 1: invalid drain_timeout \"5 s\", expected a duration such "
          "as 30s" },
        { "drain_timeout = 99999999999999999999s\n",
          "line 1: invalid drain_timeout \"99999999999999999999s\", "
          "expected a duration such as 30s" },
        { "max_request_header = 47k\n",
          "line 1: invalid max_request_header \"47k\", expected a size "
          "from 48k to 1m" },
        { "max_request_body = 2t\n",
          "line 1: invalid max_request_body \"2t\", expected a size up to "
          "1g" },
        { "read_timeout = 10ms\n",
          "line 1: invalid read_timeout \"10ms\", expected a duration from "
          "1s to 1h" },
        { "amqp_url = amqp://u:p@a/v http://b/\n",
          "line 1: invalid amqp_url \"amqp://u:p@a/v http://b/\", expected "
          "amqp://user:password@host:port/vhost, or several separated by "
          "spaces" },
        { "mysql_server = a b c d e f g h i\n",
          "line 1: invalid mysql_server \"a b c d e f g h i\", expected "
          "host:port or unix:/path, or several separated by spaces (at "
          "most 8)" },
    };
    struct config cfg;
    char err[CONFIG_ERR_MAX];
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        err[0] = '\0';
        is_int(parse(&cfg, cases[i].text, err), -1,
               "rejected: %.40s", cases[i].text);
        is_str(err, cases[i].error, "with a message naming the line");
    }
}

static void test_hostile_text(void)
{
    struct config cfg;
    char err[CONFIG_ERR_MAX], big[2048];
    const char nul[] = "listen = /a\0b\n";

    config_defaults(&cfg);
    is_int(config_parse(&cfg, nul, sizeof(nul) - 1, err, sizeof(err)), -1,
           "a NUL byte is refused");
    is_str(err, "line 1: contains a NUL byte", "and named");

    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    is_int(parse(&cfg, big, err), -1, "an overlong line is refused");
    is_str(err, "line 1: longer than 1023 bytes", "and named");

    is_int(parse(&cfg, "log_level = debug", err), 0,
           "the last line needs no newline");
    is_int(parse(&cfg, "listen = /x\r\n", err), 0, "CRLF line ends");
    is_str(cfg.listen, "/x", "with the CR cut");
}

static void test_cluster_lists(void)
{
    struct config cfg;
    char err[CONFIG_ERR_MAX];

    is_int(parse(&cfg, "mysql_server = 10.0.0.1:3306 10.0.0.2 "
                       "unix:/run/mysqld/mysqld.sock\n"
                       "amqp_url = amqp://u:p@10.0.0.5/v  "
                       "amqp://u:p@10.0.0.6:5673/v\n", err), 0,
           "lists of database and broker nodes parse");
    is_str(cfg.mysql_server, "10.0.0.1:3306 10.0.0.2 "
           "unix:/run/mysqld/mysqld.sock", "  mysql_server as written");
    is_str(cfg.amqp_url, "amqp://u:p@10.0.0.5/v  amqp://u:p@10.0.0.6:5673/v",
           "  amqp_url as written");
}

static void test_validate(void)
{
    struct config cfg;
    char err[CONFIG_ERR_MAX];

    config_defaults(&cfg);
    is_int(config_validate(&cfg, err, sizeof(err)), -1, "listen required");
    is_str(err, "\"listen\" is required", "and said");

    parse(&cfg, "listen = /x\nlisten_tcp = 127.0.0.1:1\n", err);
    is_int(config_validate(&cfg, err, sizeof(err)), -1,
           "TCP without a secret is refused");
}

static void test_units(void)
{
    static const struct {
        int size;               /* parse_size, else parse_duration_ms */
        const char *text;
        int rc;
        uint64_t value;         /* when rc is 0 */
        const char *name;
    } cases[] = {
        { 0, "250ms", 0, 250, "250ms" },
        { 0, "3", 0, 3000, "a bare number means seconds" },
        { 0, "1h", 0, 3600000, "1h" },
        { 0, "-1s", -1, 0, "negative refused" },
        { 0, "s", -1, 0, "no digits refused" },
        { 1, "64k", 0, 65536, "64k" },
        { 1, "1G", 0, 1073741824, "1G" },
        { 1, "1kb", -1, 0, "kb refused" },
        { 1, "18446744073709551615k", -1, 0, "overflow refused" },
    };
    uint64_t v;
    size_t i;
    int rc;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        v = 0;
        rc = cases[i].size ? parse_size(cases[i].text, &v)
                           : parse_duration_ms(cases[i].text, &v);
        is_int(rc, cases[i].rc, "%s", cases[i].name);
        if (rc == 0)
            is_int(v, cases[i].value, "  is %llu",
                   (unsigned long long)cases[i].value);
    }
}

static void test_image_limits(void)
{
    struct config cfg;
    char err[CONFIG_ERR_MAX] = "";

    config_defaults(&cfg);
    is_int(cfg.layer_max_bytes, 1ULL << 30, "default layer_max_bytes 1g");
    is_int(cfg.layer_max_entries, 100000, "default layer_max_entries");
    is_int(cfg.image_max_bytes, 2ULL << 30, "default image_max_bytes 2g");
    is_int(cfg.image_max_entries, 200000, "default image_max_entries");
    is_int(cfg.image_store_max_bytes, 10ULL << 30,
           "default image_store_max_bytes 10g");
    is_int(parse(&cfg, "listen = /s\nimage_dir = /i\nstate_dir = /st\n"
                 "layer_max_bytes = 8m\nlayer_max_entries = 500\n"
                 "image_max_bytes = 12m\nimage_max_entries = 800\n"
                 "image_store_max_bytes = 64m\n", err), 0,
           "the image limits parse");
    is_int(cfg.layer_max_bytes, 8 << 20, "layer_max_bytes");
    is_int(cfg.layer_max_entries, 500, "layer_max_entries");
    is_int(cfg.image_max_bytes, 12 << 20, "image_max_bytes");
    is_int(cfg.image_max_entries, 800, "image_max_entries");
    is_int(cfg.image_store_max_bytes, 64 << 20, "image_store_max_bytes");
    is_str(cfg.image_dir, "/i", "image_dir is still image_dir");
    is_int(config_validate(&cfg, err, sizeof(err)), 0, "they validate");
    is_int(parse(&cfg, "layer_max_bytes = 1k\n", err), -1,
           "layer_max_bytes under 64k refused");
    is_int(parse(&cfg, "image_max_entries = 0\n", err), -1,
           "image_max_entries 0 refused: there is always a limit");
    is_int(parse(&cfg, "listen = /s\nimage_dir = /i\nstate_dir = /st\n"
                 "image_max_bytes = 4g\nimage_store_max_bytes = 3g\n",
                 err), 0, "a store smaller than an image parses");
    is_int(config_validate(&cfg, err, sizeof(err)), -1, "but is refused");
    ok(strstr(err, "image_store_max_bytes") != NULL, "naming the key");
}

int main(void)
{
    test_defaults_and_values();
    test_image_limits();
    test_rejections();
    test_hostile_text();
    test_cluster_lists();
    test_validate();
    test_units();
    return done_testing();
}
