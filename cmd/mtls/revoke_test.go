package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/grpc-mtls/grpc-mtls/pki"
	"github.com/grpc-mtls/grpc-mtls/pki/pkitest"
)

func initPKI(t *testing.T, extra ...string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "pki")
	code, _, stderr := runCLI(t, append([]string{"pki", "init", "--dir", dir}, extra...)...)
	require.Equal(t, 0, code, stderr)
	return dir
}

func TestPKIInitIntermediateCLI(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")

	code, stdout, stderr := runCLI(t, "pki", "init", "--dir", dir, "--intermediate", "--guest-name", "reader")

	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "issuer  CN=grpc-mtls intermediate CA ")
	assert.Contains(t, stdout, "guest   CN=reader  SANs spiffe://grpc-mtls.local/reader")
	assert.Contains(t, stdout, "ca.key can be moved offline")
	assert.FileExists(t, filepath.Join(dir, pki.FileIntermediateKey))
}

func TestPKIIssueUsesIntermediate(t *testing.T) {
	dir := initPKI(t, "--intermediate")
	out := filepath.Join(t.TempDir(), "billing")

	code, stdout, stderr := runCLI(t, "pki", "issue", "--ca-dir", dir, "--role", "client", "--name", "billing", "--out", out)
	chain, err := pki.LoadCertificates(out + ".crt")
	require.NoError(t, err)

	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "signed by CN=grpc-mtls intermediate CA ")
	require.Len(t, chain, 2, "the certificate file carries the intermediate")
	assert.True(t, strings.HasPrefix(chain[1].Subject.CommonName, pki.DefaultIntermediateName+" "), chain[1].Subject.CommonName)
}

func TestPKIRevokeByCertificate(t *testing.T) {
	dir := initPKI(t, "--intermediate")
	guest := filepath.Join(dir, pki.FileGuestCert)

	code, stdout, stderr := runCLI(t, "pki", "revoke", "--ca-dir", dir, "--cert", guest, "--reason", "keyCompromise")
	trust, err := pki.LoadTruststore(pki.TruststoreSource{File: filepath.Join(dir, pki.FileCACert)})
	require.NoError(t, err)
	crl, err := pki.LoadCRL(filepath.Join(dir, "intermediate.crl"), trust)
	require.NoError(t, err)
	certs, err := pki.LoadCertificates(guest)
	require.NoError(t, err)

	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "Revoked serial "+certs[0].SerialNumber.Text(16)+" (CN=guest), reason keyCompromise.")
	assert.Contains(t, stdout, "Published CRL number 1 to "+filepath.Join(dir, "intermediate.crl"))
	require.Len(t, crl.List.RevokedCertificateEntries, 1)
	assert.Equal(t, certs[0].SerialNumber, crl.List.RevokedCertificateEntries[0].SerialNumber)
	assert.FileExists(t, filepath.Join(dir, "intermediate.revoked.json"))
}

func TestPKIRevokeBySerialThenRefresh(t *testing.T) {
	dir := initPKI(t)
	certs, err := pki.LoadCertificates(filepath.Join(dir, pki.FileGuestCert))
	require.NoError(t, err)
	serial := strings.ToUpper(certs[0].SerialNumber.Text(16))
	colons := serial[:2] + ":" + serial[2:4] + ":" + serial[4:]

	revokeCode, _, revokeErr := runCLI(t, "pki", "revoke", "--ca-dir", dir, "--serial", colons)
	againCode, againOut, _ := runCLI(t, "pki", "revoke", "--ca-dir", dir, "--serial", serial)
	crlCode, crlOut, crlErr := runCLI(t, "pki", "crl", "--ca-dir", dir, "--crl-validity", "1d")

	require.Equal(t, 0, revokeCode, revokeErr)
	require.Equal(t, 0, againCode)
	assert.Contains(t, againOut, "was already revoked at")
	require.Equal(t, 0, crlCode, crlErr)
	assert.Contains(t, crlOut, "Published CRL number 3 to "+filepath.Join(dir, "ca.crl"))
	assert.Contains(t, crlOut, "(1 revoked)")
}

func TestPKIRevokeErrors(t *testing.T) {
	dir := initPKI(t)
	other := pkitest.NewCA(t)
	foreignCert, _ := pkitest.WriteLeaf(t, t.TempDir(), "foreign", other.Client(t, "foreign"))
	guest := filepath.Join(dir, pki.FileGuestCert)

	tests := []struct {
		name string
		args []string
		want string
	}{
		{"neither serial nor cert", []string{"--ca-dir", dir}, "give exactly one of --serial and --cert"},
		{"both serial and cert", []string{"--ca-dir", dir, "--serial", "1a", "--cert", guest}, "give exactly one of --serial and --cert"},
		{"bad serial", []string{"--ca-dir", dir, "--serial", "xyz"}, `--serial "xyz": not a positive hexadecimal number`},
		{"bad reason", []string{"--ca-dir", dir, "--serial", "1a", "--reason", "oops"}, `--reason: unknown revocation reason "oops"`},
		{"foreign certificate", []string{"--ca-dir", dir, "--cert", foreignCert}, `was not issued by CA "CN=grpc-mtls CA `},
		{"no CA", []string{"--serial", "1a"}, "no issuing CA: give --ca-dir"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, append([]string{"pki", "revoke"}, tt.args...)...)

			assert.Equal(t, 1, code)
			assert.Contains(t, stderr, tt.want)
		})
	}
	assert.NoFileExists(t, filepath.Join(dir, "ca.crl"), "no failed command published a CRL")
	_, err := os.Stat(filepath.Join(dir, "ca.revoked.json"))
	assert.ErrorIs(t, err, os.ErrNotExist)
}
