// Package pkitest builds certificate authorities and certificates in
// memory for tests of code that uses mutual TLS.
//
//	func TestMyService(t *testing.T) {
//		ca := pkitest.NewCA(t)
//		serverCfg := ca.ServerTLSConfig(t, "localhost", "127.0.0.1")
//		clientCfg := ca.ClientTLSConfig(t, "billing", "localhost")
//		...
//	}
//
// Every helper fails the test through testing.TB instead of returning an
// error. Keys are ECDSA P-256 unless WithKeyType sets another type, and
// validity starts from the clock given by WithClock.
//
// For tests of failures, WithCADefects, CA.IssueFaulty and
// CA.Intermediate mint deliberately wrong material with package
// pki/faults:
//
//	ca := pkitest.NewCA(t)
//	expired := ca.IssueFaulty(t, pkitest.ServerRequest("localhost"),
//		faults.WithValidity(time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour)))
package pkitest

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/grpc-mtls/grpc-mtls/pki"
	"github.com/grpc-mtls/grpc-mtls/pki/faults"
)

// TrustDomain is the SPIFFE trust domain of client identities made by
// CA.Client.
const TrustDomain = "test.local"

// CA is an in-memory certificate authority for tests.
type CA struct {
	*pki.CA
	now     func() time.Time
	keyType pki.KeyType
}

// Option configures NewCA.
type Option func(*config)

type config struct {
	now     func() time.Time
	keyType pki.KeyType
	name    string
	defects []faults.Defect
}

// WithClock makes the CA and the certificates it issues take their
// validity from now instead of time.Now.
func WithClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

// WithKeyType selects the key type of the CA and of issued certificates.
func WithKeyType(kt pki.KeyType) Option { return func(c *config) { c.keyType = kt } }

// WithName sets the CA's common name.
func WithName(name string) Option { return func(c *config) { c.name = name } }

// WithCADefects applies defects to the CA certificate, such as
// faults.NotCA or faults.WithoutCertSign. faults.WithMaxPathLen(1) lets
// the CA sign an intermediate (see CA.Intermediate).
func WithCADefects(defects ...faults.Defect) Option {
	return func(c *config) { c.defects = append(c.defects, defects...) }
}

// NewCA returns a new root CA valid for a day.
func NewCA(tb testing.TB, opts ...Option) *CA {
	tb.Helper()
	cfg := config{now: time.Now, keyType: pki.KeyECDSAP256, name: "pkitest CA"}
	for _, o := range opts {
		o(&cfg)
	}
	ca, err := faults.NewCA(pki.CAOptions{CommonName: cfg.name, KeyType: cfg.keyType, Validity: 24 * time.Hour, Now: cfg.now}, cfg.defects...)
	if err != nil {
		tb.Fatalf("pkitest: create CA: %v", err)
	}
	return &CA{CA: ca, now: cfg.now, keyType: cfg.keyType}
}

// Issue signs a certificate for req, filling in the CA's clock and key
// type where req leaves them empty.
func (ca *CA) Issue(tb testing.TB, req pki.LeafRequest) *pki.Leaf {
	tb.Helper()
	return ca.IssueFaulty(tb, req)
}

// IssueFaulty is Issue with defects applied to the certificate, such as
// faults.WithoutSANs, faults.WithExtKeyUsage or faults.WithSHA1Signature.
func (ca *CA) IssueFaulty(tb testing.TB, req pki.LeafRequest, defects ...faults.Defect) *pki.Leaf {
	tb.Helper()
	if req.Now == nil {
		req.Now = ca.now
	}
	if req.KeyType == "" && req.Key == nil {
		req.KeyType = ca.keyType
	}
	if req.Validity == 0 {
		req.Validity = time.Hour
	}
	leaf, err := faults.Issue(ca.CA, req, defects...)
	if err != nil {
		tb.Fatalf("pkitest: issue %s certificate %q: %v", req.Role, req.CommonName, err)
	}
	return leaf
}

// Intermediate returns an intermediate CA named name signed by ca, which
// must allow it (NewCA with WithCADefects(faults.WithMaxPathLen(1))).
// Defects apply to the intermediate, for instance faults.NotCA.
func (ca *CA) Intermediate(tb testing.TB, name string, defects ...faults.Defect) *CA {
	tb.Helper()
	inter, err := faults.NewIntermediate(ca.CA, name, ca.keyType, defects...)
	if err != nil {
		tb.Fatalf("pkitest: create intermediate CA %q: %v", name, err)
	}
	return &CA{CA: inter, now: ca.now, keyType: ca.keyType}
}

// ServerRequest returns the request Server makes for names: each a DNS
// name or an IP address, the first also the common name.
func ServerRequest(names ...string) pki.LeafRequest {
	req := pki.LeafRequest{Role: pki.RoleServer}
	if len(names) > 0 {
		req.CommonName = names[0]
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			req.IPs = append(req.IPs, ip)
		} else {
			req.DNSNames = append(req.DNSNames, n)
		}
	}
	return req
}

// Server issues a server certificate for names, each a DNS name or an IP
// address. The first name is also the common name.
func (ca *CA) Server(tb testing.TB, names ...string) *pki.Leaf {
	tb.Helper()
	if len(names) == 0 {
		names = []string{"localhost", "127.0.0.1"}
	}
	return ca.Issue(tb, ServerRequest(names...))
}

// Client issues a client certificate with common name name and the URI
// SAN spiffe://test.local/name.
func (ca *CA) Client(tb testing.TB, name string) *pki.Leaf {
	tb.Helper()
	id := &url.URL{Scheme: "spiffe", Host: TrustDomain, Path: "/" + name}
	return ca.Issue(tb, pki.LeafRequest{Role: pki.RoleClient, CommonName: name, URIs: []*url.URL{id}})
}

// Truststore returns a truststore holding only this CA.
func (ca *CA) Truststore() *pki.Truststore {
	return &pki.Truststore{Certs: []*x509.Certificate{ca.Cert}}
}

// Keystore returns leaf as a keystore with its intermediates.
func Keystore(leaf *pki.Leaf) *pki.Keystore {
	return leaf.Keystore()
}

// ServerTLSConfig issues a server certificate for names and returns the
// server's mutual TLS config trusting this CA for client certificates.
func (ca *CA) ServerTLSConfig(tb testing.TB, names ...string) *tls.Config {
	tb.Helper()
	cfg, err := pki.ServerTLSConfig(Keystore(ca.Server(tb, names...)), ca.Truststore(), pki.TLSOptions{})
	if err != nil {
		tb.Fatalf("pkitest: server TLS config: %v", err)
	}
	return cfg
}

// ClientTLSConfig issues a client certificate for name and returns the
// client's mutual TLS config trusting this CA and expecting serverName.
func (ca *CA) ClientTLSConfig(tb testing.TB, name, serverName string) *tls.Config {
	tb.Helper()
	cfg, err := pki.ClientTLSConfig(Keystore(ca.Client(tb, name)), ca.Truststore(), serverName, pki.TLSOptions{})
	if err != nil {
		tb.Fatalf("pkitest: client TLS config: %v", err)
	}
	return cfg
}

// WriteCA writes the CA certificate as PEM into dir and returns its path.
func (ca *CA) WriteCA(tb testing.TB, dir string) string {
	tb.Helper()
	path := filepath.Join(dir, "ca.crt")
	write(tb, pki.File{Path: path, Data: pki.EncodeCertificatesPEM(ca.Cert), Mode: pki.ModePublic})
	return path
}

// WriteLeaf writes leaf as NAME.crt (with intermediates) and NAME.key into
// dir and returns both paths.
func WriteLeaf(tb testing.TB, dir, name string, leaf *pki.Leaf) (certFile, keyFile string) {
	tb.Helper()
	ks := Keystore(leaf)
	keyPEM, err := pki.MarshalPrivateKeyPEM(leaf.Key)
	if err != nil {
		tb.Fatalf("pkitest: encode key: %v", err)
	}
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	write(tb, pki.File{Path: certFile, Data: pki.EncodeCertificatesPEM(append([]*x509.Certificate{ks.Leaf}, ks.Intermediates...)...), Mode: pki.ModePublic})
	write(tb, pki.File{Path: keyFile, Data: keyPEM, Mode: pki.ModePrivate})
	return certFile, keyFile
}

func write(tb testing.TB, f pki.File) {
	tb.Helper()
	if err := pki.WriteFileAtomic(f.Path, f.Data, f.Mode); err != nil {
		tb.Fatalf("pkitest: %v", err)
	}
}
