package bench

import (
	"context"
	"errors"
	"io"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/grpc-mtls/grpc-mtls/client"
	"github.com/grpc-mtls/grpc-mtls/pki"
	mtlsv1 "github.com/grpc-mtls/grpc-mtls/proto/mtls/v1"
	"github.com/grpc-mtls/grpc-mtls/server"
)

// transports are the two ways the RPC benchmarks reach the same server:
// mutual TLS as shipped, and plaintext with the client identity attached
// without a handshake, which shows what TLS costs. The plaintext server
// exists only in this harness.
var transports = []string{"mtls", "plaintext"}

// startDemoServer serves server.New on a loopback port until b ends. With
// transport "plaintext" the same server runs without TLS.
func startDemoServer(b *testing.B, f *fixture, transport string) string {
	b.Helper()
	var opts server.Options
	if transport == "plaintext" {
		opts.ExtraOptions = []grpc.ServerOption{grpc.Creds(plaintextCredentials{
			TransportCredentials: insecure.NewCredentials(),
			peer:                 server.Peer{Identity: pki.IdentityOf(f.client.Leaf), Chain: []pki.Identity{pki.IdentityOf(f.client.Leaf), pki.IdentityOf(f.trust.Certs[0])}},
		})}
	}
	lis := listenLoopback(b)
	srv := server.New(f.serverConfig(b), opts)
	go func() { _ = srv.Serve(lis) }()
	b.Cleanup(srv.Stop)
	return lis.Addr().String()
}

// plaintextCredentials accept connections without TLS and give each the
// verified Peer that an mTLS handshake with the fixture's client would
// produce, so the interceptors and the service run unchanged.
type plaintextCredentials struct {
	credentials.TransportCredentials
	peer server.Peer
}

func (c plaintextCredentials) ServerHandshake(raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	conn, _, err := c.TransportCredentials.ServerHandshake(raw)
	if err != nil {
		return nil, nil, err
	}
	p := c.peer
	p.Addr = raw.RemoteAddr()
	return conn, server.AuthInfo{Peer: p}, nil
}

func (c plaintextCredentials) Clone() credentials.TransportCredentials {
	return plaintextCredentials{TransportCredentials: c.TransportCredentials.Clone(), peer: c.peer}
}

// demoTarget returns the ghz target of the Echo method at addr.
func demoTarget(b *testing.B, f *fixture, addr, transport string) ghzTarget {
	b.Helper()
	skipWithout(b, *protoDir, "proto-dir")
	t := ghzTarget{
		addr: addr, proto: filepath.Join(*protoDir, "mtls", "v1", "mtls.proto"), importPath: *protoDir,
		call: "mtls.v1.DemoService.Echo", data: echoData,
	}
	if transport == "mtls" {
		t.cacert, t.cert, t.key, t.serverName = f.path(pki.FileCACert), f.path(pki.FileClientCert), f.path(pki.FileClientKey), serverName
	}
	return t
}

// BenchmarkUnary loads Echo with ghz over mTLS and over plaintext, against
// the same in-process server.
func BenchmarkUnary(b *testing.B) {
	for _, transport := range transports {
		b.Run("transport="+transport, func(b *testing.B) {
			f := loadFixture(b, pki.DefaultKeyType)
			addr := startDemoServer(b, f, transport)
			// The server runs in this process, and only ghz loads it.
			benchmarkGhz(b, demoTarget(b, f, addr, transport), selfCPU)
		})
	}
}

// streamSizes are the message sizes of BenchmarkStream: a small event and
// a large payload.
var streamSizes = []int{64, 16 << 10}

// BenchmarkStream sends b.N messages on one EchoStream while reading the
// replies as they come. The bytes counted are the requests' payload; the
// server sends each one back, so twice as much crosses the connection.
// Client and server run in this process, so the CPU time per message
// covers both ends.
func BenchmarkStream(b *testing.B) {
	for _, transport := range transports {
		for _, size := range streamSizes {
			b.Run("transport="+transport+"/size="+strconv.Itoa(size), func(b *testing.B) {
				f := loadFixture(b, pki.DefaultKeyType)
				addr := startDemoServer(b, f, transport)
				conn := dialDemo(b, f, addr, transport)
				benchmarkStream(b, mtlsv1.NewDemoServiceClient(conn), size)
			})
		}
	}
}

func dialDemo(b *testing.B, f *fixture, addr, transport string) *grpc.ClientConn {
	b.Helper()
	if transport == "plaintext" {
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { conn.Close() })
		return conn
	}
	c, err := client.Dial(addr, f.clientConfig(b, true))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return c.Conn()
}

func benchmarkStream(b *testing.B, demo mtlsv1.DemoServiceClient, size int) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream, err := demo.EchoStream(ctx)
	if err != nil {
		b.Fatal(err)
	}
	req := &mtlsv1.EchoStreamRequest{Message: strings.Repeat("x", size)}
	// One round trip first, so the timing starts on an open stream.
	if err := stream.Send(req); err != nil {
		b.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		b.Fatal(err)
	}

	b.SetBytes(int64(size))
	b.ResetTimer()
	cpu0 := selfCPU()
	sendErr := make(chan error, 1)
	go func() {
		for range b.N {
			if err := stream.Send(req); err != nil {
				sendErr <- err
				return
			}
		}
		sendErr <- stream.CloseSend()
	}()
	for range b.N {
		if _, err := stream.Recv(); err != nil {
			b.Fatalf("receive: %v (send: %v)", err, <-sendErr)
		}
	}
	if err := <-sendErr; err != nil {
		b.Fatal(err)
	}
	if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
		b.Fatalf("end of stream: got %v, want EOF", err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msg/s")
	b.ReportMetric(perOp(selfCPU()-cpu0, int64(b.N)), "cpu-ns/op")
}
