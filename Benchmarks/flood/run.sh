#!/usr/bin/env bash
# Good clients under a flood of bad credentials (issue 18 §3): good clients redeem ID-JAGs
# (jwt-bearer, client_secret_basic) on one set of connections, first alone, then while a flood of
# wrong Basic secrets for a known client id hits /introspect at full speed on another set; prints
# the good clients' throughput and p99 in both runs and their ratio (goal: at least 0.80), what the
# flood got (401 / 429), and how many audit records the flood left.
#
#   bash Benchmarks/flood/run.sh [SECONDS] [GOOD_CONNECTIONS] [FLOOD_CONNECTIONS]
#
# Release build in .build-bench, or the binary in $BK_BIN (e.g. an older commit's, to compare).
# LIMITED_DELAY_MS sets rate_limits.limited_response_delay_ms (default 500; 0 = no hold on 429s).
# FLOOD_PATH=/token FLOOD_ID=mcp-client-demo floods the token endpoint with the good clients' own
# client id instead. Everything (server, both wrk, minting) shares this machine's cores; loopback only.
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS_RUN="${1:-10}"
GOOD_CONNECTIONS="${2:-32}"
FLOOD_CONNECTIONS="${3:-32}"
PORT="${PORT:-18193}"
FLOOD_PATH="${FLOOD_PATH:-/introspect}"
FLOOD_ID="${FLOOD_ID:-gateway-demo}"
source Benchmarks/broker/common.sh
bench_broker_binary

WORK="$(mktemp -d)"
SERVER=""
trap '[ -n "$SERVER" ] && { kill $SERVER 2>/dev/null || true; wait $SERVER 2>/dev/null || true; }; rm -rf "$WORK"' EXIT
ISSUER="http://127.0.0.1:$PORT"
# Request limits are lifted so that the good clients (one client id, one address) are not what
# limits them; the per-client secret-check limit keeps its default (a build that has one).
bench_broker_config "$WORK" "$PORT"
# LIMITED_DELAY_MS=0 answers 429s at once (no hold), to see what the hold is worth.
[ -n "${LIMITED_DELAY_MS:-}" ] && echo "  limited_response_delay_ms: $LIMITED_DELAY_MS" >> "$WORK/bench.yaml"
LOG_LEVEL=warning "$BK" serve --config "$WORK/bench.yaml" > "$WORK/server.log" 2>&1 &
SERVER=$!
for _ in $(seq 100); do curl -sf "$ISSUER/healthz" >/dev/null && break; sleep 0.1; done

# Single-use assertions for both runs at up to 7,000 redemptions/s each, minted by two processes.
NEEDED=$(( SECONDS_RUN * 7000 ))
echo "minting $(( 2 * NEEDED )) ID-JAGs (RS256)..." >&2
for run in alone flood; do
  "$BK" demo id-jag --user alice --server github --issuer "$ISSUER" --count $(( NEEDED / 2 )) > "$WORK/$run.1" & M1=$!
  "$BK" demo id-jag --user alice --server github --issuer "$ISSUER" --count $(( NEEDED / 2 )) > "$WORK/$run.2" & M2=$!
  wait $M1 $M2
  cat "$WORK/$run.1" "$WORK/$run.2" > "$WORK/$run.assertions"
done

GOOD_BASIC="$(printf 'mcp-client-demo:demo-client-secret-not-for-production' | base64 -w0)"
good() { # assertions file
  ASSERTIONS="$1" THREADS=1 BASIC="$GOOD_BASIC" RESOURCE="https%3A%2F%2Fmcp.demo.bridgekeeper.test%2Fgithub" \
    wrk -t1 -c"$GOOD_CONNECTIONS" -d"${SECONDS_RUN}s" --latency -s Benchmarks/redemption/redeem.lua "$ISSUER" | grep '^BENCH'
}
audit_count() { "$BK" audit tail --config "$WORK/bench.yaml" --json --lines 100000000 | grep -c "\"kind\":\"denial\"" || true; }

echo "warm-up..." >&2
wrk -t1 -c"$GOOD_CONNECTIONS" -d2s "$ISSUER/healthz" >/dev/null
echo "good clients alone..." >&2
ALONE=$(good "$WORK/alone.assertions")
AUDIT_BEFORE=$(audit_count)
echo "good clients under the flood..." >&2
FLOOD_BASIC="$(printf '%s:wrong-secret-0123456789' "$FLOOD_ID" | base64 -w0)" FLOOD_PATH="$FLOOD_PATH" \
  wrk -t1 -c"$FLOOD_CONNECTIONS" -d"$(( SECONDS_RUN + 2 ))s" --timeout 10s -s Benchmarks/flood/flood.lua "$ISSUER" > "$WORK/flood.out" & FLOOD=$!
sleep 1
UNDER=$(good "$WORK/flood.assertions")
wait $FLOOD
FLOODED=$(grep '^FLOOD' "$WORK/flood.out")
AUDIT_AFTER=$(audit_count)
VERIFY=$("$BK" audit verify --config "$WORK/bench.yaml" 2>&1 || true)

field() { echo "$1" | tr ' ' '\n' | awk -F= -v k="$2" '$1==k {print $2}'; }
echo
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); ${SECONDS_RUN}s per run; good: wrk -t1 -c$GOOD_CONNECTIONS POST /token jwt-bearer; flood: wrk -t1 -c$FLOOD_CONNECTIONS POST $FLOOD_PATH as $FLOOD_ID with a wrong secret"
echo "binary: $BK"
printf "%-28s %10s %10s %10s %8s\n" "good clients" "req/s" "p50 ms" "p99 ms" "non-200"
printf "%-28s %10s %10s %10s %8s\n" "alone" "$(field "$ALONE" rps)" "$(field "$ALONE" p50_ms)" "$(field "$ALONE" p99_ms)" "$(field "$ALONE" non200)"
printf "%-28s %10s %10s %10s %8s\n" "under the flood" "$(field "$UNDER" rps)" "$(field "$UNDER" p50_ms)" "$(field "$UNDER" p99_ms)" "$(field "$UNDER" non200)"
echo "throughput kept under the flood: $(echo "$(field "$UNDER" rps) / $(field "$ALONE" rps)" | bc -l | cut -c1-5) (goal >= 0.80)"
echo "flood: $(field "$FLOODED" rps) req/s, 401=$(field "$FLOODED" s401) 429=$(field "$FLOODED" s429) other=$(field "$FLOODED" other) socket errors=$(field "$FLOODED" errors), p99 $(field "$FLOODED" p99_ms) ms"
echo "audit denial records written during the flood run: $(( AUDIT_AFTER - AUDIT_BEFORE )) (for $(field "$FLOODED" requests) refused requests)"
echo "audit chain: $VERIFY"
