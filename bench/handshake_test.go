package bench

import (
	"crypto/tls"
	"net"
	"testing"
	"time"

	"github.com/grpc-mtls/grpc-mtls/pki"
	"github.com/grpc-mtls/grpc-mtls/server"
)

// BenchmarkHandshake opens new mTLS connections one at a time against the
// real gRPC server (server.New) and against a plain crypto/tls server with
// the same keys and config, the floor, both in this process. A full
// handshake verifies certificates both ways; a resumed one uses a TLS 1.3
// session ticket from an earlier connection. One operation opens one
// connection of each of the four kinds, in turns, so the kinds share
// whatever else the machine is doing and their ratios hold up.
func BenchmarkHandshake(b *testing.B) {
	for _, kt := range pki.KeyTypes {
		b.Run("key="+string(kt), func(b *testing.B) {
			f := loadFixture(b, kt)
			grpcAddr, tlsAddr := startGRPCServer(b, f), startTLSServer(b, f)
			// Each resuming kind needs its own session cache: the cache is
			// keyed by server name, and the two servers have different
			// ticket keys.
			benchmarkConnect(b, []connectKind{
				{"grpc-full", newConnector(grpcAddr, f.clientConfig(b, false)), false},
				{"tls-full", newConnector(tlsAddr, f.clientConfig(b, false)), false},
				{"grpc-resumed", newConnector(grpcAddr, f.clientConfig(b, true)), true},
				{"tls-resumed", newConnector(tlsAddr, f.clientConfig(b, true)), true},
			})
		})
	}
}

// BenchmarkKeyExchange shows what the key exchange costs, which a resumed
// handshake still makes: Go's default X25519MLKEM768, a hybrid of X25519
// and the post-quantum ML-KEM-768, against X25519 alone, through
// server.New with the default key type. The server accepts both, and the
// client picks by its CurvePreferences.
func BenchmarkKeyExchange(b *testing.B) {
	f := loadFixture(b, pki.DefaultKeyType)
	addr := startGRPCServer(b, f)
	var kinds []connectKind
	for _, kex := range []struct {
		name   string
		curves []tls.CurveID
		want   tls.CurveID
	}{
		{"X25519MLKEM768", nil, tls.X25519MLKEM768},
		{"X25519", []tls.CurveID{tls.X25519}, tls.X25519},
	} {
		for _, session := range []string{"full", "resumed"} {
			cfg := f.clientConfig(b, session == "resumed")
			cfg.CurvePreferences = kex.curves
			c := newConnector(addr, cfg)
			if state, err := c.connect(); err != nil || state.CurveID != kex.want {
				b.Fatalf("key exchange: got %v (error %v), want %v", state.CurveID, err, kex.want)
			}
			kinds = append(kinds, connectKind{kex.name + "-" + session, c, session == "resumed"})
		}
	}
	benchmarkConnect(b, kinds)
}

// connectKind is one kind of connection a handshake benchmark compares.
type connectKind struct {
	name    string
	c       *connector
	resumed bool // whether the TLS session must be resumed
}

// benchmarkConnect opens one connection of each kind per operation, in an
// order that rotates, and reports for each kind the latency distribution
// and the CPU time of both ends per connection. The CPU time is read
// around each connection, so it also counts the little the server does
// for the previous connection after it closed.
func benchmarkConnect(b *testing.B, kinds []connectKind) {
	for _, k := range kinds {
		if k.resumed {
			// The first connection gets the session ticket the others use.
			if _, err := k.c.connect(); err != nil {
				b.Fatal(err)
			}
		}
	}
	lat := make([]latencies, len(kinds))
	cpu := make([]time.Duration, len(kinds))
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		for j := range kinds {
			n := (i + j) % len(kinds)
			k := kinds[n]
			t0, cpu0 := time.Now(), selfCPU()
			state, err := k.c.connect()
			if err != nil {
				b.Fatal(err)
			}
			cpu[n] += selfCPU() - cpu0
			lat[n].add(time.Since(t0))
			if state.DidResume != k.resumed {
				b.Fatalf("%s: connection resumed = %v, want %v", k.name, state.DidResume, k.resumed)
			}
		}
	}
	for n, k := range kinds {
		b.ReportMetric(float64(lat[n].quantile(0.50).Nanoseconds()), k.name+"-p50-ns")
		b.ReportMetric(float64(lat[n].quantile(0.99).Nanoseconds()), k.name+"-p99-ns")
		b.ReportMetric(perOp(cpu[n], int64(b.N)), k.name+"-cpu-ns")
	}
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
// same config and the "h2" protocol that gRPC's credentials add. It
// returns the server's address.
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
