// Package servertest runs the demo server on a loopback port for tests.
//
//	ca := pkitest.NewCA(t)
//	addr := servertest.Start(t, ca.ServerTLSConfig(t), server.Options{})
//	c := servertest.Dial(t, addr, ca.ClientTLSConfig(t, "billing", "localhost"))
//	_, err := c.WhoAmI(ctx)
package servertest

import (
	"crypto/tls"
	"net"
	"testing"

	"github.com/grpc-mtls/grpc-mtls/client"
	"github.com/grpc-mtls/grpc-mtls/server"
)

// Start serves server.New(cfg, opts) on 127.0.0.1:0 until the test ends,
// and returns the address.
func Start(tb testing.TB, cfg *tls.Config, opts server.Options) string {
	tb.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("servertest: listen on loopback: %v", err)
	}
	srv := server.New(cfg, opts)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(lis)
	}()
	tb.Cleanup(func() {
		srv.Stop()
		<-done
	})
	return lis.Addr().String()
}

// Dial returns a client of addr that the test closes when it ends.
func Dial(tb testing.TB, addr string, cfg *tls.Config) *client.Client {
	tb.Helper()
	c, err := client.Dial(addr, cfg)
	if err != nil {
		tb.Fatalf("servertest: dial %s: %v", addr, err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	return c
}
