package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/grpc-mtls/grpc-mtls/pki"
)

// initHardeningPKI runs 'mtls pki init' in process and returns the directory.
func initHardeningPKI(t *testing.T, extra ...string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "pki")
	var stdout, stderr bytes.Buffer
	code := run(append([]string{"pki", "init", "--dir", dir}, extra...), &stdout, &stderr)
	require.Equal(t, 0, code, stderr.String())
	return dir
}

// runMTLS runs the command in process and returns its exit code and output.
func runMTLS(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestCLIBadInput(t *testing.T) {
	dir := initHardeningPKI(t)
	p := func(name string) string { return filepath.Join(dir, name) }
	scratch := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		path := filepath.Join(scratch, name)
		require.NoError(t, os.WriteFile(path, []byte(content), mode))
		return path
	}
	caKey, err := os.ReadFile(p(pki.FileCAKey))
	require.NoError(t, err)
	serverKey, err := os.ReadFile(p(pki.FileServerKey))
	require.NoError(t, err)
	twoKeys := write("two.key", string(caKey)+string(serverKey), 0o600)
	newline := write("newline.password", "\n", 0o600)
	wrongPassword := write("wrong.password", "wrong\n", 0o600)
	serve := []string{"serve", "--cert", p(pki.FileServerCert), "--key", p(pki.FileServerKey), "--ca", p(pki.FileCACert), "--listen", "127.0.0.1:0"}

	tests := []struct {
		name string
		args []string
		env  map[string]string
		// want are substrings of stderr; the exit code must be 1.
		want []string
		// noFiles lists paths that must not exist afterwards.
		noFiles []string
	}{
		{"serve cert missing", []string{"serve", "--cert", p("nope.crt"), "--key", p(pki.FileServerKey), "--ca", p(pki.FileCACert)},
			nil, []string{"nope.crt", "file not found"}, nil},
		{"serve key is a directory", []string{"serve", "--cert", p(pki.FileServerCert), "--key", dir, "--ca", p(pki.FileCACert)},
			nil, []string{dir, "is a directory"}, nil},
		{"serve cert and key swapped", []string{"serve", "--cert", p(pki.FileServerKey), "--key", p(pki.FileServerCert), "--ca", p(pki.FileCACert)},
			nil, []string{"swapped"}, nil},
		{"serve two keys", []string{"serve", "--cert", p(pki.FileServerCert), "--key", twoKeys, "--ca", p(pki.FileCACert)},
			nil, []string{"two.key", "more than one private key"}, nil},
		{"serve ca is a leaf", []string{"serve", "--cert", p(pki.FileServerCert), "--key", p(pki.FileServerKey), "--ca", p(pki.FileClientCert)},
			nil, []string{pki.FileClientCert, "is not a CA"}, nil},
		{"serve keystore wrong password", []string{"serve", "--keystore", p(pki.FileServerP12), "--password-file", wrongPassword, "--truststore", p(pki.FileTruststore)},
			nil, []string{pki.FileServerP12, "password is wrong"}, nil},
		{"serve password only newline", []string{"serve", "--keystore", p(pki.FileServerP12), "--password-file", newline, "--truststore", p(pki.FileTruststore)},
			nil, []string{"newline.password", "only a line break"}, nil},
		{"serve negative handshake timeout", append(serve, "--handshake-timeout", "-1s"), nil, []string{"--handshake-timeout -1s", "positive duration"}, nil},
		{"serve zero handshake slots", append(serve, "--max-concurrent-handshakes", "0"), nil, []string{"--max-concurrent-handshakes 0"}, nil},
		{"serve zero streams", append(serve, "--max-concurrent-streams", "0"), nil, []string{"--max-concurrent-streams 0"}, nil},
		{"serve zero message size", append(serve, "--max-recv-msg-size", "0"), nil, []string{"--max-recv-msg-size 0"}, nil},
		{"serve zero keepalive", append(serve, "--keepalive-time", "0s"), nil, []string{"--keepalive-time 0s"}, nil},
		{"serve negative idle time", append(serve, "--max-connection-idle", "-5m"), nil, []string{"--max-connection-idle -5m0s"}, nil},
		{"serve bad listen address", append(serve[:len(serve)-2], "--listen", "127.0.0.1:99999"), nil, []string{"--listen 127.0.0.1:99999"}, nil},
		{"serve bad metrics address", append(serve, "--metrics-listen", "127.0.0.1:99999"), nil, []string{"--metrics-listen 127.0.0.1:99999"}, nil},
		{"serve bad env duration", serve, map[string]string{"MTLS_HANDSHAKE_TIMEOUT": "soon"}, []string{"MTLS_HANDSHAKE_TIMEOUT", "--handshake-timeout"}, nil},
		{"call zero timeout", []string{"call", "--ca", p(pki.FileCACert), "--timeout", "0s"}, nil, []string{"--timeout 0s"}, nil},
		{"call negative echo", []string{"call", "--ca", p(pki.FileCACert), "--echo", "-1"}, nil, []string{"--echo -1"}, nil},
		{"call passphrase file missing", []string{"call", "--ca", p(pki.FileCACert), "--cert", p(pki.FileClientCert), "--key", p(pki.FileClientKey), "--key-passphrase-file", p("nope.pass")},
			nil, []string{"nope.pass", "file not found"}, nil},
		{"init password file missing", []string{"pki", "init", "--dir", filepath.Join(scratch, "init1"), "--p12-password-file", p("nope")},
			nil, []string{"--p12-password-file", "nope", "file not found"}, []string{filepath.Join(scratch, "init1")}},
		{"init password only newline", []string{"pki", "init", "--dir", filepath.Join(scratch, "init2"), "--p12-password-file", newline},
			nil, []string{"--p12-password-file", "only a line break"}, []string{filepath.Join(scratch, "init2")}},
		{"init into existing", []string{"pki", "init", "--dir", dir}, nil, []string{"already exists", "--force"}, nil},
		{"issue with two CA keys", []string{"pki", "issue", "--ca-cert", p(pki.FileCACert), "--ca-key", twoKeys, "--role", "client", "--name", "x", "--out", filepath.Join(scratch, "x")},
			nil, []string{"two.key", "more than one private key"}, []string{filepath.Join(scratch, "x.crt"), filepath.Join(scratch, "x.key")}},
		{"issue CA dir missing", []string{"pki", "issue", "--ca-dir", p("nope"), "--role", "server", "--name", "y", "--dns", "y", "--out", filepath.Join(scratch, "y")},
			nil, []string{"nope", "file not found"}, []string{filepath.Join(scratch, "y.crt"), filepath.Join(scratch, "y.key")}},
		{"issue bad p12 password file", []string{"pki", "issue", "--ca-dir", dir, "--role", "server", "--name", "z", "--dns", "z", "--out", filepath.Join(scratch, "z"), "--p12-password-file", newline},
			nil, []string{"--p12-password-file", "only a line break"}, []string{filepath.Join(scratch, "z.crt"), filepath.Join(scratch, "z.key"), filepath.Join(scratch, "z.p12")}},
		{"inspect directory", []string{"pki", "inspect", dir}, nil, []string{dir, "is a directory"}, nil},
		{"inspect p12 wrong password", []string{"pki", "inspect", "--password-file", wrongPassword, p(pki.FileServerP12)},
			nil, []string{pki.FileServerP12, "password is wrong"}, nil},
		{"status nothing listening", []string{"status", "--metrics-addr", "127.0.0.1:1"}, nil, []string{"127.0.0.1:1", "--metrics-listen"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			code, stdout, stderr := runMTLS(tt.args...)
			assert.Equal(t, 1, code, "stdout: %s\nstderr: %s", stdout, stderr)
			for _, want := range tt.want {
				assert.Contains(t, stderr, want)
			}
			assert.NotContains(t, stderr, "panic")
			for _, path := range tt.noFiles {
				assert.NoFileExists(t, path)
				assert.NoDirExists(t, path)
			}
		})
	}
}

func TestServeWarnsAboutReadableKey(t *testing.T) {
	dir := initHardeningPKI(t)
	key := filepath.Join(dir, pki.FileServerKey)
	require.NoError(t, os.Chmod(key, 0o644))

	// The bad listen address stops serve right after loading.
	code, _, stderr := runMTLS("serve", "--cert", filepath.Join(dir, pki.FileServerCert), "--key", key,
		"--ca", filepath.Join(dir, pki.FileCACert), "--listen", "127.0.0.1:99999")
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "secret file readable by others")
	assert.Contains(t, stderr, "path="+key)
	assert.Contains(t, stderr, "mode=0644")
	assert.Contains(t, stderr, "chmod 600 "+key)
}

func TestCallWarnsAboutReadablePassword(t *testing.T) {
	dir := initHardeningPKI(t)
	password := filepath.Join(dir, pki.FileP12Password)
	require.NoError(t, os.Chmod(password, 0o640))

	_, _, stderr := runMTLS("call", "--keystore", filepath.Join(dir, pki.FileClientP12), "--truststore", filepath.Join(dir, pki.FileTruststore),
		"--password-file", password, "--addr", "127.0.0.1:1", "--timeout", "5s")
	assert.Contains(t, stderr, "Warning: "+password+" holds a secret but is readable by group or others (mode 0640)")
	assert.Equal(t, 1, strings.Count(stderr, "Warning: "), "one warning per file")
}

func TestPKIFilesPrivateModes(t *testing.T) {
	dir := initHardeningPKI(t)
	passwordFile := filepath.Join(dir, pki.FileP12Password)
	code, _, stderr := runMTLS("pki", "issue", "--ca-dir", dir, "--role", "client", "--name", "extra",
		"--out", filepath.Join(dir, "extra"), "--p12-password-file", passwordFile)
	require.Equal(t, 0, code, stderr)

	want := map[string]os.FileMode{
		pki.FileCAKey: 0o600, pki.FileServerKey: 0o600, pki.FileClientKey: 0o600,
		pki.FileServerP12: 0o600, pki.FileClientP12: 0o600, pki.FileP12Password: 0o600,
		"extra.key": 0o600, "extra.p12": 0o600,
		pki.FileCACert: 0o644, pki.FileServerCert: 0o644, "extra.crt": 0o644,
	}
	for name, mode := range want {
		info, err := os.Stat(filepath.Join(dir, name))
		require.NoError(t, err)
		assert.Equal(t, mode, info.Mode().Perm(), name)
	}
	info, err := os.Stat(dir)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), info.Mode().Perm(), "PKI directory")
}
