package pki

import (
	"crypto/ecdsa"
	"fmt"
)

// clientCertificate explains a handshake without a client certificate,
// which both sides see differently.
func (c *cause) clientCertificate() (Diagnosis, bool) {
	switch {
	case c.has("didn't provide a certificate", "client didn't provide"):
		return Diagnosis{Reason: ReasonNoClientCertificate, Side: string(RoleServer),
			Summary: "The client sent no certificate, and this server requires one. Either the client has none configured, or its certificate is not issued by a CA in this server's truststore: a Go client (grpc-go, grpcurl) sends its certificate only when the certificate or an intermediate it sends is issued by a CA the server lists as acceptable.",
			Fix:     "configure the client's certificate and key; if it has them, add the CA that issued them to this server's truststore, or have the client append its intermediate CA certificate to its certificate file."}, true
	case !c.has("tls: certificate required"):
		return Diagnosis{}, false
	}
	leaf := c.m.leaf()
	if leaf == nil {
		return Diagnosis{Reason: ReasonNoClientCertificate, Side: string(RoleServer),
			Summary: "The server requires a client certificate, and we have none configured, so we sent none. With TLS 1.3 this shows only at the first call.",
			Fix:     "give the client its certificate and key (--cert/--key or --keystore)."}, true
	}
	return Diagnosis{Reason: ReasonNoClientCertificate, Side: string(RoleServer), Certificate: c.ours(),
		Summary: fmt.Sprintf("The server requires a client certificate, and ours was not sent: a Go client sends its certificate only when it, or an intermediate sent with it, is issued by a CA the server accepts, and the server does not accept our issuer %q.", leaf.Issuer.String()),
		Fix:     "add the CA that issued our certificate to the server's truststore; if our issuer is an intermediate CA, append its certificate to our certificate file. 'mtls doctor --addr' lists the CAs the server accepts."}, true
}

// alerts explains the TLS alerts a peer sends when it rejects us.
func (c *cause) alerts() (Diagnosis, bool) {
	local, peer := c.local, c.peer
	switch {
	case c.has("remote error: tls: unknown certificate authority"):
		return Diagnosis{Reason: ReasonPeerRejectedAuthority, Side: string(peer), Certificate: c.ours(),
			Summary: fmt.Sprintf("The %s does not trust the CA that signed our certificate.", peer),
			Fix:     fmt.Sprintf("add our CA to the %s's truststore, or use a certificate from a CA the %s trusts.", peer, peer)}, true
	case c.has("remote error: tls: expired certificate"):
		return Diagnosis{Reason: ReasonPeerRejectedExpired, Side: string(peer), Certificate: c.ours(),
			Summary: fmt.Sprintf("The %s rejected our certificate because it has expired or is not valid yet.", peer),
			Fix:     "issue a new certificate for this side, and check the clocks."}, true
	case c.has("remote error: tls: bad certificate", "remote error: tls: unsupported certificate"):
		d := Diagnosis{Reason: ReasonPeerRejectedCert, Side: string(peer), Certificate: c.ours(),
			Summary: "The server rejected our certificate.",
			Fix:     "read the server's log for the reason: usually a missing clientAuth extended key usage, an identity the server does not allow, or a revoked certificate."}
		if local == RoleServer {
			d.Summary = "The client rejected our certificate."
			d.Fix = "read the client's error for the reason: usually a CA it does not trust, a name it expected that our certificate lacks, an expired certificate or a missing serverAuth extended key usage."
		}
		return d, true
	case c.has("remote error: tls: error decoding message", "remote error: tls: decode error"):
		return Diagnosis{Reason: ReasonPeerRejectedCert, Side: string(peer), Certificate: c.ours(),
			Summary: fmt.Sprintf("The %s could not decode a handshake message from us, usually because it cannot parse our certificate.", peer),
			Fix:     fmt.Sprintf("check our certificate with 'mtls doctor'; the %s's log names the parse error.", peer)}, true
	case c.has("unsupported certificate curve", "does not support any of the") || local == RoleServer && c.has("no supported signature") || c.hasUnsupportedCurve():
		return Diagnosis{Reason: ReasonUnsupportedKey, Side: string(local), Certificate: c.ours(),
			Summary: "Our certificate's key cannot sign a TLS 1.3 handshake: its type or curve (such as P-224) has no TLS signature scheme.",
			Fix:     "issue our certificate with an ECDSA P-256 or P-384, Ed25519 or RSA (2048 bits or more) key."}, true
	case c.has("remote error: tls: handshake failure"):
		return Diagnosis{Reason: ReasonHandshakeFailure, Side: string(peer),
			Summary: fmt.Sprintf("The %s aborted the handshake because the two sides share no usable parameters, often because the %s's key type or curve (such as P-224) has no TLS 1.3 signature scheme.", peer, peer),
			Fix:     fmt.Sprintf("read the %s's log; 'mtls doctor' on the %s's files reports an unsupported key.", peer, peer)}, true
	}
	return Diagnosis{}, false
}

// hasUnsupportedCurve reports a local key on a curve TLS cannot use,
// when the error is a generic handshake failure.
func (c *cause) hasUnsupportedCurve() bool {
	if !c.has("handshake failure") || c.m.Keystore == nil {
		return false
	}
	k, ok := c.m.Keystore.Key.Public().(*ecdsa.PublicKey)
	return ok && k.Curve.Params().BitSize == 224
}

// protocol explains mismatches below the certificates: TLS versions,
// TLS against plaintext and ALPN.
func (c *cause) protocol() (Diagnosis, bool) {
	local := string(c.local)
	switch {
	case c.has("protocol version not supported", "offered only unsupported versions", "unsupported versions"):
		return Diagnosis{Reason: ReasonVersionMismatch, Side: string(RoleServer),
			Summary: "The two sides have no TLS version in common: the client offers at most TLS 1.2, and the server accepts only TLS 1.3.",
			Fix:     "let the client use TLS 1.3, or, if it cannot, allow TLS 1.2 on the server (--tls12)."}, true
	case c.has("plaintext server received a TLS handshake"):
		return Diagnosis{Reason: ReasonNotTLS, Side: local,
			Summary: "A TLS client connected to this plaintext port.",
			Fix:     "point TLS clients at the TLS port, or serve TLS on this one."}, true
	case c.has("first record does not look like a TLS handshake", "server gave HTTP response"):
		if c.local == RoleServer {
			return Diagnosis{Reason: ReasonNotTLS, Side: local,
				Summary: "The client does not speak TLS: it sent plaintext (an HTTP/2 preface from a client such as 'grpcurl -plaintext') to this TLS port.",
				Fix:     "make the client use TLS with its certificate; plaintext clients cannot reach an mTLS port."}, true
		}
		return Diagnosis{Reason: ReasonNotTLS, Side: local,
			Summary: "The server does not speak TLS on this port: it answered with plaintext (a plaintext gRPC server sends HTTP/2 frames).",
			Fix:     "point the client at the server's TLS port, or enable TLS on the server."}, true
	case c.has("missing selected ALPN property"):
		if c.local == RoleServer {
			return Diagnosis{Reason: ReasonALPN, Side: local,
				Summary: "The client completed TLS without offering ALPN \"h2\", so it does not speak HTTP/2, which gRPC requires.",
				Fix:     "use a gRPC client; a hand-built tls.Config needs NextProtos: [\"h2\"]."}, true
		}
		return Diagnosis{Reason: ReasonALPN, Side: local,
			Summary: "The server completed TLS without selecting ALPN \"h2\", so it is not a gRPC server, or a proxy in front of it does not pass HTTP/2 through.",
			Fix:     "connect to the gRPC server directly, or configure the proxy to negotiate ALPN h2 (HTTP/2) with clients."}, true
	case c.has("no application protocol", "unsupported application protocols", "ALPN"):
		return Diagnosis{Reason: ReasonALPN, Side: local,
			Summary: "The two sides did not agree on HTTP/2 (ALPN \"h2\"), which gRPC requires.",
			Fix:     "make the client offer ALPN h2: gRPC clients do this themselves, a hand-built tls.Config needs NextProtos: [\"h2\"]."}, true
	}
	return Diagnosis{}, false
}

// transport explains connection-level failures with no TLS detail.
func (c *cause) transport() (Diagnosis, bool) {
	local, peer := string(c.local), c.peer
	switch {
	case c.has("connection refused"):
		return Diagnosis{Reason: ReasonConnectionRefused, Side: local,
			Summary: "Nothing is listening at that address.",
			Fix:     "start the server, or check the address and port."}, true
	case c.has("i/o timeout", "deadline exceeded", "DeadlineExceeded"):
		return Diagnosis{Reason: ReasonHandshakeTimeout, Side: local,
			Summary: "The connection or handshake did not finish in time.",
			Fix:     "check that the address is right and the server is up, and raise --timeout if the network is slow."}, true
	case c.has("error reading server preface", "closed before server preface"):
		return Diagnosis{Reason: ReasonPeerClosed, Side: string(peer),
			Summary: "The server closed the connection before its HTTP/2 preface arrived: typically a client without TLS (grpcurl -plaintext, insecure credentials) on a TLS port, or a TLS 1.3 rejection that this client could not read.",
			Fix:     "use TLS with a client certificate, and read the server's log for the reason it closed the connection."}, true
	case c.has("EOF", "connection reset", "broken pipe"):
		return Diagnosis{Reason: ReasonPeerClosed, Side: string(peer),
			Summary: fmt.Sprintf("The %s closed the connection during or right after the handshake.", peer),
			Fix:     fmt.Sprintf("read the %s's log: with TLS 1.3 this is often a certificate or protocol the %s rejected.", peer, peer)}, true
	}
	return Diagnosis{}, false
}
