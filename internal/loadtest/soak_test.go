//go:build soak

package loadtest

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/grpc-mtls/grpc-mtls/client"
	"github.com/grpc-mtls/grpc-mtls/pki"
	"github.com/grpc-mtls/grpc-mtls/pki/pkitest"
	"github.com/grpc-mtls/grpc-mtls/server"
)

const (
	soakClients = 4
	// soakCallsPerConnection makes each client reconnect, and so make a
	// new handshake with the certificates of the moment, this often.
	soakCallsPerConnection = 200
	soakRotateEvery        = 10 * time.Second
	soakSampleEvery        = 15 * time.Second
)

// rotatingCredentials holds the certificates of the moment for both sides.
// Rotate swaps them in place, without restarting the server or closing a
// connection: new handshakes use the new certificates, established
// connections keep theirs.
//
// NOTE: this uses the crypto/tls callbacks GetConfigForClient and
// GetClientCertificate. To soak a file-based reloader instead, make Rotate
// write the new files and wait for its reload hook; nothing else changes.
type rotatingCredentials struct {
	ca     *pkitest.CA
	server atomic.Pointer[tls.Config]
	client atomic.Pointer[tls.Certificate]
}

func newRotatingCredentials(t *testing.T) *rotatingCredentials {
	r := &rotatingCredentials{ca: pkitest.NewCA(t)}
	r.Rotate(t)
	return r
}

// Rotate issues a new server and client certificate from the same CA.
func (r *rotatingCredentials) Rotate(t *testing.T) {
	leaf := r.ca.Issue(t, pki.LeafRequest{Role: pki.RoleServer, CommonName: "localhost", DNSNames: []string{"localhost"}, Validity: time.Hour})
	cfg, err := pki.ServerTLSConfig(pkitest.Keystore(leaf), r.ca.Truststore(), pki.TLSOptions{})
	require.NoError(t, err)
	// gRPC requires ALPN h2; credentials.NewTLS adds it only to the
	// config it was given, not to the one returned by GetConfigForClient.
	cfg.NextProtos = []string{"h2"}
	r.server.Store(cfg)

	cert := pkitest.Keystore(r.ca.Client(t, "soak")).TLSCertificate()
	r.client.Store(&cert)
}

// serverConfig returns the config server.New is given. Every handshake
// takes the current certificate from it.
func (r *rotatingCredentials) serverConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return r.server.Load(), nil
		},
	}
}

func (r *rotatingCredentials) clientConfig(t *testing.T) *tls.Config {
	cfg, err := pki.ClientTLSConfig(nil, r.ca.Truststore(), "localhost", pki.TLSOptions{DisableSessionResumption: true})
	require.NoError(t, err)
	cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return r.client.Load(), nil }
	return cfg
}

func TestSoak(t *testing.T) {
	duration := 3 * time.Minute
	if s := os.Getenv("SOAK_DURATION"); s != "" {
		var err error
		duration, err = time.ParseDuration(s)
		require.NoError(t, err, "SOAK_DURATION")
	}
	creds := newRotatingCredentials(t)
	srv := server.New(creds.serverConfig(), server.Options{})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	addr := lis.Addr().String()

	start := time.Now()
	samples := []memSample{sampleMemory(start)}
	ctx, cancel := context.WithTimeout(context.Background(), duration)
	defer cancel()
	var calls, failures, handshakes atomic.Int64
	seen := sync.Map{} // server serials the clients verified
	var wg sync.WaitGroup
	for i := 0; i < soakClients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			soakClient(ctx, t, addr, creds, &calls, &failures, &handshakes, &seen)
		}()
	}

	rotations := 0
	rotate := time.NewTicker(soakRotateEvery)
	sample := time.NewTicker(soakSampleEvery)
	for done := false; !done; {
		select {
		case <-rotate.C:
			creds.Rotate(t)
			rotations++
		case <-sample.C:
			samples = append(samples, sampleMemory(start))
		case <-ctx.Done():
			done = true
		}
	}
	rotate.Stop()
	sample.Stop()
	wg.Wait()
	samples = append(samples, settle(start))

	serials := 0
	seen.Range(func(_, _ any) bool { serials++; return true })
	rows := make([][]string, 0, len(samples))
	for _, s := range samples {
		rows = append(rows, []string{s.at.String(), fmt.Sprintf("%.1f", mib(s.heapInuse)), fmt.Sprintf("%.1f", mib(s.sys)), strconv.Itoa(s.goroutines)})
	}
	t.Logf("soak of %s: %d clients, %d RPCs, %d failed, %d handshakes, %d rotations, %d server certificates seen by clients",
		duration, soakClients, calls.Load(), failures.Load(), handshakes.Load(), rotations, serials)
	t.Logf("\n%s", table([]string{"time", "heap in use MiB", "sys MiB", "goroutines"}, rows))

	assert.Zero(t, failures.Load(), "failed RPCs")
	assert.Positive(t, calls.Load())
	assert.GreaterOrEqual(t, serials, rotations, "clients must see the rotated server certificates")
	first, last := samples[0], samples[len(samples)-1]
	assert.LessOrEqual(t, last.goroutines, first.goroutines+5, "goroutines at the end")
}

// soakClient calls the server until ctx ends, reconnecting every
// soakCallsPerConnection calls so that each new connection handshakes
// with the certificates of the moment.
func soakClient(ctx context.Context, t *testing.T, addr string, creds *rotatingCredentials, calls, failures, handshakes *atomic.Int64, seen *sync.Map) {
	for ctx.Err() == nil {
		c, err := client.Dial(addr, creds.clientConfig(t))
		if err != nil {
			failures.Add(1)
			t.Errorf("dial: %v", err)
			return
		}
		handshakes.Add(1)
		res, err := c.WhoAmI(context.Background())
		calls.Add(1)
		if err != nil {
			failures.Add(1)
			t.Errorf("WhoAmI: %v (%s)", err, pki.Diagnose(err, pki.RoleClient).Reason)
		} else {
			seen.Store(res.Server.Identity.Serial, true)
		}
		for i := 1; i < soakCallsPerConnection && ctx.Err() == nil; i++ {
			_, err := c.Echo(context.Background(), "soak")
			calls.Add(1)
			if err != nil {
				failures.Add(1)
				t.Errorf("Echo: %v", err)
			}
		}
		c.Close()
	}
}
