package main

import (
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/grpc-mtls/grpc-mtls/pki"
	"github.com/grpc-mtls/grpc-mtls/pki/pkitest"
	"github.com/grpc-mtls/grpc-mtls/server"
)

// BenchmarkLogCall measures the OnCall hook of mtls serve, which runs once
// per RPC, with the log output discarded.
func BenchmarkLogCall(b *testing.B) {
	ca := pkitest.NewCA(b)
	peer := server.Peer{
		Identity:   pki.IdentityOf(ca.Client(b, "bench").Cert),
		Connection: pki.ConnectionInfo{Version: "TLS 1.3", CipherSuite: "TLS_AES_128_GCM_SHA256", ALPN: "h2"},
		Addr:       &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 50000},
	}
	calls := []struct {
		name string
		info server.CallInfo
	}{
		{"ok", server.CallInfo{Method: "/mtls.v1.DemoService/Echo", Peer: peer, Code: codes.OK, Duration: 1500 * time.Nanosecond}},
		{"failed", server.CallInfo{Method: "/mtls.v1.DemoService/Echo", Peer: peer, Code: codes.InvalidArgument, Err: errors.New("message too long"), Duration: time.Microsecond}},
	}
	for _, format := range []string{"text", "json"} {
		for _, call := range calls {
			b.Run("format="+format+"/call="+call.name, func(b *testing.B) {
				log, err := newLogger(io.Discard, format)
				if err != nil {
					b.Fatal(err)
				}
				hook := logCall(log)
				b.ReportAllocs()
				for b.Loop() {
					hook(call.info)
				}
			})
		}
	}
}
