package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/grpc-mtls/grpc-mtls/pki"
)

// runCLI runs the mtls command in-process and returns its exit code,
// standard output and standard error.
func TestPKINewCAWritesCA(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ca-new")

	code, out, errOut := runCLI(t, "pki", "new-ca", "--dir", dir, "--name", "rotation CA")

	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "Created CA CN=rotation CA")
	ca, err := pki.LoadCA(filepath.Join(dir, pki.FileCACert), filepath.Join(dir, pki.FileCAKey), nil)
	require.NoError(t, err)
	assert.True(t, ca.Cert.IsCA)
	assert.Equal(t, "rotation CA", ca.Cert.Subject.CommonName)
	info, err := os.Stat(filepath.Join(dir, pki.FileCAKey))
	require.NoError(t, err)
	assert.Equal(t, pki.ModePrivate, info.Mode().Perm())
}

func TestPKINewCADefaultNameHasDate(t *testing.T) {
	dir := t.TempDir()

	code, _, errOut := runCLI(t, "pki", "new-ca", "--dir", dir)

	require.Equal(t, 0, code, errOut)
	certs, err := pki.LoadCertificates(filepath.Join(dir, pki.FileCACert))
	require.NoError(t, err)
	date, ok := strings.CutPrefix(certs[0].Subject.CommonName, "grpc-mtls CA ")
	require.True(t, ok, certs[0].Subject.CommonName)
	_, err = time.Parse(time.DateOnly, date)
	assert.NoError(t, err)
}

func TestPKINewCAKeepsExistingCA(t *testing.T) {
	dir := t.TempDir()
	code, _, errOut := runCLI(t, "pki", "new-ca", "--dir", dir)
	require.Equal(t, 0, code, errOut)
	before, err := os.ReadFile(filepath.Join(dir, pki.FileCAKey))
	require.NoError(t, err)

	code, _, errOut = runCLI(t, "pki", "new-ca", "--dir", dir)

	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "already exists")
	assert.Contains(t, errOut, "--force")
	after, err := os.ReadFile(filepath.Join(dir, pki.FileCAKey))
	require.NoError(t, err)
	assert.Equal(t, before, after, "the existing CA key was overwritten")

	code, _, errOut = runCLI(t, "pki", "new-ca", "--dir", dir, "--force")
	require.Equal(t, 0, code, errOut)
	forced, err := os.ReadFile(filepath.Join(dir, pki.FileCAKey))
	require.NoError(t, err)
	assert.NotEqual(t, before, forced)
}

func TestPKINewCAEncryptedKeyIssues(t *testing.T) {
	dir := t.TempDir()
	passphraseFile := filepath.Join(dir, "ca.pass")
	require.NoError(t, os.WriteFile(passphraseFile, []byte("rotate me\n"), 0o600))
	caDir := filepath.Join(dir, "ca")

	code, _, errOut := runCLI(t, "pki", "new-ca", "--dir", caDir, "--ca-passphrase-file", passphraseFile)
	require.Equal(t, 0, code, errOut)

	key, err := os.ReadFile(filepath.Join(caDir, pki.FileCAKey))
	require.NoError(t, err)
	assert.Contains(t, string(key), "ENCRYPTED PRIVATE KEY")
	code, out, errOut := runCLI(t, "pki", "issue", "--ca-dir", caDir, "--ca-passphrase-file", passphraseFile,
		"--role", "server", "--name", "localhost", "--dns", "localhost", "--out", filepath.Join(dir, "server"))
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "Issued server certificate CN=localhost")
}

func TestPKINewCARejectsBadInput(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"missing dir", []string{}, "--dir is required"},
		{"unknown key type", []string{"--dir", t.TempDir(), "--key-type", "dsa"}, "unsupported key type"},
		{"extra argument", []string{"--dir", t.TempDir(), "ca.crt"}, "unexpected argument"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := runCLI(t, append([]string{"pki", "new-ca"}, tt.args...)...)

			assert.Equal(t, 1, code)
			assert.Contains(t, errOut, tt.want)
		})
	}
}

// newCAs creates two CAs with new-ca and returns their certificate files.
func newCAs(t *testing.T, dir string) (string, string) {
	t.Helper()
	var files []string
	for _, name := range []string{"old", "new"} {
		code, _, errOut := runCLI(t, "pki", "new-ca", "--dir", filepath.Join(dir, name), "--name", name+" CA")
		require.Equal(t, 0, code, errOut)
		files = append(files, filepath.Join(dir, name, pki.FileCACert))
	}
	return files[0], files[1]
}

func TestPKITruststoreCombinesPEM(t *testing.T) {
	dir := t.TempDir()
	oldCA, newCA := newCAs(t, dir)
	out := filepath.Join(dir, "trust.pem")

	code, stdout, errOut := runCLI(t, "pki", "truststore", "--out", out, oldCA, newCA, oldCA)

	require.Equal(t, 0, code, errOut)
	assert.Contains(t, stdout, "with 2 CA certificate(s)")
	ts, err := pki.LoadTruststore(pki.TruststoreSource{File: out})
	require.NoError(t, err)
	require.Len(t, ts.Certs, 2)
	assert.Equal(t, "old CA", ts.Certs[0].Subject.CommonName)
	assert.Equal(t, "new CA", ts.Certs[1].Subject.CommonName)
}

func TestPKITruststoreReplacesOnlyWithForce(t *testing.T) {
	dir := t.TempDir()
	oldCA, newCA := newCAs(t, dir)
	out := filepath.Join(dir, "trust.pem")
	code, _, errOut := runCLI(t, "pki", "truststore", "--out", out, oldCA, newCA)
	require.Equal(t, 0, code, errOut)

	code, _, errOut = runCLI(t, "pki", "truststore", "--out", out, newCA)
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "already exists")
	ts, err := pki.LoadTruststore(pki.TruststoreSource{File: out})
	require.NoError(t, err)
	assert.Len(t, ts.Certs, 2, "the truststore changed without --force")

	code, _, errOut = runCLI(t, "pki", "truststore", "--out", out, "--force", newCA)
	require.Equal(t, 0, code, errOut)
	ts, err = pki.LoadTruststore(pki.TruststoreSource{File: out})
	require.NoError(t, err)
	require.Len(t, ts.Certs, 1)
	assert.Equal(t, "new CA", ts.Certs[0].Subject.CommonName)
}

func TestPKITruststoreWritesPKCS12(t *testing.T) {
	dir := t.TempDir()
	oldCA, newCA := newCAs(t, dir)
	passwordFile := filepath.Join(dir, "p12.password")
	require.NoError(t, os.WriteFile(passwordFile, []byte("changeit\n"), 0o600))
	out := filepath.Join(dir, "trust.p12")

	code, stdout, errOut := runCLI(t, "pki", "truststore", "--out", out, "--p12-password-file", passwordFile, oldCA, newCA)

	require.Equal(t, 0, code, errOut)
	assert.Contains(t, stdout, "Wrote PKCS#12 truststore")
	ts, err := pki.LoadTruststore(pki.TruststoreSource{File: out, PasswordFile: passwordFile})
	require.NoError(t, err)
	assert.Len(t, ts.Certs, 2)

	if _, err := exec.LookPath("keytool"); err != nil {
		t.Log("keytool not installed: the Java check of the PKCS#12 truststore did not run")
		return
	}
	listing, err := exec.Command("keytool", "-list", "-storetype", "PKCS12", "-keystore", out, "-storepass", "changeit").CombinedOutput()
	require.NoError(t, err, string(listing))
	assert.Equal(t, 2, strings.Count(string(listing), "trustedCertEntry"), string(listing))
}

func TestPKITruststoreRejectsBadInput(t *testing.T) {
	dir := t.TempDir()
	oldCA, _ := newCAs(t, dir)
	code, _, errOut := runCLI(t, "pki", "issue", "--ca-dir", filepath.Join(dir, "old"), "--role", "server",
		"--name", "localhost", "--dns", "localhost", "--out", filepath.Join(dir, "server"))
	require.Equal(t, 0, code, errOut)

	tests := []struct {
		name string
		args []string
		want string
	}{
		{"missing out", []string{oldCA}, "--out is required"},
		{"no CA files", []string{"--out", filepath.Join(dir, "a.pem")}, "name at least one PEM file"},
		{"leaf certificate", []string{"--out", filepath.Join(dir, "b.pem"), filepath.Join(dir, "server.crt")}, "is not a CA"},
		{"missing file", []string{"--out", filepath.Join(dir, "c.pem"), filepath.Join(dir, "nope.crt")}, "file not found"},
		{"p12 name without password", []string{"--out", filepath.Join(dir, "d.p12"), oldCA}, "give --p12-password-file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := runCLI(t, append([]string{"pki", "truststore"}, tt.args...)...)

			assert.Equal(t, 1, code)
			assert.Contains(t, errOut, tt.want)
		})
	}
}

func TestCallRepeatRejectsBadFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"zero rounds", []string{"--repeat", "0"}, "--repeat 0"},
		{"with expect-failure", []string{"--repeat", "3", "--expect-failure", "any"}, "--expect-failure and --repeat"},
		{"negative age", []string{"--repeat", "3", "--max-connection-age", "-1s"}, "--max-connection-age -1s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := runCLI(t, append([]string{"call"}, tt.args...)...)

			assert.Equal(t, 1, code)
			assert.Contains(t, errOut, tt.want)
		})
	}
}

// TestRotateCAScript runs scripts/rotate-ca.sh against real mtls processes
// on loopback: a full CA rotation under a calling client, which must end
// with zero failed calls.
func TestRotateCAScript(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs a CA rotation of several seconds")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "mtls")
	build := exec.Command("go", "build", "-o", bin, ".")
	out, err := build.CombinedOutput()
	require.NoError(t, err, string(out))

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	script := exec.CommandContext(ctx, "bash", filepath.Join("..", "..", "scripts", "rotate-ca.sh"))
	script.Env = append(os.Environ(), "MTLS="+bin, "WORK="+filepath.Join(dir, "work"), "STEP_TIMEOUT=30")
	out, err = script.CombinedOutput()

	require.NoError(t, err, string(out))
	assert.Regexp(t, `CA rotated without a restart: \d+ calls, 0 failed\.`, string(out))
	assert.Contains(t, string(out), "ok: client sees the new server certificate")
	assert.Contains(t, string(out), "ok: server sees the new client certificate")
	assert.Contains(t, string(out), "Rejected as expected")
	t.Log(lastLine(string(out)))
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
