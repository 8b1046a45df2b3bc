package reload

import (
	"context"
	"crypto/x509"
	"net"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"

	"github.com/grpc-mtls/grpc-mtls/client"
	"github.com/grpc-mtls/grpc-mtls/pki"
	"github.com/grpc-mtls/grpc-mtls/pki/pkitest"
	"github.com/grpc-mtls/grpc-mtls/server"
)

// waitLimit bounds every wait for something that must happen; reaching it
// fails the test.
const waitLimit = 15 * time.Second

// sideFiles are the certificate, key and truststore of one side, as PEM
// files in a directory.
type sideFiles struct {
	dir   string
	name  string
	files Files
}

func newSideFiles(t *testing.T, dir, name string, leaf *pki.Leaf, cas ...*x509.Certificate) sideFiles {
	t.Helper()
	s := sideFiles{dir: dir, name: name, files: Files{
		Keystore:   pki.KeystoreSource{CertFile: filepath.Join(dir, name+".crt"), KeyFile: filepath.Join(dir, name+".key")},
		Truststore: pki.TruststoreSource{File: filepath.Join(dir, name+"-trust.pem")},
	}}
	s.writeLeaf(t, leaf)
	s.writeTrust(t, cas...)
	return s
}

// writeLeaf replaces the certificate and key, each by renaming a new file
// over the old one, as editors and 'mtls pki issue --force' do.
func (s sideFiles) writeLeaf(t *testing.T, leaf *pki.Leaf) {
	t.Helper()
	pkitest.WriteLeaf(t, s.dir, s.name, leaf)
}

func (s sideFiles) writeTrust(t *testing.T, cas ...*x509.Certificate) {
	t.Helper()
	require.NoError(t, pki.WriteFileAtomic(s.files.Truststore.File, pki.EncodeCertificatesPEM(cas...), pki.ModePublic))
}

func serialOf(leaf *pki.Leaf) string { return pki.IdentityOf(leaf.Cert).Serial }

// watched is a running Watcher whose events arrive on a channel.
type watched struct {
	*Watcher
	events chan Event
}

// startWatcher starts a Watcher on files and returns once it watches the
// directories. Unless opts sets an interval, only file-system notifications
// trigger checks, so the tests prove that path.
func startWatcher(t *testing.T, files Files, opts Options) *watched {
	t.Helper()
	events := make(chan Event, 256)
	opts.OnReload = func(e Event) { events <- e }
	if opts.Interval == 0 {
		opts.Interval = -1
	}
	ready := make(chan struct{})
	opts.watching = func() { close(ready) }
	w, err := New(files, opts)
	require.NoError(t, err)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	select {
	case <-ready:
	case <-time.After(waitLimit):
		t.Fatal("watcher did not start watching")
	}
	return &watched{Watcher: w, events: events}
}

// next returns the next event.
func (w *watched) next(t *testing.T) Event {
	t.Helper()
	select {
	case e := <-w.events:
		return e
	case <-time.After(waitLimit):
		t.Fatalf("no reload event within %s", waitLimit)
		return Event{}
	}
}

// nextRejection returns the next rejection. Unless want is key_mismatch,
// it skips key_mismatch rejections of a certificate and key pair read
// while half written.
func (w *watched) nextRejection(t *testing.T, want Reason) Event {
	t.Helper()
	for {
		e := w.next(t)
		require.Error(t, e.Err, "expected a rejection, got a reload of serial %s", e.Current.Identity().Serial)
		if e.Reason == ReasonKeyMismatch && want != ReasonKeyMismatch {
			t.Logf("tolerated a rejection while the pair was half written: %v", e.Err)
			continue
		}
		return e
	}
}

// waitReload returns the event that swapped in the set presenting serial.
// A certificate and key replaced one after the other can be read in
// between, and that key_mismatch rejection is the only one tolerated on
// the way.
func (w *watched) waitReload(t *testing.T, serial string) Event {
	t.Helper()
	for {
		e := w.next(t)
		if e.Err != nil {
			require.Equal(t, ReasonKeyMismatch, e.Reason, "unexpected rejection: %v", e.Err)
			t.Logf("tolerated a rejection while the pair was half written: %v", e.Err)
			continue
		}
		if e.Current.Identity().Serial == serial {
			return e
		}
	}
}

// testServer is a demo server on a loopback port whose handshake failures
// are recorded.
type testServer struct {
	addr     string
	mu       sync.Mutex
	failures []server.HandshakeFailure
}

func startServer(t *testing.T, w *Watcher, maxAge time.Duration) *testServer {
	t.Helper()
	ts := &testServer{}
	opts := server.Options{
		OnHandshakeFailure: func(f server.HandshakeFailure) {
			ts.mu.Lock()
			defer ts.mu.Unlock()
			ts.failures = append(ts.failures, f)
		},
	}
	if maxAge > 0 {
		opts.ExtraOptions = []grpc.ServerOption{server.WithMaxConnectionAge(maxAge, 10*time.Second)}
	}
	srv := server.New(w.ServerTLSConfig(), opts)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	ts.addr = lis.Addr().String()
	return ts
}

// waitHandshakeFailures waits until the server has reported n failed
// handshakes, since it reports them from the connection's goroutine, after
// the client may already have seen its error.
func (s *testServer) waitHandshakeFailures(t *testing.T, n int) []server.HandshakeFailure {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for len(s.handshakeFailures()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("the server reported %d failed handshakes within %s, expected %d", len(s.handshakeFailures()), waitLimit, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return s.handshakeFailures()
}

func (s *testServer) handshakeFailures() []server.HandshakeFailure {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]server.HandshakeFailure(nil), s.failures...)
}

// observation is what one load worker saw in its latest successful call.
type observation struct {
	calls        int64
	serverSerial string
	clientSerial string
	// connections counts the distinct client addresses the server saw,
	// one per connection the worker opened.
	connections int
	peerAddr    string
}

// loadGen runs workers that each call WhoAmI over their own client, one
// call after another, until finish.
type loadGen struct {
	calls  atomic.Int64
	failed atomic.Int64

	mu     sync.Mutex
	latest []observation
	errs   []error

	stop chan struct{}
	wg   sync.WaitGroup
}

func startLoad(t *testing.T, workers int, addr string, config func() *client.Client) *loadGen {
	t.Helper()
	l := &loadGen{latest: make([]observation, workers), stop: make(chan struct{})}
	for i := range workers {
		cl := config()
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			defer cl.Close()
			l.work(i, cl)
		}()
	}
	t.Cleanup(func() { l.halt() })
	return l
}

func (l *loadGen) work(i int, cl *client.Client) {
	for {
		select {
		case <-l.stop:
			return
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		res, err := cl.WhoAmI(ctx)
		cancel()
		l.calls.Add(1)
		l.mu.Lock()
		if err != nil {
			l.failed.Add(1)
			l.errs = append(l.errs, err)
			l.mu.Unlock()
			continue
		}
		o := &l.latest[i]
		o.calls++
		o.serverSerial = res.Server.Identity.Serial
		o.clientSerial = res.Response.GetClient().GetSerial()
		if addr := res.Response.GetConnection().GetPeerAddress(); addr != o.peerAddr {
			o.peerAddr = addr
			o.connections++
		}
		l.mu.Unlock()
	}
}

func (l *loadGen) snapshot() []observation {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]observation(nil), l.latest...)
}

// waitAll waits until every worker's latest observation satisfies cond.
func (l *loadGen) waitAll(t *testing.T, what string, cond func(i int, o observation) bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		all := true
		for i, o := range l.snapshot() {
			if !cond(i, o) {
				all = false
				break
			}
		}
		if all {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not every load worker saw %s within %s: %+v", what, waitLimit, l.snapshot())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (l *loadGen) halt() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.wg.Wait()
}

// finish stops the workers and returns the number of calls and failures,
// with the errors of the failures.
func (l *loadGen) finish() (calls, failed int64, errs []error) {
	l.halt()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.calls.Load(), l.failed.Load(), append([]error(nil), l.errs...)
}

// dialReloading returns a dial function for startLoad that follows the
// client Watcher.
func dialReloading(t *testing.T, addr string, w *Watcher, rot client.RotationOptions) func() *client.Client {
	return func() *client.Client {
		cl, err := client.DialReloading(addr, w.ClientTLSConfig, rot)
		require.NoError(t, err)
		return cl
	}
}
