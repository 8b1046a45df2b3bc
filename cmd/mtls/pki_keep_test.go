package main

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// runCLI runs the mtls command in-process and returns its exit code,
// standard output and standard error.
var caSerialLine = regexp.MustCompile(`(?m)^  CA .* serial ([0-9a-f]+) `)

func caSerial(t *testing.T, output string) string {
	t.Helper()
	m := caSerialLine.FindStringSubmatch(output)
	require.NotNil(t, m, "no CA serial in output:\n%s", output)
	return m[1]
}

func TestPKIInitKeepExistingTwice(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")

	code, first, stderr := runCLI(t, "pki", "init", "--dir", dir, "--keep-existing")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, first, "Created a")

	code, second, stderr := runCLI(t, "pki", "init", "--dir", dir, "--keep-existing")

	require.Equal(t, 0, code, stderr)
	assert.Contains(t, second, "Kept the existing PKI in "+dir+" (nothing written)")
	assert.Equal(t, caSerial(t, first), caSerial(t, second))
	assert.NotContains(t, second, "Warning:")
}

func TestPKIInitKeepExistingFromEnvironment(t *testing.T) {
	dir := t.TempDir()
	code, _, stderr := runCLI(t, "pki", "init", "--dir", dir)
	require.Equal(t, 0, code, stderr)
	t.Setenv("MTLS_KEEP_EXISTING", "true")

	code, stdout, stderr := runCLI(t, "pki", "init", "--dir", dir)

	assert.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "Kept the existing PKI")
}

func TestPKIInitKeepExistingWarnsOnOtherServerNames(t *testing.T) {
	dir := t.TempDir()
	code, _, stderr := runCLI(t, "pki", "init", "--dir", dir, "--server-dns", "localhost", "--server-ip", "127.0.0.1")
	require.Equal(t, 0, code, stderr)

	code, stdout, stderr := runCLI(t, "pki", "init", "--dir", dir, "--keep-existing", "--server-dns", "server,localhost")

	assert.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "Warning: the kept server.crt has SANs localhost, 127.0.0.1, not the requested")
}

func TestPKIInitKeepExistingPartialSetFails(t *testing.T) {
	dir := t.TempDir()
	code, _, stderr := runCLI(t, "pki", "init", "--dir", dir)
	require.Equal(t, 0, code, stderr)
	require.NoError(t, os.Remove(filepath.Join(dir, "client.key")))

	code, stdout, stderr := runCLI(t, "pki", "init", "--dir", dir, "--keep-existing")

	assert.Equal(t, 1, code)
	assert.Empty(t, stdout)
	assert.Contains(t, stderr, "incomplete PKI: missing "+filepath.Join(dir, "client.key")+":")
	assert.NoFileExists(t, filepath.Join(dir, "client.key"))
}

func TestPKIInitKeepExistingWithForceFails(t *testing.T) {
	code, _, stderr := runCLI(t, "pki", "init", "--dir", t.TempDir(), "--keep-existing", "--force")

	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "--force and --keep-existing both given")
}
