package doctor

import (
	"context"
	"crypto/x509"
	"time"

	"github.com/grpc-mtls/grpc-mtls/pki"
)

// Severity ranks a finding.
type Severity string

// Severities, from worst to mildest. Only errors make HasErrors true.
const (
	SeverityError   Severity = "error"
	SeverityWarning Severity = "warning"
	SeverityInfo    Severity = "info"
)

// Finding is one problem, or one fact worth knowing.
type Finding struct {
	Severity Severity `json:"severity"`
	// Check is a stable identifier of the check, such as "chain" or
	// "lint:e_rsa_mod_less_than_2048_bits".
	Check string `json:"check"`
	// Certificate is the subject and serial of the certificate concerned,
	// when there is one.
	Certificate string `json:"certificate,omitempty"`
	// Problem describes what is wrong.
	Problem string `json:"problem"`
	// Fix is the next step to take.
	Fix string `json:"fix,omitempty"`
}

// Options configures Check. Role, and Keystore or Addr, are required.
type Options struct {
	// Role is the side the keystore belongs to.
	Role       pki.Role
	Keystore   pki.KeystoreSource
	Truststore pki.TruststoreSource
	// PeerTruststore is the truststore of the other side, against which
	// our chain is built. By default it is Truststore, which is right
	// when one CA signs both sides' certificates.
	PeerTruststore pki.TruststoreSource
	// Names are the names this side is reached at (DNS names, IP
	// addresses) or, for a client, the identities (URI SANs such as
	// SPIFFE IDs) the server expects. Each must be in the certificate.
	Names []string
	// Within warns about certificates that expire within this period.
	Within time.Duration
	// NoLint skips the zlint checks.
	NoLint bool
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	// Addr, for the client role, is a server to connect to.
	Addr string
	// ServerName is the name expected in the server's certificate;
	// default the host of Addr.
	ServerName string
	// Timeout bounds the connection checks; default 10 seconds.
	Timeout time.Duration
}

// Report is the result of Check.
type Report struct {
	Role     pki.Role  `json:"role"`
	Findings []Finding `json:"findings"`
	// Certificates are the ones checked: our chain, then the
	// truststore's CAs.
	Certificates []CertificateSummary `json:"certificates"`
	// Connection is set when Options.Addr was given.
	Connection *Connection `json:"connection,omitempty"`
}

// CertificateSummary describes a checked certificate.
type CertificateSummary struct {
	// Source is the origin: "keystore", "truststore" or "peer".
	Source    string    `json:"source"`
	Subject   string    `json:"subject"`
	Issuer    string    `json:"issuer"`
	Serial    string    `json:"serial"`
	SANs      []string  `json:"sans,omitempty"`
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
	Key       string    `json:"key"`
}

func summarize(source string, c *x509.Certificate) CertificateSummary {
	id := pki.IdentityOf(c)
	return CertificateSummary{Source: source, Subject: id.Subject, Issuer: id.Issuer, Serial: id.Serial, SANs: id.SANs(),
		NotBefore: id.NotBefore, NotAfter: id.NotAfter, Key: id.KeyType}
}

// HasErrors reports whether any finding has error severity.
func (r *Report) HasErrors() bool { return r.count(SeverityError) > 0 }

func (r *Report) count(s Severity) int {
	n := 0
	for _, f := range r.Findings {
		if f.Severity == s {
			n++
		}
	}
	return n
}

func (r *Report) add(f Finding) { r.Findings = append(r.Findings, f) }

// Check runs every offline check and, with opts.Addr, the connection
// checks. Every problem, including files that do not load, becomes a
// finding, so Check has no error result.
func Check(ctx context.Context, opts Options) *Report {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	r := &Report{Role: opts.Role}
	m := r.load(opts)
	r.checkMaterial(opts, m)
	if !opts.NoLint {
		r.lint(m)
	}
	if opts.Addr != "" {
		r.connect(ctx, opts, m)
	}
	return r
}

func certRef(c *x509.Certificate) string {
	if c == nil {
		return ""
	}
	return c.Subject.String() + " (serial " + pki.IdentityOf(c).Serial + ")"
}
