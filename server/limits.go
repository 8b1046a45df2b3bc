package server

import (
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
)

// Defaults of Limits. The keepalive values are grpc-go's own defaults,
// written out so that they are visible and can be changed from the CLI.
const (
	// DefaultMaxConcurrentHandshakes bounds handshakes past their
	// ClientHello. A slot is held for the server's signature plus one
	// round trip, so 256 slots allow about 2,500 new connections a second
	// at a 100 ms round trip while bounding the memory of a flood.
	DefaultMaxConcurrentHandshakes = 256
	// DefaultMaxConcurrentStreams is the smallest value RFC 9113 (HTTP/2)
	// recommends; grpc-go's own default is unlimited.
	DefaultMaxConcurrentStreams = 100
	// DefaultMaxRecvMsgSize is grpc-go's default of 4 MiB.
	DefaultMaxRecvMsgSize = 4 << 20
	// DefaultKeepaliveMinTime is the shortest interval between client
	// pings that the server tolerates.
	DefaultKeepaliveMinTime = 5 * time.Minute
	// DefaultKeepaliveTime is how long a connection may be silent before
	// the server pings the client.
	DefaultKeepaliveTime = 2 * time.Hour
	// DefaultKeepaliveTimeout is how long the server waits for the
	// acknowledgement of its ping before it closes the connection.
	DefaultKeepaliveTimeout = 20 * time.Second
)

// Limits bounds what peers may make the server hold. A zero field takes the
// default named in its comment.
type Limits struct {
	// MaxConcurrentHandshakes limits the TLS handshakes in progress after
	// the client's first record (its ClientHello) has arrived. Connections
	// that have sent nothing yet, or only part of that record, take no
	// slot: they wait for their data until the handshake timeout closes
	// them. A connection that finds every slot taken waits for one until
	// its handshake timeout. Default DefaultMaxConcurrentHandshakes; a
	// negative value removes the limit.
	MaxConcurrentHandshakes int
	// MaxConcurrentStreams limits the calls open at once on one
	// connection; further calls wait at the client. Default
	// DefaultMaxConcurrentStreams.
	MaxConcurrentStreams uint32
	// MaxRecvMsgSize is the largest request message in bytes; a larger one
	// fails with codes.ResourceExhausted. Default DefaultMaxRecvMsgSize.
	MaxRecvMsgSize int
	// KeepaliveMinTime is the shortest interval between client pings. A
	// client that pings more often is sent GOAWAY ("too_many_pings") and
	// disconnected. Default DefaultKeepaliveMinTime.
	KeepaliveMinTime time.Duration
	// KeepalivePermitWithoutStream allows client pings on connections
	// without an open call. Off by default, as in grpc-go.
	KeepalivePermitWithoutStream bool
	// KeepaliveTime is how long a connection may stay silent before the
	// server pings the client. Default DefaultKeepaliveTime.
	KeepaliveTime time.Duration
	// KeepaliveTimeout is how long the server waits for a ping's
	// acknowledgement before closing the connection. Default DefaultKeepaliveTimeout.
	KeepaliveTimeout time.Duration
	// MaxConnectionIdle closes connections without calls for this long.
	// Zero means never.
	MaxConnectionIdle time.Duration
	// MaxConnectionAge sends GOAWAY to connections this old, so that
	// clients reconnect and make a new handshake, for example against a
	// reloaded certificate. Zero means never.
	MaxConnectionAge time.Duration
	// MaxConnectionAgeGrace is how long calls running on a connection past
	// MaxConnectionAge may continue before it is closed. Zero means no
	// limit.
	MaxConnectionAgeGrace time.Duration
}

// WithDefaults returns l with every zero field set to its default.
func (l Limits) WithDefaults() Limits {
	if l.MaxConcurrentHandshakes == 0 {
		l.MaxConcurrentHandshakes = DefaultMaxConcurrentHandshakes
	}
	if l.MaxConcurrentStreams == 0 {
		l.MaxConcurrentStreams = DefaultMaxConcurrentStreams
	}
	if l.MaxRecvMsgSize == 0 {
		l.MaxRecvMsgSize = DefaultMaxRecvMsgSize
	}
	if l.KeepaliveMinTime == 0 {
		l.KeepaliveMinTime = DefaultKeepaliveMinTime
	}
	if l.KeepaliveTime == 0 {
		l.KeepaliveTime = DefaultKeepaliveTime
	}
	if l.KeepaliveTimeout == 0 {
		l.KeepaliveTimeout = DefaultKeepaliveTimeout
	}
	return l
}

// serverOptions returns the grpc options that enforce l, which must
// already have its defaults.
//
// NOTE: grpc keeps only the last grpc.KeepaliveParams option, so one in
// Options.ExtraOptions replaces the keepalive and connection age settings
// here; set them through Limits instead.
func (l Limits) serverOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.MaxConcurrentStreams(l.MaxConcurrentStreams),
		grpc.MaxRecvMsgSize(l.MaxRecvMsgSize),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime:             l.KeepaliveMinTime,
			PermitWithoutStream: l.KeepalivePermitWithoutStream,
		}),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			Time:                  l.KeepaliveTime,
			Timeout:               l.KeepaliveTimeout,
			MaxConnectionIdle:     l.MaxConnectionIdle,
			MaxConnectionAge:      l.MaxConnectionAge,
			MaxConnectionAgeGrace: l.MaxConnectionAgeGrace,
		}),
	}
}
