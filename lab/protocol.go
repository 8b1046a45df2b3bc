package lab

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"

	"google.golang.org/grpc/credentials"
)

// plaintextCredentials are insecure gRPC credentials that report a TLS
// ClientHello arriving at a plaintext server, which grpc-go itself only
// logs.
type plaintextCredentials struct {
	credentials.TransportCredentials
	report func(error)
}

// tlsHandshakeRecord is the first byte of a TLS handshake record (RFC
// 8446 section 5.1).
const tlsHandshakeRecord = 0x16

func (c *plaintextCredentials) ServerHandshake(raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	br := bufio.NewReader(raw)
	first, err := br.Peek(3)
	if err == nil && first[0] == tlsHandshakeRecord && first[1] == 3 {
		c.report(fmt.Errorf("plaintext server received a TLS handshake record (bytes %x) instead of the HTTP/2 client preface", first))
	}
	conn := &peekedConn{Conn: raw, r: br}
	return c.TransportCredentials.ServerHandshake(conn)
}

func (c *plaintextCredentials) Clone() credentials.TransportCredentials {
	return &plaintextCredentials{TransportCredentials: c.TransportCredentials.Clone(), report: c.report}
}

type peekedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *peekedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// serveTLSWithoutALPN accepts mutual TLS connections with cfg minus ALPN
// and reports each one's handshake error or, after a handshake without a
// negotiated protocol, how the client ended the connection.
func serveTLSWithoutALPN(cfg *tls.Config, lis net.Listener, report func(error)) (stop func()) {
	cfg = cfg.Clone()
	cfg.NextProtos = nil
	go func() {
		for {
			raw, err := lis.Accept()
			if err != nil {
				return
			}
			go func() {
				conn := tls.Server(raw, cfg)
				defer conn.Close()
				if err := conn.Handshake(); err != nil {
					report(err)
					return
				}
				_, err := io.Copy(io.Discard, conn)
				if err == nil {
					err = io.EOF
				}
				report(fmt.Errorf("handshake completed with no ALPN protocol (%s), then the client closed the connection: %w", tls.VersionName(conn.ConnectionState().Version), err))
			}()
		}
	}()
	return func() { _ = lis.Close() }
}

// dialHTTP1 makes a mutual TLS handshake that offers only ALPN http/1.1,
// as an HTTP/1.1 client or a hand-built tls.Config does.
func dialHTTP1(ctx context.Context, addr string, cfg *tls.Config) error {
	cfg = cfg.Clone()
	cfg.NextProtos = []string{"http/1.1"}
	d := tls.Dialer{Config: cfg}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	// With TLS 1.3 a server's rejection arrives after the client's side
	// of the handshake; a read surfaces it.
	if _, err := conn.Write([]byte("GET / HTTP/1.1\r\nHost: " + addr + "\r\n\r\n")); err != nil {
		return err
	}
	if _, err := conn.Read(make([]byte, 1)); err != nil {
		return fmt.Errorf("read HTTP/1.1 response: %w", err)
	}
	return errors.New("server sent a response to an HTTP/1.1 request on the gRPC port")
}

// firstCertificateDER returns the DER of the first CERTIFICATE block.
func firstCertificateDER(data []byte) ([]byte, error) {
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, errors.New("no PEM certificate found: expected -----BEGIN CERTIFICATE-----")
		}
		if block.Type == "CERTIFICATE" {
			return block.Bytes, nil
		}
	}
}
