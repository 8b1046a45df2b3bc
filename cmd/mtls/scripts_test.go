package main_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/grpc-mtls/grpc-mtls/internal/tooltest"
)

func repoFile(t *testing.T, name string) string {
	t.Helper()
	root, err := tooltest.RepoRoot()
	require.NoError(t, err)
	return filepath.Join(root, name)
}

// TestDemoScript runs 'make demo's script as a user would, twice in the
// same directory, so that the demo cannot silently stop working.
func TestDemoScript(t *testing.T) {
	bash := tooltest.Require(t, "bash")
	demoDir := t.TempDir()
	env := []string{"MTLS_BIN=" + mtlsBin, "DEMO_DIR=" + demoDir}

	for _, attempt := range []string{"first run", "second run over the first"} {
		res := runWithTimeout(t, scriptTimeout, "", env, bash, repoFile(t, "scripts/demo.sh"))

		require.Equal(t, 0, res.code, "%s:\n%s", attempt, res)
		out := res.stdout
		assert.Contains(t, out, "=== Step 2: Create a CA, a server certificate and two client certificates (client and guest)", attempt)
		assert.Contains(t, out, "$ "+mtlsBin+" pki init --dir "+demoDir+"/pki --force", attempt)
		assert.Contains(t, out, "Stream reply #3:", attempt)
		assert.Contains(t, out, "reason code:  no_client_certificate", attempt)
		assert.Contains(t, out, "reason code:  peer_rejected_authority", attempt)
		assert.Contains(t, out, `msg="rejected handshake"`, attempt)
		assert.Contains(t, out, "reason=no_client_certificate ", attempt)
		assert.Contains(t, out, "reason=unknown_authority ", attempt)
		assert.Contains(t, out, "Rejected as expected (reason permission_denied).", attempt)
		assert.Contains(t, out, `msg="permission denied"`, attempt)
		assert.Contains(t, out, "caller=spiffe://grpc-mtls.local/guest ", attempt)
		assert.Contains(t, out, `msg="server stopped"`, attempt)
		assert.Contains(t, out, "Demo finished: 1 client accepted, 3 clients rejected, as expected.", attempt)
		assert.NotContains(t, out, "DEMO FAILED", attempt)
	}
}

// TestOpenSSLScript checks that certificates and keystores made by the
// classic openssl recipe in scripts/openssl-pki.sh work with mtls serve and
// mtls call.
func TestOpenSSLScript(t *testing.T) {
	bash := tooltest.Require(t, "bash")
	tooltest.Require(t, "openssl")
	tooltest.Require(t, "keytool")
	dir := pkiDir(filepath.Join(t.TempDir(), "openssl-pki"))
	script := repoFile(t, "scripts/openssl-pki.sh")

	res := runWithTimeout(t, scriptTimeout, "", nil, bash, script, string(dir))

	require.Equal(t, 0, res.code, res.String())
	modes := map[string]os.FileMode{
		"ca.crt": 0o644, "server.crt": 0o644, "client.crt": 0o644, "truststore.p12": 0o644,
		"ca.key": 0o600, "server.key": 0o600, "client.key": 0o600, "server.p12": 0o600, "client.p12": 0o600,
		"p12.password": 0o600, "ca.passphrase": 0o600,
	}
	for name, mode := range modes {
		assert.Equal(t, mode, fileMode(t, dir.path(name)), name)
	}
	assert.Equal(t, os.FileMode(0o700), fileMode(t, string(dir)))
	caKey, err := os.ReadFile(dir.path("ca.key"))
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(caKey), "-----BEGIN ENCRYPTED PRIVATE KEY-----"), "ca.key is encrypted PKCS#8")
	inspect := mustMTLS(t, "pki", "inspect", dir.path("ca.crt"), dir.path("server.crt"), dir.path("client.crt"))
	assert.Contains(t, inspect.stdout, "key type:        RSA 4096")
	assert.Contains(t, inspect.stdout, "CA:              yes, path length 0")
	assert.Contains(t, inspect.stdout, "ext. key usage:  serverAuth")
	assert.Contains(t, inspect.stdout, "ext. key usage:  clientAuth")
	assert.Contains(t, inspect.stdout, "SANs:            spiffe://grpc-mtls.local/client")

	t.Run("PEM files", func(t *testing.T) {
		srv := startServer(t, nil, dir.serverArgs()...)

		res := mustMTLS(t, args([]string{"call", "--addr", srv.addr, "--stream"}, dir.clientArgs())...)

		assert.Contains(t, res.stdout, "SANs:        spiffe://grpc-mtls.local/client")
		assert.Contains(t, res.stdout, "Stream reply #3")
		srv.waitLog(t, "msg=call method=/mtls.v1.DemoService/WhoAmI ", "code=OK")
	})

	t.Run("PKCS#12 keystores", func(t *testing.T) {
		password := dir.path("p12.password")
		srv := startServer(t, nil, "--keystore", dir.path("server.p12"), "--truststore", dir.path("truststore.p12"), "--password-file", password)

		res := mustMTLS(t, "call", "--addr", srv.addr, "--keystore", dir.path("client.p12"), "--truststore", dir.path("truststore.p12"), "--password-file", password)

		assert.Contains(t, res.stdout, "This client, as the server verified it:\n  subject:     CN=client")
		srv.waitLog(t, "msg=call method=/mtls.v1.DemoService/WhoAmI ", "code=OK")
	})

	t.Run("rejects a client of mtls pki init", func(t *testing.T) {
		other := initPKI(t)
		srv := startServer(t, nil, dir.serverArgs()...)

		res := mtls(t, "call", "--addr", srv.addr, "--cert", other.path("client.crt"), "--key", other.path("client.key"), "--ca", dir.path("ca.crt"))

		assert.Equal(t, 1, res.code, res.String())
		assert.Contains(t, res.stderr, "reason code:  peer_rejected_authority")
		srv.waitLog(t, `msg="rejected handshake"`, "reason=unknown_authority ")
	})

	t.Run("rejects overwriting without force", func(t *testing.T) {
		before, err := os.ReadFile(dir.path("ca.crt"))
		require.NoError(t, err)

		res := run(t, nil, bash, script, string(dir))

		assert.Equal(t, 1, res.code, res.String())
		assert.Contains(t, res.stderr, "file already exists: "+dir.path("ca.crt"))
		after, err := os.ReadFile(dir.path("ca.crt"))
		require.NoError(t, err)
		assert.Equal(t, before, after)
	})
}
