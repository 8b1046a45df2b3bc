package server_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/grpc-mtls/grpc-mtls/client"
	"github.com/grpc-mtls/grpc-mtls/pki"
	"github.com/grpc-mtls/grpc-mtls/pki/pkitest"
	"github.com/grpc-mtls/grpc-mtls/server"
)

// limitsHooks collects what the server reports through its hooks.
type limitsHooks struct {
	mu        sync.Mutex
	failures  []server.HandshakeFailure
	successes []server.HandshakeSuccess
	changed   chan struct{}
}

func newLimitsHooks() *limitsHooks { return &limitsHooks{changed: make(chan struct{}, 1)} }

func (h *limitsHooks) onFailure(f server.HandshakeFailure) {
	h.mu.Lock()
	h.failures = append(h.failures, f)
	h.mu.Unlock()
	h.notify()
}

func (h *limitsHooks) onSuccess(s server.HandshakeSuccess) {
	h.mu.Lock()
	h.successes = append(h.successes, s)
	h.mu.Unlock()
	h.notify()
}

func (h *limitsHooks) notify() {
	select {
	case h.changed <- struct{}{}:
	default:
	}
}

// reasons returns how many failures the server reported for each reason.
func (h *limitsHooks) reasons() map[pki.Reason]int {
	h.mu.Lock()
	defer h.mu.Unlock()
	counts := map[pki.Reason]int{}
	for _, f := range h.failures {
		counts[f.Diagnosis.Reason]++
	}
	return counts
}

func (h *limitsHooks) failureCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.failures)
}

// waitFailures waits until at least n failures were reported. The bound is
// a guard against a hung test, not a speed requirement.
func (h *limitsHooks) waitFailures(t *testing.T, n int) {
	t.Helper()
	guard := time.After(30 * time.Second)
	for h.failureCount() < n {
		select {
		case <-h.changed:
		case <-guard:
			t.Fatalf("server reported %d handshake failures, want %d: %v", h.failureCount(), n, h.reasons())
		}
	}
}

// limitsServer is a server.New server on a loopback port.
type limitsServer struct {
	addr  string
	ca    *pkitest.CA
	hooks *limitsHooks
	srv   *grpc.Server
	done  chan error
}

func startTestServer(t *testing.T, opts server.Options) *limitsServer {
	t.Helper()
	ca := pkitest.NewCA(t)
	hooks := newLimitsHooks()
	opts.OnHandshakeFailure = hooks.onFailure
	opts.OnHandshakeSuccess = hooks.onSuccess
	srv := server.New(ca.ServerTLSConfig(t, "localhost", "127.0.0.1"), opts)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ts := &limitsServer{addr: lis.Addr().String(), ca: ca, hooks: hooks, srv: srv, done: make(chan error, 1)}
	go func() { ts.done <- srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return ts
}

// dial returns a client with a valid certificate from the server's CA.
func (ts *limitsServer) dial(t *testing.T, name string) *client.Client {
	t.Helper()
	c, err := client.Dial(ts.addr, ts.ca.ClientTLSConfig(t, name, "localhost"))
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

// whoAmI makes one call on a new connection, so that it needs a handshake.
func (ts *limitsServer) whoAmI(t *testing.T, name string) error {
	t.Helper()
	c, err := client.Dial(ts.addr, ts.ca.ClientTLSConfig(t, name, "localhost"))
	require.NoError(t, err)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err = c.WhoAmI(ctx)
	return err
}

// waitClosed reads from conn until the server closes it, and returns what
// the read returned. The deadline guards against a hung test.
func waitClosed(conn net.Conn) error {
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	_, err := io.Copy(io.Discard, conn)
	if err == nil {
		return io.EOF
	}
	return err
}

func isTimeout(err error) bool {
	var netErr net.Error
	return errors.As(err, &netErr) && netErr.Timeout()
}

// clientHelloRecord returns the first TLS record a Go client sends.
func clientHelloRecord(t *testing.T, cfg *tls.Config) []byte {
	t.Helper()
	local, remote := net.Pipe()
	go func() {
		_ = tls.Client(local, cfg).Handshake()
	}()
	header := make([]byte, 5)
	_, err := io.ReadFull(remote, header)
	require.NoError(t, err)
	body := make([]byte, int(header[3])<<8|int(header[4]))
	_, err = io.ReadFull(remote, body)
	require.NoError(t, err)
	local.Close()
	remote.Close()
	return append(header, body...)
}

func TestStalledHandshakesClosedAtTimeout(t *testing.T) {
	ts := startTestServer(t, server.Options{
		HandshakeTimeout: 3 * time.Second,
		// Fewer slots than stalled peers: stalled peers must not take them.
		Limits: server.Limits{MaxConcurrentHandshakes: 2},
	})
	hello := clientHelloRecord(t, ts.ca.ClientTLSConfig(t, "probe", "localhost"))
	const silent, partial = 10, 10

	var conns []net.Conn
	for i := 0; i < silent+partial; i++ {
		conn, err := net.Dial("tcp", ts.addr)
		require.NoError(t, err)
		t.Cleanup(func() { conn.Close() })
		if i >= silent {
			_, err = conn.Write(hello[:len(hello)/2])
			require.NoError(t, err)
		}
		conns = append(conns, conn)
	}

	// Valid clients are served while the stalled connections wait: no
	// stalled connection has timed out yet when they are done.
	for i := 0; i < 3; i++ {
		require.NoError(t, ts.whoAmI(t, "alice"))
	}
	assert.Equal(t, 0, ts.hooks.failureCount(), "valid clients had to wait for stalled ones")

	for i, conn := range conns {
		err := waitClosed(conn)
		assert.False(t, isTimeout(err), "connection %d still open: %v", i, err)
	}
	ts.hooks.waitFailures(t, silent+partial)
	assert.Equal(t, map[pki.Reason]int{pki.ReasonHandshakeTimeout: silent + partial}, ts.hooks.reasons())
}

func TestHandshakeSlotsLimitInFlight(t *testing.T) {
	ts := startTestServer(t, server.Options{
		HandshakeTimeout: 20 * time.Second,
		Limits:           server.Limits{MaxConcurrentHandshakes: 1},
	})
	// A peer that sends a whole ClientHello and then stalls holds the
	// only slot until it goes away.
	hello := clientHelloRecord(t, ts.ca.ClientTLSConfig(t, "staller", "localhost"))
	staller, err := net.Dial("tcp", ts.addr)
	require.NoError(t, err)
	_, err = staller.Write(hello)
	require.NoError(t, err)
	// The server's first flight shows the handshake holds the slot.
	_ = staller.SetReadDeadline(time.Now().Add(20 * time.Second))
	_, err = staller.Read(make([]byte, 1))
	require.NoError(t, err)

	c := ts.dial(t, "alice")
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	_, err = c.WhoAmI(ctx)
	cancel()
	require.Error(t, err, "a second handshake must wait for the slot")
	assert.Equal(t, codes.DeadlineExceeded, status.Code(err))

	staller.Close()
	ctx, cancel = context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err = c.WhoAmI(ctx)
	require.NoError(t, err, "the freed slot must go to the waiting client")
}

func TestBadCertificateFloodLeavesNoLeak(t *testing.T) {
	ts := startTestServer(t, server.Options{})
	good := ts.dial(t, "alice")
	_, err := good.WhoAmI(context.Background())
	require.NoError(t, err)
	baseline := settledGoroutines()

	other := pkitest.NewCA(t, pkitest.WithName("other CA"))
	noCert, err := pki.ClientTLSConfig(nil, ts.ca.Truststore(), "localhost", pki.TLSOptions{})
	require.NoError(t, err)
	wrongCA, err := pki.ClientTLSConfig(nil, ts.ca.Truststore(), "localhost", pki.TLSOptions{})
	require.NoError(t, err)
	// A Go client whose certificate is not from a CA the server names in
	// its CertificateRequest sends no certificate at all. Sending it
	// anyway makes the server verify and reject it.
	mallory := pkitest.Keystore(other.Client(t, "mallory")).TLSCertificate()
	wrongCA.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &mallory, nil }

	const perKind, workers = 40, 4
	var wg sync.WaitGroup
	clientReasons := make(chan pki.Reason, 2*perKind)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perKind/workers; i++ {
				for _, cfg := range []*tls.Config{noCert, wrongCA} {
					clientReasons <- rejectedReason(ts.addr, cfg)
				}
			}
		}()
	}
	// The valid client keeps being served during the flood.
	for i := 0; i < 20; i++ {
		_, err := good.Echo(context.Background(), "still here")
		require.NoError(t, err)
	}
	wg.Wait()
	close(clientReasons)

	seen := map[pki.Reason]int{}
	for r := range clientReasons {
		seen[r]++
	}
	assert.Equal(t, map[pki.Reason]int{pki.ReasonNoClientCertificate: perKind, pki.ReasonPeerRejectedAuthority: perKind}, seen, "client-side diagnoses")
	ts.hooks.waitFailures(t, 2*perKind)
	assert.Equal(t, map[pki.Reason]int{pki.ReasonNoClientCertificate: perKind, pki.ReasonUnknownAuthority: perKind}, ts.hooks.reasons(), "server-side diagnoses")

	_, err = good.WhoAmI(context.Background())
	require.NoError(t, err)
	assert.LessOrEqual(t, settledGoroutines(), baseline+2, "goroutines after the flood")
}

// rejectedReason makes one call with cfg on a new connection and returns
// the client's diagnosis of its failure, or "" when the call succeeded.
func rejectedReason(addr string, cfg *tls.Config) pki.Reason {
	c, err := client.Dial(addr, cfg)
	if err != nil {
		return pki.Reason("dial: " + err.Error())
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := c.WhoAmI(ctx); err != nil {
		return pki.Diagnose(err, pki.RoleClient).Reason
	}
	return ""
}

// settledGoroutines returns the goroutine count once it stops falling, so
// that connections being torn down are not counted.
func settledGoroutines() int {
	n := runtime.NumGoroutine()
	for i := 0; i < 100; i++ {
		time.Sleep(50 * time.Millisecond)
		m := runtime.NumGoroutine()
		if m >= n && i >= 4 {
			return m
		}
		n = m
	}
	return n
}

func TestNonTLSPeersRejectedOnce(t *testing.T) {
	ts := startTestServer(t, server.Options{})
	random := make([]byte, 256)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range random {
		random[i] = byte(rng.IntN(256))
	}
	// crypto/tls reads a first byte of 0x80 as SSLv2, and 0x15 or 0x16 as
	// a record type it parses further. It rejects other bytes at once.
	random[0] = 0x42

	peers := map[string][]byte{
		"http/1.1":          []byte("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"),
		"http/2 preface":    []byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00"),
		"random bytes":      random,
		"tls alert instead": {0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28},
	}
	for name, payload := range peers {
		conn, err := net.Dial("tcp", ts.addr)
		require.NoError(t, err)
		_, err = conn.Write(payload)
		require.NoError(t, err, name)
		err = waitClosed(conn)
		assert.False(t, isTimeout(err), "%s: connection not closed: %v", name, err)
		conn.Close()
	}
	ts.hooks.waitFailures(t, len(peers))
	reasons := ts.hooks.reasons()
	assert.Equal(t, len(peers), ts.hooks.failureCount(), "one report per connection: %v", reasons)
	assert.Equal(t, 3, reasons[pki.ReasonNotTLS], "http/1.1, http/2 preface and random bytes: %v", reasons)
}

func TestPlaintextGRPCClientRejected(t *testing.T) {
	ts := startTestServer(t, server.Options{})
	conn, err := grpc.NewClient(ts.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err = healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	require.Error(t, err)
	assert.Equal(t, codes.Unavailable, status.Code(err))

	ts.hooks.waitFailures(t, 1)
	assert.Greater(t, ts.hooks.reasons()[pki.ReasonNotTLS], 0, ts.hooks.reasons())
}

func TestTLS12ClientRejectedByDefault(t *testing.T) {
	ts := startTestServer(t, server.Options{})
	cfg := ts.ca.ClientTLSConfig(t, "old", "localhost")
	cfg.MinVersion, cfg.MaxVersion = tls.VersionTLS12, tls.VersionTLS12

	reason := rejectedReason(ts.addr, cfg)
	assert.Equal(t, pki.ReasonVersionMismatch, reason, "client-side diagnosis")
	ts.hooks.waitFailures(t, 1)
	assert.Equal(t, map[pki.Reason]int{pki.ReasonVersionMismatch: 1}, ts.hooks.reasons(), "server-side diagnosis")
}

func TestHandshakeSuccessHook(t *testing.T) {
	ts := startTestServer(t, server.Options{})
	require.NoError(t, ts.whoAmI(t, "alice"))
	ts.hooks.mu.Lock()
	defer ts.hooks.mu.Unlock()
	require.Len(t, ts.hooks.successes, 1)
	assert.Equal(t, "alice", ts.hooks.successes[0].Peer.Identity.CommonName)
	assert.Equal(t, "TLS 1.3", ts.hooks.successes[0].Peer.Connection.Version)
}
