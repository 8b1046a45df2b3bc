// Package bench measures grpc-mtls: PKI bootstrap, handshakes, RPCs, a
// comparison with grpc-go's mTLS example, and many connections at once.
//
// The package holds only benchmarks. Run them through 'make bench', which
// builds the binaries they start, runs every group several times and
// writes the medians into docs/BENCHMARKS.md:
//
//	make bench                      # 5 to 10 minutes on 2 cores
//	BENCH_ROUNDS=1 make bench       # one round, for a quick look
//
// Benchmarks that need a binary or a script skip when its flag is not
// given, so 'go test -bench . ./bench' runs only the in-process ones.
// Traffic stays on the loopback interface, and every loop is bounded by a
// count or a duration.
package bench
