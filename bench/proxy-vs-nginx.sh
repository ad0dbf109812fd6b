#!/usr/bin/env bash
# Side-by-side plain-proxy benchmark on loopback: Gantry vs nginx (proxy_pass with
# upstream keepalive, same worker count) in front of the same nginx origin. Prints per
# peer: requests/s at saturation, p50/p99 at a fixed moderate rate, CPU-µs per proxied
# request (user+sys of the proxy's processes / requests) and RSS, plus the ratio to nginx
# measured in the same repetition.
#
# It drives the shared harness (../shared/bench/run-peers.sh), which starts and stops
# every process it uses by PID and bounds every load run in time.
#
#   cargo build --release
#   bench/proxy-vs-nginx.sh            # quick: 1 worker pinned, "/" only (~3 min)
#   FULL=1 bench/proxy-vs-nginx.sh     # 3 reps, "/" and "/1k", 1 and 2 workers, h2c (~10 min)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HARNESS=${HARNESS:-$ROOT/../shared/bench/run-peers.sh}
[[ -x $HARNESS || -f $HARNESS ]] || { echo "harness not found at $HARNESS" >&2; exit 1; }
for tool in nginx wrk; do
  command -v $tool >/dev/null || { echo "installing nginx wrk nghttp2-client"; apt-get install -y -qq nginx wrk nghttp2-client >/dev/null; break; }
done
[[ -x $ROOT/target/release/gantry ]] || (cd "$ROOT" && cargo build --release -p gantry)
export GANTRY_BIN=${GANTRY_BIN:-$ROOT/target/release/gantry}
export PEERS=${PEERS:-"nginx gantry"}
export OUT=${OUT:-$ROOT/bench/out/proxy-$(date +%Y%m%d-%H%M%S)}
if [[ ${FULL:-0} == 1 ]]; then
  export REPS=${REPS:-3} RATE_REPS=${RATE_REPS:-2}
else
  export QUICK=1 REPS=${REPS:-3}
fi
cd "$ROOT"
bash "$HARNESS"
