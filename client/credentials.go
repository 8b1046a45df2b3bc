package client

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"

	"google.golang.org/grpc/credentials"
)

// rejectionProbeTimeout bounds how long ClientHandshake waits for the
// server's first bytes after the TLS handshake.
const rejectionProbeTimeout = 5 * time.Second

// NewTransportCredentials returns gRPC TLS credentials for cfg that report
// a server's rejection of the client certificate as a handshake error.
//
// With TLS 1.3 the client finishes its handshake before the server has
// checked the client certificate. A server that rejects it sends an alert
// that plain gRPC credentials only notice later, often as a bare "broken
// pipe" or "connection closed before server preface received". These
// credentials read the server's first record (a gRPC server sends its
// HTTP/2 settings at once) before handing the connection to gRPC, so the
// alert, such as "remote error: tls: certificate required", becomes the
// error of the first call.
func NewTransportCredentials(cfg *tls.Config) credentials.TransportCredentials {
	return &transportCredentials{TransportCredentials: credentials.NewTLS(cfg)}
}

type transportCredentials struct {
	credentials.TransportCredentials
}

func (c *transportCredentials) ClientHandshake(ctx context.Context, authority string, raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	conn, info, err := c.TransportCredentials.ClientHandshake(ctx, authority, raw)
	if err != nil {
		return nil, nil, err
	}
	probed, err := probeRejection(ctx, conn)
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	return probed, info, nil
}

func (c *transportCredentials) Clone() credentials.TransportCredentials {
	return &transportCredentials{TransportCredentials: c.TransportCredentials.Clone()}
}

// probeRejection waits for the server's first application bytes, and
// returns a connection that replays them. A TLS alert in their place is
// returned as an error.
func probeRejection(ctx context.Context, conn net.Conn) (net.Conn, error) {
	deadline := time.Now().Add(rejectionProbeTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := conn.SetReadDeadline(deadline); err != nil {
		return conn, nil
	}
	br := bufio.NewReaderSize(conn, 16<<10)
	_, err := br.Peek(1)
	_ = conn.SetReadDeadline(time.Time{})

	var netErr net.Error
	switch {
	case err == nil:
		return &bufferedConn{Conn: conn, r: br}, nil
	case errors.As(err, &netErr) && netErr.Timeout():
		// The server is slow to send its settings; let gRPC wait for them.
		return &bufferedConn{Conn: conn, r: br}, nil
	}
	return nil, fmt.Errorf("server closed the connection after the TLS handshake: %w", err)
}

// bufferedConn is a net.Conn that first returns the bytes r buffered
// while probing, then reads from the connection directly. Dropping r once
// it is empty saves a copy on every read and its 16 KiB buffer for the
// life of the connection. gRPC reads a connection from one goroutine, so
// Read needs no lock.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) {
	if c.r == nil {
		return c.Conn.Read(p)
	}
	n, err := c.r.Read(p)
	if c.r.Buffered() == 0 {
		c.r = nil
	}
	return n, err
}
