package bench

import (
	"crypto/tls"
	"net"
	"testing"
	"time"

	"github.com/grpc-mtls/grpc-mtls/pki"
	"github.com/grpc-mtls/grpc-mtls/server"
)

// BenchmarkHandshake opens one new mTLS connection per operation, one at
// a time, against the real gRPC server (server.New) and against a plain
// crypto/tls server with the same keys and config, the floor. Both run in
// this process. A full handshake verifies certificates both ways; a
// resumed one uses a TLS 1.3 session ticket from the previous connection.
func BenchmarkHandshake(b *testing.B) {
	servers := []struct {
		name  string
		start func(b *testing.B, f *fixture) string
	}{
		{"grpc", startGRPCServer},
		{"tls", startTLSServer},
	}
	for _, kt := range pki.KeyTypes {
		for _, session := range []string{"full", "resumed"} {
			for _, srv := range servers {
				b.Run("key="+string(kt)+"/session="+session+"/server="+srv.name, func(b *testing.B) {
					f := loadFixture(b, kt)
					addr := srv.start(b, f)
					cfg := f.clientConfig(b, session == "resumed")
					cfg.NextProtos = []string{"h2"}
					benchmarkConnect(b, &connector{addr: addr, cfg: cfg}, session == "resumed")
				})
			}
		}
	}
}

// BenchmarkKeyExchange shows what the key exchange costs, which a resumed
// handshake still makes: Go's default X25519MLKEM768, a hybrid of X25519
// and the post-quantum ML-KEM-768, against X25519 alone, through
// server.New with the default key type. The server accepts both; the
// client picks by its CurvePreferences.
func BenchmarkKeyExchange(b *testing.B) {
	for _, kex := range []struct {
		name   string
		curves []tls.CurveID
		want   tls.CurveID
	}{
		{"X25519MLKEM768", nil, tls.X25519MLKEM768},
		{"X25519", []tls.CurveID{tls.X25519}, tls.X25519},
	} {
		for _, session := range []string{"full", "resumed"} {
			b.Run("kex="+kex.name+"/session="+session, func(b *testing.B) {
				f := loadFixture(b, pki.DefaultKeyType)
				addr := startGRPCServer(b, f)
				cfg := f.clientConfig(b, session == "resumed")
				cfg.NextProtos = []string{"h2"}
				cfg.CurvePreferences = kex.curves
				c := &connector{addr: addr, cfg: cfg}
				if state, err := c.connect(); err != nil || state.CurveID != kex.want {
					b.Fatalf("key exchange: got %v (error %v), want %v", state.CurveID, err, kex.want)
				}
				benchmarkConnect(b, c, session == "resumed")
			})
		}
	}
}

// benchmarkConnect opens b.N connections in sequence and reports their
// latency distribution and the CPU time of both ends per connection.
func benchmarkConnect(b *testing.B, c *connector, wantResumed bool) {
	if wantResumed {
		// The first connection gets the session ticket the others use.
		if _, err := c.connect(); err != nil {
			b.Fatal(err)
		}
	}
	var lat latencies
	b.ResetTimer()
	cpu0 := selfCPU()
	for b.Loop() {
		t0 := time.Now()
		state, err := c.connect()
		if err != nil {
			b.Fatal(err)
		}
		lat.add(time.Since(t0))
		if state.DidResume != wantResumed {
			b.Fatalf("connection resumed = %v, want %v", state.DidResume, wantResumed)
		}
	}
	b.ReportMetric(perOp(selfCPU()-cpu0, int64(b.N)), "cpu-ns/op")
	lat.report(b)
}

// startGRPCServer serves f's server identity with server.New on a
// loopback port until b ends, and returns its address.
func startGRPCServer(b *testing.B, f *fixture) string {
	b.Helper()
	lis := listenLoopback(b)
	srv := server.New(f.serverConfig(b), server.Options{})
	go func() { _ = srv.Serve(lis) }()
	b.Cleanup(srv.Stop)
	return lis.Addr().String()
}

// startTLSServer serves f's server identity with plain crypto/tls, the
// same config and the "h2" protocol that gRPC's credentials add.
func startTLSServer(b *testing.B, f *fixture) string {
	b.Helper()
	lis := listenLoopback(b)
	cfg := f.serverConfig(b)
	cfg.NextProtos = []string{"h2"}
	go serveTLS(lis, cfg)
	b.Cleanup(func() { lis.Close() })
	return lis.Addr().String()
}

func listenLoopback(b *testing.B) net.Listener {
	b.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	return lis
}
