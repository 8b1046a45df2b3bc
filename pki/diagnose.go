package pki

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// Reason is a short, stable code for why a TLS connection or the loading
// of certificate files failed. Logs and metrics use it as a label, so the
// set only grows.
type Reason string

// Failure reasons, each explained by Diagnose.
const (
	ReasonUnknown               Reason = "unknown"
	ReasonNoClientCertificate   Reason = "no_client_certificate"
	ReasonUnknownAuthority      Reason = "unknown_authority"
	ReasonPeerRejectedAuthority Reason = "peer_rejected_authority"
	ReasonPeerRejectedCert      Reason = "peer_rejected_certificate"
	ReasonNameMismatch          Reason = "name_mismatch"
	ReasonExpired               Reason = "expired_or_not_yet_valid"
	ReasonPeerRejectedExpired   Reason = "peer_rejected_expired"
	ReasonWrongKeyUsage         Reason = "wrong_key_usage"
	ReasonNotACA                Reason = "issuer_not_a_ca"
	ReasonVersionMismatch       Reason = "tls_version_mismatch"
	ReasonNotTLS                Reason = "not_tls"
	ReasonALPN                  Reason = "alpn_mismatch"
	ReasonHandshakeTimeout      Reason = "handshake_timeout"
	ReasonConnectionRefused     Reason = "connection_refused"
	ReasonPeerClosed            Reason = "peer_closed"
	ReasonMalformedCertificate  Reason = "malformed_certificate"

	ReasonWrongCA            Reason = "wrong_ca"
	ReasonLegacyCommonName   Reason = "legacy_common_name"
	ReasonPeerIDNotAllowed   Reason = "peer_identity_not_allowed"
	ReasonInsecureSignature  Reason = "insecure_signature_algorithm"
	ReasonUnsupportedKey     Reason = "unsupported_key"
	ReasonHandshakeFailure   Reason = "handshake_failure"
	ReasonKeyMismatch        Reason = "key_mismatch"
	ReasonCertKeySwapped     Reason = "cert_key_swapped"
	ReasonPassphraseRequired Reason = "passphrase_required"
	ReasonWrongPassphrase    Reason = "wrong_passphrase"
	ReasonNoTrustedEntries   Reason = "truststore_without_trusted_entries"
	ReasonTruststoreNotCA    Reason = "truststore_holds_non_ca"

	ReasonPermissionDenied Reason = "permission_denied"
	ReasonRevoked          Reason = "revoked"
	ReasonCRLStale         Reason = "crl_stale"
)

// CertificateRef names the certificate a diagnosis is about.
type CertificateRef struct {
	// Owner is the side that presents the certificate.
	Owner   Role
	Subject string
	// Serial is the serial number in lowercase hexadecimal.
	Serial string
	Issuer string
	// Names are the certificate's SANs.
	Names []string
}

func refOf(owner Role, c *x509.Certificate) *CertificateRef {
	if c == nil || c.SerialNumber == nil {
		return nil
	}
	id := IdentityOf(c)
	return &CertificateRef{Owner: owner, Subject: id.Subject, Serial: id.Serial, Issuer: id.Issuer, Names: id.SANs()}
}

// String returns "the server's certificate CN=x (serial 1f)".
func (r *CertificateRef) String() string {
	return fmt.Sprintf("the %s's certificate %s (serial %s)", r.Owner, r.Subject, r.Serial)
}

// Diagnosis explains a failure in plain words. Err keeps the original
// error so that the raw message is never lost.
type Diagnosis struct {
	Reason Reason
	// Side is the side whose check failed or whose files are wrong:
	// "client", "server" or "" when it is not known.
	Side string
	// Summary is a one- or two-sentence account of the failure.
	Summary string
	// Fix is the next step to take.
	Fix string
	// Certificate is the certificate the failure is about, when known:
	// the peer's from a crypto/tls verification error, or our own when
	// the peer rejected it.
	Certificate *CertificateRef
	Err         error
}

// String returns the summary, the certificate and the fix on one line.
func (d Diagnosis) String() string {
	var b strings.Builder
	b.WriteString(d.Summary)
	if d.Certificate != nil {
		b.WriteString(" Certificate: " + d.Certificate.String() + ".")
	}
	if d.Fix != "" {
		b.WriteString(" Fix: " + d.Fix)
	}
	return b.String()
}

// Material is the local side's certificates and settings, which let a
// diagnosis name the certificate at fault and be more specific. Every
// field is optional.
type Material struct {
	Keystore   *Keystore
	Truststore *Truststore
	// ServerName is the name a client expects in the server's
	// certificate.
	ServerName string
}

func (m Material) leaf() *x509.Certificate {
	if m.Keystore == nil {
		return nil
	}
	return m.Keystore.Leaf
}

// trusted lists the subjects of the truststore's CAs, for messages.
func (m Material) trusted() string {
	if m.Truststore == nil || len(m.Truststore.Certs) == 0 {
		return ""
	}
	names := make([]string, len(m.Truststore.Certs))
	for i, c := range m.Truststore.Certs {
		names[i] = c.Subject.String()
	}
	return strings.Join(names, "; ")
}

// Diagnose explains err, an error seen by the local side (RoleClient or
// RoleServer): a handshake or RPC error, or an error from LoadKeystore or
// LoadTruststore. It recognises crypto/x509 and crypto/tls error types
// and the texts that reach a gRPC client as a status message, and the TLS
// alerts a peer sends.
func Diagnose(err error, local Role) Diagnosis {
	return DiagnoseWith(err, local, Material{})
}

// DiagnoseWith is Diagnose with the local side's material, which lets it
// name our own certificate when the peer rejected it and tell apart
// causes that look the same on the wire.
func DiagnoseWith(err error, local Role, m Material) Diagnosis {
	if err == nil {
		return Diagnosis{}
	}
	peer := RoleServer
	if local == RoleServer {
		peer = RoleClient
	}
	c := &cause{err: err, msg: err.Error(), local: local, peer: peer, m: m}
	d, ok := c.loading()
	if !ok {
		d = c.handshake()
	}
	if d.Certificate == nil {
		d.Certificate = c.peerCertificate()
	}
	d.Err = err
	return d
}

// cause carries what the rules look at.
type cause struct {
	err         error
	msg         string
	local, peer Role
	m           Material
}

func (c *cause) has(substrings ...string) bool {
	for _, s := range substrings {
		if strings.Contains(c.msg, s) {
			return true
		}
	}
	return false
}

// peerCertificate returns the peer's leaf from a crypto/tls or
// crypto/x509 error, which only the side that ran the check has.
//
// NOTE: grpc-go hands a client its handshake error as text, so on the
// client the server's certificate is named only for PeerIDError, whose
// text carries it; 'mtls doctor --addr' shows what the server presented.
func (c *cause) peerCertificate() *CertificateRef {
	var verr *tls.CertificateVerificationError
	if errors.As(c.err, &verr) && len(verr.UnverifiedCertificates) > 0 {
		return refOf(c.peer, verr.UnverifiedCertificates[0])
	}
	var idErr *PeerIDError
	if errors.As(c.err, &idErr) {
		return refOf(c.peer, idErr.Certificate)
	}
	var hostErr x509.HostnameError
	if errors.As(c.err, &hostErr) {
		return refOf(c.peer, hostErr.Certificate)
	}
	var invalid x509.CertificateInvalidError
	if errors.As(c.err, &invalid) {
		return refOf(c.peer, invalid.Cert)
	}
	// A PeerIDError reaches a gRPC client as text only.
	if m := peerIDTextRe.FindStringSubmatch(c.msg); m != nil {
		return &CertificateRef{Owner: c.peer, Subject: m[1], Serial: m[2], Names: strings.Split(m[3], ", ")}
	}
	return nil
}

// peerIDTextRe matches PeerIDError's message, quoted or not.
var peerIDTextRe = regexp.MustCompile(`peer identity not allowed: certificate \\?"(.+?)\\?" \(serial ([0-9a-f]+)\) has identities (.+?), want one of`)

// ours returns our own leaf, for failures where the peer rejected it.
func (c *cause) ours() *CertificateRef { return refOf(c.local, c.m.leaf()) }

// Reasons lists every reason code Diagnose returns, in declaration order.
var Reasons = []Reason{
	ReasonUnknown,
	ReasonNoClientCertificate,
	ReasonUnknownAuthority,
	ReasonPeerRejectedAuthority,
	ReasonPeerRejectedCert,
	ReasonNameMismatch,
	ReasonExpired,
	ReasonPeerRejectedExpired,
	ReasonWrongKeyUsage,
	ReasonNotACA,
	ReasonVersionMismatch,
	ReasonNotTLS,
	ReasonALPN,
	ReasonHandshakeTimeout,
	ReasonConnectionRefused,
	ReasonPeerClosed,
	ReasonMalformedCertificate,
	ReasonWrongCA,
	ReasonLegacyCommonName,
	ReasonPeerIDNotAllowed,
	ReasonInsecureSignature,
	ReasonUnsupportedKey,
	ReasonHandshakeFailure,
	ReasonKeyMismatch,
	ReasonCertKeySwapped,
	ReasonPassphraseRequired,
	ReasonWrongPassphrase,
	ReasonNoTrustedEntries,
	ReasonTruststoreNotCA,
	ReasonPermissionDenied,
	ReasonRevoked,
	ReasonCRLStale,
}
