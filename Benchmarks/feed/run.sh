#!/usr/bin/env bash
# Revocation propagation to a subscribed gateway (issue 7): FeedPropagation, release build.
#
# usage: Benchmarks/feed/run.sh [--samples N] [--subject-samples M]
#   token mode: N tokens, each revoked with RFC 7009 POST /revoke; subject mode: M session
#   revocations through the signal processor (one a second: subject epochs are whole seconds).
#   Propagation = from sending the revoking request to the subscribed verifier refusing the token;
#   baseline = the revoking request's own round trip, in the same samples. Prints a markdown table
#   with PASS/FAIL against issue 7's target (p99 under 1 s). Exit 0 whatever the figures.
set -euo pipefail
samples=300; subject=30
while [ $# -gt 0 ]; do
    case "$1" in
        --samples) samples=$2; shift 2 ;;
        --subject-samples) subject=$2; shift 2 ;;
        *) sed -n '2,9p' "$0"; exit 2 ;;
    esac
done
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
scratch=${BENCH_SCRATCH:-.build-bench}
swift build -c release --product FeedPropagation --scratch-path "$scratch" >&2
bin="$scratch/release/FeedPropagation"
token=$("$bin" --samples "$samples" --mode token 2>/dev/null | grep '^RESULT')
sessions=$("$bin" --samples "$subject" --mode subject 2>/dev/null | grep '^RESULT')

field() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
row() {
    local r=$1 label=$2 p99
    p99=$(field "$r" p99_ms)
    printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$label" "$(field "$r" samples)" "$(field "$r" p50_ms)" "$(field "$r" p90_ms)" \
        "$p99" "$(field "$r" max_ms)" "$(field "$r" baseline_p50_ms)" "$(field "$r" baseline_p99_ms)" \
        "$(awk -v p="$p99" 'BEGIN { print (p < 1000 ? "PASS" : "FAIL") }')"
}
echo "## Revocation propagation to a subscribed gateway"
echo
echo "- run: $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git rev-parse --short HEAD)"
echo "- machine: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) CPUs; broker and gateway in one process on loopback"
echo
echo "| revocation | samples | p50 ms | p90 ms | p99 ms | max ms | baseline p50 ms | baseline p99 ms | p99 < 1 s |"
echo "|---|---|---|---|---|---|---|---|---|"
row "$token" "one token (RFC 7009)"
row "$sessions" "a person's sessions (signal)"
