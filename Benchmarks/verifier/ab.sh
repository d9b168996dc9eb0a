#!/usr/bin/env bash
# Same-run A/B of two VerifierBenchmark builds (a change to the gateway verifier against its base),
# pinned to one core, the order flipping every repeat, with `openssl speed` between them as the
# machine's own yardstick.
#
# usage: Benchmarks/verifier/ab.sh BASE_BIN NEW_BIN [--seconds N] [--repeats R] [--core C]
#   Build the base in a worktree, e.g.
#     git worktree add /tmp/bk-base <commit>
#     (cd /tmp/bk-base && swift build -c release --product VerifierBenchmark --scratch-path .build-bench)
#     bash Benchmarks/verifier/ab.sh /tmp/bk-base/.build-bench/release/VerifierBenchmark \
#          .build-bench/release/VerifierBenchmark
#   Prints a markdown table: per algorithm and operation, the medians of base and new, and the
#   median of the per-repeat new/base ratios; and each build's uncached rate over `openssl speed`.
set -euo pipefail
[ $# -ge 2 ] || { sed -n '2,13p' "$0"; exit 2; }
base=$1; new=$2; shift 2
source "$(dirname "$0")/common.sh"
seconds=2; repeats=5; core=1
bench_options '2,13p' "$@"
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
samples="$work/samples"; : > "$samples"   # lines: <alg> <repeat> <build> <op> <ops/s>

run() {  # $1 build label, $2 binary, $3 algorithm, $4 repeat
    taskset -c "$core" "$2" --seconds "$seconds" --algorithm "$3" --ops uncached,cached 2>/dev/null | verifier_samples "$3" "$4" "$1" >> "$samples"
}

for ((r = 1; r <= repeats; r++)); do
    for alg in RS256 ES256 EdDSA; do
        echo "repeat $r/$repeats: $alg" >&2
        speed() { echo "$alg $r openssl verify $(openssl_verify "$alg")" >> "$samples"; }
        if ((r % 2)); then run base "$base" "$alg" "$r"; speed; run new "$new" "$alg" "$r"
        else run new "$new" "$alg" "$r"; speed; run base "$base" "$alg" "$r"; fi
    done
done

label() {  # the commit of the checkout a binary was built in (BIN is CHECKOUT/SCRATCH/release/NAME)
    git -C "$(dirname "$(dirname "$(dirname "$1")")")" rev-parse --short HEAD 2>/dev/null || echo "$1"
}
echo "## Verifier A/B: base $(label "$base"), new $(label "$new")"
echo
echo "- run: $(date -u +%Y-%m-%dT%H:%M:%SZ); machine: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) CPUs, pinned to CPU $core; $seconds s per measurement, $repeats repeats"
echo
echo "| algorithm | op | base/s | new/s | new/base (median of pairs) | base/openssl | new/openssl |"
echo "|---|---|---:|---:|---:|---:|---:|"
awk "$median_awk"'
{ v[$1, $2, $3, $4] = $5; if ($2 > reps) reps = $2 }
END {
    split("RS256 ES256 EdDSA", algs, " "); split("uncached cached", ops, " ")
    for (k = 1; k <= 3; k++) for (o = 1; o <= 2; o++) {
        a = algs[k]; op = ops[o]
        delete b; delete n; delete q; delete bo; delete no
        for (r = 1; r <= reps; r++) {
            b[r] = v[a, r, "base", op]; n[r] = v[a, r, "new", op]; q[r] = n[r] / b[r]
            bo[r] = v[a, r, "base", op] / v[a, r, "openssl", "verify"]; no[r] = v[a, r, "new", op] / v[a, r, "openssl", "verify"]
        }
        if (op == "uncached") printf "| %s | %s | %.0f | %.0f | %.2f | %.2f | %.2f |\n", a, op, median(b, reps), median(n, reps), median(q, reps), median(bo, reps), median(no, reps)
        else printf "| %s | %s | %.0f | %.0f | %.2f | | |\n", a, op, median(b, reps), median(n, reps), median(q, reps)
    }
}' "$samples"
