// Package metrics exports what an mTLS server does in the Prometheus text
// format, and its certificate state as a JSON status view.
//
// It hooks into server.Options and serves both views over plain HTTP:
//
//	m := metrics.New()
//	m.SetMaterial(keystore, truststore)
//	opts := server.Options{}
//	m.Instrument(&opts)
//	srv := server.New(cfg, opts)
//	go http.Serve(metricsListener, m.Handler()) // GET /metrics and /status
//
// Every label takes its values from a small fixed set: handshake results
// and the failure reasons of pki.Diagnose, gRPC method names of registered
// services and status codes, certificate roles and reload results. Peer
// addresses, subjects and serial numbers appear only in the status view,
// never as labels.
//
// The package never logs; a certificate reloader reports to it through
// ObserveReload.
package metrics
