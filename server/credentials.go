package server

import (
	"context"
	"crypto/tls"
	"net"
	"time"

	"google.golang.org/grpc/credentials"

	"github.com/grpc-mtls/grpc-mtls/pki"
)

// Peer is the verified client of a connection.
type Peer struct {
	// Identity comes from the client's leaf certificate, which crypto/tls
	// has verified against the server's truststore. It is the zero value
	// for an anonymous client in migration mode (see Peer.Anonymous).
	Identity pki.Identity
	// Chain is the verified chain, leaf first, root last.
	Chain      []pki.Identity
	Connection pki.ConnectionInfo
	Addr       net.Addr
}

// AuthInfo is the credentials.AuthInfo of connections accepted by New. It
// embeds the standard TLSInfo and adds the client identity, computed once
// per connection rather than once per call.
type AuthInfo struct {
	credentials.TLSInfo
	Peer Peer
}

// HandshakeFailure describes a connection whose TLS handshake failed.
type HandshakeFailure struct {
	Addr      net.Addr
	Err       error
	Diagnosis pki.Diagnosis
	// Duration is how long the handshake ran before it failed.
	Duration time.Duration
}

// HandshakeSuccess describes a connection whose TLS handshake succeeded.
type HandshakeSuccess struct {
	Peer Peer
	// Duration is how long the handshake took.
	Duration time.Duration
}

// transportCredentials wraps gRPC's TLS credentials to report failed
// handshakes, which grpc-go otherwise drops without a trace on the server,
// and to attach the verified Peer to each connection.
type transportCredentials struct {
	credentials.TransportCredentials
	onFailure func(HandshakeFailure)
	onSuccess func(HandshakeSuccess)
	migration *Migration
}

func newTransportCredentials(cfg *tls.Config, onFailure func(HandshakeFailure), onSuccess func(HandshakeSuccess), migration *Migration) credentials.TransportCredentials {
	return &transportCredentials{TransportCredentials: credentials.NewTLS(cfg), onFailure: onFailure, onSuccess: onSuccess, migration: migration}
}

func (c *transportCredentials) ServerHandshake(raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	start := time.Now()
	conn, info, err := c.TransportCredentials.ServerHandshake(raw)
	if err != nil {
		if c.onFailure != nil {
			c.onFailure(HandshakeFailure{Addr: raw.RemoteAddr(), Err: err, Diagnosis: pki.Diagnose(err, pki.RoleServer), Duration: time.Since(start)})
		}
		return nil, nil, err
	}
	tlsInfo, ok := info.(credentials.TLSInfo)
	if !ok {
		return conn, info, nil
	}
	p := peerOf(tlsInfo.State, raw.RemoteAddr())
	if p.Anonymous() {
		c.migration.recordConnection(p.Addr)
	}
	if c.onSuccess != nil {
		c.onSuccess(HandshakeSuccess{Peer: p, Duration: time.Since(start)})
	}
	return conn, AuthInfo{TLSInfo: tlsInfo, Peer: p}, nil
}

func (c *transportCredentials) ClientHandshake(ctx context.Context, authority string, raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return c.TransportCredentials.ClientHandshake(ctx, authority, raw)
}

func (c *transportCredentials) Clone() credentials.TransportCredentials {
	return &transportCredentials{TransportCredentials: c.TransportCredentials.Clone(), onFailure: c.onFailure, onSuccess: c.onSuccess, migration: c.migration}
}

func peerOf(state tls.ConnectionState, addr net.Addr) Peer {
	p := Peer{Connection: pki.ConnectionInfoOf(state), Addr: addr}
	if len(state.VerifiedChains) > 0 && len(state.VerifiedChains[0]) > 0 {
		chain := state.VerifiedChains[0]
		p.Identity = pki.IdentityOf(chain[0])
		for _, c := range chain {
			p.Chain = append(p.Chain, pki.IdentityOf(c))
		}
	}
	return p
}
