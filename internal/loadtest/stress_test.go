//go:build stress

package loadtest

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
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

// Attack sizes; STRESS_SCALE multiplies them.
const (
	baselineCalls  = 20000
	stalledConns   = 400
	floodHandshake = 2000
	floodWorkers   = 4
	nonTLSConns    = 600
	// stressHandshakeTimeout is short so that stalled peers end within
	// the run.
	stressHandshakeTimeout = 2 * time.Second
)

// reasonCounter counts the server's handshake failures by reason.
type reasonCounter struct {
	mu     sync.Mutex
	counts map[pki.Reason]int
}

func (c *reasonCounter) add(f server.HandshakeFailure) {
	c.mu.Lock()
	c.counts[f.Diagnosis.Reason]++
	c.mu.Unlock()
}

func (c *reasonCounter) take() map[pki.Reason]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.counts
	c.counts = map[pki.Reason]int{}
	return out
}

type stressEnv struct {
	ca      *pkitest.CA
	caFile  string
	addr    string
	valid   *client.Client
	reasons *reasonCounter
}

// phase is one attack, run by a separate attacker process.
type phase struct {
	name  string
	kind  string
	count int
}

func TestStress(t *testing.T) {
	scale := 1
	if s := os.Getenv("STRESS_SCALE"); s != "" {
		var err error
		scale, err = strconv.Atoi(s)
		require.NoError(t, err, "STRESS_SCALE")
	}
	env := startStressServer(t)
	start := time.Now()

	// Warm up the connection and the code paths, then measure.
	measureCalls(t, env.valid, 500, nil)
	before := settle(start)
	env.reasons.take()

	phases := []phase{
		{"stalled handshakes (silent and half ClientHello)", "stall", stalledConns * scale},
		{"bad client certificates (none, unknown CA)", "badcert", floodHandshake * scale},
		{"plaintext HTTP/1.1, HTTP/2 and random bytes", "plaintext", nonTLSConns * scale},
	}
	var rows [][]string
	for _, ph := range phases {
		// The baseline is taken right before each attack, because other
		// load on the machine changes over minutes.
		baseline := measureCalls(t, env.valid, baselineCalls, nil)
		baselineNew := measureNewConnections(t, env, 30)
		done := make(chan int, 1)
		go func() { done <- runAttacker(t, env, ph.kind, ph.count) }()
		during := measureCalls(t, env.valid, 1_000_000, done)
		tried := <-done
		reasons := env.reasons.take()
		ratio := float64(during.percentile(.99)) / float64(baseline.percentile(.99))
		rows = append(rows, []string{ph.name, strconv.Itoa(tried), fmt.Sprint(reasons),
			round(baseline.percentile(.99)), round(during.percentile(.99)), fmt.Sprintf("%.2f", ratio), round(baselineNew.percentile(.99))})
		t.Logf("%s: valid calls before %s; during %s", ph.name, baseline.summary(), during.summary())
		assert.LessOrEqual(t, ratio, 2.0, "%s: valid-client p99 %s against %s before", ph.name, during.percentile(.99), baseline.percentile(.99))
	}
	after := settle(start)

	t.Logf("\n%s", table([]string{"attack", "connections tried", "server-side reasons", "valid call p99 before", "during", "ratio", "new connection p99 before"}, rows))
	t.Logf("before: %s", before)
	t.Logf("after:  %s", after)
	if load, err := os.ReadFile("/proc/loadavg"); err == nil {
		t.Logf("load average at the end: %s", strings.TrimSpace(string(load)))
	}
	t.Logf("GOMAXPROCS=%d, handshake timeout %s, valid client: sequential Echo calls on one connection; attacker: separate process at nice %s", runtime.GOMAXPROCS(0), stressHandshakeTimeout, attackerNice())
	assert.LessOrEqual(t, after.goroutines, before.goroutines+5, "goroutines after the attacks")
	assert.LessOrEqual(t, after.heapInuse, before.heapInuse+16<<20, "heap after the attacks")
}

func startStressServer(t *testing.T) *stressEnv {
	t.Helper()
	ca := pkitest.NewCA(t)
	reasons := &reasonCounter{counts: map[pki.Reason]int{}}
	var limits server.Limits
	if s := os.Getenv("STRESS_MAX_HANDSHAKES"); s != "" {
		n, err := strconv.Atoi(s)
		require.NoError(t, err, "STRESS_MAX_HANDSHAKES")
		limits.MaxConcurrentHandshakes = n
	}
	t.Logf("handshake slots: %d", limits.WithDefaults().MaxConcurrentHandshakes)
	srv := server.New(ca.ServerTLSConfig(t, "localhost", "127.0.0.1"), server.Options{
		HandshakeTimeout:   stressHandshakeTimeout,
		OnHandshakeFailure: reasons.add,
		Limits:             limits,
	})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)

	env := &stressEnv{ca: ca, caFile: ca.WriteCA(t, t.TempDir()), addr: lis.Addr().String(), reasons: reasons}
	env.valid, err = client.Dial(env.addr, ca.ClientTLSConfig(t, "valid", "localhost"))
	require.NoError(t, err)
	t.Cleanup(func() { env.valid.Close() })
	return env
}

// measureCalls makes sequential Echo calls until n are done or stop
// delivers, and returns their latencies. A value read from stop is put
// back for the caller.
func measureCalls(t *testing.T, c *client.Client, n int, stop chan int) latencies {
	t.Helper()
	out := make(latencies, 0, n)
	for i := 0; i < n; i++ {
		select {
		case v := <-stop:
			stop <- v
			return out
		default:
		}
		begin := time.Now()
		_, err := c.Echo(context.Background(), "ping")
		out = append(out, time.Since(begin))
		require.NoError(t, err, "valid call %d", i)
	}
	return out
}

// measureNewConnections makes n calls, each on a new connection.
func measureNewConnections(t *testing.T, env *stressEnv, n int) latencies {
	t.Helper()
	out := make(latencies, 0, n)
	for i := 0; i < n; i++ {
		begin := time.Now()
		c, err := client.Dial(env.addr, env.ca.ClientTLSConfig(t, "newcomer", "localhost"))
		require.NoError(t, err)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_, err = c.Echo(ctx, "hello")
		cancel()
		c.Close()
		out = append(out, time.Since(begin))
		require.NoError(t, err, "new valid connection %d", i)
	}
	return out
}

// stall opens n connections, half of which send nothing and half a part
// of a ClientHello, and waits until the server has closed all of them.
func stall(t *testing.T, addr string, ts *pki.Truststore, n int) int {
	hello := clientHello(t, clientConfig(t, ts))
	var conns []net.Conn
	for i := 0; i < n; i++ {
		conn, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		if i%2 == 1 {
			_, err = conn.Write(hello[:len(hello)/2])
			require.NoError(t, err)
		}
		conns = append(conns, conn)
	}
	var open atomic.Int32
	var wg sync.WaitGroup
	for _, conn := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer conn.Close()
			_ = conn.SetReadDeadline(time.Now().Add(stressHandshakeTimeout + 20*time.Second))
			if _, err := io.Copy(io.Discard, conn); err != nil {
				if ne, ok := err.(net.Error); ok && ne.Timeout() {
					open.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	assert.Zero(t, open.Load(), "stalled connections the server never closed")
	return n
}

// badCertFlood makes n handshakes from several workers, alternating a
// client without certificate and one from an unknown CA.
func badCertFlood(t *testing.T, addr string, ts *pki.Truststore, n int) int {
	noCert := clientConfig(t, ts)
	wrongCA := noCert.Clone()
	other := pkitest.NewCA(t, pkitest.WithName("attacker CA"))
	bad := pkitest.Keystore(other.Client(t, "mallory")).TLSCertificate()
	// Sent even though the server names another CA, as a hostile client
	// would; a Go client would otherwise send no certificate.
	wrongCA.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &bad, nil }

	var next atomic.Int64
	var accepted atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < floodWorkers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1); i <= int64(n); i = next.Add(1) {
				cfg := noCert
				if i%2 == 0 {
					cfg = wrongCA
				}
				if rejectedHandshake(addr, cfg) == nil {
					accepted.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	assert.Zero(t, accepted.Load(), "bad clients the server accepted")
	return n
}

// rejectedHandshake handshakes and reads until the server's verdict. It
// returns nil when the server let the client in.
func rejectedHandshake(addr string, cfg *tls.Config) error {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 30 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	// With TLS 1.3 the rejection arrives as an alert on the first read.
	_, err = conn.Read(make([]byte, 1))
	return err
}

// nonTLS sends n plaintext or random payloads, from two workers, and
// reads until the server closes each connection.
func nonTLS(t *testing.T, addr string, n int) int {
	random := make([]byte, 512)
	for i := range random {
		random[i] = byte(i*7 + 3)
	}
	random[0] = 0x42
	payloads := [][]byte{
		[]byte("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"),
		[]byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00"),
		random,
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1); i <= int64(n); i = next.Add(1) {
				conn, err := net.Dial("tcp", addr)
				if !assert.NoError(t, err) {
					return
				}
				_, _ = conn.Write(payloads[i%int64(len(payloads))])
				_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
				_, _ = io.Copy(io.Discard, conn)
				conn.Close()
			}
		}()
	}
	wg.Wait()
	return n
}

// clientHello returns the first TLS record a Go client sends.
func clientHello(t *testing.T, cfg *tls.Config) []byte {
	t.Helper()
	local, remote := net.Pipe()
	go func() { _ = tls.Client(local, cfg).Handshake() }()
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

// clientConfig returns a client config without certificate that trusts
// the server and offers ALPN h2, as a gRPC client does.
func clientConfig(t *testing.T, ts *pki.Truststore) *tls.Config {
	cfg, err := pki.ClientTLSConfig(nil, ts, "localhost", pki.TLSOptions{DisableSessionResumption: true})
	require.NoError(t, err)
	cfg.NextProtos = []string{"h2"}
	return cfg
}

// Environment of the attacker process.
const (
	envAttack = "LOADTEST_ATTACK"
	envAddr   = "LOADTEST_ADDR"
	envCA     = "LOADTEST_CA"
	envCount  = "LOADTEST_COUNT"
)

// attackerNice returns the nice level of the attacker process:
// STRESS_ATTACKER_NICE, or 19, the lowest priority.
func attackerNice() string {
	if n := os.Getenv("STRESS_ATTACKER_NICE"); n != "" {
		return n
	}
	return "19"
}

// runAttacker runs one attack in a child process of this test binary, at
// the lowest CPU priority when nice exists. Running it apart from the
// server keeps the load generator's own handshakes from competing with the
// server inside one Go scheduler, and nice keeps the figures about the
// server's cost rather than the generator's.
func runAttacker(t *testing.T, env *stressEnv, kind string, n int) int {
	args := []string{os.Args[0], "-test.run=^TestStressAttacker$", "-test.count=1"}
	if nice, err := exec.LookPath("nice"); err == nil && attackerNice() != "0" {
		args = append([]string{nice, "-n", attackerNice()}, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), envAttack+"="+kind, envAddr+"="+env.addr, envCA+"="+env.caFile, envCount+"="+strconv.Itoa(n))
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "attacker %s:\n%s", kind, out)
	return n
}

// TestStressAttacker is the attacker process started by runAttacker.
func TestStressAttacker(t *testing.T) {
	kind := os.Getenv(envAttack)
	if kind == "" {
		t.Skip("run by TestStress as its attacker process")
	}
	addr := os.Getenv(envAddr)
	n, err := strconv.Atoi(os.Getenv(envCount))
	require.NoError(t, err)
	ts, err := pki.LoadTruststore(pki.TruststoreSource{File: os.Getenv(envCA)})
	require.NoError(t, err)
	switch kind {
	case "stall":
		stall(t, addr, ts, n)
	case "badcert":
		badCertFlood(t, addr, ts, n)
	case "plaintext":
		nonTLS(t, addr, n)
	default:
		t.Fatalf("unknown attack %q", kind)
	}
}

func round(d time.Duration) string { return d.Round(time.Microsecond).String() }
