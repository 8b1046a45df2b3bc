package pki_test

import (
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // recomputing the RFC 5280 key identifier, not a signature
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"net"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/grpc-mtls/grpc-mtls/pki"
)

var oidBasicConstraints = asn1.ObjectIdentifier{2, 5, 29, 19}

// strongSignatures are the algorithms that hash with SHA-256 or better
// (Ed25519 hashes with SHA-512 internally).
var strongSignatures = map[x509.SignatureAlgorithm]bool{
	x509.SHA256WithRSA: true, x509.SHA384WithRSA: true, x509.SHA512WithRSA: true,
	x509.SHA256WithRSAPSS: true, x509.SHA384WithRSAPSS: true, x509.SHA512WithRSAPSS: true,
	x509.ECDSAWithSHA256: true, x509.ECDSAWithSHA384: true, x509.ECDSAWithSHA512: true,
	x509.PureEd25519: true,
}

// rfc5280KeyID recomputes a key identifier as RFC 5280 section 4.2.1.2
// method 1 defines it: SHA-1 over the subjectPublicKey bit string.
func rfc5280KeyID(t *testing.T, cert *x509.Certificate) []byte {
	t.Helper()
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	_, err := asn1.Unmarshal(cert.RawSubjectPublicKeyInfo, &spki)
	require.NoError(t, err)
	sum := sha1.Sum(spki.PublicKey.Bytes) //nolint:gosec // key identifier
	return sum[:]
}

func TestNewCACertificateProfile(t *testing.T) {
	for _, kt := range []pki.KeyType{pki.KeyECDSAP256, pki.KeyEd25519, pki.KeyRSA2048} {
		t.Run(string(kt), func(t *testing.T) {
			ca := newTestCA(t, kt)
			cert := ca.Cert

			assert.True(t, cert.BasicConstraintsValid, "basic constraints present")
			assert.True(t, cert.IsCA, "CA:TRUE")
			assert.Equal(t, 0, cert.MaxPathLen)
			assert.True(t, cert.MaxPathLenZero, "path length 0 is encoded, not left unlimited")
			assert.Equal(t, x509.KeyUsageCertSign|x509.KeyUsageCRLSign, cert.KeyUsage)
			assert.Empty(t, cert.ExtKeyUsage, "a root CA carries no extended key usage")

			var critical, found bool
			for _, ext := range cert.Extensions {
				if ext.Id.Equal(oidBasicConstraints) {
					found, critical = true, ext.Critical
				}
			}
			assert.True(t, found, "basic constraints extension present")
			assert.True(t, critical, "basic constraints extension is critical")

			assert.Equal(t, rfc5280KeyID(t, cert), cert.SubjectKeyId, "subject key identifier")
			assert.Equal(t, cert.RawSubject, cert.RawIssuer, "self-signed: issuer equals subject")
			assert.NoError(t, cert.CheckSignatureFrom(cert), "self-signature verifies")
			assert.True(t, strongSignatures[cert.SignatureAlgorithm], "signature algorithm %s uses SHA-256 or better", cert.SignatureAlgorithm)
			assert.Equal(t, "grpc-mtls", cert.Subject.Organization[0])
		})
	}
}

func TestNewCASubjectsAreDistinct(t *testing.T) {
	first, err := pki.NewCA(pki.CAOptions{})
	require.NoError(t, err)
	second, err := pki.NewCA(pki.CAOptions{})
	require.NoError(t, err)

	assert.NotEqual(t, first.Cert.Subject.String(), second.Cert.Subject.String(),
		"two CAs made with the default name must not share a subject, or chain building and truststore aliases mix them up")

	server := issue(t, first, serverRequest(t, pki.KeyECDSAP256))
	client := issue(t, first, clientRequest(t, pki.KeyECDSAP256))
	assert.NotEqual(t, first.Cert.Subject.String(), server.Cert.Subject.String())
	assert.NotEqual(t, first.Cert.Subject.String(), client.Cert.Subject.String())
}

func TestNewCAKeepsGivenName(t *testing.T) {
	ca, err := pki.NewCA(pki.CAOptions{CommonName: "Payments Root", Organization: "Example Corp", Key: testKey(t, pki.KeyECDSAP256, "ca")})
	require.NoError(t, err)

	assert.Equal(t, "CN=Payments Root,O=Example Corp", ca.Cert.Subject.String())
}

func TestIssueExtendedKeyUsage(t *testing.T) {
	ca := newTestCA(t, pki.KeyECDSAP256)
	server := issue(t, ca, serverRequest(t, pki.KeyECDSAP256))
	client := issue(t, ca, clientRequest(t, pki.KeyECDSAP256))
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	verify := func(c *x509.Certificate, usage x509.ExtKeyUsage) error {
		_, err := c.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{usage}})
		return err
	}

	assert.Equal(t, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, server.Cert.ExtKeyUsage)
	assert.Equal(t, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, client.Cert.ExtKeyUsage)
	assert.NoError(t, verify(server.Cert, x509.ExtKeyUsageServerAuth))
	assert.NoError(t, verify(client.Cert, x509.ExtKeyUsageClientAuth))
	assert.ErrorContains(t, verify(server.Cert, x509.ExtKeyUsageClientAuth), "incompatible key usage", "a server certificate must not authenticate a client")
	assert.ErrorContains(t, verify(client.Cert, x509.ExtKeyUsageServerAuth), "incompatible key usage", "a client certificate must not authenticate a server")
}

func TestIssueKeyUsageAndSignature(t *testing.T) {
	for _, kt := range []pki.KeyType{pki.KeyECDSAP256, pki.KeyECDSAP384, pki.KeyEd25519, pki.KeyRSA2048} {
		t.Run(string(kt), func(t *testing.T) {
			ca := newTestCA(t, kt)
			for _, leaf := range []*pki.Leaf{issue(t, ca, serverRequest(t, kt)), issue(t, ca, clientRequest(t, kt))} {
				want := x509.KeyUsageDigitalSignature
				_, isRSA := leaf.Cert.PublicKey.(*rsa.PublicKey)
				if isRSA && leaf.Cert.ExtKeyUsage[0] == x509.ExtKeyUsageServerAuth {
					// RSA key exchange encrypts to a server's key; RFC 5280
					// lists only digitalSignature and keyAgreement for clientAuth.
					want |= x509.KeyUsageKeyEncipherment
				}

				assert.Equal(t, want, leaf.Cert.KeyUsage, "key usage of %s", leaf.Cert.Subject)
				assert.True(t, leaf.Cert.BasicConstraintsValid, "leaf has basic constraints")
				assert.False(t, leaf.Cert.IsCA, "leaf is CA:FALSE")
				assert.True(t, strongSignatures[leaf.Cert.SignatureAlgorithm], "signature algorithm %s uses SHA-256 or better", leaf.Cert.SignatureAlgorithm)
				assert.NoError(t, leaf.Cert.CheckSignatureFrom(ca.Cert), "leaf is signed by the CA")
			}
		})
	}
}

func TestIssueKeyIdentifiers(t *testing.T) {
	ca := newTestCA(t, pki.KeyECDSAP256)
	server := issue(t, ca, serverRequest(t, pki.KeyECDSAP256))
	client := issue(t, ca, clientRequest(t, pki.KeyECDSAP256))

	require.NotEmpty(t, ca.Cert.SubjectKeyId)
	for _, leaf := range []*pki.Leaf{server, client} {
		assert.Equal(t, ca.Cert.SubjectKeyId, leaf.Cert.AuthorityKeyId, "authority key id of %s is the CA's subject key id", leaf.Cert.Subject)
		assert.Equal(t, rfc5280KeyID(t, leaf.Cert), leaf.Cert.SubjectKeyId, "subject key id of %s", leaf.Cert.Subject)
	}
	assert.Empty(t, ca.Cert.AuthorityKeyId, "a self-signed root needs no authority key id")
}

func TestIssueSerialNumbers(t *testing.T) {
	const issued = 200
	ca := newTestCA(t, pki.KeyECDSAP256)
	req := serverRequest(t, pki.KeyECDSAP256)
	seen := map[string]bool{ca.Cert.SerialNumber.String(): true}

	for range issued {
		serial := issue(t, ca, req).Cert.SerialNumber

		assert.Equal(t, 1, serial.Sign(), "serial %x is positive", serial)
		assert.Equal(t, 128, serial.BitLen(), "serial %x has 128 bits", serial)
		assert.False(t, seen[serial.String()], "serial %x repeats", serial)
		seen[serial.String()] = true
	}
	assert.Equal(t, 128, ca.Cert.SerialNumber.BitLen(), "CA serial has 128 bits")
	assert.Len(t, seen, issued+1)
}

func TestIssueValidity(t *testing.T) {
	ca, err := pki.NewCA(pki.CAOptions{Key: testKey(t, pki.KeyECDSAP256, "ca"), Now: clock})
	require.NoError(t, err)
	req := serverRequest(t, pki.KeyECDSAP256)
	req.Now = clock
	leaf := issue(t, ca, req)
	// Certificates encode times in whole seconds.
	now := fixedNow.Truncate(time.Second)

	assert.Equal(t, now.Add(-pki.DefaultBackdate), leaf.Cert.NotBefore, "leaf NotBefore is backdated")
	assert.Equal(t, now.Add(pki.DefaultLeafValidity), leaf.Cert.NotAfter)
	assert.Equal(t, now.Add(-pki.DefaultBackdate), ca.Cert.NotBefore, "CA NotBefore is backdated")
	assert.Equal(t, now.Add(pki.DefaultCAValidity), ca.Cert.NotAfter)
	assert.Equal(t, 5*time.Minute, pki.DefaultBackdate)
}

func TestIssueValidityFromSystemClock(t *testing.T) {
	ca := newTestCA(t, pki.KeyECDSAP256)
	before := time.Now().Truncate(time.Second)
	leaf := issue(t, ca, serverRequest(t, pki.KeyECDSAP256))
	after := time.Now()

	earliest, latest := before.Add(-pki.DefaultBackdate), after.Add(-pki.DefaultBackdate)
	assert.False(t, leaf.Cert.NotBefore.Before(earliest), "NotBefore %s is at least %s", leaf.Cert.NotBefore, earliest)
	assert.False(t, leaf.Cert.NotBefore.After(latest), "NotBefore %s is at most %s", leaf.Cert.NotBefore, latest)
}

func TestIssueCustomValidity(t *testing.T) {
	ca := newTestCA(t, pki.KeyECDSAP256)
	req := serverRequest(t, pki.KeyECDSAP256)
	req.Now = clock
	req.Validity = 36 * time.Hour
	req.Backdate = time.Hour
	leaf := issue(t, ca, req)
	now := fixedNow.Truncate(time.Second)

	assert.Equal(t, now.Add(-time.Hour), leaf.Cert.NotBefore)
	assert.Equal(t, now.Add(36*time.Hour), leaf.Cert.NotAfter)

	expired := serverRequest(t, pki.KeyECDSAP256)
	expired.NotBefore = now.Add(-48 * time.Hour)
	expired.NotAfter = now.Add(-24 * time.Hour)
	leaf = issue(t, ca, expired)

	assert.Equal(t, expired.NotBefore, leaf.Cert.NotBefore, "explicit NotBefore wins")
	assert.Equal(t, expired.NotAfter, leaf.Cert.NotAfter, "explicit NotAfter wins")
}

func TestIssueNames(t *testing.T) {
	ca := newTestCA(t, pki.KeyECDSAP256)
	id, err := url.Parse("spiffe://example.test/billing")
	require.NoError(t, err)
	req := pki.LeafRequest{
		Role: pki.RoleServer, CommonName: "api", Key: testKey(t, pki.KeyECDSAP256, "server"),
		DNSNames: []string{"api.example.test", "api"},
		IPs:      []net.IP{net.ParseIP("10.1.2.3"), net.ParseIP("fd00::1")},
		URIs:     []*url.URL{id},
	}
	leaf := issue(t, ca, req)

	assert.Equal(t, "CN=api", leaf.Cert.Subject.String())
	assert.Equal(t, []string{"api.example.test", "api"}, leaf.Cert.DNSNames)
	require.Len(t, leaf.Cert.IPAddresses, 2)
	assert.Equal(t, "10.1.2.3", leaf.Cert.IPAddresses[0].String())
	assert.Equal(t, "fd00::1", leaf.Cert.IPAddresses[1].String())
	require.Len(t, leaf.Cert.URIs, 1)
	assert.Equal(t, "spiffe://example.test/billing", leaf.Cert.URIs[0].String())
	assert.Equal(t, ca.Cert.Subject.String(), leaf.Cert.Issuer.String())
	assert.Equal(t, []*x509.Certificate{ca.Cert}, leaf.Chain, "chain holds the issuing CA")
}

func TestIssueRejectsInvalidRequests(t *testing.T) {
	ca := newTestCA(t, pki.KeyECDSAP256)
	key := testKey(t, pki.KeyECDSAP256, "server")
	now := time.Now()
	tests := []struct {
		name    string
		req     pki.LeafRequest
		wantErr string
	}{
		{"unknown role", pki.LeafRequest{Role: "peer", CommonName: "x", DNSNames: []string{"x"}, Key: key}, `role "peer" is neither "server" nor "client"`},
		{"empty role", pki.LeafRequest{CommonName: "x", DNSNames: []string{"x"}, Key: key}, `role "" is neither`},
		{"no names", pki.LeafRequest{Role: pki.RoleServer, CommonName: "x", Key: key}, "give at least one DNS name, IP address or URI"},
		{"not after before not before", pki.LeafRequest{Role: pki.RoleClient, CommonName: "x", DNSNames: []string{"x"}, Key: key, NotBefore: now, NotAfter: now.Add(-time.Hour)}, "is not later than not-before"},
		{"unknown key type", pki.LeafRequest{Role: pki.RoleServer, CommonName: "x", DNSNames: []string{"x"}, KeyType: "dsa-1024"}, `unsupported key type "dsa-1024"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			leaf, err := ca.Issue(tt.req)

			assert.ErrorContains(t, err, tt.wantErr)
			assert.Nil(t, leaf)
		})
	}
}

func TestLoadCA(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t, pki.KeyECDSAP256)
	other := newTestCA(t, pki.KeyECDSAP384)
	leaf := issue(t, ca, serverRequest(t, pki.KeyECDSAP256))
	caCert := writeFile(t, dir, "ca.crt", certPEM(ca.Cert))
	caKey := writeFile(t, dir, "ca.key", keyPEM(t, ca.Key))
	otherKey := writeFile(t, dir, "other.key", keyPEM(t, other.Key))
	leafCert := writeFile(t, dir, "leaf.crt", certPEM(leaf.Cert))
	leafKey := writeFile(t, dir, "leaf.key", keyPEM(t, leaf.Key))
	encKey := writeFile(t, dir, "ca-enc.key", encryptedCAKeyPEM(t))

	loaded, err := pki.LoadCA(caCert, caKey, nil)
	require.NoError(t, err)
	assert.Equal(t, ca.Cert.Raw, loaded.Cert.Raw)
	assert.NoError(t, pki.VerifyKeyPair(loaded.Cert, loaded.Key))

	loaded, err = pki.LoadCA(caCert, encKey, []byte(testPassphrase))
	require.NoError(t, err)
	assert.NoError(t, pki.VerifyKeyPair(loaded.Cert, loaded.Key))

	tests := []struct {
		name       string
		cert, key  string
		passphrase string
		wantErr    string
	}{
		{"key of another CA", caCert, otherKey, "", "does not belong to certificate"},
		{"leaf instead of CA", leafCert, leafKey, "", "is not a CA"},
		{"encrypted key without passphrase", caCert, encKey, "", "load CA key " + encKey + ": the private key is encrypted and no passphrase was given: give --ca-passphrase-file"},
		{"missing certificate", dir + "/missing.crt", caKey, "", "file not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := pki.LoadCA(tt.cert, tt.key, []byte(tt.passphrase))

			assert.ErrorContains(t, err, tt.wantErr)
		})
	}
}
