package pki_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/grpc-mtls/grpc-mtls/pki"
	"github.com/grpc-mtls/grpc-mtls/pki/pkitest"
)

// grpcText wraps msg the way a gRPC client shows a failed handshake.
func grpcText(msg string) error {
	return fmt.Errorf("rpc error: code = Unavailable desc = connection error: desc = %q", "transport: authentication handshake failed: "+msg)
}

func TestDiagnoseTexts(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		local  pki.Role
		reason pki.Reason
		side   string
		words  string
	}{
		{"unknown authority", grpcText("tls: failed to verify certificate: x509: certificate signed by unknown authority"), pki.RoleClient, pki.ReasonUnknownAuthority, "client", "does not chain to a CA in our truststore"},
		{"regenerated CA", grpcText(`tls: failed to verify certificate: x509: certificate signed by unknown authority (possibly because of "x509: ECDSA verification failure" while trying to verify candidate authority certificate "grpc-mtls CA")`), pki.RoleClient, pki.ReasonWrongCA, "client", `named "grpc-mtls CA"`},
		{"name mismatch", grpcText("tls: failed to verify certificate: x509: certificate is valid for localhost, not db"), pki.RoleClient, pki.ReasonNameMismatch, "client", "valid for localhost, but we expected db"},
		{"not yet valid by minutes", grpcText("tls: failed to verify certificate: x509: certificate has expired or is not yet valid: current time 2026-01-01T00:00:00Z is before 2026-01-01T00:04:00Z"), pki.RoleClient, pki.ReasonExpired, "client", "valid only in about 4 minutes"},
		{"not yet valid by days", grpcText("tls: failed to verify certificate: x509: certificate has expired or is not yet valid: current time 2026-01-01T00:00:00Z is before 2026-01-03T00:00:00Z"), pki.RoleClient, pki.ReasonExpired, "client", "not valid until 2026-01-03T00:00:00Z"},
		{"late rejection", grpcText("server closed the connection after the TLS handshake: remote error: tls: unknown certificate authority"), pki.RoleClient, pki.ReasonPeerRejectedAuthority, "server", "does not trust the CA that signed our certificate"},
		{"server sees no certificate", errors.New("tls: client didn't provide a certificate"), pki.RoleServer, pki.ReasonNoClientCertificate, "server", "sent no certificate"},
		{"version", errors.New("tls: client offered only unsupported versions: [303]"), pki.RoleServer, pki.ReasonVersionMismatch, "server", "no TLS version in common"},
		{"refused", grpcText("dial tcp 127.0.0.1:1: connect: connection refused"), pki.RoleClient, pki.ReasonConnectionRefused, "client", "Nothing is listening"},
		{"wrapped passphrase", fmt.Errorf("load key k.pem: %w", pki.ErrPassphraseRequired), pki.RoleServer, pki.ReasonPassphraseRequired, "server", "encrypted"},
		{"unrecognised", errors.New("something else entirely"), pki.RoleClient, pki.ReasonUnknown, "", "does not recognise"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := pki.Diagnose(tt.err, tt.local)
			assert.Equal(t, tt.reason, d.Reason)
			assert.Equal(t, tt.side, d.Side)
			assert.Contains(t, d.Summary, tt.words)
			assert.NotEmpty(t, d.Fix)
			assert.Equal(t, tt.err, d.Err, "the raw error is kept")
		})
	}
}

func TestDiagnoseNil(t *testing.T) {
	assert.Equal(t, pki.Diagnosis{}, pki.Diagnose(nil, pki.RoleClient))
}

func TestDiagnoseCertificateRequiredUsesMaterial(t *testing.T) {
	err := grpcText("server closed the connection after the TLS handshake: remote error: tls: certificate required")

	without := pki.DiagnoseWith(err, pki.RoleClient, pki.Material{})
	assert.Contains(t, without.Summary, "we have none configured")
	assert.Nil(t, without.Certificate)

	ca := pkitest.NewCA(t, pkitest.WithName("issuing CA"))
	leaf := ca.Client(t, "billing")
	with := pki.DiagnoseWith(err, pki.RoleClient, pki.Material{Keystore: pkitest.Keystore(leaf)})
	assert.Contains(t, with.Summary, `does not accept our issuer "CN=issuing CA,O=grpc-mtls"`)
	require.NotNil(t, with.Certificate)
	assert.Equal(t, pki.RoleClient, with.Certificate.Owner)
	assert.Equal(t, "CN=billing", with.Certificate.Subject)
	assert.Equal(t, pki.IdentityOf(leaf.Cert).Serial, with.Certificate.Serial)
	assert.Contains(t, with.String(), "Certificate: the client's certificate CN=billing (serial ")
}

func TestPeerIDErrorReachesClientAsText(t *testing.T) {
	ca := pkitest.NewCA(t)
	leaf := ca.Client(t, "intruder")
	idErr := &pki.PeerIDError{Certificate: leaf.Cert, Allowed: []string{"spiffe://test.local/client"}}

	typed := pki.Diagnose(idErr, pki.RoleServer)
	assert.Equal(t, pki.ReasonPeerIDNotAllowed, typed.Reason)
	require.NotNil(t, typed.Certificate)
	assert.Equal(t, "CN=intruder", typed.Certificate.Subject)

	text := pki.Diagnose(grpcText(idErr.Error()), pki.RoleClient)
	assert.Equal(t, pki.ReasonPeerIDNotAllowed, text.Reason)
	require.NotNil(t, text.Certificate)
	assert.Equal(t, "CN=intruder", text.Certificate.Subject)
	assert.Equal(t, typed.Certificate.Serial, text.Certificate.Serial)
	assert.Equal(t, []string{"spiffe://test.local/intruder"}, text.Certificate.Names)
}

// TestOpenSSLTruststoreWithoutTrustedEntries loads a certificate-only
// PKCS#12 file as "openssl pkcs12 -export -nokeys" writes it: OpenSSL
// does not mark the entries as trusted, as Java's keytool does.
func TestOpenSSLTruststoreWithoutTrustedEntries(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl is not installed")
	}
	dir := t.TempDir()
	ca := pkitest.NewCA(t)
	caFile := ca.WriteCA(t, dir)
	p12 := filepath.Join(dir, "truststore.p12")
	out, err := exec.Command(openssl, "pkcs12", "-export", "-nokeys", "-in", caFile, "-out", p12, "-passout", "pass:secret").CombinedOutput()
	require.NoError(t, err, string(out))
	password := filepath.Join(dir, "password")
	require.NoError(t, os.WriteFile(password, []byte("secret\n"), 0o600))

	_, err = pki.LoadTruststore(pki.TruststoreSource{File: p12, PasswordFile: password})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "not marked as trusted")
	d := pki.Diagnose(err, pki.RoleServer)
	assert.Equal(t, pki.ReasonNoTrustedEntries, d.Reason)
	assert.Equal(t, "server", d.Side)
}
