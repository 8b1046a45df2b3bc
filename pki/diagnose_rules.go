package pki

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// loading explains errors from loading keystores and truststores.
func (c *cause) loading() (Diagnosis, bool) {
	local := string(c.local)
	switch {
	case errors.Is(c.err, ErrPassphraseRequired):
		return Diagnosis{Reason: ReasonPassphraseRequired, Side: local,
			Summary: "Our private key is encrypted, and no passphrase was given to decrypt it.",
			Fix:     "give the passphrase file (--key-passphrase-file), or store the key unencrypted in a file readable only by this service (mode 0600)."}, true
	case errors.Is(c.err, ErrWrongPassphrase):
		return Diagnosis{Reason: ReasonWrongPassphrase, Side: local,
			Summary: "The passphrase or PKCS#12 password does not decrypt our key or keystore.",
			Fix:     "put the password the file was written with into the password file; one trailing newline is ignored, other white space counts."}, true
	case c.has("are the certificate and key files swapped"):
		return Diagnosis{Reason: ReasonCertKeySwapped, Side: local,
			Summary: "Our certificate file holds a private key (or our key file a certificate): the two files are swapped.",
			Fix:     "swap the values of --cert and --key."}, true
	case c.has("does not belong to certificate", "does not match the certificate's public key"):
		return Diagnosis{Reason: ReasonKeyMismatch, Side: local,
			Summary: "Our private key is not the key of our certificate, so we could not prove we own the certificate.",
			Fix:     "use the key generated together with this certificate: 'mtls pki inspect CERT KEY' shows the same public key hash for a matching pair."}, true
	case c.has("unknown algorithm: 1.2.840.10040.4.1", "DSA PRIVATE KEY"):
		return Diagnosis{Reason: ReasonUnsupportedKey, Side: local,
			Summary: "Our private key is a DSA key. DSA is not allowed in TLS 1.3, and Go cannot parse DSA private keys.",
			Fix:     "issue a new certificate with an ECDSA P-256 key (the default of 'mtls pki issue') or an RSA key of at least 2048 bits."}, true
	case c.has("unsupported private key type", "PKCS#8 wrapping contained private key with unknown algorithm"):
		return Diagnosis{Reason: ReasonUnsupportedKey, Side: local,
			Summary: "Our private key is of a type Go cannot use for TLS.",
			Fix:     "issue a new certificate with an ECDSA P-256, Ed25519 or RSA (2048 bits or more) key."}, true
	case c.has("expected exactly 1 items in the authenticated safe", "not marked as trusted", "no trusted certificate entries", "not trusted certificate entries"):
		return Diagnosis{Reason: ReasonNoTrustedEntries, Side: local,
			Summary: "The PKCS#12 file given as our truststore has no trusted certificate entries: it is probably a keystore (a key with its certificates), or was made by a tool that does not mark entries as trusted.",
			Fix:     "give the truststore file instead (truststore.p12 from 'mtls pki init'), or build one with 'keytool -importcert -storetype PKCS12', or use the CA's PEM file with --ca."}, true
	case c.has("load truststore") && c.has("is not a CA"):
		return Diagnosis{Reason: ReasonTruststoreNotCA, Side: local,
			Summary: "Our truststore holds a certificate that is not a CA, often the peer's own certificate in place of the CA that signed it.",
			Fix:     "put the CA certificate (ca.crt) in the truststore, not the peer's certificate."}, true
	case c.has("load certificate", "load keystore") && c.has("negative serial number"):
		return Diagnosis{Reason: ReasonMalformedCertificate, Side: local,
			Summary: "Our certificate has a negative serial number, which RFC 5280 forbids; Go 1.23 and later refuse to parse it.",
			Fix:     "issue a new certificate: 'mtls pki issue' makes positive 128-bit serial numbers."}, true
	}
	return Diagnosis{}, false
}

// handshake explains errors from handshakes and calls.
func (c *cause) handshake() Diagnosis {
	for _, rule := range []func() (Diagnosis, bool){c.access, c.identity, c.verification, c.names, c.validity, c.clientCertificate, c.alerts, c.protocol, c.transport} {
		if d, ok := rule(); ok {
			return d
		}
	}
	return Diagnosis{Reason: ReasonUnknown, Summary: "The connection failed for a reason this tool does not recognise.", Fix: "read the raw error, and the other side's log."}
}

func (c *cause) identity() (Diagnosis, bool) {
	var idErr *PeerIDError
	if !errors.As(c.err, &idErr) && !c.has("peer identity not allowed") {
		return Diagnosis{}, false
	}
	return Diagnosis{Reason: ReasonPeerIDNotAllowed, Side: string(c.local),
		Summary: fmt.Sprintf("The %s's certificate is valid and signed by a CA we trust, but it belongs to an identity we do not accept here.", c.peer),
		Fix:     fmt.Sprintf("connect to the right %s, or, if this identity should be accepted, add it to the allowed identities (--allow-client on the server, --expect-server on the client).", c.peer)}, true
}

// candidateRe extracts the CA that crypto/x509 tried when a chain failed.
var candidateRe = regexp.MustCompile(`candidate authority certificate \\?"([^"\\]*)\\?"`)

func (c *cause) candidate() string {
	if m := candidateRe.FindStringSubmatch(c.msg); m != nil {
		return m[1]
	}
	return ""
}

func (c *cause) verification() (Diagnosis, bool) {
	local, peer := string(c.local), c.peer
	var invalid x509.CertificateInvalidError
	var unknown x509.UnknownAuthorityError
	isInvalid := errors.As(c.err, &invalid)
	switch {
	case c.has("insecure algorithm"):
		return Diagnosis{Reason: ReasonInsecureSignature, Side: local,
			Summary: fmt.Sprintf("The %s's certificate is signed with an insecure algorithm (SHA-1 or MD5), which Go refuses.", peer),
			Fix:     "issue the certificate again with a SHA-256 signature; 'mtls pki issue' does."}, true
	case isInvalid && invalid.Reason == x509.NotAuthorizedToSign || c.has("not authorized to sign other certificates", "parent certificate cannot sign this kind of certificate"):
		return Diagnosis{Reason: ReasonNotACA, Side: local,
			Summary: fmt.Sprintf("The certificate that signed the %s's certificate%s is not allowed to sign certificates: its basic constraints lack CA:TRUE, or its key usage lacks keyCertSign.", peer, quoted(c.candidate())),
			Fix:     "sign certificates only with a CA certificate that has basic constraints CA:TRUE and key usage keyCertSign; 'mtls pki init' makes one."}, true
	case c.has("verification failure", "verification error") && c.has("unknown authority"):
		return Diagnosis{Reason: ReasonWrongCA, Side: local,
			Summary: fmt.Sprintf("Our truststore holds a CA named%s, but not the one that signed the %s's certificate: same name, different key. The CA was probably created again.", quoted(c.candidate()), peer),
			Fix:     fmt.Sprintf("replace our CA file with the current CA certificate that issued the %s's certificate, or reissue the %s's certificate from the CA we hold.", peer, peer)}, true
	case errors.As(c.err, &unknown) || c.has("certificate signed by unknown authority"):
		d := Diagnosis{Reason: ReasonUnknownAuthority, Side: local,
			Summary: fmt.Sprintf("The %s's certificate does not chain to a CA in our truststore: either its CA is not in our truststore, or the %s did not send the intermediate CA certificate that links it to one.", peer, peer),
			Fix:     fmt.Sprintf("add the CA that signed the %s's certificate to our truststore; if it is signed by an intermediate CA, make the %s send it by appending it to its certificate file.", peer, peer)}
		if t := c.m.trusted(); t != "" {
			d.Summary += " We trust: " + t + "."
		}
		if inter, ok := c.missingIntermediate(); ok {
			d.Summary = fmt.Sprintf("The %s sent only its own certificate, issued by %q, which is not in our truststore. If that issuer is an intermediate CA, the %s must send it along; otherwise its CA is missing from our truststore.", peer, inter, peer)
		}
		return d, true
	case isInvalid && invalid.Reason == x509.IncompatibleUsage || c.has("incompatible key usage"):
		return Diagnosis{Reason: ReasonWrongKeyUsage, Side: local,
			Summary: fmt.Sprintf("The %s's certificate is not allowed for %s authentication: its extended key usage lacks %sAuth.", peer, peer, peer),
			Fix:     fmt.Sprintf("issue the %s's certificate with the %sAuth extended key usage ('mtls pki issue --role %s').", peer, peer, peer)}, true
	case c.has("negative serial number", "x509: malformed", "failed to parse certificate"):
		return Diagnosis{Reason: ReasonMalformedCertificate, Side: local,
			Summary: fmt.Sprintf("The %s sent a certificate Go cannot parse%s.", peer, negativeSerialNote(c.msg)),
			Fix:     fmt.Sprintf("issue the %s a new certificate with a standard tool such as 'mtls pki issue'.", peer)}, true
	}
	return Diagnosis{}, false
}

func negativeSerialNote(msg string) string {
	if strings.Contains(msg, "negative serial number") {
		return ": its serial number is negative, which RFC 5280 forbids and Go 1.23 and later reject"
	}
	return ""
}

// missingIntermediate reports the issuer of a peer that sent a single
// certificate whose issuer is not self and not in our truststore.
func (c *cause) missingIntermediate() (string, bool) {
	var verr *tls.CertificateVerificationError
	if !errors.As(c.err, &verr) || len(verr.UnverifiedCertificates) != 1 {
		return "", false
	}
	leaf := verr.UnverifiedCertificates[0]
	return leaf.Issuer.String(), true
}

var validForRe = regexp.MustCompile(`certificate is valid for (.*), not (\S+?)\\?"?$`)

func (c *cause) names() (Diagnosis, bool) {
	local, peer := string(c.local), c.peer
	var hostErr x509.HostnameError
	switch {
	case c.has("legacy Common Name field"):
		return Diagnosis{Reason: ReasonLegacyCommonName, Side: local,
			Summary: fmt.Sprintf("The %s's certificate has its name only in the Common Name and no subject alternative names (SANs), which Go and other modern TLS stacks ignore.", peer),
			Fix:     fmt.Sprintf("issue the %s's certificate with the name as a DNS or IP SAN ('mtls pki issue --dns NAME --ip ADDR').", peer)}, true
	case c.has("doesn't contain any IP SANs"):
		return Diagnosis{Reason: ReasonNameMismatch, Side: local,
			Summary: fmt.Sprintf("We connected to an IP address, and the %s's certificate has no IP SANs: an IP address must be listed as an IP SAN, a DNS SAN with the same text does not count.", peer),
			Fix:     fmt.Sprintf("add the address as an IP SAN to the %s's certificate (--ip or --server-ip), or dial a DNS name it lists.", peer)}, true
	case errors.As(c.err, &hostErr) || c.has("x509: certificate is valid for", "not valid for any names"):
		d := Diagnosis{Reason: ReasonNameMismatch, Side: local,
			Summary: fmt.Sprintf("The %s's certificate is not valid for the name we expected.", peer),
			Fix:     fmt.Sprintf("dial a name listed in the %s's certificate (see 'mtls pki inspect'), set --server-name to one, or reissue the certificate with the name added (--dns / --server-dns). In a container network, that name is the service name.", peer)}
		if m := validForRe.FindStringSubmatch(c.msg); m != nil {
			d.Summary = fmt.Sprintf("The %s's certificate is valid for %s, but we expected %s.", peer, m[1], m[2])
		}
		return d, true
	}
	return Diagnosis{}, false
}

var timeRe = regexp.MustCompile(`current time (\S+) is (after|before) ([^\s"\\]+)`)

func (c *cause) validity() (Diagnosis, bool) {
	var invalid x509.CertificateInvalidError
	if !(errors.As(c.err, &invalid) && invalid.Reason == x509.Expired) && !c.has("certificate has expired or is not yet valid") {
		return Diagnosis{}, false
	}
	peer := c.peer
	d := Diagnosis{Reason: ReasonExpired, Side: string(c.local),
		Summary: fmt.Sprintf("The %s's certificate has expired or is not valid yet.", peer),
		Fix:     "issue a new certificate, and check that both machines' clocks are right."}
	m := timeRe.FindStringSubmatch(c.msg)
	if m == nil {
		return d, true
	}
	now, err1 := time.Parse(time.RFC3339, m[1])
	bound, err2 := time.Parse(time.RFC3339, m[3])
	switch {
	case err1 != nil || err2 != nil:
	case m[2] == "after":
		d.Summary = fmt.Sprintf("The %s's certificate expired at %s.", peer, m[3])
		d.Fix = fmt.Sprintf("issue the %s a new certificate, and renew certificates before they expire ('mtls doctor --within 30d' warns in time).", peer)
	case bound.Sub(now) <= time.Hour:
		d.Summary = fmt.Sprintf("The %s's certificate becomes valid only in %s: the clocks of the issuing machine and ours differ, and the certificate was not backdated.", peer, roundMinutes(bound.Sub(now)))
		d.Fix = "synchronise the clocks (NTP) of every machine, and backdate notBefore by a few minutes when issuing ('mtls pki issue' backdates by 5 minutes)."
	default:
		d.Summary = fmt.Sprintf("The %s's certificate is not valid until %s.", peer, m[3])
		d.Fix = "check the clocks of our machine and of the machine that issued the certificate, or issue a certificate whose validity starts now."
	}
	return d, true
}

func roundMinutes(d time.Duration) string {
	n := int(d.Round(time.Minute) / time.Minute)
	if n <= 1 {
		return "about a minute"
	}
	return fmt.Sprintf("about %d minutes", n)
}

func quoted(s string) string {
	if s == "" {
		return ""
	}
	return fmt.Sprintf(" %q", s)
}
