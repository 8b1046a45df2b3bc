package pki

import (
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
)

// Reason is a short, stable code for why a TLS connection failed. Logs and
// metrics use it as a label, so the set is fixed.
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
	ReasonPermissionDenied      Reason = "permission_denied"
	ReasonRevoked               Reason = "revoked"
	ReasonCRLStale              Reason = "crl_stale"
)

// Diagnosis explains a failed connection in plain words. Err keeps the
// original error so that the raw message is never lost.
type Diagnosis struct {
	Reason Reason
	// Side is the side whose check failed: "client", "server" or "" when
	// it is not known.
	Side string
	// Summary says what went wrong in one sentence.
	Summary string
	// Fix says what to do about it.
	Fix string
	Err error
}

// String returns the summary and fix on one line.
func (d Diagnosis) String() string {
	if d.Fix == "" {
		return d.Summary
	}
	return d.Summary + " Fix: " + d.Fix
}

// Diagnose explains err, a handshake or RPC error seen by the local side
// (RoleClient or RoleServer). It recognises crypto/x509 error types and the
// TLS alert texts a peer sends, so it works on errors from crypto/tls and
// on gRPC status errors that carry them as text.
func Diagnose(err error, local Role) Diagnosis {
	if err == nil {
		return Diagnosis{}
	}
	peer := RoleServer
	if local == RoleServer {
		peer = RoleClient
	}
	d := diagnose(err, local, peer)
	d.Err = err
	return d
}

func diagnose(err error, local, peer Role) Diagnosis {
	var hostErr x509.HostnameError
	var authErr x509.UnknownAuthorityError
	var invalidErr x509.CertificateInvalidError
	msg := err.Error()

	switch {
	case strings.Contains(msg, "code = PermissionDenied"):
		return Diagnosis{Reason: ReasonPermissionDenied, Side: string(RoleServer),
			Summary: "The server verified our certificate, but its authorization policy does not allow this identity to call this method.",
			Fix:     "use a client identity the policy allows, or add a rule for this identity to the server's policy (--allow or --policy)."}
	case errors.Is(err, ErrRevoked) || strings.Contains(msg, ErrRevoked.Error()) || strings.Contains(msg, "remote error: tls: revoked certificate"):
		return Diagnosis{Reason: ReasonRevoked, Side: string(local),
			Summary: fmt.Sprintf("The %s's certificate has been revoked: a CRL from its CA lists its serial number.", peer),
			Fix:     fmt.Sprintf("issue the %s a new certificate ('mtls pki issue'); if the revocation was a mistake, only a new certificate helps, since a CRL entry is permanent.", peer)}
	case errors.Is(err, ErrCRLStale) || strings.Contains(msg, ErrCRLStale.Error()):
		return Diagnosis{Reason: ReasonCRLStale, Side: string(local),
			Summary: "A CRL needed to check the certificate is past its next-update time, and this side rejects stale CRLs.",
			Fix:     "publish a fresh CRL with 'mtls pki crl' and install it, or run with --crl-stale=warn to accept while warning."}
	case errors.As(err, &hostErr) || strings.Contains(msg, "x509: certificate is valid for") || strings.Contains(msg, "doesn't contain any IP SANs") || strings.Contains(msg, "not valid for any names"):
		return Diagnosis{Reason: ReasonNameMismatch, Side: string(local),
			Summary: fmt.Sprintf("The %s's certificate is not valid for the name we dialed.", peer),
			Fix:     "dial a name listed in the certificate's SANs (see 'mtls pki inspect'), set --server-name to one, or reissue the certificate with the name added (--server-dns / --server-ip)."}
	case errors.As(err, &authErr) || strings.Contains(msg, "certificate signed by unknown authority"):
		return Diagnosis{Reason: ReasonUnknownAuthority, Side: string(local),
			Summary: fmt.Sprintf("The %s's certificate is not signed by a CA in our truststore.", peer),
			Fix:     fmt.Sprintf("add the CA that signed the %s's certificate to our truststore, or give the %s a certificate from a CA we trust; when an intermediate CA signed it, the %s must send the intermediate after its own certificate.", peer, peer, peer)}
	case errors.As(err, &invalidErr) && invalidErr.Reason == x509.Expired || strings.Contains(msg, "certificate has expired or is not yet valid"):
		return Diagnosis{Reason: ReasonExpired, Side: string(local),
			Summary: fmt.Sprintf("The %s's certificate has expired or is not valid yet.", peer),
			Fix:     "issue a new certificate, and check that both machines' clocks are right."}
	case errors.As(err, &invalidErr) && invalidErr.Reason == x509.IncompatibleUsage || strings.Contains(msg, "incompatible key usage"):
		return Diagnosis{Reason: ReasonWrongKeyUsage, Side: string(local),
			Summary: fmt.Sprintf("The %s's certificate is not allowed for %s authentication (extended key usage).", peer, peer),
			Fix:     fmt.Sprintf("issue the %s's certificate with the %sAuth extended key usage.", peer, peer)}
	case errors.As(err, &invalidErr) && invalidErr.Reason == x509.NotAuthorizedToSign || strings.Contains(msg, "not authorized to sign other certificates"):
		return Diagnosis{Reason: ReasonNotACA, Side: string(local),
			Summary: fmt.Sprintf("The %s's certificate was signed by a certificate that is not a CA.", peer),
			Fix:     "sign the certificate with a real CA certificate (basic constraints CA:TRUE, key usage keyCertSign)."}
	case strings.Contains(msg, "didn't provide a certificate") || strings.Contains(msg, "client didn't provide"):
		return Diagnosis{Reason: ReasonNoClientCertificate, Side: string(RoleServer),
			Summary: "The client sent no certificate, and this server requires one.",
			Fix:     "configure the client with its certificate and key (--cert/--key or --keystore)."}
	case strings.Contains(msg, "tls: certificate required"):
		return Diagnosis{Reason: ReasonNoClientCertificate, Side: string(RoleServer),
			Summary: "The server requires a client certificate and we sent none.",
			Fix:     "give the client its certificate and key (--cert/--key or --keystore)."}
	case strings.Contains(msg, "remote error: tls: unknown certificate authority"):
		return Diagnosis{Reason: ReasonPeerRejectedAuthority, Side: string(peer),
			Summary: fmt.Sprintf("The %s does not trust the CA that signed our certificate.", peer),
			Fix:     fmt.Sprintf("add our CA to the %s's truststore, or use a certificate from a CA the %s trusts.", peer, peer)}
	case strings.Contains(msg, "remote error: tls: expired certificate"):
		return Diagnosis{Reason: ReasonPeerRejectedExpired, Side: string(peer),
			Summary: fmt.Sprintf("The %s rejected our certificate because it has expired or is not valid yet.", peer),
			Fix:     "issue a new certificate for this side, and check the clocks."}
	case strings.Contains(msg, "remote error: tls: bad certificate") || strings.Contains(msg, "remote error: tls: unsupported certificate"):
		return Diagnosis{Reason: ReasonPeerRejectedCert, Side: string(peer),
			Summary: fmt.Sprintf("The %s rejected our certificate.", peer),
			Fix:     fmt.Sprintf("check the %s's log for the reason: usually a CA it does not trust, a missing %sAuth usage, a revoked certificate or, seen from the server, a server name the client did not accept.", peer, local)}
	case strings.Contains(msg, "protocol version not supported") || strings.Contains(msg, "offered only unsupported versions") || strings.Contains(msg, "unsupported versions"):
		return Diagnosis{Reason: ReasonVersionMismatch, Side: string(local),
			Summary: "The two sides have no TLS version in common.",
			Fix:     "use TLS 1.3 on both sides, or allow TLS 1.2 on the server (--tls12) if a client cannot do better."}
	case strings.Contains(msg, "first record does not look like a TLS handshake") || strings.Contains(msg, "server gave HTTP response"):
		return Diagnosis{Reason: ReasonNotTLS, Side: string(local),
			Summary: "The other end does not speak TLS: one side is using plaintext.",
			Fix:     "make both sides use TLS: point TLS clients at the TLS port and plaintext clients nowhere near it."}
	case strings.Contains(msg, "application protocol") || strings.Contains(msg, "ALPN"):
		return Diagnosis{Reason: ReasonALPN, Side: string(local),
			Summary: "The two sides did not agree on HTTP/2 (ALPN \"h2\"), which gRPC requires.",
			Fix:     "make the client offer ALPN h2: gRPC clients do this themselves, a hand-built tls.Config needs NextProtos: [\"h2\"]."}
	case strings.Contains(msg, "connection refused"):
		return Diagnosis{Reason: ReasonConnectionRefused, Side: string(local),
			Summary: "Nothing is listening at that address.",
			Fix:     "start the server, or check the address and port."}
	case strings.Contains(msg, "i/o timeout") || strings.Contains(msg, "deadline exceeded"):
		return Diagnosis{Reason: ReasonHandshakeTimeout, Side: string(local),
			Summary: "The connection or handshake did not finish in time.",
			Fix:     "check that the address is right and the server is up, and raise --timeout if the network is slow."}
	case strings.Contains(msg, "x509: malformed") || strings.Contains(msg, "x509: negative serial number"):
		return Diagnosis{Reason: ReasonMalformedCertificate, Side: string(local),
			Summary: fmt.Sprintf("The %s's certificate is malformed and cannot be parsed.", peer),
			Fix:     "reissue the certificate with a standard tool such as 'mtls pki issue'."}
	case strings.Contains(msg, "EOF") || strings.Contains(msg, "connection reset") || strings.Contains(msg, "closed before server preface") || strings.Contains(msg, "broken pipe"):
		return Diagnosis{Reason: ReasonPeerClosed, Side: string(peer),
			Summary: fmt.Sprintf("The %s closed the connection during or right after the handshake.", peer),
			Fix:     fmt.Sprintf("look at the %s's log: with TLS 1.3 this is often a certificate the %s rejected.", peer, peer)}
	}
	return Diagnosis{Reason: ReasonUnknown, Summary: "The connection failed for a reason this tool does not recognise.", Fix: "read the raw error below."}
}
