package pki

import (
	"crypto/tls"
	"errors"
)

// TLSOptions adjusts the TLS settings shared by server and client. The
// zero value is the recommended setting.
type TLSOptions struct {
	// AllowTLS12 lowers the minimum version from TLS 1.3 to TLS 1.2, for
	// peers that cannot speak TLS 1.3. TLS 1.3 encrypts the certificates
	// in the handshake and drops every legacy cipher suite, so leave it
	// off unless a peer needs it.
	AllowTLS12 bool
	// DisableSessionResumption turns off TLS session tickets on the server
	// and the session cache on the client, so every connection makes a
	// full handshake.
	DisableSessionResumption bool
	// AllowMissingClientCert makes the server verify a client certificate
	// only if the client sends one (tls.VerifyClientCertIfGiven), so that
	// clients without one still connect. It is for migrating a running
	// service to mutual TLS, together with server.Migration, and weakens
	// the server until it is turned off again.
	AllowMissingClientCert bool
}

func (o TLSOptions) clientAuth() tls.ClientAuthType {
	if o.AllowMissingClientCert {
		return tls.VerifyClientCertIfGiven
	}
	return tls.RequireAndVerifyClientCert
}

func (o TLSOptions) minVersion() uint16 {
	if o.AllowTLS12 {
		return tls.VersionTLS12
	}
	return tls.VersionTLS13
}

// ServerTLSConfig returns the server side of mutual TLS: it presents ks and
// requires every client to present a certificate that chains to a CA in
// ts and carries the clientAuth extended key usage.
func ServerTLSConfig(ks *Keystore, ts *Truststore, opts TLSOptions) (*tls.Config, error) {
	if ks == nil || ts == nil {
		return nil, errors.New("server TLS config: a keystore and a truststore are both required")
	}
	return &tls.Config{
		Certificates: []tls.Certificate{ks.TLSCertificate()},

		// The heart of mTLS: a client without a certificate, or with one
		// that does not verify against ClientCAs, fails the handshake.
		// Only AllowMissingClientCert admits clients without one.
		ClientAuth: opts.clientAuth(),
		ClientCAs:  ts.Pool(),

		MinVersion:             opts.minVersion(),
		SessionTicketsDisabled: opts.DisableSessionResumption,
	}, nil
}

// ClientTLSConfig returns the client side of mutual TLS: it presents ks,
// trusts only the CAs in ts and checks that the server's certificate is
// valid for serverName. An empty serverName makes gRPC use the host part
// of the address it dials.
func ClientTLSConfig(ks *Keystore, ts *Truststore, serverName string, opts TLSOptions) (*tls.Config, error) {
	if ts == nil {
		return nil, errors.New("client TLS config: a truststore is required to verify the server")
	}
	cfg := &tls.Config{
		RootCAs:    ts.Pool(),
		ServerName: serverName,
		MinVersion: opts.minVersion(),
	}
	if ks != nil {
		cert := ks.TLSCertificate()
		cfg.Certificates = []tls.Certificate{cert}
		// Present the certificate even when the server's list of
		// acceptable CAs does not name its issuer. With Certificates alone,
		// crypto/tls would then send no certificate, and the server would
		// report a missing certificate instead of the CA it does not trust.
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return &cert, nil
		}
	}
	if !opts.DisableSessionResumption {
		// Resumed TLS 1.3 sessions skip the certificate signatures, and
		// crypto/tls keeps the verified peer chain in the session, so the
		// peer's identity stays available.
		// NOTE: Go resumes with a fresh X25519MLKEM768 key exchange, so a
		// resumed handshake still costs about three quarters of the CPU time
		// of a full one with ECDSA P-256 keys (docs/BENCHMARKS.md).
		cfg.ClientSessionCache = tls.NewLRUClientSessionCache(0)
	}
	return cfg, nil
}
