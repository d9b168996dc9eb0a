#!/usr/bin/env bash
# Build a libFuzzer target with swiftc (one module: the library sources plus the target file,
# ASan + libFuzzer) and run it. Two targets:
#   jws          BridgekeeperJOSE's parsers (Fuzz/FuzzJWS.swift), the default
#   scim-filter  the SCIM filter and PATCH path parser (Fuzz/FuzzSCIMFilter.swift with
#                Sources/BridgekeeperRevocation/SCIM/SCIMFilter.swift, standard library only)
# Both take Fuzz/FuzzSupport.swift (fuzzCheck, hex).
#
#   Fuzz/run.sh [seconds]                           # default 600
#   FUZZ_TARGET=scim-filter Fuzz/run.sh [seconds]
#
# Environment:
#   FUZZ_TARGET jws (default) or scim-filter
#   SWIFTC      swiftc to use (default /opt/swift/usr/bin/swiftc, else the one on PATH)
#   FUZZ_OUT    build/output directory (default /tmp/bridgekeeper-fuzz); never .build/
#   FUZZ_ARGS   extra libFuzzer flags, e.g. "-seed=1" or "-runs=1000"
#   BUILD_ONLY  set to 1 to build and stop
#
# The work corpus is Fuzz/corpus-work/ (git-ignored), seeded from Fuzz/seeds/ on every run; for
# scim-filter, Fuzz/corpus-work-scim-filter/ from Fuzz/seeds-scim-filter/.
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
target="${FUZZ_TARGET:-jws}"
case "$target" in
    jws)
        binary="$out/fuzz-jws"; corpus="$here/corpus-work"; seeds="$here/seeds"; dict="$here/jws.dict"; max_len=4096
        module=(-module-name BridgekeeperJOSE -I Sources/COpenSSL)
        sources=(Sources/BridgekeeperJOSE/*.swift Sources/BridgekeeperJOSE/OpenSSL/*.swift Fuzz/FuzzSupport.swift Fuzz/FuzzJWS.swift)
        link=(-use-ld=lld -lcrypto)
        ;;
    scim-filter)
        # max_len a little past SCIMFilterParser.maxBytes (4096), so the length bound is reached.
        binary="$out/fuzz-scim-filter"; corpus="$here/corpus-work-scim-filter"; seeds="$here/seeds-scim-filter"
        dict="$here/scim-filter.dict"; max_len=4200
        module=(-module-name SCIMFilterFuzz)
        sources=(Sources/BridgekeeperRevocation/SCIM/SCIMFilter.swift Fuzz/FuzzSupport.swift Fuzz/FuzzSCIMFilter.swift)
        link=(-use-ld=lld)
        ;;
    *) echo "FUZZ_TARGET must be jws or scim-filter" >&2; exit 2 ;;
esac
mkdir -p "$out" "$corpus" "$here/artifacts"

echo "== building $binary"
cd "$root"
build=(
    "$SWIFTC" -parse-as-library -swift-version 6
    -sanitize=fuzzer,address -O -g
    "${module[@]}"
    -enable-upcoming-feature ExistentialAny
    -enable-upcoming-feature InternalImportsByDefault
    -enable-upcoming-feature MemberImportVisibility
    -module-cache-path "$out/module-cache"
    "${sources[@]}"
    "${link[@]}"
    -o "$binary"
)
echo "${build[*]}"
"${build[@]}"
[[ "${BUILD_ONLY:-0}" == 1 ]] && exit 0

# Seed the work corpus (existing entries from earlier runs are kept).
cp -n "$seeds"/* "$corpus/"

run=(
    "$binary"
    -max_total_time="$duration" -max_len="$max_len" -timeout=10 -rss_limit_mb=2048
    -dict="$dict"
    -print_final_stats=1
    -artifact_prefix="$here/artifacts/"
    ${FUZZ_ARGS:-}
    "$corpus"
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
echo "== corpus: $(ls "$corpus" | wc -l) files, $(du -sh "$corpus" | cut -f1)"
echo "== artifacts: $(ls "$here/artifacts" | wc -l)"
exit $status
