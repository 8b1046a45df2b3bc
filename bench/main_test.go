package bench

import (
	"flag"
	"fmt"
	"os"
	"syscall"
	"testing"
)

var (
	mtlsBin     = flag.String("mtls", "", "path to the mtls binary, for the benchmarks of whole processes")
	opensslPKI  = flag.String("openssl-pki", "", "path to the openssl PKI script, run as 'SCRIPT OUTDIR'")
	exampleBin  = flag.String("example-server", "", "path to the built mTLS server of grpc-go's examples")
	exampleRoot = flag.String("example-dir", "", "root of the grpc-go examples module the server was built from")
	ghzBin      = flag.String("ghz", "", "path to the ghz binary, for RPC load")
	protoDir    = flag.String("proto-dir", "", "directory of this repository's .proto files (the buf module root)")
	fixtureDir  = flag.String("fixtures", "", "directory that caches one PKI per key type across runs (default: a temporary directory)")
)

// fixtureRoot is the directory the PKI fixtures live in for this run.
var fixtureRoot string

func TestMain(m *testing.M) {
	flag.Parse()
	if err := raiseOpenFileLimit(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	fixtureRoot = *fixtureDir
	if fixtureRoot == "" {
		dir, err := os.MkdirTemp("", "mtls-bench-fixtures-")
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench: create fixture directory:", err)
			os.Exit(1)
		}
		fixtureRoot = dir
		defer os.RemoveAll(dir)
	}
	code := m.Run()
	stopProcesses()
	if *fixtureDir == "" {
		os.RemoveAll(fixtureRoot)
	}
	os.Exit(code)
}

// wantOpenFiles is enough descriptors for the client end of the largest
// scale step, plus slack for listeners, files and pipes. The server runs
// in its own process, which inherits the limit.
const wantOpenFiles = maxScaleConnections + 4096

// raiseOpenFileLimit lifts RLIMIT_NOFILE to wantOpenFiles. The soft limit
// goes up to the hard one, and the hard one goes up too when the process
// may do that (as root). Child processes inherit the new limit.
func raiseOpenFileLimit() error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("read RLIMIT_NOFILE: %w", err)
	}
	if lim.Cur >= wantOpenFiles {
		return nil
	}
	if lim.Max < wantOpenFiles {
		raised := syscall.Rlimit{Cur: wantOpenFiles, Max: wantOpenFiles}
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised); err == nil {
			return nil
		}
	}
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("raise RLIMIT_NOFILE to %d: %w", lim.Max, err)
	}
	return nil
}

// skipWithout skips b unless the flag that names a required file is set.
func skipWithout(b *testing.B, value, flagName string) {
	b.Helper()
	if value == "" {
		b.Skipf("needs -%s (make bench sets it)", flagName)
	}
}
