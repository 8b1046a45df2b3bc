package client

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	grpcpeer "google.golang.org/grpc/peer"

	"github.com/grpc-mtls/grpc-mtls/pki"
	mtlsv1 "github.com/grpc-mtls/grpc-mtls/proto/mtls/v1"
)

// Client is a connection to the demo service.
type Client struct {
	conn *grpc.ClientConn
	// rotating replaces conn for clients made by DialReloading.
	rotating *rotatingConn
	demo     mtlsv1.DemoServiceClient
	health   healthpb.HealthClient
}

// Dial prepares a connection to addr secured by cfg, which should come
// from pki.ClientTLSConfig. Extra options are passed to grpc.NewClient.
func Dial(addr string, cfg *tls.Config, opts ...grpc.DialOption) (*Client, error) {
	if cfg == nil {
		return nil, errors.New("dial: a TLS config is required: build one with pki.ClientTLSConfig")
	}
	all := append([]grpc.DialOption{grpc.WithTransportCredentials(NewTransportCredentials(cfg))}, opts...)
	conn, err := grpc.NewClient(addr, all...)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	return &Client{conn: conn, demo: mtlsv1.NewDemoServiceClient(conn), health: healthpb.NewHealthClient(conn)}, nil
}

// Close closes the connection.
func (c *Client) Close() error {
	if c.rotating != nil {
		return c.rotating.Close()
	}
	return c.conn.Close()
}

// Conn returns the underlying gRPC connection, for other services on the
// same server. For a client made by DialReloading it is the connection
// that new calls use at this moment.
func (c *Client) Conn() *grpc.ClientConn {
	if c.rotating != nil {
		return c.rotating.current()
	}
	return c.conn
}

// ServerView is the server as the client verified it.
type ServerView struct {
	Identity   pki.Identity
	Connection pki.ConnectionInfo
}

// WhoAmIResult holds both sides' view of one call: what the server
// verified about the client, and what the client verified about the
// server.
type WhoAmIResult struct {
	Response *mtlsv1.WhoAmIResponse
	Server   ServerView
}

// WhoAmI returns what the server verified about this client, and what
// this client verified about the server.
func (c *Client) WhoAmI(ctx context.Context) (*WhoAmIResult, error) {
	var p grpcpeer.Peer
	resp, err := c.demo.WhoAmI(ctx, &mtlsv1.WhoAmIRequest{}, grpc.Peer(&p))
	if err != nil {
		return nil, err
	}
	return &WhoAmIResult{Response: resp, Server: serverViewOf(&p)}, nil
}

func serverViewOf(p *grpcpeer.Peer) ServerView {
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok {
		return ServerView{}
	}
	v := ServerView{Connection: pki.ConnectionInfoOf(info.State)}
	if len(info.State.PeerCertificates) > 0 {
		v.Identity = pki.IdentityOf(info.State.PeerCertificates[0])
	}
	return v
}

// Echo sends message and returns the server's reply.
func (c *Client) Echo(ctx context.Context, message string) (*mtlsv1.EchoResponse, error) {
	return c.demo.Echo(ctx, &mtlsv1.EchoRequest{Message: message})
}

// Stream sends each message over one bidirectional stream and returns the
// replies in order.
func (c *Client) Stream(ctx context.Context, messages []string) ([]*mtlsv1.EchoStreamResponse, error) {
	stream, err := c.demo.EchoStream(ctx)
	if err != nil {
		return nil, err
	}
	replies := make([]*mtlsv1.EchoStreamResponse, 0, len(messages))
	for _, m := range messages {
		if err := stream.Send(&mtlsv1.EchoStreamRequest{Message: m}); err != nil {
			// The stream's real error comes from Recv.
			if _, rerr := stream.Recv(); rerr != nil && !errors.Is(rerr, io.EOF) {
				return replies, rerr
			}
			return replies, err
		}
		reply, err := stream.Recv()
		if err != nil {
			return replies, err
		}
		replies = append(replies, reply)
	}
	if err := stream.CloseSend(); err != nil {
		return replies, err
	}
	if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
		if err == nil {
			err = errors.New("server sent more replies than messages")
		}
		return replies, err
	}
	return replies, nil
}

// Health returns the serving status of service ("" for the whole server)
// from the standard gRPC health service.
func (c *Client) Health(ctx context.Context, service string) (healthpb.HealthCheckResponse_ServingStatus, error) {
	resp, err := c.health.Check(ctx, &healthpb.HealthCheckRequest{Service: service})
	if err != nil {
		return healthpb.HealthCheckResponse_UNKNOWN, err
	}
	return resp.GetStatus(), nil
}
