# What the benchmark scripts share; sourced by bench/*.sh (bash).
#
# Sets here, build, seconds, conns (BENCH_CONNS, default $1), dir (a fresh
# directory, removed at exit) and pids (killed at exit).  A script adds
# its own clean-up with bench_at_exit.

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${FUNCTIONS_BUILD:-$here/build/release}
seconds=${BENCH_SECONDS:-10}
conns=${BENCH_CONNS:-${1:-4}}
var=${FUNCTIONS_VAR:-$here/var}
dir=$(mktemp -d /tmp/functions-bench.XXXXXX)
chmod 755 "$dir"
pids=()
bench_exit_hooks=()

bench_at_exit() { bench_exit_hooks+=("$1"); }

bench_cleanup() {
    local h p
    for h in "${bench_exit_hooks[@]}"; do "$h" || true; done
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    sleep 0.5
    rm -rf "$dir"
}
trap bench_cleanup EXIT

# bench_cc tool...: bench/<tool>.c built into $dir/<tool>.
bench_cc() {
    local tool
    for tool in "$@"; do
        cc -std=gnu11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror -pthread \
            -o "$dir/$tool" "$here/bench/$tool.c"
    done
}

# bench_need file: stops unless the build made it.
bench_need() {
    [ -e "$build/$1" ] || { echo "build first: make" >&2; exit 1; }
}

# The hot test functions (t/fn/hot.c, t/fn/json.c and t/fn/stream.c,
# static) as images oci:hot:v1, oci:json:v1 and oci:stream:v1 in
# $dir/images.
bench_hot_image() {
    cc -static -O2 -Wall -o "$dir/hot-fn" "$here/t/fn/hot.c"
    cc -static -O2 -Wall -o "$dir/json-fn" "$here/t/fn/json.c" -ljansson
    cc -static -O2 -Wall -o "$dir/stream-fn" "$here/t/fn/stream.c"
    mkdir -p "$dir/images"
    perl -I"$here/scripts/lib" -MFnImage -e '
        my ($d) = @ARGV;
        for my $f ("hot", "json", "stream") {
            FnImage::build("$d/images/$f", tag => "v1",
                config => { Cmd => ["/fn/$f"] },
                layers => [ [ [ "fn", dir => 1 ],
                              [ "fn/$f", file => "$d/$f-fn", mode => 0755 ] ] ]);
        }
    ' "$dir"
}

# Waits for the background jobs that are no service of $pids; fails if
# one of them failed.
bench_wait_jobs() {
    local job ok=0
    for job in $(jobs -p); do
        case " ${pids[*]} " in *" $job "*) continue ;; esac
        wait "$job" || ok=1
    done
    return $ok
}

# An executor of the build, in $dir/NAME (its socket executor.sock there):
# bench_executor NAME [config line...]; the lines are added to the common
# ones.  Returns once it listens; its pid is the last of $pids.
bench_executor() {
    local name=$1
    shift
    mkdir -p "$dir/$name"
    {
        cat <<CONF
listen = $dir/$name/executor.sock
listen_mode = 0600
image_dir = $dir/images
state_dir = $dir/$name/state
cgroup_name = functions/bench-$$-$name
log_level = warn
log_file = $dir/$name/executor.log
queue_size = 1000
CONF
        printf '%s\n' "$@"
    } > "$dir/$name/executor.conf"
    "$build/functions-executor" -c "$dir/$name/executor.conf" &
    pids+=($!)
    for _ in $(seq 50); do
        [ -S "$dir/$name/executor.sock" ] && break
        sleep 0.1
    done
}

# The stack's services (scripts/stack services): their settings, sql().
bench_services() {
    [ -f "$var/stack.env" ] || {
        echo "start the services: scripts/stack services" >&2; exit 1; }
    . "$var/stack.env"
}

sql() { mariadb --no-defaults --socket="$FUNCTIONS_DB_SOCKET" --user=root "$@"; }

# bench_database name: a database of its own with the schema, dropped at
# exit.
bench_database() {
    bench_db=$1
    sql -e "CREATE DATABASE $bench_db CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
            GRANT ALL ON $bench_db.* TO 'functions'@'127.0.0.1'"
    bench_at_exit bench_drop_database
    FUNCTIONS_DB_PASSWORD_FILE=$FUNCTIONS_DB_PASSWORD_FILE \
        FUNCTIONS_DB_HOST=127.0.0.1 FUNCTIONS_DB_PORT=$FUNCTIONS_DB_PORT \
        FUNCTIONS_DB_USER=$FUNCTIONS_DB_USER FUNCTIONS_DB_SOCKET= \
        "$here/scripts/migrate" --database "$bench_db" > /dev/null
}
bench_drop_database() { sql -e "DROP DATABASE IF EXISTS $bench_db"; }

# A free TCP port on 127.0.0.1.
bench_port() {
    perl -MIO::Socket::INET -e 'print IO::Socket::INET->new(Listen => 1,
        LocalAddr => "127.0.0.1:0")->sockport'
}

# The top of an nginx.conf with the module (daemon, pid and logs in $dir;
# extra lines for the main context as arguments), up to "http {" and its
# temporary paths; nginx is stopped at exit.
bench_nginx_head() {
    mkdir -p "$dir/tmp"
    bench_at_exit bench_stop_nginx
    cat <<CONF
load_module $build/ngx_http_functions_module.so;
daemon on;
pid $dir/nginx.pid;
error_log $dir/nginx-error.log warn;
worker_processes 2;
$*
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $dir/tmp;
    proxy_temp_path $dir/tmp;
    fastcgi_temp_path $dir/tmp;
    uwsgi_temp_path $dir/tmp;
    scgi_temp_path $dir/tmp;
CONF
}
bench_stop_nginx() {
    [ -f "$dir/nginx.pid" ] && kill "$(cat "$dir/nginx.pid")" 2>/dev/null
}
