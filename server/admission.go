package server

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"google.golang.org/grpc/credentials"

	"github.com/grpc-mtls/grpc-mtls/pki"
)

// TLS record layer constants (RFC 8446, section 5.1).
const (
	recordHeaderLen     = 5
	recordTypeHandshake = 0x16
	// maxHandshakeRecord is the largest record a TLS 1.2 or 1.3 peer may
	// send: 2^14 bytes of plaintext plus 2,048 bytes of expansion.
	maxHandshakeRecord = 1<<14 + 2048
)

// admissionCredentials wraps the server's transport credentials to limit
// the handshakes in progress. It reads the client's first TLS record
// before taking a slot. Peers that connect and then send nothing, or only
// part of a ClientHello, so cost a goroutine and a socket until the
// handshake timeout, but never hold a slot that a real client needs.
type admissionCredentials struct {
	credentials.TransportCredentials
	slots     chan struct{} // nil when unlimited
	timeout   time.Duration
	onFailure func(HandshakeFailure)
}

func newAdmissionCredentials(inner credentials.TransportCredentials, maxHandshakes int, timeout time.Duration, onFailure func(HandshakeFailure)) *admissionCredentials {
	c := &admissionCredentials{TransportCredentials: inner, timeout: timeout, onFailure: onFailure}
	if maxHandshakes > 0 {
		c.slots = make(chan struct{}, maxHandshakes)
	}
	return c
}

func (c *admissionCredentials) ServerHandshake(raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	start := time.Now()
	// grpc-go has set raw's deadline to the handshake timeout, so these
	// reads end at that deadline at the latest.
	first, err := readFirstRecord(raw)
	if err != nil {
		return nil, nil, c.fail(raw, fmt.Errorf("read the client's first TLS record: %w", err), start)
	}
	if c.slots != nil {
		if err := c.acquire(start); err != nil {
			return nil, nil, c.fail(raw, err, start)
		}
		defer func() { <-c.slots }()
	}
	return c.TransportCredentials.ServerHandshake(&replayConn{Conn: raw, pending: first})
}

// acquire waits for a handshake slot until the handshake timeout.
func (c *admissionCredentials) acquire(start time.Time) error {
	select {
	case c.slots <- struct{}{}:
		return nil
	default:
	}
	wait := time.NewTimer(time.Until(start.Add(c.timeout)))
	defer wait.Stop()
	select {
	case c.slots <- struct{}{}:
		return nil
	case <-wait.C:
		// Wrapping os.ErrDeadlineExceeded makes the text end in "i/o
		// timeout", which pki.Diagnose reports as a handshake timeout.
		return fmt.Errorf("wait for one of %d handshake slots: %w", cap(c.slots), os.ErrDeadlineExceeded)
	}
}

func (c *admissionCredentials) fail(raw net.Conn, err error, start time.Time) error {
	if c.onFailure != nil {
		c.onFailure(HandshakeFailure{Addr: raw.RemoteAddr(), Err: err, Diagnosis: pki.Diagnose(err, pki.RoleServer), Duration: time.Since(start)})
	}
	return err
}

func (c *admissionCredentials) ClientHandshake(ctx context.Context, authority string, raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return c.TransportCredentials.ClientHandshake(ctx, authority, raw)
}

func (c *admissionCredentials) Clone() credentials.TransportCredentials {
	clone := *c
	clone.TransportCredentials = c.TransportCredentials.Clone()
	return &clone
}

// readFirstRecord reads the first TLS record from conn. When the first
// bytes are not the header of a TLS handshake record, as with plaintext
// HTTP, it returns them at once. crypto/tls then rejects them with its own
// error, and no read waits for a record length that never arrives.
func readFirstRecord(conn net.Conn) ([]byte, error) {
	header := make([]byte, recordHeaderLen)
	if _, err := io.ReadFull(conn, header); err != nil {
		return nil, err
	}
	length := int(header[3])<<8 | int(header[4])
	if header[0] != recordTypeHandshake || header[1] != 3 || length > maxHandshakeRecord {
		return header, nil
	}
	record := make([]byte, recordHeaderLen+length)
	copy(record, header)
	if _, err := io.ReadFull(conn, record[recordHeaderLen:]); err != nil {
		return nil, err
	}
	return record, nil
}

// replayConn is a net.Conn whose first reads return pending.
type replayConn struct {
	net.Conn
	pending []byte
}

func (c *replayConn) Read(p []byte) (int, error) {
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}
