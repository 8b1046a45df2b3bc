package main_test

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/grpc-mtls/grpc-mtls/internal/tooltest"
)

var initFiles = []string{"ca.crt", "ca.key", "server.crt", "server.key", "client.crt", "client.key", "server.p12", "client.p12", "truststore.p12", "p12.password"}

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	block, _ := pem.Decode(data)
	require.NotNil(t, block, "PEM in %s", path)
	cert, err := x509.ParseCertificate(block.Bytes)
	require.NoError(t, err)
	return cert
}

func fileMode(t *testing.T, path string) os.FileMode {
	t.Helper()
	info, err := os.Stat(path)
	require.NoError(t, err)
	return info.Mode().Perm()
}

func TestPKIInitWritesFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")

	res := mustMTLS(t, "pki", "init", "--dir", dir)

	assert.Contains(t, res.stdout, "Created a ecdsa-p256 PKI in "+dir)
	assert.Contains(t, res.stdout, "server  CN=server  SANs server, localhost, 127.0.0.1, ::1")
	assert.Contains(t, res.stdout, "client  CN=client  SANs spiffe://grpc-mtls.local/client")
	assert.Contains(t, res.stdout, "The PKCS#12 password was generated and written to "+filepath.Join(dir, "p12.password"))
	assert.Contains(t, res.stdout, "Keep ca.key secret")
	assert.Empty(t, res.stderr)
	assert.Equal(t, os.FileMode(0o700), fileMode(t, dir))
	for _, name := range initFiles {
		assert.Contains(t, res.stdout, filepath.Join(dir, name), "the output lists %s", name)
		assert.FileExists(t, filepath.Join(dir, name))
	}
	password, err := os.ReadFile(filepath.Join(dir, "p12.password"))
	require.NoError(t, err)
	assert.NotContains(t, res.stdout, strings.TrimSpace(string(password)), "the password is never printed")
	assert.NotContains(t, res.stdout, "PRIVATE KEY")
}

func TestPKIInitRejectsOverwrite(t *testing.T) {
	dir := initPKI(t)
	before, err := os.ReadFile(dir.path("ca.key"))
	require.NoError(t, err)

	res := mtls(t, "pki", "init", "--dir", string(dir))

	assert.Equal(t, 1, res.code, res.String())
	assert.Contains(t, res.stderr, "file already exists: "+dir.path("ca.crt"))
	assert.Contains(t, res.stderr, "use --force to overwrite")
	after, err := os.ReadFile(dir.path("ca.key"))
	require.NoError(t, err)
	assert.Equal(t, before, after, "ca.key is unchanged")

	res = mustMTLS(t, "pki", "init", "--dir", string(dir), "--force")

	assert.Contains(t, res.stdout, "Created a ecdsa-p256 PKI")
	replaced, err := os.ReadFile(dir.path("ca.key"))
	require.NoError(t, err)
	assert.NotEqual(t, before, replaced, "--force replaced ca.key")
}

func TestPKIInitFlags(t *testing.T) {
	dir := initPKI(t, "--key-type", "ed25519", "--server-dns", "api.example.test,api", "--server-ip", "10.0.0.7",
		"--client-name", "billing", "--trust-domain", "example.test", "--leaf-validity", "7d")

	server := readCert(t, dir.path("server.crt"))
	client := readCert(t, dir.path("client.crt"))

	assert.Equal(t, x509.Ed25519, server.PublicKeyAlgorithm)
	assert.Equal(t, []string{"api.example.test", "api"}, server.DNSNames)
	require.Len(t, server.IPAddresses, 1)
	assert.Equal(t, "10.0.0.7", server.IPAddresses[0].String())
	require.Len(t, client.URIs, 1)
	assert.Equal(t, "spiffe://example.test/billing", client.URIs[0].String())
	assert.Equal(t, "billing", client.Subject.CommonName)
	assert.Equal(t, 7*24*time.Hour+5*time.Minute, client.NotAfter.Sub(client.NotBefore), "7 days plus the 5-minute backdate")
}

func TestPKIInitGivenPasswordFile(t *testing.T) {
	tmp := t.TempDir()
	passwordFile := filepath.Join(tmp, "given.password")
	require.NoError(t, os.WriteFile(passwordFile, []byte("my p12 password\n"), 0o600))
	dir := filepath.Join(tmp, "pki")

	res := mustMTLS(t, "pki", "init", "--dir", dir, "--p12-password-file", passwordFile)

	assert.NotContains(t, res.stdout, "was generated")
	assert.NoFileExists(t, filepath.Join(dir, "p12.password"))
	inspect := mustMTLS(t, "pki", "inspect", "--password-file", passwordFile, filepath.Join(dir, "server.p12"))
	assert.Contains(t, inspect.stdout, "subject:         CN=server")
}

func TestPKIInitInvalidFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"no directory", []string{"pki", "init"}, "--dir is required"},
		{"unknown key type", []string{"pki", "init", "--dir", "x", "--key-type", "dsa"}, `--key-type: unsupported key type "dsa": use one of ecdsa-p256`},
		{"invalid IP", []string{"pki", "init", "--dir", "x", "--server-ip", "localhost"}, `--server-ip "localhost": not an IP address`},
		{"invalid validity", []string{"pki", "init", "--dir", "x", "--leaf-validity", "soon"}, `invalid duration "soon"`},
		{"missing password file", []string{"pki", "init", "--dir", "x", "--p12-password-file", "nope"}, "--p12-password-file: read nope: file not found"},
		{"password as flag value is not accepted", []string{"pki", "init", "--dir", "x", "--p12-password", "secret"}, "flag provided but not defined: -p12-password"},
		{"unknown subcommand", []string{"pki", "renew"}, `unknown subcommand "renew"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			cmd := append([]string(nil), tt.args...)
			for i, a := range cmd {
				if a == "x" {
					cmd[i] = filepath.Join(dir, "pki")
				}
			}

			res := mtls(t, cmd...)

			assert.Equal(t, 1, res.code, res.String())
			assert.Contains(t, res.stderr, tt.wantErr)
			assert.NoDirExists(t, filepath.Join(dir, "pki"), "nothing was created")
		})
	}
}

func TestPKIInitEncryptedCAKey(t *testing.T) {
	tmp := t.TempDir()
	passphrase := filepath.Join(tmp, "ca.passphrase")
	require.NoError(t, os.WriteFile(passphrase, []byte("ca secret\n"), 0o600))
	wrong := filepath.Join(tmp, "wrong.passphrase")
	require.NoError(t, os.WriteFile(wrong, []byte("not it\n"), 0o600))
	dir := initPKI(t, "--ca-passphrase-file", passphrase)
	out := filepath.Join(tmp, "billing")

	res := mtls(t, "pki", "issue", "--ca-dir", string(dir), "--role", "client", "--name", "billing", "--out", out)
	assert.Equal(t, 1, res.code, res.String())
	assert.Contains(t, res.stderr, "the private key is encrypted and no passphrase was given: give --ca-passphrase-file")

	res = mtls(t, "pki", "issue", "--ca-dir", string(dir), "--ca-passphrase-file", wrong, "--role", "client", "--name", "billing", "--out", out)
	assert.Equal(t, 1, res.code, res.String())
	assert.Contains(t, res.stderr, "the passphrase or password is wrong")
	assert.NoFileExists(t, out+".key")

	mustMTLS(t, "pki", "issue", "--ca-dir", string(dir), "--ca-passphrase-file", passphrase, "--role", "client", "--name", "billing", "--out", out)
	assert.FileExists(t, out+".crt")

	t.Run("openssl reads the key and its parameters", func(t *testing.T) {
		openssl := tooltest.Require(t, "openssl")

		pkey := run(t, nil, openssl, "pkey", "-in", dir.path("ca.key"), "-passin", "file:"+passphrase, "-noout")
		assert.Equal(t, 0, pkey.code, pkey.String())

		parsed := run(t, nil, openssl, "asn1parse", "-in", dir.path("ca.key"))
		require.Equal(t, 0, parsed.code, parsed.String())
		assert.Contains(t, parsed.stdout, ":PBES2")
		assert.Contains(t, parsed.stdout, ":PBKDF2")
		assert.Contains(t, parsed.stdout, ":hmacWithSHA256")
		assert.Contains(t, parsed.stdout, ":aes-256-cbc")
		assert.Contains(t, parsed.stdout, "INTEGER           :0927C0", "600,000 PBKDF2 rounds (0x0927C0)")
	})
}

func TestPKIIssue(t *testing.T) {
	dir := initPKI(t)
	out := filepath.Join(t.TempDir(), "api")

	res := mustMTLS(t, "pki", "issue", "--ca-dir", string(dir), "--role", "server", "--name", "api",
		"--dns", "api.example.test", "--ip", "192.0.2.1", "--out", out, "--p12-password-file", dir.path("p12.password"))

	assert.Contains(t, res.stdout, "Issued server certificate CN=api (SANs api.example.test, 192.0.2.1")
	cert := readCert(t, out+".crt")
	assert.Equal(t, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, cert.ExtKeyUsage)
	assert.Equal(t, readCert(t, dir.path("ca.crt")).SubjectKeyId, cert.AuthorityKeyId)
	assert.Equal(t, os.FileMode(0o600), fileMode(t, out+".key"))
	assert.Equal(t, os.FileMode(0o644), fileMode(t, out+".crt"))
	assert.Equal(t, os.FileMode(0o600), fileMode(t, out+".p12"))

	res = mtls(t, "pki", "issue", "--ca-dir", string(dir), "--role", "server", "--name", "api", "--dns", "api", "--out", out)
	assert.Equal(t, 1, res.code, "issuing over existing files needs --force")
	assert.Contains(t, res.stderr, "file already exists")

	res = mtls(t, "pki", "issue", "--ca-dir", string(dir), "--role", "peer", "--name", "api", "--out", out+"2")
	assert.Equal(t, 1, res.code)
	assert.Contains(t, res.stderr, `--role "peer": use server or client`)
}

func TestPKIInspect(t *testing.T) {
	dir := initPKI(t)
	password := dir.path("p12.password")

	res := mustMTLS(t, "pki", "inspect", "--password-file", password,
		dir.path("ca.crt"), dir.path("server.crt"), dir.path("client.key"), dir.path("server.p12"), dir.path("truststore.p12"))

	out := res.stdout
	assert.Contains(t, out, dir.path("ca.crt")+":")
	assert.Contains(t, out, "CA:              yes, path length 0")
	assert.Contains(t, out, "key usage:       keyCertSign, cRLSign")
	assert.Contains(t, out, "SANs:            server, localhost, 127.0.0.1, ::1")
	assert.Contains(t, out, "ext. key usage:  serverAuth")
	assert.Contains(t, out, "key type:        ECDSA P-256")
	assert.Contains(t, out, "signature:       ECDSA-SHA256")
	assert.Contains(t, out, "days left")
	assert.Contains(t, out, "  private key\n")
	assert.Contains(t, out, "  trusted certificate\n")
	assert.Regexp(t, `SHA-256:\s+[0-9a-f]{64}`, out)
	assert.NotContains(t, out, "PRIVATE KEY", "no key material")
	passwordText, err := os.ReadFile(password)
	require.NoError(t, err)
	assert.NotContains(t, out, strings.TrimSpace(string(passwordText)))

	res = mtls(t, "pki", "inspect", dir.path("server.p12"))
	assert.Equal(t, 1, res.code)
	assert.Contains(t, res.stderr, "not PEM, so probably PKCS#12, which needs its password: give --password-file")

	res = mtls(t, "pki", "inspect")
	assert.Equal(t, 1, res.code)
	assert.Contains(t, res.stderr, "name at least one file to inspect")
}
