#!/usr/bin/env bash
# Runs every benchmark of grpc-mtls and regenerates the tables in
# docs/BENCHMARKS.md. 'make bench' installs ghz and benchstat, then runs
# this script, which takes 5 to 7 minutes on 2 cores, and longer on a
# loaded machine.
#
# Each group of benchmarks runs BENCH_ROUNDS times in turn (the scale
# benchmark BENCH_SCALE_ROUNDS times), so the samples of one round are
# taken close together, and the report takes medians over rounds.
#
# Environment:
#   GRPC_EXAMPLES_VERSION  version of google.golang.org/grpc/examples (required)
#   BENCH_ROUNDS           rounds of the short groups (default 5)
#   BENCH_SCALE_ROUNDS     rounds of the scale benchmark (default 3)
#   BENCH_DIR              work directory, emptied first (default .bench)
#   OPENSSL_PKI            the openssl PKI script (default scripts/openssl-pki.sh)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
examples_version=${GRPC_EXAMPLES_VERSION:?set GRPC_EXAMPLES_VERSION, as make bench does}
rounds=${BENCH_ROUNDS:-5}
scale_rounds=${BENCH_SCALE_ROUNDS:-3}
work=${BENCH_DIR:-$root/.bench}
openssl_pki=${OPENSSL_PKI:-$root/scripts/openssl-pki.sh}
tools=$root/.tools/bin
results=$work/results.txt
started=$(date +%s)

log() { printf '%s bench: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

# build_example copies grpc-go's examples module from the module cache,
# drops the replace directives that point into the grpc-go repository,
# requires the grpc version this project uses, and builds the mTLS server.
build_example() {
	local src grpc_version
	src=$(go mod download -json "google.golang.org/grpc/examples@$examples_version" |
		sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
	[[ -d $src ]] || { echo "bench: google.golang.org/grpc/examples@$examples_version has no directory in the module cache" >&2; exit 1; }
	grpc_version=$(go list -m -f '{{.Version}}' google.golang.org/grpc)
	cp -R "$src" "$work/grpc-examples"
	chmod -R u+w "$work/grpc-examples"
	(
		cd "$work/grpc-examples"
		go mod edit -dropreplace=google.golang.org/grpc \
			-dropreplace=google.golang.org/grpc/gcp/observability \
			-dropreplace=google.golang.org/grpc/stats/opentelemetry \
			-require="google.golang.org/grpc@$grpc_version"
		GOFLAGS=-mod=mod go build -o "$work/grpc-example-server" ./features/encryption/mTLS/server
	)
}

rm -rf "$work"
mkdir -p "$work"
log "building mtls, the benchmark binary and grpc-go's mTLS example server ($examples_version)"
go build -o "$work/mtls" ./cmd/mtls
go test -c -o "$work/bench.test" ./bench
build_example

flags=(
	-mtls "$work/mtls" -ghz "$tools/ghz" -proto-dir "$root/proto" -fixtures "$work/fixtures"
	-example-server "$work/grpc-example-server" -example-dir "$work/grpc-examples"
)
# The openssl comparison needs the script and the tools it calls; a dry run
# tells whether they work here before the benchmarks rely on them.
if [[ ! -x $openssl_pki ]]; then
	log "no executable $openssl_pki: the openssl comparison is skipped"
elif ! "$openssl_pki" "$work/openssl-check" >"$work/openssl-check.log" 2>&1; then
	log "$openssl_pki failed (output in $work/openssl-check.log): the openssl comparison is skipped"
else
	flags+=(-openssl-pki "$openssl_pki")
fi

{
	echo "cpu-model: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
	echo "cores: $(nproc)"
	echo "go: $(go env GOVERSION)"
	echo "kernel: $(uname -sr)"
	echo "openssl: $(openssl version | cut -d' ' -f2)"
	echo "grpc-examples: $examples_version"
	echo "rounds: $rounds"
	echo "scale-rounds: $scale_rounds"
	echo "loadavg-start: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "date: $(date -u +%Y-%m-%dT%H:%MZ)"
} >"$results"

# bench runs one group of benchmarks in the benchmark binary and appends
# its results.
bench() {
	local pattern=$1
	shift
	(cd "$work" && ./bench.test -test.run '^$' -test.bench "$pattern" "$@" "${flags[@]}") |
		tee -a "$work/output.log" | grep -E '^Benchmark' >>"$results"
}

# The ghz groups run twice per round, so the two servers they compare
# alternate more often.
for round in $(seq "$rounds"); do
	log "round $round of $rounds"
	bench '^BenchmarkPKIInit$' -test.benchtime 1x
	bench '^BenchmarkHandshake$' -test.benchtime 1s
	bench '^BenchmarkKeyExchange$' -test.benchtime 1s
	for _ in 1 2; do
		bench '^BenchmarkUnary$' -test.benchtime 1x -ghz-duration 2s
		bench '^BenchmarkPeerUnary$' -test.benchtime 1x -ghz-duration 2s
	done
	bench '^BenchmarkStream$' -test.benchtime 0.5s
	bench '^BenchmarkPeerConnect$' -test.benchtime 1x -connect-duration 2s
done
for round in $(seq "$scale_rounds"); do
	log "scale round $round of $scale_rounds"
	bench '^BenchmarkScale$' -test.benchtime 1x
done

log "allocation benchmarks of the interceptors and the call log"
go test -run '^$' -bench 'Interceptor|LogCall' -benchmem -benchtime 100000x -count "$rounds" ./server ./cmd/mtls |
	tee -a "$work/output.log" | grep -E '^Benchmark' >>"$results"

{
	echo "loadavg-end: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "wall-seconds: $(($(date +%s) - started))"
} >>"$results"

"$tools/benchstat" "$results" >"$work/benchstat.txt"
mkdir -p docs/bench
cp "$results" docs/bench/results.txt
cp "$work/benchstat.txt" docs/bench/benchstat.txt
go run ./bench/report -results "$results" -doc docs/BENCHMARKS.md
log "done in $(($(date +%s) - started)) s: docs/BENCHMARKS.md, docs/bench/results.txt, docs/bench/benchstat.txt"
