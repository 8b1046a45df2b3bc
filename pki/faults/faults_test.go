package faults_test

import (
	"crypto/x509"
	"encoding/pem"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/grpc-mtls/grpc-mtls/pki"
	"github.com/grpc-mtls/grpc-mtls/pki/faults"
)

func serverRequest() pki.LeafRequest {
	return pki.LeafRequest{Role: pki.RoleServer, CommonName: "localhost", DNSNames: []string{"localhost"}}
}

func TestIssueWithoutSANs(t *testing.T) {
	ca, err := pki.NewCA(pki.CAOptions{})
	require.NoError(t, err)
	leaf, err := faults.Issue(ca, serverRequest(), faults.WithoutSANs())
	require.NoError(t, err)

	assert.Empty(t, leaf.Cert.DNSNames)
	assert.Equal(t, "localhost", leaf.Cert.Subject.CommonName)
	assert.NoError(t, leaf.Cert.CheckSignatureFrom(ca.Cert))
}

func TestIssueSHA1Signature(t *testing.T) {
	for _, kt := range []pki.KeyType{pki.KeyRSA2048, pki.KeyECDSAP256} {
		t.Run(string(kt), func(t *testing.T) {
			ca, err := pki.NewCA(pki.CAOptions{KeyType: kt})
			require.NoError(t, err)
			leaf, err := faults.Issue(ca, serverRequest(), faults.WithSHA1Signature())
			require.NoError(t, err)

			assert.Contains(t, []x509.SignatureAlgorithm{x509.SHA1WithRSA, x509.ECDSAWithSHA1}, leaf.Cert.SignatureAlgorithm)
			err = leaf.Cert.CheckSignatureFrom(ca.Cert)
			var insecure x509.InsecureAlgorithmError
			assert.ErrorAs(t, err, &insecure)
		})
	}
}

func TestIssueNegativeSerial(t *testing.T) {
	ca, err := pki.NewCA(pki.CAOptions{})
	require.NoError(t, err)
	leaf, err := faults.Issue(ca, serverRequest(), faults.WithNegativeSerial())
	require.NoError(t, err)

	assert.Equal(t, -1, leaf.Cert.SerialNumber.Sign())
	_, err = x509.ParseCertificate(leaf.Cert.Raw)
	assert.ErrorContains(t, err, "negative serial number")
}

func TestNewIntermediateChains(t *testing.T) {
	root, err := faults.NewCA(pki.CAOptions{CommonName: "root"}, faults.WithMaxPathLen(1))
	require.NoError(t, err)
	inter, err := faults.NewIntermediate(root, "intermediate", pki.KeyECDSAP256)
	require.NoError(t, err)
	leaf, err := faults.Issue(inter, serverRequest())
	require.NoError(t, err)

	roots := x509.NewCertPool()
	roots.AddCert(root.Cert)
	inters := x509.NewCertPool()
	inters.AddCert(inter.Cert)
	_, err = leaf.Cert.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inters, DNSName: "localhost"})
	assert.NoError(t, err)
	_, err = leaf.Cert.Verify(x509.VerifyOptions{Roots: roots, DNSName: "localhost"})
	assert.ErrorContains(t, err, "unknown authority")
}

func TestCADefects(t *testing.T) {
	notCA, err := faults.NewCA(pki.CAOptions{}, faults.NotCA())
	require.NoError(t, err)
	assert.False(t, notCA.Cert.IsCA)

	noSign, err := faults.NewCA(pki.CAOptions{}, faults.WithoutCertSign())
	require.NoError(t, err)
	assert.True(t, noSign.Cert.IsCA)
	assert.Zero(t, noSign.Cert.KeyUsage&x509.KeyUsageCertSign)
}

func TestWithValidity(t *testing.T) {
	ca, err := pki.NewCA(pki.CAOptions{})
	require.NoError(t, err)
	past := time.Now().Add(-48 * time.Hour).UTC().Truncate(time.Second)
	leaf, err := faults.Issue(ca, serverRequest(), faults.WithValidity(past, past.Add(time.Hour)))
	require.NoError(t, err)
	assert.Equal(t, past.Add(time.Hour), leaf.Cert.NotAfter)
}

func TestKeyEncodingsLoad(t *testing.T) {
	rsaKey, err := faults.GenerateRSAKey(2048)
	require.NoError(t, err)
	pkcs1, err := faults.MarshalPKCS1PEM(rsaKey)
	require.NoError(t, err)
	_, err = pki.ParsePrivateKeyPEM(pkcs1, nil)
	assert.NoError(t, err)

	ecKey, err := pki.GenerateKey(pki.KeyECDSAP256)
	require.NoError(t, err)
	sec1, err := faults.MarshalSEC1PEM(ecKey)
	require.NoError(t, err)
	_, err = pki.ParsePrivateKeyPEM(sec1, nil)
	assert.NoError(t, err)
}

func TestDSAKeyIsRejected(t *testing.T) {
	data, err := faults.DSAKeyPEM()
	require.NoError(t, err)
	block, _ := pem.Decode(data)
	require.NotNil(t, block)
	assert.Equal(t, "PRIVATE KEY", block.Type)

	_, err = pki.ParsePrivateKeyPEM(data, nil)
	assert.ErrorContains(t, err, "1.2.840.10040.4.1")
}

func TestP224Key(t *testing.T) {
	key, err := faults.GenerateP224Key()
	require.NoError(t, err)
	assert.Equal(t, "ECDSA P-224", pki.DescribeKey(key))
}
