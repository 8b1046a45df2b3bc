package doctor

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/grpc-mtls/grpc-mtls/pki"
)

// Limits the checks apply.
const (
	// minRSABits is the smallest RSA modulus NIST SP 800-131A and the
	// CA/Browser Forum accept.
	minRSABits = 2048
	// minSerialBits is the randomness the CA/Browser Forum requires in
	// serial numbers (64 bits), which keeps serials unpredictable.
	minSerialBits = 64
	// maxSerialOctets is RFC 5280's limit on serial number length.
	maxSerialOctets = 20
	// skewWindow is how far in the future a notBefore may lie for the
	// doctor to blame clock skew rather than a wrong date.
	skewWindow = time.Hour
)

func (r *Report) checkMaterial(opts Options, m *material) {
	now := opts.Now()
	if m.leaf != nil {
		r.Certificates = append(r.Certificates, summarize("keystore", m.leaf))
		r.checkLeaf(opts, m.leaf, now)
		r.checkCertificate(m.leaf, now, opts.Within)
	}
	for _, c := range m.inter {
		r.Certificates = append(r.Certificates, summarize("keystore", c))
		r.checkCA("intermediate", c, now, opts.Within)
	}
	if m.trust != nil {
		for _, c := range m.trust.Certs {
			r.Certificates = append(r.Certificates, summarize("truststore", c))
			r.checkCA("truststore CA", c, now, opts.Within)
		}
	}
	if m.leaf != nil && m.peerTrust != nil {
		r.checkChain(opts, m, now)
	}
}

func roleUsage(role pki.Role) x509.ExtKeyUsage {
	if role == pki.RoleServer {
		return x509.ExtKeyUsageServerAuth
	}
	return x509.ExtKeyUsageClientAuth
}

func (r *Report) checkLeaf(opts Options, leaf *x509.Certificate, now time.Time) {
	ref := certRef(leaf)
	want := roleUsage(opts.Role)
	switch {
	case len(leaf.ExtKeyUsage) == 0 && len(leaf.UnknownExtKeyUsage) == 0:
		r.add(Finding{Severity: SeverityInfo, Check: "eku", Certificate: ref,
			Problem: "the certificate has no extended key usage, so Go accepts it for any purpose; some TLS stacks expect one",
			Fix:     fmt.Sprintf("issue it with the %sAuth extended key usage", opts.Role)})
	case !slices.Contains(leaf.ExtKeyUsage, want) && !slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageAny):
		r.add(Finding{Severity: SeverityError, Check: "eku", Certificate: ref,
			Problem: fmt.Sprintf("the certificate is not allowed for %s authentication: its extended key usage lacks %sAuth, so peers reject it with \"incompatible key usage\"", opts.Role, opts.Role),
			Fix:     fmt.Sprintf("issue it with 'mtls pki issue --role %s'", opts.Role)})
	}
	if leaf.KeyUsage != 0 && leaf.KeyUsage&x509.KeyUsageDigitalSignature == 0 {
		r.add(Finding{Severity: SeverityError, Check: "key-usage", Certificate: ref,
			Problem: "the key usage lacks digitalSignature, which TLS 1.3 needs to sign the handshake; OpenSSL and Java reject it",
			Fix:     "issue the certificate with key usage digitalSignature"})
	}
	if leaf.IsCA {
		r.add(Finding{Severity: SeverityWarning, Check: "leaf-is-ca", Certificate: ref,
			Problem: "the certificate presented for TLS is a CA certificate (CA:TRUE)",
			Fix:     "issue a leaf certificate (CA:FALSE) for the service, signed by the CA"})
	}
	r.checkNames(opts, leaf, ref)
}

func (r *Report) checkNames(opts Options, leaf *x509.Certificate, ref string) {
	id := pki.IdentityOf(leaf)
	if len(id.SANs()) == 0 {
		r.add(Finding{Severity: SeverityError, Check: "san", Certificate: ref,
			Problem: fmt.Sprintf("the certificate has no subject alternative names; its name %q is only in the Common Name, which Go and modern TLS stacks ignore", leaf.Subject.CommonName),
			Fix:     "issue it with the names as SANs (--dns, --ip or --uri)"})
	}
	for _, name := range opts.Names {
		if strings.Contains(name, "://") {
			if !slices.Contains(id.URIs, name) {
				r.add(Finding{Severity: SeverityError, Check: "san", Certificate: ref,
					Problem: fmt.Sprintf("the certificate does not carry the identity %s (its URI SANs: %s), so a peer expecting it rejects this certificate", name, listOrNone(id.URIs)),
					Fix:     "issue the certificate with --uri " + name + ", or use the certificate of that identity"})
			}
			continue
		}
		if err := leaf.VerifyHostname(name); err != nil {
			problem := fmt.Sprintf("the certificate is not valid for %s (its SANs: %s)", name, listOrNone(id.SANs()))
			if strings.Contains(err.Error(), "IP SANs") {
				problem += "; an IP address must be an IP SAN"
			}
			r.add(Finding{Severity: SeverityError, Check: "san", Certificate: ref, Problem: problem,
				Fix: fmt.Sprintf("reissue the certificate with %s added (--dns or --ip), or reach the %s by a name it lists", name, opts.Role)})
		}
	}
}

func listOrNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

// checkCertificate checks what applies to every certificate: validity,
// key, signature and serial number.
func (r *Report) checkCertificate(c *x509.Certificate, now time.Time, within time.Duration) {
	ref := certRef(c)
	r.checkValidity(c, ref, now, within)
	r.checkKey(c, ref)
	if !selfSigned(c) && isWeakSignature(c.SignatureAlgorithm) {
		r.add(Finding{Severity: SeverityError, Check: "signature", Certificate: ref,
			Problem: fmt.Sprintf("the certificate is signed with %s, which is broken for collision resistance; Go rejects it (\"insecure algorithm\")", c.SignatureAlgorithm),
			Fix:     "issue it again with a SHA-256 signature"})
	}
	r.checkSerial(c, ref)
}

func (r *Report) checkValidity(c *x509.Certificate, ref string, now time.Time, within time.Duration) {
	switch {
	case now.Before(c.NotBefore) && c.NotBefore.Sub(now) <= skewWindow:
		r.add(Finding{Severity: SeverityError, Check: "validity", Certificate: ref,
			Problem: fmt.Sprintf("the certificate becomes valid only at %s, in %s: the issuing machine's clock runs ahead of this one, and notBefore was not backdated", c.NotBefore.Format(time.RFC3339), c.NotBefore.Sub(now).Round(time.Second)),
			Fix:     "synchronise the clocks (NTP), and issue certificates with notBefore a few minutes in the past ('mtls pki issue' backdates by 5 minutes)"})
	case now.Before(c.NotBefore):
		r.add(Finding{Severity: SeverityError, Check: "validity", Certificate: ref,
			Problem: fmt.Sprintf("the certificate is not valid until %s", c.NotBefore.Format(time.RFC3339)),
			Fix:     "check this machine's clock, or issue a certificate valid from now"})
	case now.After(c.NotAfter):
		r.add(Finding{Severity: SeverityError, Check: "validity", Certificate: ref,
			Problem: fmt.Sprintf("the certificate expired at %s", c.NotAfter.Format(time.RFC3339)),
			Fix:     "issue a new certificate"})
	case within > 0 && now.Add(within).After(c.NotAfter):
		r.add(Finding{Severity: SeverityWarning, Check: "validity", Certificate: ref,
			Problem: fmt.Sprintf("the certificate expires at %s, in %d days", c.NotAfter.Format(time.RFC3339), int(c.NotAfter.Sub(now).Round(24*time.Hour)/(24*time.Hour))),
			Fix:     "renew it before then"})
	}
}

func (r *Report) checkKey(c *x509.Certificate, ref string) {
	switch k := c.PublicKey.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < minRSABits {
			r.add(Finding{Severity: SeverityError, Check: "key-size", Certificate: ref,
				Problem: fmt.Sprintf("the RSA key has %d bits, fewer than the %d that NIST and the CA/Browser Forum require; Go still accepts it, other stacks may not", k.N.BitLen(), minRSABits),
				Fix:     "issue a new certificate with an ECDSA P-256 key (the default) or RSA of 2048 bits or more"})
		}
	case *ecdsa.PublicKey:
		switch k.Curve.Params().BitSize {
		case 256, 384, 521:
		default:
			r.add(Finding{Severity: SeverityError, Check: "key-type", Certificate: ref,
				Problem: fmt.Sprintf("the ECDSA key is on %s, for which TLS 1.3 has no signature scheme, so a handshake with it fails", k.Curve.Params().Name),
				Fix:     "issue a new certificate with an ECDSA P-256 or P-384 key"})
		}
	case ed25519.PublicKey:
		r.add(Finding{Severity: SeverityInfo, Check: "key-type", Certificate: ref,
			Problem: "the key is Ed25519: Go, OpenSSL 1.1.1 and later and Java 15 and later support it, older stacks and many hardware modules do not"})
	default:
		r.add(Finding{Severity: SeverityError, Check: "key-type", Certificate: ref,
			Problem: fmt.Sprintf("the certificate's key type %s is not usable for TLS", pki.DescribeKey(c.PublicKey)),
			Fix:     "issue a new certificate with an ECDSA P-256 key"})
	}
}

func (r *Report) checkSerial(c *x509.Certificate, ref string) {
	serial := c.SerialNumber
	switch {
	case serial.Sign() <= 0:
		r.add(Finding{Severity: SeverityError, Check: "serial", Certificate: ref,
			Problem: "the serial number is zero or negative, which RFC 5280 forbids",
			Fix:     "issue a new certificate with a positive random serial number"})
	case len(serial.Bytes()) > maxSerialOctets:
		r.add(Finding{Severity: SeverityError, Check: "serial", Certificate: ref,
			Problem: fmt.Sprintf("the serial number has %d octets, more than the %d RFC 5280 allows", len(serial.Bytes()), maxSerialOctets),
			Fix:     "issue a new certificate with a serial of at most 20 octets"})
	case serial.BitLen() < minSerialBits:
		r.add(Finding{Severity: SeverityWarning, Check: "serial", Certificate: ref,
			Problem: fmt.Sprintf("the serial number has only %d bits: serials should carry at least %d random bits so they are unique and unpredictable", serial.BitLen(), minSerialBits),
			Fix:     "issue certificates with random serial numbers ('mtls pki issue' uses 128 bits)"})
	}
}

func (r *Report) checkCA(source string, c *x509.Certificate, now time.Time, within time.Duration) {
	ref := certRef(c)
	if !c.BasicConstraintsValid || !c.IsCA {
		r.add(Finding{Severity: SeverityError, Check: "ca-constraints", Certificate: ref,
			Problem: fmt.Sprintf("the %s certificate is not a CA (basic constraints CA:TRUE missing), so certificates it signed do not verify", source),
			Fix:     "use a CA certificate with basic constraints CA:TRUE"})
	}
	if c.KeyUsage != 0 && c.KeyUsage&x509.KeyUsageCertSign == 0 {
		r.add(Finding{Severity: SeverityError, Check: "ca-key-usage", Certificate: ref,
			Problem: fmt.Sprintf("the %s certificate's key usage lacks keyCertSign, so certificates it signed do not verify (\"parent certificate cannot sign this kind of certificate\")", source),
			Fix:     "create the CA with key usage keyCertSign and cRLSign"})
	}
	r.checkCertificate(c, now, within)
}

func selfSigned(c *x509.Certificate) bool {
	return bytes.Equal(c.RawIssuer, c.RawSubject) && c.CheckSignatureFrom(c) == nil
}

func isWeakSignature(alg x509.SignatureAlgorithm) bool {
	switch alg {
	case x509.MD2WithRSA, x509.MD5WithRSA, x509.SHA1WithRSA, x509.DSAWithSHA1, x509.ECDSAWithSHA1:
		return true
	}
	return false
}

// checkChain verifies our chain against the peer's truststore, at a time
// inside the leaf's validity and for any usage, since checkLeaf and
// checkValidity report those problems on their own.
func (r *Report) checkChain(opts Options, m *material, now time.Time) {
	at := now
	if at.Before(m.leaf.NotBefore) {
		at = m.leaf.NotBefore
	}
	if at.After(m.leaf.NotAfter) {
		at = m.leaf.NotAfter
	}

	inter := x509.NewCertPool()
	for _, c := range m.inter {
		inter.AddCert(c)
	}
	_, err := m.leaf.Verify(x509.VerifyOptions{Roots: m.peerTrust.Pool(), Intermediates: inter, CurrentTime: at, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	if err == nil {
		return
	}

	ref := certRef(m.leaf)
	f := Finding{Severity: SeverityError, Check: "chain", Certificate: ref,
		Problem: "the certificate does not verify against the truststore: " + err.Error(),
		Fix:     "issue the certificate from the CA in the truststore, or put its CA in the truststore"}
	var unknown x509.UnknownAuthorityError
	issuer := m.leaf.Issuer.String()
	switch {
	case strings.Contains(err.Error(), "verification failure") || strings.Contains(err.Error(), "verification error"):
		f.Problem = fmt.Sprintf("the truststore holds a CA named %q, but not the one that signed this certificate (same name, different key): the CA was probably created again", issuer)
		f.Fix = "use the current CA certificate in the truststore, or reissue this certificate from the CA in the truststore"
	case errors.As(err, &unknown) && len(m.inter) == 0 && !selfSigned(m.leaf):
		f.Problem = fmt.Sprintf("the certificate is issued by %q, which is not in the truststore, and the keystore has no intermediate CA certificates: if %q is an intermediate CA, the peer needs it sent along", issuer, issuer)
		f.Fix = "append the intermediate CA certificate to the certificate file (leaf first), or put the issuing CA in the truststore"
	case strings.Contains(err.Error(), "cannot sign this kind of certificate") || strings.Contains(err.Error(), "not authorized to sign"):
		f.Problem = "a certificate in the chain is not allowed to sign certificates (no CA:TRUE, or no keyCertSign): " + err.Error()
		f.Fix = "sign certificates only with a CA certificate that has CA:TRUE and keyCertSign"
	}
	if opts.PeerTruststore.File == "" {
		f.Problem += "; this check assumes one CA signs both sides (give --peer-ca otherwise)"
	}
	r.add(f)
}
