#!/usr/bin/env bash
# Where a proxied request's CPU goes: Gantry with key-auth (1 consumer, or CONSUMERS of
# them) and nginx's plain proxy_pass, measured in alternating runs against the same
# nginx origin. For each run: CPU-µs per request split into user and kernel time (all
# threads, from /proc/<pid>/task/*/stat), TCP segments sent per request, and at the end
# the ratio to nginx (median of per-pair ratios). With STRACE=1, one more short run per
# peer counts system calls per request under strace (slower; counts only).
#
#   cargo build --release -p gantry
#   bench/cpu-split.sh                       # saturating: wrk -c50, 6 pairs of 5 s (~1.5 min)
#   MODE=rate DUR=20 bench/cpu-split.sh      # ~2k req/s: 20 connections, 5-15 ms think time
#                                            # (runs use ~0.4 s CPU per 5 s: long ones beat tick rounding)
#   CONSUMERS=10000 STRACE=1 REPS=4 bench/cpu-split.sh
#   TOGETHER=1 bench/cpu-split.sh            # both peers loaded at the same time (noisy host)
#
# Layout: the proxies on CPU 0, origin and wrk on CPU 1, one worker each. Kernel time is
# tick-sampled, so user/sys splits are good to a few percent; the totals are what count.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${GANTRY_BIN:-$ROOT/target/release/gantry}
MODE=${MODE:-tput}
REPS=${REPS:-6}
DUR=${DUR:-5}
CONSUMERS=${CONSUMERS:-1}
for tool in nginx wrk taskset; do
  command -v $tool >/dev/null || { echo "missing $tool (apt-get install nginx wrk util-linux)" >&2; exit 1; }
done
[[ -x $BIN ]] || (cd "$ROOT" && cargo build --release -p gantry)
D=$(mktemp -d /tmp/gantry-cpu-split.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do { kill -9 "$p"; wait "$p"; } 2>/dev/null || true; done; rm -rf "$D"; }
trap cleanup EXIT
mkdir -p "$D/origin" "$D/proxy" "$D/gantry"

nginx_conf() {  # dir server-block
  cat > "$1/nginx.conf" <<EOF
worker_processes 1;
daemon off;
master_process off;
pid $1/nginx.pid;
error_log $1/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $1; proxy_temp_path $1; fastcgi_temp_path $1; uwsgi_temp_path $1; scgi_temp_path $1;
  keepalive_requests 10000000;
  keepalive_timeout 300s;
  $2
}
EOF
}
nginx_conf "$D/origin" 'server { listen 127.0.0.1:9401; location / { return 200 "ok"; } }'
nginx_conf "$D/proxy" 'upstream origin { server 127.0.0.1:9401; keepalive 128; keepalive_requests 10000000; keepalive_timeout 300s; }
  server { listen 127.0.0.1:9402; location / { proxy_pass http://origin; proxy_http_version 1.1; proxy_set_header Connection ""; } }'
python3 "$ROOT/bench/keyauth-config.py" "$D/gantry/kong.yml" "$CONSUMERS" http://127.0.0.1:9401
cat > "$D/rate.lua" <<'EOF'
wrk.headers["apikey"] = "bench-key"
function delay() return math.random(5, 15) end
EOF

taskset -c 1 nginx -c "$D/origin/nginx.conf" & PIDS+=($!)
taskset -c 0 nginx -c "$D/proxy/nginx.conf" & NGINX=$!; PIDS+=($NGINX)
env KONG_PREFIX="$D/gantry" KONG_DATABASE=off KONG_DECLARATIVE_CONFIG="$D/gantry/kong.yml" \
  KONG_PROXY_LISTEN=127.0.0.1:9403 KONG_ADMIN_LISTEN=off KONG_STATUS_LISTEN=off \
  KONG_NGINX_WORKER_PROCESSES=1 KONG_LOG_LEVEL=warn \
  taskset -c 0 "$BIN" start > "$D/gantry.log" 2>&1 & GANTRY=$!; PIDS+=($GANTRY)
for port in 9402 9403; do
  for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.2; done
done
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'apikey: bench-key' http://127.0.0.1:9403/)
[[ $code == 200 ]] || { echo "gantry answered $code, not 200" >&2; cat "$D/gantry.log" >&2; exit 1; }

load() {  # port seconds
  if [[ $MODE == rate ]]; then
    taskset -c 1 wrk -t1 -c20 -d"$2"s -s "$D/rate.lua" "http://127.0.0.1:$1/"
  else
    taskset -c 1 wrk -t1 -c50 -d"$2"s -H 'apikey: bench-key' "http://127.0.0.1:$1/"
  fi
}
ticks() {  # pid -> "user+sys user" in clock ticks, all threads
  local t u=0 s=0 f
  for t in /proc/$1/task/*/stat; do
    read -ra f <<< "$(sed 's/.*) //' "$t")"
    u=$((u + f[11])); s=$((s + f[11] + f[12]))
  done
  echo "$s $u"
}
segs() { awk '/^Tcp: [0-9]/{print $12}' /proc/net/snmp; }
# Times the peer went to sleep (blocked in epoll_wait with nothing to do), all threads:
# each sleep and wake-up is kernel time a busier event loop does not spend.
sleeps() { cat /proc/$1/task/*/status | awk '/^voluntary_ctxt_switches/{n += $2} END {print n}'; }
TCK=$(getconf CLK_TCK)

load 9402 2 > /dev/null; load 9403 2 > /dev/null   # warm-up: pools, caches
echo "mode=$MODE consumers=$CONSUMERS reps=$REPS dur=${DUR}s"
printf '%-7s %4s %9s %10s %8s %8s %9s %10s\n' peer rep requests cpu_us/req user sys segs/req sleeps/req
RES=$D/results.txt
# TOGETHER=1: both peers loaded at once, each by its own wrk, over the same seconds. A
# shared host's drift (steal, a neighbour's cache pressure) then hits both alike, which
# alternating runs cannot promise when it changes faster than a run; the proxies share
# CPU 0, so each runs below saturation and pays the other's cache footprint.
together() {  # rep
  local pid p c0 u0 w0 c1 u1 w1 req
  declare -A C0 U0 W0
  for p in nginx gantry; do
    [[ $p == nginx ]] && pid=$NGINX || pid=$GANTRY
    read -r C0[$p] U0[$p] < <(ticks $pid); W0[$p]=$(sleeps $pid)
  done
  load 9402 "$DUR" > "$D/out-nginx" & local l1=$!
  load 9403 "$DUR" > "$D/out-gantry" & local l2=$!
  wait $l1 $l2
  for p in nginx gantry; do
    [[ $p == nginx ]] && pid=$NGINX || pid=$GANTRY
    read -r c1 u1 < <(ticks $pid); w1=$(sleeps $pid)
    req=$(awk '/requests in/{print $1}' "$D/out-$p")
    bad=$(awk '/Non-2xx/{print $NF}' "$D/out-$p")
    [[ -n $bad ]] && echo "warning: $p: $bad responses were not 2xx" >&2
    awk -v p=$p -v r=$1 -v n="$req" -v c=$((c1 - C0[$p])) -v u=$((u1 - U0[$p])) -v w=$((w1 - W0[$p])) -v tk="$TCK" \
      'BEGIN { printf "%-7s %4d %9d %10.3f %8.3f %8.3f %9s %10.4f\n", p, r, n, c/tk*1e6/n, u/tk*1e6/n, (c-u)/tk*1e6/n, "-", w/n }' \
      | tee -a "$RES"
  done
}
for rep in $(seq "$REPS"); do
  if [[ -n ${TOGETHER:-} ]]; then together "$rep"; continue; fi
  for peer in nginx gantry; do
    if [[ $peer == nginx ]]; then port=9402 pid=$NGINX; else port=9403 pid=$GANTRY; fi
    read -r c0 u0 < <(ticks $pid); s0=$(segs); w0=$(sleeps $pid)
    out=$(load $port "$DUR")
    read -r c1 u1 < <(ticks $pid); s1=$(segs); w1=$(sleeps $pid)
    req=$(awk '/requests in/{print $1}' <<< "$out")
    bad=$(awk '/Non-2xx/{print $NF}' <<< "$out")
    [[ -n $bad ]] && echo "warning: $peer: $bad responses were not 2xx" >&2
    awk -v p=$peer -v r=$rep -v n="$req" -v c=$((c1 - c0)) -v u=$((u1 - u0)) -v s=$((s1 - s0)) -v w=$((w1 - w0)) -v tk="$TCK" \
      'BEGIN { printf "%-7s %4d %9d %10.3f %8.3f %8.3f %9.3f %10.4f\n", p, r, n, c/tk*1e6/n, u/tk*1e6/n, (c-u)/tk*1e6/n, s/n, w/n }' \
      | tee -a "$RES"
  done
done
python3 - "$RES" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
by = {}
for peer, rep, _req, cpu, user, sys_, _segs, _sleeps in rows:
    by.setdefault(rep, {})[peer] = (float(cpu), float(user), float(sys_))
pairs = [v for v in by.values() if "nginx" in v and "gantry" in v]
ratio = [v["gantry"][0] / v["nginx"][0] for v in pairs]
med = lambda i, p: statistics.median(v[p][i] for v in pairs)
print(f"gantry / nginx CPU per request: median {statistics.median(ratio):.3f}  "
      f"(pairs {min(ratio):.3f}-{max(ratio):.3f}, n={len(ratio)})")
for i, what in ((1, "user"), (2, "kernel")):
    print(f"  {what:6s} us/req: nginx {med(i, 'nginx'):.3f}  gantry {med(i, 'gantry'):.3f}")
PY

if [[ -n ${STRACE:-} ]]; then
  command -v strace >/dev/null || { echo "missing strace (apt-get install strace)" >&2; exit 1; }
  for peer in nginx gantry; do
    if [[ $peer == nginx ]]; then port=9402 pid=$NGINX; else port=9403 pid=$GANTRY; fi
    timeout -s INT $((DUR / 2 + 2)) strace -c -f -p $pid -o "$D/strace-$peer.txt" 2>/dev/null & S=$!
    sleep 0.5
    out=$(load $port $((DUR / 2 + 1)))
    wait $S || true
    req=$(awk '/requests in/{print $1}' <<< "$out")
    echo "$peer: system calls per request (under strace, $req requests)"
    awk -v r="$req" '$NF ~ /^[a-z_0-9]+$/ && $4 ~ /^[0-9]+$/ && $4 / r >= 0.01 { printf "  %7.3f %s\n", $4 / r, $NF }' \
      "$D/strace-$peer.txt" | sort -rn
  done
fi
