package server

import (
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
)

// WithMaxConnectionAge returns a server option that asks each client to
// reconnect once its connection is age old, give or take 10% (gRPC adds
// the jitter), by sending an HTTP/2 GOAWAY. Calls already running get
// grace to finish before the connection is closed; new calls go to a new
// connection, which makes a new handshake. With a hot-reloaded certificate
// set (package reload) this bounds how long a client keeps talking over a
// connection made with the old set. Add it to Options.ExtraOptions.
func WithMaxConnectionAge(age, grace time.Duration) grpc.ServerOption {
	return grpc.KeepaliveParams(keepalive.ServerParameters{
		MaxConnectionAge:      age,
		MaxConnectionAgeGrace: grace,
	})
}
