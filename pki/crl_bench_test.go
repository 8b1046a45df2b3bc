package pki_test

import (
	"crypto/x509"
	"encoding/json"
	"math/big"
	"os"
	"testing"
	"time"

	"github.com/grpc-mtls/grpc-mtls/pki"
	"github.com/grpc-mtls/grpc-mtls/pki/pkitest"
)

// BenchmarkCRLCheck measures the revocation check of one handshake (leaf
// and root) against a CRL of 10,000 revoked serials.
func BenchmarkCRLCheck(b *testing.B) {
	ca := pkitest.NewCA(b)
	files := pki.CRLFilesFor(b.TempDir() + "/ca.crt")
	record := pki.Revocations{}
	for i := range 10_000 {
		record.Revoked = append(record.Revoked, pki.RevokedCertificate{Serial: big.NewInt(int64(i + 1)).Text(16), RevokedAt: time.Now()})
	}
	data, err := json.Marshal(record)
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(files.State, data, 0o644); err != nil {
		b.Fatal(err)
	}
	if _, err := pki.PublishCRL(ca.CA, files, nil, pki.CRLOptions{}); err != nil {
		b.Fatal(err)
	}
	set, err := pki.LoadCRLs([]string{files.CRL}, ca.Truststore())
	if err != nil {
		b.Fatal(err)
	}
	chains := [][]*x509.Certificate{{ca.Client(b, "client").Cert, ca.Cert}}
	b.ReportAllocs()
	for b.Loop() {
		if err := set.Check(chains, pki.RevocationOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}
