package pkitest_test

import (
	"crypto/x509"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/grpc-mtls/grpc-mtls/pki/faults"
	"github.com/grpc-mtls/grpc-mtls/pki/pkitest"
)

func TestClockSetsValidity(t *testing.T) {
	past := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	ca := pkitest.NewCA(t, pkitest.WithClock(func() time.Time { return past }))
	leaf := ca.Server(t)

	assert.True(t, leaf.Cert.NotAfter.Before(time.Now()), "a certificate from a 2020 clock is expired now")
	_, err := leaf.Cert.Verify(x509.VerifyOptions{Roots: ca.Truststore().Pool(), DNSName: "localhost"})
	assert.ErrorContains(t, err, "expired")
}

func TestIssueFaultyWithoutSANs(t *testing.T) {
	ca := pkitest.NewCA(t)
	leaf := ca.IssueFaulty(t, pkitest.ServerRequest("localhost"), faults.WithoutSANs())

	_, err := leaf.Cert.Verify(x509.VerifyOptions{Roots: ca.Truststore().Pool(), DNSName: "localhost"})
	assert.ErrorContains(t, err, "legacy Common Name field")
}

func TestCADefectsAndIntermediate(t *testing.T) {
	root := pkitest.NewCA(t, pkitest.WithCADefects(faults.WithMaxPathLen(1)))
	inter := root.Intermediate(t, "intermediate")
	leaf := inter.Server(t)
	require.Len(t, leaf.Chain, 2)

	ks := pkitest.Keystore(leaf)
	require.Len(t, ks.Intermediates, 1)
	pool := x509.NewCertPool()
	pool.AddCert(ks.Intermediates[0])
	_, err := leaf.Cert.Verify(x509.VerifyOptions{Roots: root.Truststore().Pool(), Intermediates: pool, DNSName: "localhost"})
	assert.NoError(t, err)

	broken := root.Intermediate(t, "not a CA", faults.NotCA())
	bad := broken.Server(t)
	pool = x509.NewCertPool()
	pool.AddCert(broken.Cert)
	_, err = bad.Cert.Verify(x509.VerifyOptions{Roots: root.Truststore().Pool(), Intermediates: pool, DNSName: "localhost"})
	assert.ErrorContains(t, err, "cannot sign this kind of certificate")
}
