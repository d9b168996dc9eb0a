#!/usr/bin/env bash
# ID-JAG redemption under load (issue 3 §10): throughput and p50/p99 latency at 64 connections on
# loopback, with durable SQLite (WAL, synchronous=FULL), printed beside the same server's trivial
# endpoint and `openssl speed` for one RS256 verify plus one ES256 sign, all in one run.
#
#   bash Benchmarks/redemption/run.sh [SECONDS] [CONNECTIONS]
#
# Release build in .build-bench. The server, wrk and the assertion minting share the machine.
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS_RUN="${1:-15}"
CONNECTIONS="${2:-64}"
PORT="${PORT:-18191}"
source Benchmarks/broker/common.sh
bench_broker_binary

WORK="$(mktemp -d)"
trap 'kill $SERVER 2>/dev/null || true; wait $SERVER 2>/dev/null || true; rm -rf "$WORK"' EXIT
ISSUER="http://127.0.0.1:$PORT"
bench_broker_config "$WORK" "$PORT"
LOG_LEVEL=warning "$BK" serve --config "$WORK/bench.yaml" > "$WORK/server.log" 2>&1 &
SERVER=$!
for _ in $(seq 100); do curl -sf "$ISSUER/healthz" >/dev/null && break; sleep 0.1; done

# Enough single-use assertions for the run at up to 12,000/s, minted by two processes (RS256 by the demo IdP key).
NEEDED=$(( SECONDS_RUN * 12000 ))
HALF=$(( NEEDED / 2 ))
echo "minting $NEEDED ID-JAGs (RS256)..." >&2
start=$(date +%s.%N)
"$BK" demo id-jag --user alice --server github --issuer "$ISSUER" --count $HALF > "$WORK/a1" & M1=$!
"$BK" demo id-jag --user alice --server github --issuer "$ISSUER" --count $HALF > "$WORK/a2" & M2=$!
wait $M1 $M2
cat "$WORK/a1" "$WORK/a2" > "$WORK/assertions"
echo "minted in $(echo "$(date +%s.%N) - $start" | bc) s" >&2

openssl_rates() {
  # One RS256 (RSA-2048) verify and one ES256 (P-256) sign per redemption: their combined rate on
  # each core, times the cores.
  local out rsa ecdsa cores
  out="$(openssl speed -seconds 3 -mr rsa2048 ecdsap256 2>/dev/null)"
  rsa=$(echo "$out" | awk -F: '/^\+F2:/ {print $5}')      # RSA verifies/s
  ecdsa=$(echo "$out" | awk -F: '/^\+F4:/ {print $4}')    # ECDSA signs/s
  cores=$(nproc)
  echo "$rsa $ecdsa $(echo "$cores / (1/$rsa + 1/$ecdsa)" | bc -l)"
}

run_wrk() { # script path
  wrk -t2 -c"$CONNECTIONS" -d"${SECONDS_RUN}s" --latency -s "$1" "$2" | grep '^BENCH'
}

echo "warm-up (trivial endpoint)..." >&2
wrk -t2 -c"$CONNECTIONS" -d3s "$ISSUER/healthz" >/dev/null
TRIVIAL=$(run_wrk Benchmarks/redemption/trivial.lua "$ISSUER/healthz")
REDEEM=$(ASSERTIONS="$WORK/assertions" THREADS=2 BASIC="$(printf 'mcp-client-demo:demo-client-secret-not-for-production' | base64 -w0)" \
  RESOURCE="https%3A%2F%2Fmcp.demo.bridgekeeper.test%2Fgithub" run_wrk Benchmarks/redemption/redeem.lua "$ISSUER")
read -r RSA ECDSA COMBINED < <(openssl_rates)
WAL_BYTES=$(stat -c %s "$WORK/bench.sqlite-wal" 2>/dev/null || echo 0)
AUDIT=$("$BK" audit verify --config "$WORK/bench.yaml")

field() { echo "$1" | tr ' ' '\n' | awk -F= -v k="$2" '$1==k {print $2}'; }
echo
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); ${SECONDS_RUN}s per run, $CONNECTIONS connections, wrk -t2"
printf "%-34s %12s %10s %10s %8s\n" "" "req/s" "p50 ms" "p99 ms" "non-200"
printf "%-34s %12s %10s %10s %8s\n" "GET /healthz (trivial)" "$(field "$TRIVIAL" rps)" "$(field "$TRIVIAL" p50_ms)" "$(field "$TRIVIAL" p99_ms)" "$(field "$TRIVIAL" non200)"
printf "%-34s %12s %10s %10s %8s\n" "POST /token jwt-bearer (RS256 IdP)" "$(field "$REDEEM" rps)" "$(field "$REDEEM" p50_ms)" "$(field "$REDEEM" p99_ms)" "$(field "$REDEEM" non200)"
printf "%-34s %12.0f\n" "openssl: RS256 verify + ES256 sign" "$COMBINED"
printf "  (openssl speed: rsa2048 verify %.0f/s, ecdsap256 sign %.0f/s per core)\n" "$RSA" "$ECDSA"
echo "redemption / trivial: $(echo "$(field "$REDEEM" rps) / $(field "$TRIVIAL" rps)" | bc -l | cut -c1-5)"
echo "redemption / openssl bound: $(echo "$(field "$REDEEM" rps) / $COMBINED" | bc -l | cut -c1-5)"
echo "assertions left unused: exhausted=$(field "$REDEEM" exhausted)"
echo "WAL file after the run (its high-water mark): $(( WAL_BYTES / 1048576 )) MiB"
echo "audit chain after the run: $AUDIT"
