package lab

import (
	"crypto/x509"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/grpc-mtls/grpc-mtls/pki"
	"github.com/grpc-mtls/grpc-mtls/pki/faults"
)

// Names and identities the lab's certificates use.
const (
	TrustDomain   = "grpc-mtls.local"
	labPassword   = "lab-password"
	labPassphrase = "lab-passphrase"
)

// builder writes a kind's files. It keeps the first error, so that a
// kind's build function reads as a list of steps; Build checks it once.
type builder struct {
	dir string
	now time.Time
	ca  *pki.CA
	err error
}

func (b *builder) fail(err error) {
	if b.err == nil && err != nil {
		b.err = err
	}
}

func (b *builder) path(name string) string { return filepath.Join(b.dir, name) }

func (b *builder) write(name string, data []byte, mode os.FileMode) string {
	path := b.path(name)
	if b.err == nil {
		b.fail(pki.WriteFileAtomic(path, data, mode))
	}
	return path
}

// newCA returns a root CA named name, with defects applied.
func (b *builder) newCA(name string, kt pki.KeyType, defects ...faults.Defect) *pki.CA {
	if b.err != nil {
		return nil
	}
	ca, err := faults.NewCA(pki.CAOptions{CommonName: name, KeyType: kt, Validity: 365 * 24 * time.Hour, Now: b.clock()}, defects...)
	b.fail(err)
	return ca
}

func (b *builder) clock() func() time.Time { return func() time.Time { return b.now } }

// issue signs a leaf with ca. Unless req sets them, the validity starts
// at the builder's clock and the key type is ECDSA P-256.
func (b *builder) issue(ca *pki.CA, req pki.LeafRequest, defects ...faults.Defect) *pki.Leaf {
	if b.err != nil || ca == nil {
		b.fail(errNoCA)
		return nil
	}
	if req.Now == nil {
		req.Now = b.clock()
	}
	if req.Validity == 0 {
		// Longer than the doctor's default --within of 30 days, so that
		// only the kind's own fault shows.
		req.Validity = 60 * 24 * time.Hour
	}
	leaf, err := faults.Issue(ca, req, defects...)
	b.fail(err)
	return leaf
}

// serverRequest is a server certificate for localhost and 127.0.0.1.
func serverRequest() pki.LeafRequest {
	return pki.LeafRequest{Role: pki.RoleServer, CommonName: "localhost", DNSNames: []string{"localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}}
}

// clientRequest is a client certificate for spiffe://TrustDomain/name.
func clientRequest(name string) pki.LeafRequest {
	id := &url.URL{Scheme: "spiffe", Host: TrustDomain, Path: "/" + name}
	return pki.LeafRequest{Role: pki.RoleClient, CommonName: name, URIs: []*url.URL{id}}
}

// SPIFFE returns the lab's SPIFFE ID for name.
func SPIFFE(name string) string { return "spiffe://" + TrustDomain + "/" + name }

// writeCerts writes certs as PEM into name.
func (b *builder) writeCerts(name string, certs ...*x509.Certificate) string {
	if b.err != nil {
		return b.path(name)
	}
	return b.write(name, pki.EncodeCertificatesPEM(certs...), pki.ModePublic)
}

// writeLeaf writes leaf as NAME.crt with its intermediates (the chain
// minus the root) and NAME.key as unencrypted PKCS#8.
func (b *builder) writeLeaf(name string, leaf *pki.Leaf) (certFile, keyFile string) {
	if b.err != nil || leaf == nil {
		return b.path(name + ".crt"), b.path(name + ".key")
	}
	return b.writeLeafOnly(name, leaf, intermediates(leaf)...)
}

// writeLeafOnly writes leaf with exactly the extra certificates given.
func (b *builder) writeLeafOnly(name string, leaf *pki.Leaf, extra ...*x509.Certificate) (certFile, keyFile string) {
	if b.err != nil || leaf == nil {
		return b.path(name + ".crt"), b.path(name + ".key")
	}
	keyPEM, err := pki.MarshalPrivateKeyPEM(leaf.Key)
	b.fail(err)
	certFile = b.writeCerts(name+".crt", append([]*x509.Certificate{leaf.Cert}, extra...)...)
	keyFile = b.write(name+".key", keyPEM, pki.ModePrivate)
	return certFile, keyFile
}

func intermediates(leaf *pki.Leaf) []*x509.Certificate {
	if len(leaf.Chain) < 2 {
		return nil
	}
	return leaf.Chain[:len(leaf.Chain)-1]
}

// healthy writes a sound CA, server and client and returns the scenario
// in which both sides use them with PEM files.
func (b *builder) healthy() *Scenario {
	b.ca = b.newCA("lab CA", pki.KeyECDSAP256)
	caFile := b.writeCerts("ca.crt", caCert(b.ca))
	serverCert, serverKey := b.writeLeaf("server", b.issue(b.ca, serverRequest()))
	clientCert, clientKey := b.writeLeaf("client", b.issue(b.ca, clientRequest("client")))
	return &Scenario{
		Dir:    b.dir,
		Server: Endpoint{Cert: serverCert, Key: serverKey, CA: caFile},
		Client: Endpoint{Cert: clientCert, Key: clientKey, CA: caFile},
	}
}

func caCert(ca *pki.CA) *x509.Certificate {
	if ca == nil {
		return nil
	}
	return ca.Cert
}
