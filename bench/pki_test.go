package bench

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/grpc-mtls/grpc-mtls/pki"
)

// BenchmarkPKIInit runs 'mtls pki init' as a whole process for each key
// type, and the openssl script that builds the same files with the classic
// RSA recipe, one process per operation. Each run writes into a new
// directory.
func BenchmarkPKIInit(b *testing.B) {
	for _, kt := range pki.KeyTypes {
		b.Run("tool=mtls/key="+string(kt), func(b *testing.B) {
			skipWithout(b, *mtlsBin, "mtls")
			benchmarkProcess(b, func(dir string) *exec.Cmd {
				return exec.Command(*mtlsBin, "pki", "init", "--dir", dir, "--key-type", string(kt))
			})
		})
	}
	b.Run("tool=openssl-script", func(b *testing.B) {
		skipWithout(b, *opensslPKI, "openssl-pki")
		benchmarkProcess(b, func(dir string) *exec.Cmd {
			return exec.Command(*opensslPKI, dir)
		})
	})
}

// benchmarkProcess runs the command made for a fresh output directory
// b.N times and fails b if any run fails. The directory exists and is
// empty, as for a user who made it first. Next to the wall time it
// reports the CPU time per run, which includes the processes the command
// started and waited for.
func benchmarkProcess(b *testing.B, command func(dir string) *exec.Cmd) {
	root := b.TempDir()
	var cpu time.Duration
	for i := 0; b.Loop(); i++ {
		dir := filepath.Join(root, strconv.Itoa(i))
		if err := os.Mkdir(dir, 0o700); err != nil {
			b.Fatal(err)
		}
		cmd := command(dir)
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("%s: %v\n%s", cmd, err, out)
		}
		cpu += cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	b.ReportMetric(perOp(cpu, int64(b.N)), "cpu-ns/op")
}
