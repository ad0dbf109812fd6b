#!/usr/bin/env bash
# Instructions per proxied request in Gantry's worker thread, counted by callgrind:
# unlike CPU time on a shared 2-core machine, the count repeats to a fraction of a
# percent, so it shows whether a change to the hot path made it cheaper. Prints the
# total per request and the functions with the most instructions of their own.
#
#   cargo build --release -p gantry
#   bench/instructions-per-request.sh             # one route, plain proxying
#   KONG_YML=path/to/kong.yml HEADER='apikey: k' bench/instructions-per-request.sh
#   TOP=60 bench/instructions-per-request.sh
#   KEEP=/tmp/cg.out bench/instructions-per-request.sh   # keep the profile (inclusive costs)
#   PEER=nginx bench/instructions-per-request.sh  # the same count for nginx's proxy_pass
#   VG_OPTS="--cache-sim=yes --branch-sim=yes" KEEP=/tmp/cg.out bench/instructions-per-request.sh
#       # simulated cache misses and mispredicts too (grep totals: /tmp/cg.out)
#
# An nginx origin on 127.0.0.1:9301 answers "ok"; Gantry (DB-less, 1 worker) runs
# under valgrind on 127.0.0.1:9305 (with PEER=nginx: nginx, one worker process, the
# proxy_pass config of ../shared/bench/run-peers.sh, in its place); wrk sends 10 connections for 5 s (about 30k
# requests under valgrind). Everything started is stopped by PID.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${GANTRY_BIN:-$ROOT/target/release/gantry}
TOP=${TOP:-30}
for tool in nginx wrk valgrind callgrind_control; do
  command -v $tool >/dev/null || { echo "missing $tool (apt-get install nginx wrk valgrind)" >&2; exit 1; }
done
[[ -x $BIN ]] || (cd "$ROOT" && cargo build --release -p gantry)
DIR=$(mktemp -d /tmp/gantry-ipr.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do { kill -9 "$p"; wait "$p"; } 2>/dev/null || true; done; rm -rf "$DIR"; }
trap cleanup EXIT

mkdir -p "$DIR/origin" "$DIR/gantry"
cat > "$DIR/origin/nginx.conf" <<EOF
worker_processes 1;
daemon off;
master_process off;
pid $DIR/origin/nginx.pid;
error_log $DIR/origin/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $DIR/origin; proxy_temp_path $DIR/origin; fastcgi_temp_path $DIR/origin;
  uwsgi_temp_path $DIR/origin; scgi_temp_path $DIR/origin;
  keepalive_requests 10000000;
  server { listen 127.0.0.1:9301; location / { return 200 "ok"; } }
}
EOF
nginx -c "$DIR/origin/nginx.conf" & PIDS+=($!)
if [[ -n ${KONG_YML:-} ]]; then
  cp "$KONG_YML" "$DIR/gantry/kong.yml"
  sed -i 's#http://127.0.0.1:9001#http://127.0.0.1:9301#' "$DIR/gantry/kong.yml"
else
  cat > "$DIR/gantry/kong.yml" <<'EOF'
_format_version: "3.0"
services:
- name: origin
  url: http://127.0.0.1:9301
  routes:
  - name: all
    paths: ["/"]
    strip_path: false
EOF
fi
if [[ ${PEER:-gantry} == nginx ]]; then
  mkdir -p "$DIR/proxy"
  cat > "$DIR/proxy/nginx.conf" <<EOF
worker_processes 1;
daemon off;
master_process off;
pid $DIR/proxy/nginx.pid;
error_log $DIR/proxy/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $DIR/proxy; proxy_temp_path $DIR/proxy; fastcgi_temp_path $DIR/proxy;
  uwsgi_temp_path $DIR/proxy; scgi_temp_path $DIR/proxy;
  keepalive_requests 10000000;
  keepalive_timeout 300s;
  upstream origin { server 127.0.0.1:9301; keepalive 128; keepalive_requests 10000000; keepalive_timeout 300s; }
  server {
    listen 127.0.0.1:9305;
    location / { proxy_pass http://origin; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
EOF
  valgrind --tool=callgrind ${VG_OPTS:-} --callgrind-out-file="$DIR/cg.out.1" \
    nginx -c "$DIR/proxy/nginx.conf" > "$DIR/valgrind.log" 2>&1 & VG=$!
else
  env KONG_PREFIX="$DIR/gantry" KONG_DATABASE=off KONG_DECLARATIVE_CONFIG="$DIR/gantry/kong.yml" \
    KONG_PROXY_LISTEN=127.0.0.1:9305 KONG_ADMIN_LISTEN=off KONG_STATUS_LISTEN=off \
    KONG_NGINX_WORKER_PROCESSES=1 KONG_LOG_LEVEL=warn \
    valgrind --tool=callgrind ${VG_OPTS:-} --separate-threads=yes --callgrind-out-file="$DIR/cg.out" \
    "$BIN" start > "$DIR/valgrind.log" 2>&1 & VG=$!
fi
PIDS+=($VG)
# START_WAIT: seconds to wait for the proxy to listen (a 10k-consumer kong.yml loads
# slowly under valgrind: START_WAIT=300).
for _ in $(seq $(( ${START_WAIT:-30} * 2 ))); do (exec 3<>/dev/tcp/127.0.0.1/9305) 2>/dev/null && break; sleep 0.5; done
args=()
[[ -n ${HEADER:-} ]] && args=(-H "$HEADER")
wrk -t1 -c10 -d1s "${args[@]}" http://127.0.0.1:9305/ > /dev/null   # warm-up
callgrind_control -z "$VG" > /dev/null
out=$(wrk -t1 -c10 -d5s "${args[@]}" http://127.0.0.1:9305/)
callgrind_control -d "$VG" > /dev/null
sleep 2
requests=$(awk '/requests in/{print $1}' <<< "$out")
non2xx=$(awk '/Non-2xx/{print $NF}' <<< "$out")
[[ -n $non2xx ]] && echo "warning: $non2xx responses were not 2xx" >&2
worker=$(ls -S "$DIR"/cg.out.* | head -1)
if [[ -n ${KEEP:-} ]]; then cp "$worker" "$KEEP"; echo "callgrind profile of the worker thread: $KEEP (callgrind_annotate --inclusive=yes $KEEP)"; fi
python3 - "$worker" "$requests" "$TOP" <<'PY'
import collections, re, sys
path, requests, top = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
names, cur, own, after_call = {}, None, collections.Counter(), False
for line in open(path):
    line = line.rstrip("\n")
    m = re.match(r"^(c?)fn=\((\d+)\)(?: (.*))?$", line)
    if m:
        if m.group(3):
            names[m.group(2)] = m.group(3)
        if not m.group(1):
            cur = names.get(m.group(2), m.group(2))
        continue
    if line.startswith("calls="):
        after_call = True  # the next cost line is the call's inclusive cost
        continue
    if cur and re.match(r"^([+-]?\d+|\*)\s", line):  # "* n": same position as the line before
        parts = line.split()
        if len(parts) >= 2:
            if after_call:
                after_call = False
                continue
            own[cur] += int(parts[1])
total = sum(own.values())
print(f"requests: {requests}   instructions per request: {total / requests:.0f}")
for name, n in own.most_common(top):
    print(f"{n / requests:8.0f}  {name[:120]}")
PY
