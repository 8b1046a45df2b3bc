package pki

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"time"
)

// ErrRevoked is wrapped by the error of a connection whose peer presented
// a revoked certificate.
var ErrRevoked = errors.New("certificate revoked")

// ErrCRLStale is wrapped by the error of a connection rejected because a
// CRL it needed is past its next-update and StaleReject is in force.
var ErrCRLStale = errors.New("CRL is past its next update")

// RevokedError reports a certificate that a CRL lists. It wraps
// ErrRevoked.
type RevokedError struct {
	Certificate *x509.Certificate
	Entry       x509.RevocationListEntry
	CRL         *CRL
}

func (e *RevokedError) Error() string {
	return fmt.Sprintf("%v: serial %x (subject %q) was revoked at %s, reason %s, according to CRL %s from %q",
		ErrRevoked, e.Certificate.SerialNumber, e.Certificate.Subject.String(), e.Entry.RevocationTime.Format(time.RFC3339),
		RevocationReasonName(e.Entry.ReasonCode), e.CRL.Path, e.CRL.Issuer.Subject.String())
}

// Unwrap returns ErrRevoked.
func (e *RevokedError) Unwrap() error { return ErrRevoked }

// CRL is a certificate revocation list whose signature has been checked
// against its issuer.
type CRL struct {
	Path   string
	List   *x509.RevocationList
	Issuer *x509.Certificate
	// revoked maps serial numbers, in hexadecimal, to their entries.
	revoked map[string]x509.RevocationListEntry
}

// LoadCRL reads a CRL in DER or PEM from path and checks its signature.
// The issuer must be a CA in trust, or a certificate in the same PEM file
// (as PublishCRL writes for an intermediate CA) that chains to a CA in
// trust. A CRL that no trusted issuer signed is an error, so that a
// forged or misplaced file never decides who gets in.
func LoadCRL(path string, trust *Truststore) (*CRL, error) {
	data, err := ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load CRL: %w", err)
	}
	crl, err := ParseCRL(data, trust)
	if err != nil {
		return nil, fmt.Errorf("load CRL %s: %w", path, err)
	}
	crl.Path = path
	return crl, nil
}

// ParseCRL decodes a CRL held in memory, in DER or PEM, and checks its
// signature as LoadCRL does. The result's Path is empty.
func ParseCRL(data []byte, trust *Truststore) (*CRL, error) {
	der, bundled, err := splitCRLFile(data)
	if err != nil {
		return nil, err
	}
	list, err := x509.ParseRevocationList(der)
	if err != nil {
		return nil, fmt.Errorf("not a valid CRL: %w", err)
	}
	issuer, err := findCRLIssuer(list, trust, bundled)
	if err != nil {
		return nil, err
	}
	crl := &CRL{List: list, Issuer: issuer, revoked: map[string]x509.RevocationListEntry{}}
	for _, e := range list.RevokedCertificateEntries {
		crl.revoked[e.SerialNumber.Text(16)] = e
	}
	return crl, nil
}

// splitCRLFile returns the DER CRL in data and any certificates that
// follow it in PEM.
func splitCRLFile(data []byte) ([]byte, []*x509.Certificate, error) {
	if !looksLikePEM(data) {
		return data, nil, nil
	}
	var der []byte
	var certs []*x509.Certificate
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		switch block.Type {
		case "X509 CRL":
			if der != nil {
				return nil, nil, errors.New("more than one X509 CRL block: give each CRL its own file")
			}
			der = block.Bytes
		case "CERTIFICATE":
			c, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return nil, nil, fmt.Errorf("parse certificate %d: %w", len(certs)+1, err)
			}
			certs = append(certs, c)
		}
	}
	if der == nil {
		return nil, nil, errors.New("no X509 CRL block found: expected -----BEGIN X509 CRL-----")
	}
	return der, certs, nil
}

// findCRLIssuer returns the certificate whose key signed list: a trusted
// CA, or a bundled certificate that chains to one.
func findCRLIssuer(list *x509.RevocationList, trust *Truststore, bundled []*x509.Certificate) (*x509.Certificate, error) {
	var sigErr error
	for _, c := range trust.Certs {
		if !bytes.Equal(c.RawSubject, list.RawIssuer) {
			continue
		}
		if sigErr = list.CheckSignatureFrom(c); sigErr == nil {
			return c, nil
		}
	}
	intermediates := x509.NewCertPool()
	for _, c := range bundled {
		intermediates.AddCert(c)
	}
	for _, c := range bundled {
		if !bytes.Equal(c.RawSubject, list.RawIssuer) {
			continue
		}
		if sigErr = list.CheckSignatureFrom(c); sigErr != nil {
			continue
		}
		opts := x509.VerifyOptions{Roots: trust.Pool(), Intermediates: intermediates, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}
		if _, err := c.Verify(opts); err != nil {
			return nil, fmt.Errorf("the CRL's issuer %q, included in the file, does not chain to the truststore: %w", c.Subject.String(), err)
		}
		return c, nil
	}
	issuer := list.Issuer.String()
	if sigErr != nil {
		return nil, fmt.Errorf("its signature does not verify against issuer %q: %w: the CRL was altered, or signed by another CA of the same name", issuer, sigErr)
	}
	return nil, fmt.Errorf("its issuer %q is not in the truststore or in the file: publish it with the CA that issued the certificates ('mtls pki revoke'), and trust that CA's root", issuer)
}

// Stale reports whether the CRL is past its next-update at now. A CRL
// without a next-update is never stale.
func (c *CRL) Stale(now time.Time) bool {
	return !c.List.NextUpdate.IsZero() && now.After(c.List.NextUpdate)
}

// CRLSet is the set of CRLs a side checks peer certificates against. It
// is immutable and safe for concurrent use.
type CRLSet struct {
	crls []*CRL
	// byIssuerKey maps the issuer's public key (DER) to its CRLs, so that
	// two CAs with the same name during a rotation stay apart.
	byIssuerKey map[string][]*CRL
}

// NewCRLSet returns the set of crls.
func NewCRLSet(crls ...*CRL) *CRLSet {
	s := &CRLSet{crls: crls, byIssuerKey: map[string][]*CRL{}}
	for _, c := range crls {
		key := string(c.Issuer.RawSubjectPublicKeyInfo)
		s.byIssuerKey[key] = append(s.byIssuerKey[key], c)
	}
	return s
}

// LoadCRLs loads every file in paths with LoadCRL.
func LoadCRLs(paths []string, trust *Truststore) (*CRLSet, error) {
	crls := make([]*CRL, 0, len(paths))
	for _, p := range paths {
		c, err := LoadCRL(p, trust)
		if err != nil {
			return nil, err
		}
		crls = append(crls, c)
	}
	return NewCRLSet(crls...), nil
}

// CRLs returns the CRLs of the set.
func (s *CRLSet) CRLs() []*CRL { return s.crls }

// StalePolicy is the action a revocation check takes on a CRL past its
// next-update.
type StalePolicy string

// Stale CRL policies.
const (
	// StaleWarn keeps using the stale CRL: certificates it lists stay
	// rejected, and every use is reported through OnStale. It is the
	// default because a stale CRL most often means the CA forgot to
	// publish a fresh one, not that revocations are missing: with files
	// written by PublishCRL, every new revocation also refreshes the
	// next-update. Rejecting would lock out every client of that CA.
	StaleWarn StalePolicy = "warn"
	// StaleReject rejects every certificate whose issuer's CRL is stale,
	// for deployments where a stale CRL means the channel that brings
	// fresh ones is broken.
	StaleReject StalePolicy = "reject"
)

// ParseStalePolicy returns the policy named s.
func ParseStalePolicy(s string) (StalePolicy, error) {
	switch StalePolicy(s) {
	case StaleWarn, StaleReject:
		return StalePolicy(s), nil
	}
	return "", fmt.Errorf("unknown stale CRL policy %q: use warn or reject", s)
}

// StaleCRLUse describes a handshake that consulted a stale CRL.
type StaleCRLUse struct {
	CRL *CRL
	// Rejected is true under StaleReject.
	Rejected bool
}

// RevocationOptions configures a revocation check.
type RevocationOptions struct {
	// Stale is the policy for CRLs past their next-update; default
	// StaleWarn.
	Stale StalePolicy
	// OnStale is called, from the handshake's goroutine, each time a
	// handshake consults a stale CRL. Callers that log should rate-limit.
	OnStale func(StaleCRLUse)
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Check returns an error wrapping ErrRevoked if a CRL in the set lists a
// certificate of any chain, or wrapping ErrCRLStale if StaleReject is in
// force and a CRL it needed is stale. The last certificate of each chain
// is the trust anchor and is not looked up. A certificate whose issuer
// has no CRL in the set passes.
func (s *CRLSet) Check(chains [][]*x509.Certificate, opts RevocationOptions) error {
	now := time.Now()
	if opts.Now != nil {
		now = opts.Now()
	}
	for _, chain := range chains {
		for i := 0; i+1 < len(chain); i++ {
			if err := s.checkCertificate(chain[i], chain[i+1], now, opts); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *CRLSet) checkCertificate(cert, issuer *x509.Certificate, now time.Time, opts RevocationOptions) error {
	for _, crl := range s.byIssuerKey[string(issuer.RawSubjectPublicKeyInfo)] {
		if crl.Stale(now) {
			reject := opts.Stale == StaleReject
			if opts.OnStale != nil {
				opts.OnStale(StaleCRLUse{CRL: crl, Rejected: reject})
			}
			if reject {
				return fmt.Errorf("%w: CRL %s from %q expired at %s and stale CRLs are rejected: publish a fresh CRL ('mtls pki crl') and install it in place of this one",
					ErrCRLStale, crl.Path, crl.Issuer.Subject.String(), crl.List.NextUpdate.Format(time.RFC3339))
			}
		}
		if e, ok := crl.revoked[cert.SerialNumber.Text(16)]; ok {
			return &RevokedError{Certificate: cert, Entry: e, CRL: crl}
		}
	}
	return nil
}

// RevocationCheck returns a function for tls.Config.VerifyConnection
// that checks the peer's verified chains against the CRL set that current
// returns at each handshake. crypto/tls calls VerifyConnection on resumed
// sessions too, so a revoked client cannot reuse a session ticket. On
// rejection crypto/tls sends the peer a bad_certificate alert.
//
// NOTE: only handshakes are checked, so a connection opened before a
// revocation stays open until it closes.
//
//	cfg.VerifyConnection = pki.RevocationCheck(crls.Load, pki.RevocationOptions{})
func RevocationCheck(current func() *CRLSet, opts RevocationOptions) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		set := current()
		if set == nil {
			return nil
		}
		return set.Check(cs.VerifiedChains, opts)
	}
}
