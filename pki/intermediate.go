package pki

import (
	"bytes"
	"crypto/x509"
	"fmt"
	"time"
)

// DefaultIntermediateName starts the common name NewIntermediate gives an
// intermediate CA when CAOptions.CommonName is empty. Like a root's
// default name, it ends in the first bytes of the key identifier.
const DefaultIntermediateName = "grpc-mtls intermediate CA"

// NewIntermediate creates an intermediate CA signed by ca. The usual
// layout is a root with path length 1, kept offline, and an intermediate
// with path length 0 (opts.MaxPathLen's default) that signs the leaves
// day to day: losing the intermediate's key then means replacing the
// intermediate, not every truststore. The intermediate's validity ends no
// later than ca's, so that the chain never outlives its root.
func (ca *CA) NewIntermediate(opts CAOptions) (*CA, error) {
	inter, err := newCA(opts, ca)
	if err != nil {
		return nil, fmt.Errorf("create intermediate CA %q: %w", valueOr(opts.CommonName, DefaultIntermediateName), err)
	}
	return inter, nil
}

// checkCanSignCA returns an error when ca's basic constraints forbid it
// to sign the CA certificate tmpl, and shortens tmpl's validity to end
// with ca's.
func (ca *CA) checkCanSignCA(tmpl *x509.Certificate) error {
	parent := ca.Cert
	if parent.MaxPathLen == 0 && parent.MaxPathLenZero {
		return fmt.Errorf("CA %q has path length 0, so it may sign only leaf certificates: create the root with path length 1 ('mtls pki init --intermediate')", parent.Subject.CommonName)
	}
	if parent.MaxPathLen > 0 && tmpl.MaxPathLen >= parent.MaxPathLen {
		return fmt.Errorf("CA %q has path length %d, so a CA below it needs a path length below %d, not %d", parent.Subject.CommonName, parent.MaxPathLen, parent.MaxPathLen, tmpl.MaxPathLen)
	}
	if tmpl.NotAfter.After(parent.NotAfter) {
		tmpl.NotAfter = parent.NotAfter
	}
	if !tmpl.NotAfter.After(tmpl.NotBefore) {
		return fmt.Errorf("CA %q expired at %s: it cannot sign a new CA", parent.Subject.CommonName, parent.NotAfter.Format(time.RFC3339))
	}
	return nil
}

// Keystore returns what the leaf's holder presents in a handshake: the
// leaf, the intermediate CAs of its chain and its key. Self-signed roots
// are left out, since the peer must already trust them.
func (l *Leaf) Keystore() *Keystore {
	return &Keystore{Leaf: l.Cert, Intermediates: withoutRoots(l.Chain), Key: l.Key}
}

// Roots returns the self-signed certificates of the leaf's chain: the
// root CA when the issuing CA was created or loaded with its chain.
func (l *Leaf) Roots() []*x509.Certificate {
	var roots []*x509.Certificate
	for _, c := range l.Chain {
		if isSelfSigned(c) {
			roots = append(roots, c)
		}
	}
	return roots
}

func isSelfSigned(c *x509.Certificate) bool {
	return bytes.Equal(c.RawIssuer, c.RawSubject) && c.CheckSignatureFrom(c) == nil
}
