package pki_test

import (
	"crypto/x509"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/grpc-mtls/grpc-mtls/internal/tooltest"
	"github.com/grpc-mtls/grpc-mtls/pki"
	"github.com/grpc-mtls/grpc-mtls/pki/faults"
	"github.com/grpc-mtls/grpc-mtls/pki/pkitest"
)

func crlFiles(t *testing.T) pki.CRLFiles {
	t.Helper()
	return pki.CRLFilesFor(filepath.Join(t.TempDir(), "ca.crt"))
}

func publish(t *testing.T, ca *pki.CA, files pki.CRLFiles, leaf *pki.Leaf, opts pki.CRLOptions) *pki.Published {
	t.Helper()
	var req *pki.RevokeRequest
	if leaf != nil {
		req = &pki.RevokeRequest{Serial: leaf.Cert.SerialNumber, Subject: leaf.Cert.Subject.String(), Reason: "keyCompromise"}
	}
	out, err := pki.PublishCRL(ca, files, req, opts)
	require.NoError(t, err)
	return out
}

func TestCRLFilesFor(t *testing.T) {
	files := pki.CRLFilesFor(filepath.Join("pki", "intermediate.crt"))

	assert.Equal(t, filepath.Join("pki", "intermediate.revoked.json"), files.State)
	assert.Equal(t, filepath.Join("pki", "intermediate.crl"), files.CRL)
}

func TestPublishCRLRecordsAndNumbers(t *testing.T) {
	ca := pkitest.NewCA(t)
	files := crlFiles(t)
	first := ca.Client(t, "first")
	second := ca.Client(t, "second")

	one := publish(t, ca.CA, files, first, pki.CRLOptions{})
	two := publish(t, ca.CA, files, second, pki.CRLOptions{Validity: time.Hour})
	again := publish(t, ca.CA, files, first, pki.CRLOptions{})
	record, err := pki.LoadRevocations(files.State)
	require.NoError(t, err)

	assert.Equal(t, big.NewInt(1), one.CRL.Number)
	assert.Equal(t, pki.DefaultCRLValidity, one.CRL.NextUpdate.Sub(one.CRL.ThisUpdate))
	assert.Equal(t, big.NewInt(2), two.CRL.Number)
	assert.Equal(t, time.Hour, two.CRL.NextUpdate.Sub(two.CRL.ThisUpdate))
	assert.Len(t, two.CRL.RevokedCertificateEntries, 2)
	require.NotNil(t, again.AlreadyRevoked, "revoking twice reports the first entry")
	assert.Equal(t, first.Cert.SerialNumber.Text(16), again.AlreadyRevoked.Serial)
	assert.Equal(t, big.NewInt(3), again.CRL.Number, "a republished CRL gets a new number")
	assert.Len(t, again.CRL.RevokedCertificateEntries, 2)
	assert.Equal(t, int64(3), record.CRLNumber)
	require.Len(t, record.Revoked, 2)
	assert.Equal(t, "keyCompromise", record.Revoked[0].Reason)
	assert.Equal(t, first.Cert.Subject.String(), record.Revoked[0].Subject)
	assert.Equal(t, 1, two.CRL.RevokedCertificateEntries[0].ReasonCode)
}

func TestPublishCRLRejectsUnknownReason(t *testing.T) {
	ca := pkitest.NewCA(t)
	files := crlFiles(t)

	_, err := pki.PublishCRL(ca.CA, files, &pki.RevokeRequest{Serial: big.NewInt(7), Reason: "lostIt"}, pki.CRLOptions{})

	assert.ErrorContains(t, err, `unknown revocation reason "lostIt": use one of aACompromise, affiliationChanged`)
	assert.NoFileExists(t, files.State, "nothing is recorded")
	assert.NoFileExists(t, files.CRL)
}

func TestLoadRevocationsRejectsBrokenRecord(t *testing.T) {
	files := crlFiles(t)
	require.NoError(t, os.WriteFile(files.State, []byte(`{"crl_number": 1, "revoked": [{"serial": "xyz"}]}`), 0o644))
	broken := filepath.Join(filepath.Dir(files.State), "broken.json")
	require.NoError(t, os.WriteFile(broken, []byte(`{"crl_number": `), 0o644))

	_, badSerial := pki.LoadRevocations(files.State)
	_, badJSON := pki.LoadRevocations(broken)

	assert.ErrorContains(t, badSerial, `entry 1: serial "xyz" is not hexadecimal`)
	assert.ErrorContains(t, badJSON, "invalid JSON")
}

func TestLoadCRLFromRoot(t *testing.T) {
	ca := pkitest.NewCA(t)
	files := crlFiles(t)
	revoked := ca.Client(t, "revoked")
	publish(t, ca.CA, files, revoked, pki.CRLOptions{})

	crl, err := pki.LoadCRL(files.CRL, ca.Truststore())

	require.NoError(t, err)
	assert.Equal(t, ca.Cert.Raw, crl.Issuer.Raw)
	assert.Len(t, crl.List.RevokedCertificateEntries, 1)
}

func TestLoadCRLReadsDER(t *testing.T) {
	ca := pkitest.NewCA(t)
	files := crlFiles(t)
	out := publish(t, ca.CA, files, ca.Client(t, "revoked"), pki.CRLOptions{})
	derFile := filepath.Join(filepath.Dir(files.CRL), "ca.crl.der")
	require.NoError(t, os.WriteFile(derFile, out.CRL.Raw, 0o644))

	crl, err := pki.LoadCRL(derFile, ca.Truststore())

	require.NoError(t, err)
	assert.Len(t, crl.List.RevokedCertificateEntries, 1)
}

func TestLoadCRLFromIntermediate(t *testing.T) {
	root := pkitest.NewCA(t, pkitest.WithCADefects(faults.WithMaxPathLen(1)))
	inter := root.Intermediate(t, "issuing CA")
	files := crlFiles(t)
	publish(t, inter.CA, files, inter.Client(t, "revoked"), pki.CRLOptions{})

	crl, err := pki.LoadCRL(files.CRL, root.Truststore())

	require.NoError(t, err)
	assert.Equal(t, inter.Cert.Raw, crl.Issuer.Raw, "the issuer comes from the file and chains to the root")
}

func TestLoadCRLErrors(t *testing.T) {
	ca := pkitest.NewCA(t)
	sameName := pkitest.NewCA(t) // another key under the same subject
	root := pkitest.NewCA(t, pkitest.WithCADefects(faults.WithMaxPathLen(1)))
	inter := root.Intermediate(t, "issuing CA")
	dir := t.TempDir()

	forged := crlFiles(t)
	publish(t, sameName.CA, forged, sameName.Client(t, "x"), pki.CRLOptions{})
	// An intermediate's CRL without the intermediate's certificate.
	bare := crlFiles(t)
	out := publish(t, inter.CA, bare, inter.Client(t, "x"), pki.CRLOptions{})
	require.NoError(t, os.WriteFile(bare.CRL, pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: out.CRL.Raw}), 0o644))
	// An intermediate that the server's truststore does not lead to.
	otherRoot := crlFiles(t)
	publish(t, inter.CA, otherRoot, inter.Client(t, "x"), pki.CRLOptions{})
	tampered := crlFiles(t)
	good := publish(t, ca.CA, tampered, ca.Client(t, "x"), pki.CRLOptions{})
	raw := append([]byte(nil), good.CRL.Raw...)
	raw[len(raw)-5] ^= 0xff
	require.NoError(t, os.WriteFile(tampered.CRL, raw, 0o644))
	notCRL := filepath.Join(dir, "not.crl")
	require.NoError(t, os.WriteFile(notCRL, pki.EncodeCertificatesPEM(ca.Cert), 0o644))

	tests := []struct {
		name  string
		path  string
		trust *pki.Truststore
		want  string
	}{
		{"signed by another key", forged.CRL, ca.Truststore(), `its signature does not verify against issuer "CN=pkitest CA,O=grpc-mtls"`},
		{"issuer unknown", bare.CRL, root.Truststore(), `its issuer "CN=issuing CA,O=grpc-mtls" is not in the truststore or in the file`},
		{"issuer not trusted", otherRoot.CRL, ca.Truststore(), `the CRL's issuer "CN=issuing CA,O=grpc-mtls", included in the file, does not chain to the truststore`},
		{"tampered", tampered.CRL, ca.Truststore(), "its signature does not verify"},
		{"no CRL block", notCRL, ca.Truststore(), "no X509 CRL block found"},
		{"missing file", filepath.Join(dir, "missing.crl"), ca.Truststore(), "file not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := pki.LoadCRL(tt.path, tt.trust)

			assert.ErrorContains(t, err, "load CRL")
			assert.ErrorContains(t, err, tt.want)
		})
	}
}

func TestCRLSetCheck(t *testing.T) {
	ca := pkitest.NewCA(t)
	other := pkitest.NewCA(t, pkitest.WithName("other CA"))
	files := crlFiles(t)
	revoked := ca.Client(t, "revoked")
	valid := ca.Client(t, "valid")
	publish(t, ca.CA, files, revoked, pki.CRLOptions{})
	set, err := pki.LoadCRLs([]string{files.CRL}, ca.Truststore())
	require.NoError(t, err)

	revokedErr := set.Check([][]*x509.Certificate{{revoked.Cert, ca.Cert}}, pki.RevocationOptions{})
	validErr := set.Check([][]*x509.Certificate{{valid.Cert, ca.Cert}}, pki.RevocationOptions{})
	otherErr := set.Check([][]*x509.Certificate{{other.Client(t, "x").Cert, other.Cert}}, pki.RevocationOptions{})

	assert.ErrorIs(t, revokedErr, pki.ErrRevoked)
	assert.ErrorContains(t, revokedErr, "reason keyCompromise")
	assert.ErrorContains(t, revokedErr, revoked.Cert.SerialNumber.Text(16))
	assert.Equal(t, pki.ReasonRevoked, pki.Diagnose(revokedErr, pki.RoleServer).Reason)
	assert.NoError(t, validErr)
	assert.NoError(t, otherErr, "a certificate whose CA has no CRL in the set passes")
}

func TestCRLSetStalePolicies(t *testing.T) {
	ca := pkitest.NewCA(t)
	files := crlFiles(t)
	revoked := ca.Client(t, "revoked")
	valid := ca.Client(t, "valid")
	publish(t, ca.CA, files, revoked, pki.CRLOptions{Validity: time.Hour})
	set, err := pki.LoadCRLs([]string{files.CRL}, ca.Truststore())
	require.NoError(t, err)
	later := func() time.Time { return time.Now().Add(2 * time.Hour) }
	var uses []pki.StaleCRLUse
	onStale := func(u pki.StaleCRLUse) { uses = append(uses, u) }

	warnValid := set.Check([][]*x509.Certificate{{valid.Cert, ca.Cert}}, pki.RevocationOptions{Now: later, OnStale: onStale})
	warnRevoked := set.Check([][]*x509.Certificate{{revoked.Cert, ca.Cert}}, pki.RevocationOptions{Now: later, OnStale: onStale})
	rejectValid := set.Check([][]*x509.Certificate{{valid.Cert, ca.Cert}}, pki.RevocationOptions{Now: later, OnStale: onStale, Stale: pki.StaleReject})
	fresh := set.Check([][]*x509.Certificate{{valid.Cert, ca.Cert}}, pki.RevocationOptions{OnStale: onStale, Stale: pki.StaleReject})

	assert.NoError(t, warnValid, "warn accepts certificates the stale CRL does not list")
	assert.ErrorIs(t, warnRevoked, pki.ErrRevoked, "warn still rejects what the stale CRL lists")
	assert.ErrorIs(t, rejectValid, pki.ErrCRLStale)
	assert.ErrorContains(t, rejectValid, "CRL "+files.CRL)
	assert.Equal(t, pki.ReasonCRLStale, pki.Diagnose(rejectValid, pki.RoleServer).Reason)
	assert.NoError(t, fresh)
	require.Len(t, uses, 3)
	assert.False(t, uses[0].Rejected)
	assert.True(t, uses[2].Rejected)
}

func TestParseStalePolicy(t *testing.T) {
	warn, warnErr := pki.ParseStalePolicy("warn")
	_, badErr := pki.ParseStalePolicy("ignore")

	require.NoError(t, warnErr)
	assert.Equal(t, pki.StaleWarn, warn)
	assert.ErrorContains(t, badErr, `unknown stale CRL policy "ignore": use warn or reject`)
}

// OpenSSL must accept what PublishCRL writes, including the issuer
// certificate that follows the CRL in an intermediate's file.
func TestPublishedCRLVerifiesWithOpenSSL(t *testing.T) {
	root := pkitest.NewCA(t, pkitest.WithCADefects(faults.WithMaxPathLen(1)))
	inter := root.Intermediate(t, "issuing CA")
	files := crlFiles(t)
	publish(t, inter.CA, files, inter.Client(t, "revoked"), pki.CRLOptions{})
	chain := filepath.Join(t.TempDir(), "chain.pem")
	require.NoError(t, os.WriteFile(chain, pki.EncodeCertificatesPEM(inter.Cert, root.Cert), 0o644))

	openssl := tooltest.Require(t, "openssl")

	out, err := exec.Command(openssl, "crl", "-in", files.CRL, "-CAfile", chain, "-noout").CombinedOutput()

	require.NoError(t, err, "openssl crl: %s", out)
	assert.Contains(t, string(out), "verify OK")
}
