#!/usr/bin/env bash
# What authentication costs: Gantry with key-auth on its one route, with 1 consumer and
# with 10,000 consumers (one key each), side by side with plain Gantry (no plugins) and
# nginx's plain proxy_pass, in front of the same nginx origin. Every request of every
# peer carries a valid `apikey` header (peers without key-auth ignore it), so each
# request is authenticated and proxied. Prints the shared harness's table: CPU-µs per
# request and its ratio to nginx in the same repetition, p50/p99 at a fixed rate, RSS.
#
#   cargo build --release -p gantry
#   bench/plugins-keyauth.sh                 # 1 worker pinned, "/" only, 3 reps (~5 min)
#   CONSUMERS=100000 bench/plugins-keyauth.sh
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HARNESS=${HARNESS:-$ROOT/../shared/bench/run-peers.sh}
[[ -f $HARNESS ]] || { echo "harness not found at $HARNESS" >&2; exit 1; }
for tool in nginx wrk; do
  command -v $tool >/dev/null || { echo "installing nginx wrk"; apt-get install -y -qq nginx wrk >/dev/null; break; }
done
[[ -x $ROOT/target/release/gantry ]] || (cd "$ROOT" && cargo build --release -p gantry)
GANTRY_BIN=${GANTRY_BIN:-$ROOT/target/release/gantry}
CONSUMERS=${CONSUMERS:-10000}
export OUT=${OUT:-$ROOT/bench/out/keyauth-$(date +%Y%m%d-%H%M%S)}
CFG=$OUT/configs
mkdir -p "$CFG"

write_config() { python3 "$ROOT/bench/keyauth-config.py" "$1" "$2" http://127.0.0.1:9001; }  # file consumers
write_config "$CFG/keyauth-1.yml" 1
write_config "$CFG/keyauth-many.yml" "$CONSUMERS"

peer() {  # name port config
  echo "$1|$2|-|env KONG_PREFIX={RUN}/$1 KONG_DATABASE=off KONG_DECLARATIVE_CONFIG=$3 KONG_PROXY_LISTEN=127.0.0.1:{PORT} KONG_ADMIN_LISTEN=off KONG_STATUS_LISTEN=off KONG_NGINX_WORKER_PROCESSES={WORKERS} KONG_LOG_LEVEL=warn $GANTRY_BIN start"
}
export EXTRA_PEERS="$(peer gantry-keyauth-1 9111 "$CFG/keyauth-1.yml")
$(peer gantry-keyauth-$CONSUMERS 9112 "$CFG/keyauth-many.yml")"
# The harness checks each peer with curl before measuring; give its curl the key too, so
# key-auth stays strict (a peer answering 401 would be skipped, not measured).
mkdir -p "$OUT/bin"
printf '#!/bin/sh\nexec %s -H "apikey: bench-key" "$@"\n' "$(command -v curl)" > "$OUT/bin/curl"
chmod +x "$OUT/bin/curl"
export PATH="$OUT/bin:$PATH"
export GANTRY_BIN PEERS=${PEERS:-"nginx gantry"}
export SHARED_LUA=$(dirname "$HARNESS")/wrk-report.lua LUA=$ROOT/bench/keyauth.lua
export QUICK=1 REPS=${REPS:-3}
cd "$ROOT"
bash "$HARNESS"
