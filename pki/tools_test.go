package pki_test

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/grpc-mtls/grpc-mtls/internal/tooltest"
	"github.com/grpc-mtls/grpc-mtls/pki"
)

// runTool runs a program and returns its combined output, failing the
// test if it exits non-zero.
func runTool(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	require.NoError(t, err, "%s %s:\n%s", filepath.Base(name), strings.Join(args, " "), out)
	return string(out)
}

// purposes parses "openssl x509 -purpose" output into purpose -> Yes/No.
func purposes(out string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		name, value, ok := strings.Cut(line, " : ")
		if ok {
			m[strings.TrimSpace(name)] = strings.TrimSpace(value)
		}
	}
	return m
}

func TestOpenSSLAcceptsInitOutput(t *testing.T) {
	openssl := tooltest.Require(t, "openssl")
	for _, kt := range []pki.KeyType{pki.KeyECDSAP256, pki.KeyECDSAP384, pki.KeyEd25519, pki.KeyRSA2048} {
		t.Run(string(kt), func(t *testing.T) {
			dir, _ := initPKI(t, pki.InitOptions{KeyType: kt})
			path := func(name string) string { return filepath.Join(dir, name) }

			out := runTool(t, openssl, "verify", "-CAfile", path(pki.FileCACert), path(pki.FileServerCert), path(pki.FileClientCert))
			assert.Contains(t, out, path(pki.FileServerCert)+": OK")
			assert.Contains(t, out, path(pki.FileClientCert)+": OK")

			server := purposes(runTool(t, openssl, "x509", "-in", path(pki.FileServerCert), "-noout", "-purpose"))
			assert.Equal(t, "Yes", server["SSL server"], "server.crt is for TLS servers")
			assert.Equal(t, "No", server["SSL client"], "server.crt is not for TLS clients")
			assert.Equal(t, "No", server["SSL server CA"])

			client := purposes(runTool(t, openssl, "x509", "-in", path(pki.FileClientCert), "-noout", "-purpose"))
			assert.Equal(t, "Yes", client["SSL client"], "client.crt is for TLS clients")
			assert.Equal(t, "No", client["SSL server"], "client.crt is not for TLS servers")

			ca := purposes(runTool(t, openssl, "x509", "-in", path(pki.FileCACert), "-noout", "-purpose"))
			assert.Equal(t, "Yes", ca["SSL server CA"], "ca.crt may sign server certificates")
			assert.Equal(t, "Yes", ca["SSL client CA"], "ca.crt may sign client certificates")

			text := runTool(t, openssl, "x509", "-in", path(pki.FileCACert), "-noout", "-text")
			assert.Contains(t, text, "X509v3 Basic Constraints: critical\n                CA:TRUE, pathlen:0")
			assert.Contains(t, text, "Certificate Sign, CRL Sign")
		})
	}
}

func TestOpenSSLRejectsForeignCA(t *testing.T) {
	openssl := tooltest.Require(t, "openssl")
	dir, _ := initPKI(t, pki.InitOptions{})
	otherDir, _ := initPKI(t, pki.InitOptions{})

	out, err := exec.Command(openssl, "verify", "-CAfile", filepath.Join(otherDir, pki.FileCACert), filepath.Join(dir, pki.FileClientCert)).CombinedOutput()

	assert.Error(t, err, "openssl verify must fail for a certificate of another CA")
	assert.Contains(t, string(out), "unable to get local issuer certificate")
}

func TestOpenSSLReadsPKCS12(t *testing.T) {
	openssl := tooltest.Require(t, "openssl")
	dir, _ := initPKI(t, pki.InitOptions{})
	pass := "file:" + filepath.Join(dir, pki.FileP12Password)

	out := runTool(t, openssl, "pkcs12", "-in", filepath.Join(dir, pki.FileServerP12), "-passin", pass, "-nokeys", "-info")
	assert.Contains(t, out, "subject=CN = server")
	assert.Contains(t, out, "PKCS7 Encrypted data: PBES2, PBKDF2, AES-256-CBC", "modern encryption, no -legacy needed")

	out = runTool(t, openssl, "pkcs12", "-in", filepath.Join(dir, pki.FileTruststore), "-passin", pass, "-nokeys")
	assert.Contains(t, out, "subject=O = grpc-mtls, CN = grpc-mtls CA")
}

func TestKeytoolListsStores(t *testing.T) {
	keytool := tooltest.Require(t, "keytool")
	dir, res := initPKI(t, pki.InitOptions{})
	tests := []struct {
		file      string
		wantEntry string
		wantOwner string
	}{
		{pki.FileTruststore, "Entry type: trustedCertEntry", ""},
		{pki.FileServerP12, "Entry type: PrivateKeyEntry\nCertificate chain length: 2", "Owner: CN=server\n"},
		{pki.FileClientP12, "Entry type: PrivateKeyEntry\nCertificate chain length: 2", "Owner: CN=client\n"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			out := runTool(t, keytool, "-list", "-v", "-storetype", "PKCS12", "-keystore", filepath.Join(dir, tt.file),
				"-storepass:file", filepath.Join(dir, pki.FileP12Password))

			assert.Contains(t, out, "Your keystore contains 1 entry")
			assert.Contains(t, out, tt.wantEntry)
			assert.Contains(t, out, tt.wantOwner)
			assert.Contains(t, out, "Owner: CN="+res.CA.CommonName+", O=grpc-mtls", "the CA certificate is in the store")
		})
	}
}
