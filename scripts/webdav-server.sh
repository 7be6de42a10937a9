#!/usr/bin/env bash
# A WebDAV-capable HTTP server for pipe's remote cache: Debian's nginx (nginx-light has
# the dav module; libnginx-mod-http-dav-ext adds PROPFIND, which `pipe gc --remote` lists
# with) on 127.0.0.1, serving DIR/data with PUT, DELETE, MKCOL and PROPFIND. Everything
# it writes (config, pid, logs, request bodies) stays under DIR; no system file is touched.
#
#   scripts/webdav-server.sh start [DIR]   start it; prints `PIPE_WEBDAV_URL=... PIPE_WEBDAV_ROOT=...`
#   scripts/webdav-server.sh stop [DIR]    stop it (waits until it has exited)
#
# DIR defaults to $PIPE_WEBDAV_DIR, else /tmp/pipe-webdav. The port is $PIPE_WEBDAV_PORT, else a
# random one; a port in use moves to the next.
set -euo pipefail

cmd=${1:-}
dir=${2:-${PIPE_WEBDAV_DIR:-/tmp/pipe-webdav}}
nginx=$(command -v nginx || echo /usr/sbin/nginx)
dav_ext=/usr/lib/nginx/modules/ngx_http_dav_ext_module.so

conf() {
    local user=""
    # As root, nginx would run its workers as `nobody`, who cannot write DIR.
    [ "$(id -u)" = 0 ] && user="user root;"
    cat <<CONF
load_module $dav_ext;
daemon on;
$user
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/logs/error.log;
events { worker_connections 256; }
http {
    access_log $dir/logs/access.log;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    client_max_body_size 0;
    default_type application/octet-stream;
    server {
        listen 127.0.0.1:$1;
        root $dir/data;
        location / {
            dav_methods PUT DELETE MKCOL;
            dav_ext_methods PROPFIND OPTIONS;
            create_full_put_path on;
            dav_access user:rw group:r all:r;
        }
    }
}
CONF
}

case "$cmd" in
start)
    if [ ! -x "$nginx" ] || [ ! -f "$dav_ext" ]; then
        echo "webdav-server.sh: nginx or its dav-ext module not found; install them with: apt-get install -y nginx-light libnginx-mod-http-dav-ext" >&2
        exit 1
    fi
    mkdir -p "$dir/data" "$dir/tmp" "$dir/logs"
    dir=$(cd "$dir" && pwd)
    port=${PIPE_WEBDAV_PORT:-$((20000 + RANDOM % 20000))}
    for _ in $(seq 1 50); do
        conf "$port" >"$dir/nginx.conf"
        if "$nginx" -p "$dir" -e "$dir/logs/error.log" -c "$dir/nginx.conf" 2>"$dir/logs/start.err"; then
            echo "PIPE_WEBDAV_URL=http://127.0.0.1:$port PIPE_WEBDAV_ROOT=$dir/data"
            exit 0
        fi
        if ! grep -q "Address already in use" "$dir/logs/start.err"; then
            cat "$dir/logs/start.err" >&2
            exit 1
        fi
        port=$((port + 1))
    done
    echo "webdav-server.sh: no free port found" >&2
    exit 1
    ;;
stop)
    [ -f "$dir/nginx.pid" ] || exit 0
    pid=$(cat "$dir/nginx.pid")
    kill -QUIT "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || exit 0
        sleep 0.05
    done
    kill -KILL "$pid" 2>/dev/null || true
    ;;
*)
    echo "usage: $0 start|stop [DIR]" >&2
    exit 2
    ;;
esac
