package main

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/grpc-mtls/grpc-mtls/lab"
	"github.com/grpc-mtls/grpc-mtls/pki"
)

func TestDoctorHealthyPKIExitsZero(t *testing.T) {
	dir := t.TempDir()
	code, _, stderr := runCLI(t, "pki", "init", "--dir", dir)
	require.Equal(t, 0, code, stderr)
	p := func(name string) string { return filepath.Join(dir, name) }

	code, stdout, _ := runCLI(t, "doctor", "--role", "server", "--cert", p("server.crt"), "--key", p("server.key"), "--ca", p("ca.crt"), "--name", "localhost,127.0.0.1")
	assert.Equal(t, 0, code, stdout)
	assert.Contains(t, stdout, "0 errors, 0 warnings, 0 notes.")
}

func TestDoctorBrokenSetExitsOne(t *testing.T) {
	dir := t.TempDir()
	code, _, stderr := runCLI(t, "lab", "write", "server-cert-expired", "--dir", dir)
	require.Equal(t, 0, code, stderr)

	code, stdout, _ := runCLI(t, "doctor", "--role", "server", "--cert", filepath.Join(dir, "server-expired.crt"), "--key", filepath.Join(dir, "server-expired.key"), "--ca", filepath.Join(dir, "ca.crt"))
	assert.Equal(t, 1, code)
	assert.Contains(t, stdout, "ERROR   validity")
	assert.Contains(t, stdout, "the certificate expired at")
	assert.Contains(t, stdout, "fix: issue a new certificate")
}

func TestDoctorJSON(t *testing.T) {
	dir := t.TempDir()
	code, _, stderr := runCLI(t, "lab", "write", "rsa-1024", "--dir", dir)
	require.Equal(t, 0, code, stderr)

	code, stdout, _ := runCLI(t, "doctor", "--json", "--role", "server", "--cert", filepath.Join(dir, "server-rsa1024.crt"), "--key", filepath.Join(dir, "server-rsa1024.key"), "--ca", filepath.Join(dir, "ca.crt"))
	assert.Equal(t, 1, code)
	var report struct {
		Role     string
		Findings []struct{ Severity, Check, Problem string }
	}
	require.NoError(t, json.Unmarshal([]byte(stdout), &report))
	assert.Equal(t, "server", report.Role)
	var checks []string
	for _, f := range report.Findings {
		checks = append(checks, f.Severity+" "+f.Check)
	}
	assert.Contains(t, checks, "error key-size")
	assert.Contains(t, checks, "warning lint:e_rsa_mod_less_than_2048_bits")
}

func TestDoctorRejectsAddrForServerRole(t *testing.T) {
	code, _, stderr := runCLI(t, "doctor", "--role", "server", "--addr", "localhost:1", "--ca", "ca.crt")
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "--addr connects as the client")
}

func TestLabWriteRefusesNonEmptyDir(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "server.key"), []byte("keep me"), 0o600))

	code, _, stderr := runCLI(t, "lab", "write", "server-cert-expired", "--dir", dir)
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "is not empty")
	data, err := os.ReadFile(filepath.Join(dir, "server.key"))
	require.NoError(t, err)
	assert.Equal(t, "keep me", string(data))
}

func TestLabWritePrintsCommands(t *testing.T) {
	dir := t.TempDir()
	code, stdout, stderr := runCLI(t, "lab", "write", "--dir", dir, "client-cert-expired")
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "mtls serve --listen 127.0.0.1:8443 --cert "+dir+"/server.crt")
	assert.Contains(t, stdout, "--cert "+dir+"/client-expired.crt")
	assert.Contains(t, stdout, "--expect-failure peer_rejected_expired")
}

func TestLabRunShowsBothSides(t *testing.T) {
	code, stdout, stderr := runCLI(t, "lab", "run", "no-client-certificate")
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "remote error: tls: certificate required")
	assert.Contains(t, stdout, "tls: client didn't provide a certificate")
	assert.Contains(t, stdout, "Diagnosis `no_client_certificate`")
}

func TestLabUnknownKind(t *testing.T) {
	code, _, stderr := runCLI(t, "lab", "run", "no-such-kind")
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, `unknown kind "no-such-kind": see 'mtls lab list'`)
}

func TestCallExpectServer(t *testing.T) {
	k, ok := lab.Lookup("key-pkcs8-loads")
	require.True(t, ok)
	sc, err := k.Build(t.TempDir())
	require.NoError(t, err)
	srv, err := lab.Serve(sc)
	require.NoError(t, err)
	defer srv.Stop()
	args := []string{"call", "--addr", srv.Addr(), "--server-name", "localhost", "--cert", sc.Client.Cert, "--key", sc.Client.Key, "--ca", sc.Client.CA}

	code, stdout, stderr := runCLI(t, append(args, "--expect-server", "localhost")...)
	assert.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "The server, as this client verified it:")

	code, _, stderr = runCLI(t, append(args, "--expect-server", "spiffe://grpc-mtls.local/orders")...)
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "peer identity not allowed")
	assert.Contains(t, stderr, "reason code:  peer_identity_not_allowed")
	assert.Contains(t, stderr, "failed on:    the client")
	assert.Contains(t, stderr, "certificate:  the server's certificate CN=localhost")
}

// TestLabCallCommandsReproduce runs the 'mtls call' command that 'mtls
// lab write' prints for each kind against the kind's server. It must exit
// 0, because the call succeeds or fails with the reason its
// --expect-failure names, or, when the client's own files are the broken
// ones, exit 1 with the loader's error.
func TestLabCallCommandsReproduce(t *testing.T) {
	for _, k := range lab.Kinds() {
		t.Run(k.Name, func(t *testing.T) {
			sc, err := k.Build(t.TempDir())
			require.NoError(t, err)
			obs := lab.Run(context.Background(), sc)
			cmds := sc.Commands(sc.Dir)
			if len(cmds) == 0 || !strings.HasPrefix(cmds[len(cmds)-1], "mtls call ") {
				t.Skip("reproduced by another client or only by 'mtls lab run'")
			}
			srv, err := lab.Serve(sc)
			if err != nil {
				// The server's own files do not load: 'mtls serve' fails
				// the same way, and the lab suite checks that error.
				t.Skipf("server files do not load: %v", err)
			}
			defer srv.Stop()
			_, port, err := net.SplitHostPort(srv.Addr())
			require.NoError(t, err)

			args := strings.Fields(cmds[len(cmds)-1])[1:]
			for i, a := range args {
				args[i] = strings.Replace(a, ":8443", ":"+port, 1)
			}
			code, stdout, stderr := runCLI(t, args...)
			if obs.Load != nil && obs.Load.Side == pki.RoleClient {
				assert.Equal(t, 1, code)
				assert.Contains(t, stderr, obs.Load.Err.Error())
				return
			}
			assert.Equal(t, 0, code, "mtls %s\nstdout: %s\nstderr: %s", strings.Join(args, " "), stdout, stderr)
		})
	}
}
