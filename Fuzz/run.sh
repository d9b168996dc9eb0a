#!/usr/bin/env bash
# Build the BridgekeeperJOSE libFuzzer target with swiftc (one module: the library sources plus
# Fuzz/FuzzJWS.swift, ASan + libFuzzer) and run it.
#
#   Fuzz/run.sh [seconds]          # default 600
#
# Environment:
#   SWIFTC      swiftc to use (default /opt/swift/usr/bin/swiftc, else the one on PATH)
#   FUZZ_OUT    build/output directory (default /tmp/bridgekeeper-fuzz); never .build/
#   FUZZ_ARGS   extra libFuzzer flags, e.g. "-seed=1" or "-runs=1000"
#   BUILD_ONLY  set to 1 to build and stop
#
# The work corpus is Fuzz/corpus-work/ (git-ignored), seeded from Fuzz/seeds/ on every run.
# Crash, leak and timeout reproducers are written to Fuzz/artifacts/ (git-ignored by the crash-*,
# leak-*, timeout-* patterns); copy the ones worth keeping to Fuzz/findings/.
set -euo pipefail

duration="${1:-600}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
out="${FUZZ_OUT:-/tmp/bridgekeeper-fuzz}"
if [[ -z "${SWIFTC:-}" ]]; then
    if [[ -x /opt/swift/usr/bin/swiftc ]]; then SWIFTC=/opt/swift/usr/bin/swiftc; else SWIFTC=swiftc; fi
fi
mkdir -p "$out" "$here/corpus-work" "$here/artifacts"

binary="$out/fuzz-jws"
echo "== building $binary"
cd "$root"
build=(
    "$SWIFTC" -parse-as-library -swift-version 6
    -sanitize=fuzzer,address -O -g
    -module-name BridgekeeperJOSE
    -I Sources/COpenSSL
    -enable-upcoming-feature ExistentialAny
    -enable-upcoming-feature InternalImportsByDefault
    -enable-upcoming-feature MemberImportVisibility
    -module-cache-path "$out/module-cache"
    Sources/BridgekeeperJOSE/*.swift Sources/BridgekeeperJOSE/OpenSSL/*.swift Fuzz/FuzzJWS.swift
    -use-ld=lld -lcrypto
    -o "$binary"
)
echo "${build[*]}"
"${build[@]}"
[[ "${BUILD_ONLY:-0}" == 1 ]] && exit 0

# Seed the work corpus (existing entries from earlier runs are kept).
cp -n "$here"/seeds/* "$here/corpus-work/"

run=(
    "$binary"
    -max_total_time="$duration" -max_len=4096 -timeout=10 -rss_limit_mb=2048
    -dict="$here/jws.dict"
    -print_final_stats=1
    -artifact_prefix="$here/artifacts/"
    ${FUZZ_ARGS:-}
    "$here/corpus-work"
)
# Leak checking stays on (-detect_leaks=1 is libFuzzer's default under ASan). The Swift runtime's
# own backtracer is switched off: on a trap it raced ASan (its memory server read the shadow gap and
# ASan aborted inside it), and libFuzzer's deadly-signal handler prints a symbolised stack anyway.
export SWIFT_BACKTRACE="${SWIFT_BACKTRACE:-enable=no}"
echo "== SWIFT_BACKTRACE=$SWIFT_BACKTRACE FUZZ_JWS_ALL_PROPERTIES=${FUZZ_JWS_ALL_PROPERTIES:-}"
echo "== running: ${run[*]}"
echo "== started $(date -u +%FT%TZ)"
set +e
"${run[@]}"
status=$?
set -e
echo "== finished $(date -u +%FT%TZ), exit status $status"
echo "== corpus: $(ls "$here/corpus-work" | wc -l) files, $(du -sh "$here/corpus-work" | cut -f1)"
echo "== artifacts: $(ls "$here/artifacts" | wc -l)"
exit $status
