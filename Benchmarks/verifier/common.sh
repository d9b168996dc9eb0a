# Shared by Benchmarks/verifier/run.sh and ab.sh (sourced, not run).

# Sets seconds, repeats and core from --seconds/--repeats/--core; anything else prints lines $1 of
# the calling script (its usage) and exits 2. Defaults come from the caller's variables.
bench_options() {
    local usage=$1; shift
    while [ $# -gt 0 ]; do
        case "$1" in
            --seconds) seconds=$2; shift 2 ;;
            --repeats) repeats=$2; shift 2 ;;
            --core) core=$2; shift 2 ;;
            *) sed -n "$usage" "$0"; exit 2 ;;
        esac
    done
}

# `openssl speed`'s verifications per second for a JWS algorithm (RS256, ES256, EdDSA), pinned.
openssl_verify() {
    local name row
    case "$1" in RS256) name=rsa2048 ;; ES256) name=ecdsap256 ;; EdDSA) name=ed25519 ;; esac
    row=$(taskset -c "$core" openssl speed -seconds "$seconds" "$name" 2>/dev/null | grep -E '^rsa +2048 bits|ecdsa \(nistp256\)|EdDSA \(Ed25519\)')
    echo "$row" | awk '{ print $NF }'
}

# VerifierBenchmark's RESULT lines on stdin as sample lines: ALG REPEAT [LABEL] OP VALUE (VALUE is
# the ratio for the interleaved op, ops per second otherwise).
verifier_samples() {  # $1 algorithm, $2 repeat, $3 optional label
    awk -v a="$1" -v r="$2" -v b="${3:-}" '{ for (i = 2; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
        print a, r, (b == "" ? "" : b " ") f["op"], (f["op"] == "interleaved" ? f["ratio"] : f["ops_per_sec"]) }'
}

# The awk median of arr[1..n] (sorts arr in place), for the report scripts.
median_awk='function median(arr, n,    i, j, t) { for (i = 2; i <= n; i++) { t = arr[i]; for (j = i - 1; j >= 1 && arr[j] > t; j--) arr[j + 1] = arr[j]; arr[j + 1] = t }
                                       return (n % 2) ? arr[(n + 1) / 2] : (arr[n / 2] + arr[n / 2 + 1]) / 2 }'
