package server

import (
	"context"
	"net"
	"testing"

	"google.golang.org/grpc"
	grpcpeer "google.golang.org/grpc/peer"

	"github.com/grpc-mtls/grpc-mtls/pki"
	"github.com/grpc-mtls/grpc-mtls/pki/pkitest"
)

// benchmarkContext returns the context an RPC handler receives on a verified
// mTLS connection, without the network.
func benchmarkContext(b *testing.B) context.Context {
	ca := pkitest.NewCA(b)
	leaf := ca.Client(b, "bench")
	peer := Peer{Identity: pki.IdentityOf(leaf.Cert), Addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 50000}}
	return grpcpeer.NewContext(context.Background(), &grpcpeer.Peer{Addr: peer.Addr, AuthInfo: AuthInfo{Peer: peer}})
}

func BenchmarkUnaryInterceptor(b *testing.B) {
	ctx := benchmarkContext(b)
	info := &grpc.UnaryServerInfo{FullMethod: "/mtls.v1.DemoService/Echo"}
	handler := func(ctx context.Context, req any) (any, error) {
		if _, ok := PeerFromContext(ctx); !ok {
			b.Fatal("handler: no peer in context")
		}
		return req, nil
	}
	for _, bc := range []struct {
		name string
		opts Options
	}{
		{"hook=none", Options{}},
		{"hook=noop", Options{OnCall: func(CallInfo) {}}},
		{"hook=noop/authorizer=allow", Options{OnCall: func(CallInfo) {}, Authorizer: allowAll{}}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			intercept := newGate(bc.opts).unary()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := intercept(ctx, "req", info, handler); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// allowAll admits every caller, so a benchmark shows what the gate itself
// costs when an Authorizer is set.
type allowAll struct{}

func (allowAll) Authorize(p Peer, _ string) Decision {
	return Decision{Allowed: true, Principal: p.Name()}
}

type benchStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *benchStream) Context() context.Context { return s.ctx }

func BenchmarkStreamInterceptor(b *testing.B) {
	ss := &benchStream{ctx: benchmarkContext(b)}
	info := &grpc.StreamServerInfo{FullMethod: "/mtls.v1.DemoService/EchoStream"}
	handler := func(_ any, stream grpc.ServerStream) error {
		if _, ok := PeerFromContext(stream.Context()); !ok {
			b.Fatal("handler: no peer in context")
		}
		return nil
	}
	intercept := newGate(Options{OnCall: func(CallInfo) {}}).stream()
	b.ReportAllocs()
	for b.Loop() {
		if err := intercept(nil, ss, info, handler); err != nil {
			b.Fatal(err)
		}
	}
}
