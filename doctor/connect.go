package doctor

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/grpc-mtls/grpc-mtls/client"
	"github.com/grpc-mtls/grpc-mtls/pki"
)

// Connection is the doctor's view of the server at Options.Addr.
type Connection struct {
	Addr       string `json:"addr"`
	TLSVersion string `json:"tls_version,omitempty"`
	ALPN       string `json:"alpn,omitempty"`
	// Presented is the chain the server sent, leaf first.
	Presented []CertificateSummary `json:"presented,omitempty"`
	// CertificateRequested reports whether the server asked for a client
	// certificate, and AcceptableCAs the CAs it named as acceptable.
	CertificateRequested bool     `json:"certificate_requested"`
	AcceptableCAs        []string `json:"acceptable_cas,omitempty"`
	// Accepted reports whether a health call with our certificate went
	// through; nil when it was not tried.
	Accepted *bool  `json:"accepted,omitempty"`
	Health   string `json:"health,omitempty"`
	// TLS12 reports whether the server also accepts TLS 1.2.
	TLS12 *bool `json:"tls12_accepted,omitempty"`
}

// firstRecordWait bounds the wait for the server's first bytes after the
// handshake, in which a TLS 1.3 server sends its rejection of our
// certificate or, once it accepted it, its HTTP/2 settings.
const firstRecordWait = 3 * time.Second

func (r *Report) connect(ctx context.Context, opts Options, m *material) {
	conn := &Connection{Addr: opts.Addr}
	r.Connection = conn
	if opts.Role != pki.RoleClient {
		r.add(Finding{Severity: SeverityError, Check: "connect", Problem: "--addr checks a server from the client's side, so it needs --role client and the client's files",
			Fix: "run the doctor with the client's keystore and truststore, or without --addr"})
		return
	}
	if m.trust == nil {
		r.add(Finding{Severity: SeverityError, Check: "connect", Problem: "no usable truststore, so the server's certificate cannot be verified and the connection checks were skipped",
			Fix: "fix the truststore first"})
		return
	}
	timeout := opts.Timeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	material := pki.Material{Keystore: m.keystore, Truststore: m.trust, ServerName: opts.ServerName}
	cfg, err := pki.ClientTLSConfig(m.keystore, m.trust, opts.ServerName, pki.TLSOptions{DisableSessionResumption: true, AllowTLS12: true})
	if err != nil {
		r.add(Finding{Severity: SeverityError, Check: "connect", Problem: err.Error()})
		return
	}
	ok := r.handshake(ctx, opts, cfg, m, material)
	if ok || conn.CertificateRequested {
		// A server that rejected our certificate has still listed the CAs
		// it accepts, and the list often explains the rejection.
		r.checkAcceptableCAs(m)
	}
	if !ok {
		return
	}
	r.health(ctx, opts, cfg, material)
	r.probeTLS12(ctx, opts, cfg)
}

// handshake makes one TLS connection as a gRPC client would and records
// what the server presented and requested. It returns false when the
// handshake or the server's first record failed.
func (r *Report) handshake(ctx context.Context, opts Options, base *tls.Config, m *material, material pki.Material) bool {
	conn := r.Connection
	cfg := base.Clone()
	cfg.NextProtos = []string{"h2"}
	cfg.GetClientCertificate = func(cri *tls.CertificateRequestInfo) (*tls.Certificate, error) {
		conn.CertificateRequested = true
		for _, dn := range cri.AcceptableCAs {
			conn.AcceptableCAs = append(conn.AcceptableCAs, distinguishedName(dn))
		}
		if m.keystore == nil {
			return &tls.Certificate{}, nil
		}
		// Unlike crypto/tls's default, send our certificate even when the
		// server does not list its issuer, to learn whether the server
		// would accept it. checkAcceptableCAs reports the listing.
		c := m.keystore.TLSCertificate()
		return &c, nil
	}

	d := tls.Dialer{Config: cfg}
	raw, err := d.DialContext(ctx, "tcp", opts.Addr)
	if err != nil {
		var verr *tls.CertificateVerificationError
		if errors.As(err, &verr) {
			for _, c := range verr.UnverifiedCertificates {
				conn.Presented = append(conn.Presented, summarize("peer", c))
			}
		}
		r.add(connectFinding("handshake", err, material))
		return false
	}

	tlsConn := raw.(*tls.Conn)
	defer tlsConn.Close()
	state := tlsConn.ConnectionState()
	conn.TLSVersion = tls.VersionName(state.Version)
	conn.ALPN = state.NegotiatedProtocol
	for _, c := range state.PeerCertificates {
		conn.Presented = append(conn.Presented, summarize("peer", c))
	}
	if conn.ALPN != "h2" {
		r.add(Finding{Severity: SeverityError, Check: "alpn",
			Problem: fmt.Sprintf("the server completed TLS without selecting ALPN \"h2\" (selected %q), so gRPC clients refuse the connection; it is not a gRPC server, or a proxy in front of it does not speak HTTP/2", conn.ALPN),
			Fix:     "connect to the gRPC server directly, or configure the proxy for HTTP/2 (ALPN h2)"})
		return false
	}

	_ = tlsConn.SetReadDeadline(time.Now().Add(firstRecordWait))
	_, err = tlsConn.Read(make([]byte, 1))
	var netErr net.Error
	if err != nil && !(errors.As(err, &netErr) && netErr.Timeout()) {
		r.add(connectFinding("client-certificate", err, material))
		return false
	}
	return true
}

// checkAcceptableCAs reports a server that does not list the issuer of
// our certificate: crypto/tls, and so grpc-go and grpcurl, then send no
// certificate at all.
func (r *Report) checkAcceptableCAs(m *material) {
	conn := r.Connection
	switch {
	case !conn.CertificateRequested:
		r.add(Finding{Severity: SeverityWarning, Check: "client-auth", Problem: "the server did not request a client certificate: it does not use mutual TLS",
			Fix: "configure the server to require client certificates (tls.RequireAndVerifyClientCert)"})
		return
	case m.keystore == nil || len(conn.AcceptableCAs) == 0:
		return
	}
	requested := map[string]bool{}
	for _, ca := range conn.AcceptableCAs {
		requested[ca] = true
	}
	for _, c := range append([]*x509.Certificate{m.keystore.Leaf}, m.keystore.Intermediates...) {
		if requested[distinguishedName(c.RawIssuer)] {
			return
		}
	}
	r.add(Finding{Severity: SeverityError, Check: "client-auth", Certificate: certRef(m.keystore.Leaf),
		Problem: fmt.Sprintf("the server accepts client certificates from %s, and none of our chain is issued by one of them; a Go client then sends no certificate and the server reports \"client didn't provide a certificate\"", listOrNone(conn.AcceptableCAs)),
		Fix:     "issue our certificate from a CA the server trusts, add our CA to the server's truststore, or append our intermediate CA certificate to our certificate file"})
}

func (r *Report) health(ctx context.Context, opts Options, cfg *tls.Config, material pki.Material) {
	c, err := client.Dial(opts.Addr, cfg)
	if err != nil {
		r.add(Finding{Severity: SeverityError, Check: "health", Problem: err.Error()})
		return
	}
	defer c.Close()
	st, err := c.Health(ctx, "")
	accepted := err == nil
	r.Connection.Accepted = &accepted
	if err != nil {
		r.add(connectFinding("health", err, material))
		return
	}
	r.Connection.Health = st.String()
}

// probeTLS12 reports whether the server accepts TLS 1.2 clients.
func (r *Report) probeTLS12(ctx context.Context, opts Options, base *tls.Config) {
	cfg := base.Clone()
	cfg.NextProtos = []string{"h2"}
	cfg.MinVersion, cfg.MaxVersion = tls.VersionTLS12, tls.VersionTLS12
	d := tls.Dialer{Config: cfg}
	conn, err := d.DialContext(ctx, "tcp", opts.Addr)
	accepted := err == nil
	r.Connection.TLS12 = &accepted
	if err == nil {
		conn.Close()
		return
	}
	r.add(Finding{Severity: SeverityInfo, Check: "tls12",
		Problem: "the server accepts only TLS 1.3: a client limited to TLS 1.2 fails with \"protocol version not supported\"",
		Fix:     "keep it so if every client speaks TLS 1.3; otherwise start the server with --tls12"})
}

func connectFinding(check string, err error, m pki.Material) Finding {
	d := pki.DiagnoseWith(err, pki.RoleClient, m)
	f := Finding{Severity: SeverityError, Check: check, Problem: fmt.Sprintf("%s (%s: %v)", d.Summary, d.Reason, err), Fix: d.Fix}
	if d.Certificate != nil {
		f.Certificate = d.Certificate.Subject + " (serial " + d.Certificate.Serial + ")"
	}
	return f
}

// distinguishedName formats a DER distinguished name as crypto/x509
// prints subjects.
func distinguishedName(der []byte) string {
	var seq pkix.RDNSequence
	if rest, err := asn1.Unmarshal(der, &seq); err != nil || len(bytes.TrimSpace(rest)) > 0 {
		return fmt.Sprintf("%x", der)
	}
	var name pkix.Name
	name.FillFromRDNSequence(&seq)
	return name.String()
}
