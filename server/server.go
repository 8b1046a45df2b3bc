package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	grpcpeer "google.golang.org/grpc/peer"
	"google.golang.org/grpc/reflection"

	mtlsv1 "github.com/grpc-mtls/grpc-mtls/proto/mtls/v1"
)

// DefaultHandshakeTimeout bounds how long a new connection may take to
// complete its TLS handshake before the server closes it.
const DefaultHandshakeTimeout = 10 * time.Second

// Options configures New. Every field is optional.
type Options struct {
	// HandshakeTimeout defaults to DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration
	// ServerCertificate returns the certificate the server presents, for
	// the WhoAmI reply. Nil leaves that part of the reply empty.
	ServerCertificate func() *x509.Certificate
	// OnHandshakeFailure is called for every connection whose handshake
	// fails, from the connection's goroutine.
	OnHandshakeFailure func(HandshakeFailure)
	// OnHandshakeSuccess is called for every connection whose handshake
	// succeeds, from the connection's goroutine.
	OnHandshakeSuccess func(HandshakeSuccess)
	// Limits bounds handshakes, streams, message sizes and keepalive
	// pings; zero fields take the defaults documented on Limits.
	Limits Limits
	// OnCall is called when an RPC that passed authorization ends.
	OnCall func(CallInfo)
	// Authorizer decides which verified clients may call which methods.
	// Nil admits every client whose certificate verified.
	Authorizer Authorizer
	// OnPermissionDenied is called for every call the Authorizer rejects.
	OnPermissionDenied func(Denial)
	// Migration, when set, admits clients without a certificate as
	// anonymous callers; see Migration. When nil, calls from such clients
	// end with Unauthenticated, and RequireAndVerifyClientCert rejects
	// them in the handshake already.
	Migration *Migration
	// ExtraOptions are appended to the options New passes to grpc.NewServer.
	ExtraOptions []grpc.ServerOption
}

// CallInfo describes a finished RPC.
type CallInfo struct {
	Method   string
	Peer     Peer
	Code     codes.Code
	Err      error
	Duration time.Duration
}

// StreamWorkers is the number of goroutines New keeps for running RPC
// handlers: enough for a burst of calls arriving together on a few
// connections, for an estimated 1 MiB of grown goroutine stacks. Pass
// grpc.NumStreamWorkers in Options.ExtraOptions to choose another number,
// or 0 for a new goroutine per RPC.
const StreamWorkers = 64

// New returns a gRPC server that accepts only mutual TLS connections
// configured by cfg, with the demo service, the health service (reporting
// SERVING) and reflection registered. cfg should come from
// pki.ServerTLSConfig; New does not modify it.
func New(cfg *tls.Config, opts Options) *grpc.Server {
	timeout := opts.HandshakeTimeout
	if timeout == 0 {
		timeout = DefaultHandshakeTimeout
	}
	limits := opts.Limits.WithDefaults()
	creds := newTransportCredentials(cfg, opts.OnHandshakeFailure, opts.OnHandshakeSuccess, opts.Migration)
	serverOpts := []grpc.ServerOption{
		grpc.Creds(newAdmissionCredentials(creds, limits.MaxConcurrentHandshakes, timeout, opts.OnHandshakeFailure)),
		grpc.ConnectionTimeout(timeout),
		grpc.ChainUnaryInterceptor(newGate(opts).unary()),
		grpc.ChainStreamInterceptor(newGate(opts).stream()),
		// Long-lived workers run the handlers, so an RPC does not start on
		// a new goroutine whose small stack must be grown and copied, which
		// took about a fifth of mtls serve's CPU time under load. When all
		// workers are busy, gRPC starts a goroutine as it does without them.
		grpc.NumStreamWorkers(StreamWorkers),
	}
	serverOpts = append(serverOpts, limits.serverOptions()...)
	srv := grpc.NewServer(append(serverOpts, opts.ExtraOptions...)...)

	mtlsv1.RegisterDemoServiceServer(srv, &Service{ServerCertificate: opts.ServerCertificate})
	healthSrv := health.NewServer()
	healthSrv.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	healthSrv.SetServingStatus(mtlsv1.DemoService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(srv, healthSrv)
	reflection.Register(srv)
	return srv
}

type peerKey struct{}

// PeerFromContext returns the verified client of the connection the
// request arrived on. It reports false outside a server built by New,
// unless ctx comes from ContextWithPeer.
func PeerFromContext(ctx context.Context) (Peer, bool) {
	if p, ok := ctx.Value(peerKey{}).(Peer); ok {
		return p, true
	}
	// A verified peer is read from the connection, where the transport
	// credentials stored it once, so calls allocate nothing to find it.
	// The gate puts an admitted anonymous peer into the context instead.
	if p, ok := peerFromGRPC(ctx); ok && !p.Anonymous() {
		return p, true
	}
	return Peer{}, false
}

// ContextWithPeer returns a copy of ctx that carries p, for tests of
// handlers and for servers that build their own interceptor chain.
func ContextWithPeer(ctx context.Context, p Peer) context.Context {
	return context.WithValue(ctx, peerKey{}, p)
}

// peerFromGRPC returns the peer that ServerHandshake attached to the
// connection, anonymous when the client sent no certificate.
func peerFromGRPC(ctx context.Context) (Peer, bool) {
	gp, ok := grpcpeer.FromContext(ctx)
	if !ok {
		return Peer{}, false
	}
	info, ok := gp.AuthInfo.(AuthInfo)
	if !ok {
		return Peer{}, false
	}
	return info.Peer, true
}

type peerStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *peerStream) Context() context.Context { return s.ctx }
