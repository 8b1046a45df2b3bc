// Package server runs the demo gRPC service behind mutual TLS.
//
// New wraps a tls.Config from package pki into a grpc.Server that
// registers the demo service, the standard health service and server
// reflection, reports every failed handshake through a hook, and places
// the verified client identity in each request's context:
//
//	cfg, _ := pki.ServerTLSConfig(keystore, truststore, pki.TLSOptions{})
//	srv := server.New(cfg, server.Options{
//		OnHandshakeFailure: func(f server.HandshakeFailure) { log.Print(f.Diagnosis) },
//	})
//	lis, _ := net.Listen("tcp", ":8443")
//	_ = srv.Serve(lis)
//
// In a handler, PeerFromContext returns who is calling.
//
// Options.Authorizer decides which verified clients may call which
// methods; package server/authz provides a policy of allow and deny rules
// for it. Options.Migration admits clients without a certificate as
// anonymous callers, for moving a running service to mutual TLS.
//
// The package never logs: it reports through the hooks in Options.
package server
