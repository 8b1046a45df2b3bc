package client

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	mtlsv1 "github.com/grpc-mtls/grpc-mtls/proto/mtls/v1"
)

// DefaultConnectionGrace is how long a replaced connection keeps serving
// the calls already running on it when RotationOptions.Grace is zero.
const DefaultConnectionGrace = 30 * time.Second

// NewReloadingTransportCredentials returns gRPC credentials that call
// config for every new connection, so each handshake presents the client
// certificate and verifies the server against the truststore of that
// moment. config is typically reload.Watcher.ClientTLSConfig. It must not
// return nil, and it should return the same pointer until the material
// changes, because the credentials are rebuilt only when the pointer changes. Like
// NewTransportCredentials, they report a server's rejection of the client
// certificate as the handshake error.
func NewReloadingTransportCredentials(config func() *tls.Config) credentials.TransportCredentials {
	return &reloadingCredentials{config: config}
}

type reloadingCredentials struct {
	config func() *tls.Config

	mu         sync.Mutex
	lastConfig *tls.Config
	lastCreds  credentials.TransportCredentials
}

func (c *reloadingCredentials) current() credentials.TransportCredentials {
	cfg := c.config()
	c.mu.Lock()
	defer c.mu.Unlock()
	if cfg != c.lastConfig || c.lastCreds == nil {
		c.lastConfig, c.lastCreds = cfg, NewTransportCredentials(cfg)
	}
	return c.lastCreds
}

func (c *reloadingCredentials) ClientHandshake(ctx context.Context, authority string, raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return c.current().ClientHandshake(ctx, authority, raw)
}

func (c *reloadingCredentials) ServerHandshake(net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return nil, nil, errors.New("reloading client credentials cannot accept connections: use server.New with reload.Watcher.ServerTLSConfig")
}

func (c *reloadingCredentials) Info() credentials.ProtocolInfo { return c.current().Info() }

func (c *reloadingCredentials) Clone() credentials.TransportCredentials {
	return &reloadingCredentials{config: c.config}
}

// OverrideServerName is deprecated in gRPC; set the server name in the
// config instead.
func (c *reloadingCredentials) OverrideServerName(string) error {
	return errors.New("reloading client credentials: set the server name in the TLS config (reload.Options.ServerName)")
}

// RotationOptions set when a client made by DialReloading replaces its
// connection with a new one. The zero value replaces it only when the
// client's certificate set changes.
type RotationOptions struct {
	// MaxConnectionAge, when positive, also replaces a connection this
	// long after it was opened, give or take 10% so that many clients
	// started together do not reconnect together. A new connection makes
	// a new handshake, so it picks up a new server certificate or
	// truststore even when the server sets no maximum age itself.
	MaxConnectionAge time.Duration
	// Grace is how long a replaced connection stays open for the calls
	// already running on it; zero means DefaultConnectionGrace. Streams
	// still open after that are closed.
	Grace time.Duration
}

// DialReloading is Dial for material that changes at run time. config is
// called for every handshake (see NewReloadingTransportCredentials). The
// client opens a new connection for its next call when config returns a
// new pointer or the connection is older than rot.MaxConnectionAge. The
// old connection is closed after rot.Grace, so calls running on it finish.
func DialReloading(addr string, config func() *tls.Config, rot RotationOptions, opts ...grpc.DialOption) (*Client, error) {
	if config == nil || config() == nil {
		return nil, errors.New("dial: a TLS config function is required: use reload.Watcher.ClientTLSConfig")
	}
	if rot.Grace <= 0 {
		rot.Grace = DefaultConnectionGrace
	}
	creds := grpc.WithTransportCredentials(NewReloadingTransportCredentials(config))
	rc := &rotatingConn{addr: addr, opts: append([]grpc.DialOption{creds}, opts...), config: config, rot: rot}
	if err := rc.replace(); err != nil {
		return nil, err
	}
	return &Client{rotating: rc, demo: mtlsv1.NewDemoServiceClient(rc), health: healthpb.NewHealthClient(rc)}, nil
}

// rotatingConn is a grpc.ClientConnInterface that sends each call over its
// current connection, replacing that connection when the TLS material
// changes or the connection reaches its maximum age.
type rotatingConn struct {
	addr   string
	opts   []grpc.DialOption
	config func() *tls.Config
	rot    RotationOptions

	mu         sync.Mutex
	conn       *grpc.ClientConn
	dialedWith *tls.Config
	expires    time.Time
	retiring   map[*grpc.ClientConn]*time.Timer
	closed     bool
}

// replace opens a new connection and retires the current one. The caller
// holds mu, or is the constructor.
func (r *rotatingConn) replace() error {
	cfg := r.config()
	conn, err := grpc.NewClient(r.addr, r.opts...)
	if err != nil {
		return fmt.Errorf("dial %s: %w", r.addr, err)
	}
	if old := r.conn; old != nil {
		if r.retiring == nil {
			r.retiring = map[*grpc.ClientConn]*time.Timer{}
		}
		r.retiring[old] = time.AfterFunc(r.rot.Grace, func() { r.closeRetired(old) })
	}
	r.conn, r.dialedWith = conn, cfg
	if r.rot.MaxConnectionAge > 0 {
		jitter := 0.9 + 0.2*rand.Float64()
		r.expires = time.Now().Add(time.Duration(float64(r.rot.MaxConnectionAge) * jitter))
	}
	return nil
}

func (r *rotatingConn) closeRetired(conn *grpc.ClientConn) {
	r.mu.Lock()
	delete(r.retiring, conn)
	r.mu.Unlock()
	_ = conn.Close()
}

// pick returns the connection for the next call, replacing it first when
// it is due. If a replacement cannot be set up, the current connection
// keeps serving.
func (r *rotatingConn) pick() (*grpc.ClientConn, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, status.Error(codes.Canceled, "client is closed")
	}
	changed := r.config() != r.dialedWith
	aged := r.rot.MaxConnectionAge > 0 && time.Now().After(r.expires)
	if changed || aged {
		_ = r.replace()
	}
	return r.conn, nil
}

// current returns the connection new calls use.
func (r *rotatingConn) current() *grpc.ClientConn {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.conn
}

func (r *rotatingConn) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	conn, err := r.pick()
	if err != nil {
		return err
	}
	return conn.Invoke(ctx, method, args, reply, opts...)
}

func (r *rotatingConn) NewStream(ctx context.Context, desc *grpc.StreamDesc, method string, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	conn, err := r.pick()
	if err != nil {
		return nil, err
	}
	return conn.NewStream(ctx, desc, method, opts...)
}

// Close closes the current connection and every retired one at once.
func (r *rotatingConn) Close() error {
	r.mu.Lock()
	r.closed = true
	retiring := r.retiring
	r.retiring = nil
	conn := r.conn
	r.mu.Unlock()

	for old, timer := range retiring {
		timer.Stop()
		_ = old.Close()
	}
	return conn.Close()
}
