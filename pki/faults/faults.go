// Package faults mints deliberately broken certificates, keys and
// keystore files, so that tests, the lab and the CLI can reproduce each
// way mutual TLS fails.
//
// Issue and NewCA first make a sound certificate with package pki, then
// apply each Defect to a copy of it and sign the result again:
//
//	ca, _ := faults.NewCA(pki.CAOptions{}, faults.WithoutCertSign())
//	leaf, _ := faults.Issue(ca, pki.LeafRequest{Role: pki.RoleServer, CommonName: "localhost", DNSNames: []string{"localhost"}}, faults.WithoutSANs())
//
// Nothing here is meant for production material: every function exists to
// make something that a correct PKI never contains.
package faults

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"fmt"
	"time"

	"github.com/grpc-mtls/grpc-mtls/pki"
)

// Defect is one deliberate fault applied to a certificate before it is
// signed again.
type Defect func(*spec)

// spec is the certificate under construction: a template taken from a
// sound certificate, plus faults that only a hand-made encoding can carry.
type spec struct {
	tmpl           *x509.Certificate
	sha1           bool
	negativeSerial bool
}

// WithoutSANs removes every subject alternative name, leaving the name
// only in the subject's common name, as certificates made before 2017
// often did.
func WithoutSANs() Defect {
	return func(s *spec) {
		s.tmpl.DNSNames, s.tmpl.IPAddresses, s.tmpl.URIs, s.tmpl.EmailAddresses = nil, nil, nil, nil
	}
}

// WithExtKeyUsage replaces the extended key usages with usages, such as
// serverAuth alone on a client certificate.
func WithExtKeyUsage(usages ...x509.ExtKeyUsage) Defect {
	return func(s *spec) { s.tmpl.ExtKeyUsage = append([]x509.ExtKeyUsage(nil), usages...) }
}

// WithValidity replaces the validity period.
func WithValidity(notBefore, notAfter time.Time) Defect {
	return func(s *spec) { s.tmpl.NotBefore, s.tmpl.NotAfter = notBefore, notAfter }
}

// WithSHA1Signature signs the certificate with SHA-1 instead of SHA-256.
// Go refuses to create such certificates, so the signature is made by
// hand over the encoded certificate.
func WithSHA1Signature() Defect { return func(s *spec) { s.sha1 = true } }

// WithNegativeSerial negates the serial number, which RFC 5280 forbids.
// Go refuses to create and, since Go 1.23, to parse such certificates.
func WithNegativeSerial() Defect { return func(s *spec) { s.negativeSerial = true } }

// NotCA marks a CA certificate CA:FALSE in its basic constraints, so that
// strict verifiers do not accept it as an issuer.
func NotCA() Defect {
	return func(s *spec) {
		s.tmpl.IsCA = false
		s.tmpl.MaxPathLen, s.tmpl.MaxPathLenZero = 0, false
		s.tmpl.KeyUsage |= x509.KeyUsageDigitalSignature
	}
}

// WithoutCertSign removes keyCertSign from a CA certificate's key usage.
func WithoutCertSign() Defect {
	return func(s *spec) {
		s.tmpl.KeyUsage = s.tmpl.KeyUsage&^x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature
	}
}

// WithMaxPathLen sets a CA's path length constraint; n >= 1 lets the CA
// sign intermediate CAs.
func WithMaxPathLen(n int) Defect {
	return func(s *spec) { s.tmpl.MaxPathLen, s.tmpl.MaxPathLenZero = n, n == 0 }
}

// Issue signs a leaf certificate for req with ca and then applies
// defects. req must name at least one SAN even with WithoutSANs, which
// removes them afterwards.
func Issue(ca *pki.CA, req pki.LeafRequest, defects ...Defect) (*pki.Leaf, error) {
	leaf, err := ca.Issue(req)
	if err != nil {
		return nil, err
	}
	if len(defects) == 0 {
		return leaf, nil
	}
	cert, err := resign(leaf.Cert, ca.Cert, leaf.Key.Public(), ca.Key, defects)
	if err != nil {
		return nil, fmt.Errorf("issue faulty %s certificate %q: %w", req.Role, req.CommonName, err)
	}
	leaf.Cert = cert
	return leaf, nil
}

// NewCA creates a self-signed root CA with pki.NewCA and applies defects.
func NewCA(opts pki.CAOptions, defects ...Defect) (*pki.CA, error) {
	ca, err := pki.NewCA(opts)
	if err != nil {
		return nil, err
	}
	if len(defects) == 0 {
		return ca, nil
	}
	cert, err := resign(ca.Cert, nil, ca.Key.Public(), ca.Key, defects)
	if err != nil {
		return nil, fmt.Errorf("create faulty CA %q: %w", ca.Cert.Subject.CommonName, err)
	}
	ca.Cert = cert
	return ca, nil
}

// NewIntermediate creates an intermediate CA named name under parent,
// which must allow a path length of at least 1 (see WithMaxPathLen).
// Defects apply to the intermediate.
func NewIntermediate(parent *pki.CA, name string, keyType pki.KeyType, defects ...Defect) (*pki.CA, error) {
	key, err := pki.GenerateKey(keyType)
	if err != nil {
		return nil, fmt.Errorf("generate intermediate CA key: %w", err)
	}
	// Build the intermediate as a self-signed CA first, for its template,
	// then sign that template with the parent.
	self, err := pki.NewCA(pki.CAOptions{CommonName: name, Key: key, Validity: time.Until(parent.Cert.NotAfter)})
	if err != nil {
		return nil, err
	}
	cert, err := resign(self.Cert, parent.Cert, key.Public(), parent.Key, defects)
	if err != nil {
		return nil, fmt.Errorf("create intermediate CA %q: %w", name, err)
	}
	chain := append([]*x509.Certificate{parent.Cert}, parent.Chain...)
	return &pki.CA{Cert: cert, Key: key, Chain: chain}, nil
}

// resign copies sound, applies defects and signs the copy with signer as
// issuer (nil for self-signed).
func resign(sound, issuer *x509.Certificate, pub crypto.PublicKey, signer crypto.Signer, defects []Defect) (*x509.Certificate, error) {
	tmpl := *sound
	tmpl.SignatureAlgorithm = x509.UnknownSignatureAlgorithm
	s := &spec{tmpl: &tmpl}
	for _, d := range defects {
		d(s)
	}
	parent := issuer
	if parent == nil {
		parent = s.tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, s.tmpl, parent, pub, signer)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	if s.sha1 || s.negativeSerial {
		if der, err = rewrite(der, signer, s.sha1, s.negativeSerial); err != nil {
			return nil, err
		}
	}
	return parseLenient(der)
}
