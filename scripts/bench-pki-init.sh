#!/usr/bin/env bash
# Measure the wall time of 'mtls pki init' as a whole process, for each
# key type, and of scripts/openssl-pki.sh, with hyperfine. Prints one
# Markdown table row per command: median and mean with standard deviation,
# in milliseconds.
#
# Usage: scripts/bench-pki-init.sh [RUNS]   (default 21; the openssl
#        script runs RUNS/2 times because each run takes seconds)
#
# Needs hyperfine (Debian: apt-get install hyperfine) and bin/mtls
# ('make build'). Run it on an otherwise idle machine: the figures are
# wall-clock times.
set -euo pipefail

runs=${1:-21}
repo=$(cd "$(dirname "$0")/.." && pwd)
mtls=${MTLS_BIN:-$repo/bin/mtls}
command -v hyperfine >/dev/null || {
	echo "bench-pki-init: hyperfine not found: install it (Debian: apt-get install hyperfine)" >&2
	exit 1
}
[[ -x "$mtls" ]] || {
	echo "bench-pki-init: $mtls not found: run 'make build' first" >&2
	exit 1
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# row runs hyperfine on one command and prints its table row.
row() {
	local label=$1 count=$2 command=$3
	hyperfine --shell=none --style none --warmup 2 --runs "$count" --export-json "$work/result.json" "$command" \
		>/dev/null 2>>"$work/warnings.txt"
	python3 - "$label" "$count" "$work/result.json" <<'EOF'
import json, sys
label, count, path = sys.argv[1], sys.argv[2], sys.argv[3]
r = json.load(open(path))["results"][0]
cpu = (r["user"] + r["system"]) * 1000
print(f"| {label} | {count} | {r['median'] * 1000:.0f} | {r['mean'] * 1000:.0f} ± {r['stddev'] * 1000:.0f} | {cpu:.0f} |")
EOF
}

echo "| command | runs | median (ms) | mean ± sd (ms) | CPU mean (ms) |"
echo "| --- | --- | --- | --- | --- |"
for kt in ecdsa-p256 ecdsa-p384 ed25519 rsa-2048 rsa-3072 rsa-4096; do
	row "mtls pki init --key-type $kt" "$runs" "$mtls pki init --dir $work/$kt --force --key-type $kt"
done
echo secret >"$work/ca.passphrase"
row "mtls pki init --ca-passphrase-file F (ecdsa-p256)" "$runs" \
	"$mtls pki init --dir $work/encrypted --force --ca-passphrase-file $work/ca.passphrase"
row "scripts/openssl-pki.sh (RSA 4096 CA, RSA 2048 leaves)" "$(((runs + 1) / 2))" \
	"$repo/scripts/openssl-pki.sh --force $work/openssl"

if grep -q outliers "$work/warnings.txt" 2>/dev/null; then
	echo
	echo "hyperfine found statistical outliers: another program competed for the CPU."
fi
echo
echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load average $(cut -d' ' -f1-3 /proc/loadavg); $(openssl version)"
