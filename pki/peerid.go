package pki

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"slices"
	"strings"
)

// PeerIDError means the peer's certificate verified against the
// truststore but names an identity this side does not accept: a valid
// certificate for another service.
type PeerIDError struct {
	// Certificate is the peer's leaf certificate.
	Certificate *x509.Certificate
	// Allowed lists the identities this side accepts.
	Allowed []string
}

func (e *PeerIDError) Error() string {
	got := peerIDs(e.Certificate)
	if len(got) == 0 {
		got = []string{"none"}
	}
	return fmt.Sprintf("peer identity not allowed: certificate %q (serial %x) has identities %s, want one of %s",
		e.Certificate.Subject.String(), e.Certificate.SerialNumber, strings.Join(got, ", "), strings.Join(e.Allowed, ", "))
}

// RequirePeerID makes cfg accept a peer only if its verified certificate
// carries one of ids as a URI SAN (such as a SPIFFE ID) or, for peers
// without URI SANs, as a DNS SAN. It adds to the chain and hostname checks
// crypto/tls already makes, and keeps any VerifyConnection already set.
// With no ids, cfg is left unchanged.
//
// A shared CA signs many services' certificates, so a chain check alone
// accepts any of them. This check narrows the accepted peers to the ones
// this side expects to talk to.
func RequirePeerID(cfg *tls.Config, ids ...string) {
	if len(ids) == 0 {
		return
	}
	allowed := slices.Clone(ids)
	previous := cfg.VerifyConnection
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		if previous != nil {
			if err := previous(cs); err != nil {
				return err
			}
		}
		if len(cs.PeerCertificates) == 0 {
			// Nothing to check; RequireAndVerifyClientCert or the
			// client's own verification rejects this connection.
			return nil
		}
		leaf := cs.PeerCertificates[0]
		for _, id := range peerIDs(leaf) {
			if slices.Contains(allowed, id) {
				return nil
			}
		}
		return &PeerIDError{Certificate: leaf, Allowed: allowed}
	}
}

// peerIDs returns the identities RequirePeerID matches: the URI SANs, or
// the DNS SANs when there are no URI SANs.
func peerIDs(cert *x509.Certificate) []string {
	var ids []string
	for _, u := range cert.URIs {
		ids = append(ids, u.String())
	}
	if len(ids) == 0 {
		ids = append(ids, cert.DNSNames...)
	}
	return ids
}
