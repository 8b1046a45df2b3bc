package bench

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// connectTimeout bounds one new connection in the handshake benchmarks.
const connectTimeout = 10 * time.Second

// connector opens new connections the way a gRPC client does until HTTP/2
// takes over. One connection is a TCP connect, the TLS handshake, and the
// first record the server sends after it, which for a gRPC server is its
// HTTP/2 SETTINGS frame. Reading that record waits until the server has
// verified the client certificate, because TLS 1.3 lets the client finish
// its side of the handshake first.
type connector struct {
	addr string
	cfg  *tls.Config
}

// newConnector returns a connector to addr with a copy of cfg that offers
// the "h2" protocol, as gRPC's credentials do and gRPC servers require.
// The copy shares cfg's session cache.
func newConnector(addr string, cfg *tls.Config) *connector {
	cfg = cfg.Clone()
	cfg.NextProtos = []string{"h2"}
	return &connector{addr: addr, cfg: cfg}
}

// connect opens and closes one connection and returns the state of its
// TLS session.
func (c *connector) connect() (tls.ConnectionState, error) {
	ctx, cancel := context.WithTimeout(context.Background(), connectTimeout)
	defer cancel()
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", c.addr)
	if err != nil {
		return tls.ConnectionState{}, err
	}
	// Closing with a reset leaves no socket in TIME_WAIT, so a long run
	// does not exhaust the loopback's ephemeral ports.
	defer raw.(*net.TCPConn).SetLinger(0) //nolint:errcheck // best effort before Close

	conn := tls.Client(raw, c.cfg)
	defer conn.Close()
	if err := conn.HandshakeContext(ctx); err != nil {
		return tls.ConnectionState{}, fmt.Errorf("TLS handshake with %s: %w", c.addr, err)
	}
	if err := conn.SetReadDeadline(time.Now().Add(connectTimeout)); err != nil {
		return tls.ConnectionState{}, err
	}
	var first [1]byte
	if _, err := io.ReadFull(conn, first[:]); err != nil {
		return tls.ConnectionState{}, fmt.Errorf("read the first record from %s: %w", c.addr, err)
	}
	return conn.ConnectionState(), nil
}

// settingsFrame is an empty HTTP/2 SETTINGS frame: what the plain TLS
// server sends after its handshake, so its clients read as much as they
// do from a gRPC server.
var settingsFrame = []byte{0, 0, 0, 4, 0, 0, 0, 0, 0}

// serveTLS runs the plain crypto/tls server of the handshake floor: it
// completes each handshake, sends settingsFrame, and reads until the
// client goes away. It returns when lis is closed.
func serveTLS(lis net.Listener, cfg *tls.Config) {
	for {
		raw, err := lis.Accept()
		if err != nil {
			return
		}
		go func() {
			conn := tls.Server(raw, cfg)
			defer conn.Close()
			if err := conn.Handshake(); err != nil {
				return
			}
			if _, err := conn.Write(settingsFrame); err != nil {
				return
			}
			_, _ = io.Copy(io.Discard, conn)
		}()
	}
}

// latencies collects durations from several goroutines.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d)
	l.mu.Unlock()
}

// quantile returns the q-quantile (0 < q <= 1) by the nearest-rank method.
func (l *latencies) quantile(q float64) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.d) == 0 {
		return 0
	}
	slices.Sort(l.d)
	rank := int(q*float64(len(l.d))+0.999999) - 1
	return l.d[max(0, min(rank, len(l.d)-1))]
}

// report adds the median and 99th percentile to b's results.
func (l *latencies) report(b *testing.B) {
	b.ReportMetric(float64(l.quantile(0.50).Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(l.quantile(0.99).Nanoseconds()), "p99-ns")
}

// connectLoad opens connections with c from workers goroutines until
// duration has passed, and returns how many it opened, how long that
// took and the latency of each. Any failure stops the run.
func connectLoad(c *connector, workers int, duration time.Duration) (int64, time.Duration, *latencies, error) {
	var (
		count    atomic.Int64
		lat      latencies
		firstErr error
		errOnce  sync.Once
		wg       sync.WaitGroup
	)
	deadline := time.Now().Add(duration)
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				t0 := time.Now()
				if _, err := c.connect(); err != nil {
					errOnce.Do(func() { firstErr = err })
					return
				}
				lat.add(time.Since(t0))
				count.Add(1)
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return 0, 0, nil, firstErr
	}
	if count.Load() == 0 {
		return 0, 0, nil, errors.New("no connection completed")
	}
	return count.Load(), time.Since(start), &lat, nil
}
