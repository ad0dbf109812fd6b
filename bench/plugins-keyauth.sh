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

# kong.yml with key-auth on the route and N consumers; the last one's key is the one
# wrk sends, so with N > 1 the lookup is not the first entry of anything.
write_config() {  # file consumers
  python3 - "$1" "$2" <<'PY'
import sys
path, n = sys.argv[1], int(sys.argv[2])
with open(path, "w") as f:
    f.write('_format_version: "3.0"\nservices:\n- name: origin\n  url: http://127.0.0.1:9001\n')
    f.write('  routes:\n  - name: all\n    paths: ["/"]\n    strip_path: false\n')
    f.write('    plugins:\n    - name: key-auth\nconsumers:\n')
    for i in range(n):
        key = "bench-key" if i == n - 1 else f"key-{i:08d}-{i * 7919 % 100003:06d}"
        f.write(f'- username: user-{i}\n  keyauth_credentials:\n  - key: {key}\n')
PY
}
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
