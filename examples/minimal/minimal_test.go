// Package minimal_test builds the two minimal examples and runs them
// against each other, so that the copyable pattern keeps working.
package minimal_test

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/grpc-mtls/grpc-mtls/pki/pkitest"
)

// build compiles the example in dir into the test's temporary directory.
func build(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), filepath.Base(dir))
	out, err := exec.Command("go", "build", "-o", bin, "./"+dir).CombinedOutput()
	require.NoError(t, err, "go build ./%s: %s", dir, out)
	return bin
}

// startServer runs the server binary on a loopback port and returns the
// address it prints and a reader of the rest of its output.
func startServer(t *testing.T, bin string, args ...string) (string, *bufio.Scanner) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"-listen", "127.0.0.1:0"}, args...)...)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	lines := bufio.NewScanner(stdout)
	addr := make(chan string, 1)
	go func() {
		if lines.Scan() {
			addr <- strings.TrimPrefix(lines.Text(), "listening on ")
		}
		close(addr)
	}()
	select {
	case a, ok := <-addr:
		require.True(t, ok, "the server exited before printing its address")
		return a, lines
	case <-time.After(30 * time.Second):
		t.Fatal("the server printed no address")
		return "", nil
	}
}

func TestMinimalExamples(t *testing.T) {
	serverBin := build(t, "server")
	clientBin := build(t, "client")
	dir := t.TempDir()
	ca := pkitest.NewCA(t)
	caFile := ca.WriteCA(t, dir)
	serverCert, serverKey := pkitest.WriteLeaf(t, dir, "server", ca.Server(t, "localhost", "127.0.0.1"))
	clientCert, clientKey := pkitest.WriteLeaf(t, dir, "client", ca.Client(t, "billing"))
	strangerCA := pkitest.NewCA(t, pkitest.WithName("stranger CA"))
	strangerCert, strangerKey := pkitest.WriteLeaf(t, dir, "stranger", strangerCA.Client(t, "stranger"))
	addr, serverOut := startServer(t, serverBin, "-cert", serverCert, "-key", serverKey, "-ca", caFile)

	clientOut, clientErr := exec.Command(clientBin, "-addr", addr, "-cert", clientCert, "-key", clientKey, "-ca", caFile).CombinedOutput()
	require.True(t, serverOut.Scan(), "the server logs the call")
	serverLine := serverOut.Text()
	strangerOut, strangerErr := exec.Command(clientBin, "-addr", addr, "-cert", strangerCert, "-key", strangerKey, "-ca", caFile).CombinedOutput()

	require.NoError(t, clientErr, "client output: %s", clientOut)
	assert.Equal(t, "server replied \"hello\" to caller spiffe://test.local/billing\n", string(clientOut))
	assert.Contains(t, serverLine, "call from spiffe://test.local/billing (serial ")
	assert.Error(t, strangerErr, "a client whose CA the server does not trust is rejected")
	assert.Contains(t, string(strangerOut), "call "+addr+": ")
}
