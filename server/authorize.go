package server

import (
	"context"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Authorizer decides whether a caller may call a method. Being signed by a
// trusted CA proves who a client is; an Authorizer decides what that
// client may do. Implementations must be safe for concurrent use. Package
// server/authz provides one driven by a policy.
type Authorizer interface {
	// Authorize returns the decision for peer calling fullMethod, which
	// has the form "/package.Service/Method".
	Authorize(peer Peer, fullMethod string) Decision
}

// Decision is an Authorizer's verdict on one call.
type Decision struct {
	Allowed bool
	// Principal is the caller as the deciding rule saw it, such as a
	// SPIFFE ID, or the caller's most specific name when no rule matched.
	Principal string
	// Rule describes the rule that decided, and is empty when no rule
	// matched.
	Rule string
	// Reason explains a denial in words, such as "no rule matched".
	Reason string
}

// Denial describes a call that the Authorizer rejected with
// codes.PermissionDenied.
type Denial struct {
	Method   string
	Peer     Peer
	Decision Decision
}

// Migration configures migration mode, for moving a running service to
// mutual TLS: clients that present a certificate must pass verification
// as usual, and clients that present none are admitted as anonymous
// callers, counted and reported. The server's tls.Config must then use
// tls.VerifyClientCertIfGiven (pki.TLSOptions.AllowMissingClientCert),
// since RequireAndVerifyClientCert rejects such clients in the handshake.
//
// An Authorizer receives anonymous callers too. A policy from package
// server/authz denies them unless a rule names "anonymous".
type Migration struct {
	// OnAnonymousConnection is called for each accepted connection whose
	// client presented no certificate, from the connection's goroutine.
	OnAnonymousConnection func(addr net.Addr)

	connections atomic.Int64
	calls       atomic.Int64
}

// AnonymousConnections returns how many connections without a client
// certificate the server has accepted.
func (m *Migration) AnonymousConnections() int64 { return m.connections.Load() }

// AnonymousCalls returns how many calls without a client certificate
// reached the authorization step.
func (m *Migration) AnonymousCalls() int64 { return m.calls.Load() }

func (m *Migration) recordConnection(addr net.Addr) {
	if m == nil {
		return
	}
	m.connections.Add(1)
	if m.OnAnonymousConnection != nil {
		m.OnAnonymousConnection(addr)
	}
}

// Anonymous reports whether the caller presented no certificate, which a
// server admits only in migration mode.
func (p Peer) Anonymous() bool { return p.Identity.Certificate == nil }

// Name returns the caller's most specific name (see pki.Identity.Name), or
// "anonymous" for a caller without a certificate.
func (p Peer) Name() string {
	if p.Anonymous() {
		return "anonymous"
	}
	return p.Identity.Name()
}

type decisionKey struct{}

// DecisionFromContext returns the authorization decision that let the
// current call through. It reports false when the server has no
// Authorizer.
func DecisionFromContext(ctx context.Context) (Decision, bool) {
	d, ok := ctx.Value(decisionKey{}).(Decision)
	return d, ok
}

// gate admits calls: it finds the caller, applies the Authorizer and
// reports the outcome through the hooks in Options.
type gate struct {
	authorizer Authorizer
	migration  *Migration
	onDenied   func(Denial)
	onCall     func(CallInfo)
}

func newGate(opts Options) *gate {
	return &gate{authorizer: opts.Authorizer, migration: opts.Migration, onDenied: opts.OnPermissionDenied, onCall: opts.OnCall}
}

// admit returns the context the handler runs with, or the status error
// that ends the call before the handler.
func (g *gate) admit(ctx context.Context, method string) (context.Context, Peer, error) {
	p, ok := peerFromGRPC(ctx)
	if !ok {
		return nil, Peer{}, status.Error(codes.Unauthenticated, "no verified client certificate on this connection")
	}
	if p.Anonymous() {
		if g.migration == nil {
			// Unreachable with RequireAndVerifyClientCert, and kept as a
			// second line of defence if the TLS config is ever weakened.
			return nil, p, status.Error(codes.Unauthenticated, "no verified client certificate on this connection")
		}
		g.migration.calls.Add(1)
		// PeerFromContext finds a verified peer on the connection, but
		// an anonymous one only in the context.
		ctx = ContextWithPeer(ctx, p)
	}
	if g.authorizer == nil {
		return ctx, p, nil
	}
	d := g.authorizer.Authorize(p, method)
	if !d.Allowed {
		if g.onDenied != nil {
			g.onDenied(Denial{Method: method, Peer: p, Decision: d})
		}
		return nil, p, status.Error(codes.PermissionDenied, fmt.Sprintf("%s may not call %s: %s", d.Principal, method, d.Reason))
	}
	return context.WithValue(ctx, decisionKey{}, d), p, nil
}

// clock returns the start time of a call, or the zero time when no OnCall
// hook needs the duration.
func (g *gate) clock() time.Time {
	if g.onCall == nil {
		return time.Time{}
	}
	return time.Now()
}

func (g *gate) report(method string, p Peer, start time.Time, err error) {
	if g.onCall != nil {
		g.onCall(CallInfo{Method: method, Peer: p, Code: status.Code(err), Err: err, Duration: time.Since(start)})
	}
}

func (g *gate) unary() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		ctx, p, err := g.admit(ctx, info.FullMethod)
		if err != nil {
			return nil, err
		}
		start := g.clock()
		resp, err := handler(ctx, req)
		g.report(info.FullMethod, p, start, err)
		return resp, err
	}
}

func (g *gate) stream() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		ctx, p, err := g.admit(ss.Context(), info.FullMethod)
		if err != nil {
			return err
		}
		if ctx != ss.Context() {
			ss = &peerStream{ServerStream: ss, ctx: ctx}
		}
		start := g.clock()
		err = handler(srv, ss)
		g.report(info.FullMethod, p, start, err)
		return err
	}
}
