package pki_test

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"math/big"
	"testing"
	"time"

	"github.com/grpc-mtls/grpc-mtls/pki"
	"github.com/grpc-mtls/grpc-mtls/pki/pkitest"
)

// FuzzParseCRL checks that arbitrary bytes given as a CRL file give an
// error and never a panic, and that an accepted CRL is signed by the
// truststore's CA.
func FuzzParseCRL(f *testing.F) {
	ca := pkitest.NewCA(f)
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number:     big.NewInt(1),
		ThisUpdate: time.Now().Add(-time.Minute),
		NextUpdate: time.Now().Add(time.Hour),
		RevokedCertificateEntries: []x509.RevocationListEntry{
			{SerialNumber: big.NewInt(42), RevocationTime: time.Now()},
		},
	}, ca.Cert, ca.Key)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(der)
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der}))
	f.Add([]byte("-----BEGIN X509 CRL-----\nMAA=\n-----END X509 CRL-----\n"))
	trust := ca.Truststore()

	f.Fuzz(func(t *testing.T, data []byte) {
		crl, err := pki.ParseCRL(data, trust)
		if err != nil {
			return
		}
		if err := crl.List.CheckSignatureFrom(crl.Issuer); err != nil {
			t.Fatalf("accepted a CRL whose signature does not verify: %v", err)
		}
	})
}
