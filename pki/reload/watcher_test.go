package reload

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/grpc-mtls/grpc-mtls/client"
	"github.com/grpc-mtls/grpc-mtls/pki"
	"github.com/grpc-mtls/grpc-mtls/pki/pkitest"
)

// TestBrokenReplacementKeepsServing replaces the server's files with a
// broken set while clients call, and checks that the set is rejected with
// its reason, the old certificate keeps serving, and a good set afterwards
// is taken again.
func TestBrokenReplacementKeepsServing(t *testing.T) {
	ca := pkitest.NewCA(t)
	otherCA := pkitest.NewCA(t, pkitest.WithName("other CA"))
	now := time.Now()

	tests := []struct {
		name       string
		write      func(t *testing.T, s sideFiles)
		wantReason Reason
		wantText   string
	}{
		{
			name: "key of another certificate",
			write: func(t *testing.T, s sideFiles) {
				leaf := ca.Server(t, "localhost")
				require.NoError(t, pki.WriteFileAtomic(s.files.Keystore.CertFile, pki.EncodeCertificatesPEM(leaf.Cert), pki.ModePublic))
			},
			wantReason: ReasonKeyMismatch,
			wantText:   "does not belong to certificate",
		},
		{
			name: "garbage certificate",
			write: func(t *testing.T, s sideFiles) {
				require.NoError(t, pki.WriteFileAtomic(s.files.Keystore.CertFile, []byte("not a certificate\n"), pki.ModePublic))
			},
			wantReason: ReasonLoadFailed,
			wantText:   "no PEM certificate found",
		},
		{
			name: "expired certificate",
			write: func(t *testing.T, s sideFiles) {
				s.writeLeaf(t, ca.Issue(t, pki.LeafRequest{Role: pki.RoleServer, CommonName: "localhost", DNSNames: []string{"localhost"},
					NotBefore: now.Add(-2 * time.Hour), NotAfter: now.Add(-time.Hour)}))
			},
			wantReason: ReasonExpired,
			wantText:   "expired at",
		},
		{
			name: "not yet valid certificate",
			write: func(t *testing.T, s sideFiles) {
				s.writeLeaf(t, ca.Issue(t, pki.LeafRequest{Role: pki.RoleServer, CommonName: "localhost", DNSNames: []string{"localhost"},
					NotBefore: now.Add(time.Hour), NotAfter: now.Add(2 * time.Hour)}))
			},
			wantReason: ReasonNotYetValid,
			wantText:   "is not valid before",
		},
		{
			name:       "client certificate on the server",
			write:      func(t *testing.T, s sideFiles) { s.writeLeaf(t, ca.Client(t, "localhost")) },
			wantReason: ReasonWrongKeyUsage,
			wantText:   "lacks the serverAuth extended key usage",
		},
		{
			name:       "certificate from an untrusted CA",
			write:      func(t *testing.T, s sideFiles) { s.writeLeaf(t, otherCA.Server(t, "localhost")) },
			wantReason: ReasonUntrustedChain,
			wantText:   "does not chain to a CA in truststore",
		},
		{
			name:       "truststore without the issuing CA",
			write:      func(t *testing.T, s sideFiles) { s.writeTrust(t, otherCA.Cert) },
			wantReason: ReasonUntrustedChain,
			wantText:   "does not chain to a CA in truststore",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			good := ca.Server(t, "localhost")
			srvFiles := newSideFiles(t, dir, "server", good, ca.Cert)
			cliFiles := newSideFiles(t, dir, "client", ca.Client(t, "load"), ca.Cert)
			sw := startWatcher(t, srvFiles.files, Options{Role: pki.RoleServer})
			cw := startWatcher(t, cliFiles.files, Options{Role: pki.RoleClient, ServerName: "localhost"})
			srv := startServer(t, sw.Watcher, serverMaxAge)
			load := startLoad(t, 2, srv.addr, dialReloading(t, srv.addr, cw.Watcher, client.RotationOptions{}))

			tt.write(t, srvFiles)
			e := sw.nextRejection(t, tt.wantReason)

			assert.Equal(t, tt.wantReason, e.Reason)
			assert.Equal(t, tt.wantReason, ReasonOf(e.Err))
			assert.Contains(t, e.Err.Error(), tt.wantText)
			assert.Same(t, e.Previous, e.Current)
			assert.Equal(t, serialOf(good), sw.Current().Identity().Serial)

			// New connections, which the server's maximum age forces,
			// still get the old certificate.
			before := load.snapshot()
			load.waitAll(t, "a new connection with the old certificate", func(i int, o observation) bool {
				return o.connections > before[i].connections && o.serverSerial == serialOf(good)
			})
			requireNoFailures(t, load, srv, "broken replacement "+tt.name)

			// A good set afterwards is taken.
			fixed := ca.Server(t, "localhost")
			srvFiles.writeTrust(t, ca.Cert)
			srvFiles.writeLeaf(t, fixed)
			sw.waitReload(t, serialOf(fixed))
		})
	}
}

func TestBrokenClientReplacementReported(t *testing.T) {
	ca := pkitest.NewCA(t)
	dir := t.TempDir()
	good := ca.Client(t, "load")
	cliFiles := newSideFiles(t, dir, "client", good, ca.Cert)
	cw := startWatcher(t, cliFiles.files, Options{Role: pki.RoleClient})
	before := cw.ClientTLSConfig()

	cliFiles.writeLeaf(t, ca.Server(t, "localhost"))
	e := cw.next(t)

	require.Error(t, e.Err)
	assert.Equal(t, ReasonWrongKeyUsage, e.Reason)
	assert.Contains(t, e.Err.Error(), "lacks the clientAuth extended key usage")
	assert.Same(t, before, cw.ClientTLSConfig())
	assert.Equal(t, serialOf(good), cw.Current().Identity().Serial)
}

// TestKubernetesSecretSwap lays files out as a Kubernetes secret volume
// does (each file a symlink through "..data" into a timestamped directory)
// and swaps "..data" atomically twice, as the kubelet does on an update.
func TestKubernetesSecretSwap(t *testing.T) {
	ca := pkitest.NewCA(t)
	dir := t.TempDir()
	publish := func(version string, leaf *pki.Leaf) {
		t.Helper()
		data := filepath.Join(dir, version)
		require.NoError(t, os.Mkdir(data, 0o755))
		pkitest.WriteLeaf(t, data, "tls", leaf)
		ca.WriteCA(t, data)
		tmp := filepath.Join(dir, "..data_tmp")
		require.NoError(t, os.Symlink(version, tmp))
		require.NoError(t, os.Rename(tmp, filepath.Join(dir, "..data")))
	}
	publish("..2026_01_01_00_00_00.1", ca.Server(t, "localhost"))
	for _, name := range []string{"tls.crt", "tls.key", "ca.crt"} {
		require.NoError(t, os.Symlink(filepath.Join("..data", name), filepath.Join(dir, name)))
	}
	files := Files{
		Keystore:   pki.KeystoreSource{CertFile: filepath.Join(dir, "tls.crt"), KeyFile: filepath.Join(dir, "tls.key")},
		Truststore: pki.TruststoreSource{File: filepath.Join(dir, "ca.crt")},
	}
	sw := startWatcher(t, files, Options{Role: pki.RoleServer})

	for i, version := range []string{"..2026_01_02_00_00_00.2", "..2026_01_03_00_00_00.3"} {
		previous, err := os.Readlink(filepath.Join(dir, "..data"))
		require.NoError(t, err)
		leaf := ca.Server(t, "localhost")
		publish(version, leaf)
		require.NoError(t, os.RemoveAll(filepath.Join(dir, previous)))

		e := sw.next(t)
		require.NoError(t, e.Err, "swap %d", i+1)
		assert.Equal(t, serialOf(leaf), e.Current.Identity().Serial, "swap %d", i+1)
		assert.Equal(t, TriggerNotify, e.Trigger, "swap %d", i+1)
	}
}

func TestInPlaceWriteReloads(t *testing.T) {
	ca := pkitest.NewCA(t)
	dir := t.TempDir()
	cliFiles := newSideFiles(t, dir, "client", ca.Client(t, "load"), ca.Cert)
	cw := startWatcher(t, cliFiles.files, Options{Role: pki.RoleClient})
	other := pkitest.NewCA(t, pkitest.WithName("second CA"))

	// os.WriteFile truncates and writes the same inode, as some editors
	// and 'cat > file' do.
	require.NoError(t, os.WriteFile(cliFiles.files.Truststore.File, pki.EncodeCertificatesPEM(ca.Cert, other.Cert), 0o644))
	e := cw.next(t)

	require.NoError(t, e.Err)
	assert.Len(t, e.Current.Truststore.Certs, 2)
}

func TestPeriodicCheckWithoutNotifications(t *testing.T) {
	ca := pkitest.NewCA(t)
	dir := t.TempDir()
	srvFiles := newSideFiles(t, dir, "server", ca.Server(t, "localhost"), ca.Cert)
	sw := startWatcher(t, srvFiles.files, Options{Role: pki.RoleServer, Interval: 20 * time.Millisecond, disableNotify: true})

	leaf := ca.Server(t, "localhost")
	srvFiles.writeLeaf(t, leaf)
	e := sw.waitReload(t, serialOf(leaf))

	assert.Equal(t, TriggerInterval, e.Trigger)
}

// TestRejectionReportedOnce checks that a broken set that stays on disk is
// reported once, not at every check, and that unchanged files cause no
// event at all.
func TestRejectionReportedOnce(t *testing.T) {
	ca := pkitest.NewCA(t)
	dir := t.TempDir()
	good := ca.Server(t, "localhost")
	srvFiles := newSideFiles(t, dir, "server", good, ca.Cert)
	events := make(chan Event, 16)
	w, err := New(srvFiles.files, Options{Role: pki.RoleServer, OnReload: func(e Event) { events <- e }})
	require.NoError(t, err)

	require.NoError(t, w.Reload())
	assert.Empty(t, events, "unchanged files were reported")

	require.NoError(t, pki.WriteFileAtomic(srvFiles.files.Keystore.CertFile, []byte("garbage"), pki.ModePublic))
	err = w.Reload()
	require.Error(t, err)
	assert.Equal(t, ReasonLoadFailed, ReasonOf(err))
	require.NoError(t, w.Reload(), "the same broken files were rejected again")
	require.NoError(t, w.Reload())

	require.Len(t, events, 1)
	e := <-events
	assert.Equal(t, TriggerManual, e.Trigger)
	assert.Equal(t, ReasonLoadFailed, e.Reason)
	assert.Equal(t, serialOf(good), w.Current().Identity().Serial)
}

func TestNewRejectsBrokenInitialSet(t *testing.T) {
	ca := pkitest.NewCA(t)
	dir := t.TempDir()
	srvFiles := newSideFiles(t, dir, "server", ca.Client(t, "not-a-server"), ca.Cert)

	_, err := New(srvFiles.files, Options{Role: pki.RoleServer})

	require.Error(t, err)
	assert.Equal(t, ReasonWrongKeyUsage, ReasonOf(err))
	assert.Contains(t, err.Error(), "load server certificate set")
	assert.Contains(t, err.Error(), srvFiles.files.Keystore.CertFile)
}

func TestNewRejectsMissingRole(t *testing.T) {
	_, err := New(Files{}, Options{})

	require.Error(t, err)
	assert.Contains(t, err.Error(), "role")
}

func TestSkipChainCheckAcceptsSeparateCAs(t *testing.T) {
	serverCA := pkitest.NewCA(t, pkitest.WithName("server CA"))
	clientCA := pkitest.NewCA(t, pkitest.WithName("client CA"))
	dir := t.TempDir()
	srvFiles := newSideFiles(t, dir, "server", serverCA.Server(t, "localhost"), clientCA.Cert)

	_, err := Load(srvFiles.files, Options{Role: pki.RoleServer})
	assert.Equal(t, ReasonUntrustedChain, ReasonOf(err))

	m, err := Load(srvFiles.files, Options{Role: pki.RoleServer, SkipChainCheck: true})
	require.NoError(t, err)
	assert.Equal(t, "localhost", m.Identity().CommonName)
}

func TestPKCS12KeystoreReloads(t *testing.T) {
	ca := pkitest.NewCA(t)
	dir := t.TempDir()
	password := []byte("changeit")
	passwordFile := filepath.Join(dir, "p12.password")
	require.NoError(t, pki.WriteFileAtomic(passwordFile, password, pki.ModePrivate))
	writeP12 := func(leaf *pki.Leaf) {
		t.Helper()
		data, err := pki.EncodeKeystore(pkitest.Keystore(leaf), leaf.Chain, password, pki.P12Modern)
		require.NoError(t, err)
		require.NoError(t, pki.WriteFileAtomic(filepath.Join(dir, "server.p12"), data, pki.ModePrivate))
	}
	writeP12(ca.Server(t, "localhost"))
	files := Files{
		Keystore:   pki.KeystoreSource{PKCS12File: filepath.Join(dir, "server.p12"), PasswordFile: passwordFile},
		Truststore: pki.TruststoreSource{File: ca.WriteCA(t, dir)},
	}
	sw := startWatcher(t, files, Options{Role: pki.RoleServer})

	leaf := ca.Server(t, "localhost")
	writeP12(leaf)

	sw.waitReload(t, serialOf(leaf))
}

func TestRunRejectsSecondRun(t *testing.T) {
	ca := pkitest.NewCA(t)
	srvFiles := newSideFiles(t, t.TempDir(), "server", ca.Server(t, "localhost"), ca.Cert)
	sw := startWatcher(t, srvFiles.files, Options{Role: pki.RoleServer})

	err := sw.Run(context.Background())

	assert.ErrorIs(t, err, errAlreadyRunning)
}

// TestReloadingClientSendsUntrustedCertificate checks that a reloading
// client presents its certificate even when the server does not list its
// issuer, so the server's rejection names the unknown CA instead of a
// missing certificate.
func TestReloadingClientSendsUntrustedCertificate(t *testing.T) {
	serverCA := pkitest.NewCA(t, pkitest.WithName("server CA"))
	otherCA := pkitest.NewCA(t, pkitest.WithName("other CA"))
	dir := t.TempDir()
	srvFiles := newSideFiles(t, dir, "server", serverCA.Server(t, "localhost"), serverCA.Cert)
	cliFiles := newSideFiles(t, dir, "client", otherCA.Client(t, "stranger"), serverCA.Cert)
	sw := startWatcher(t, srvFiles.files, Options{Role: pki.RoleServer})
	cw := startWatcher(t, cliFiles.files, Options{Role: pki.RoleClient, ServerName: "localhost", SkipChainCheck: true})
	srv := startServer(t, sw.Watcher, 0)
	cl, err := client.DialReloading(srv.addr, cw.ClientTLSConfig, client.RotationOptions{})
	require.NoError(t, err)
	defer cl.Close()

	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	_, err = cl.WhoAmI(ctx)

	require.Error(t, err)
	assert.Equal(t, pki.ReasonPeerRejectedAuthority, pki.Diagnose(err, pki.RoleClient).Reason)
	failures := srv.waitHandshakeFailures(t, 1)
	assert.Equal(t, pki.ReasonUnknownAuthority, failures[0].Diagnosis.Reason)
}

// whoAmI makes one call over a new client of the client Watcher and
// returns the response.
func whoAmI(t *testing.T, addr string, cw *watched) (*client.WhoAmIResult, error) {
	t.Helper()
	cl, err := client.DialReloading(addr, cw.ClientTLSConfig, client.RotationOptions{})
	require.NoError(t, err)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	return cl.WhoAmI(ctx)
}

// TestResumptionEndsAtReload checks that sessions resume while the set is
// unchanged, and that the first connection after a server reload makes a
// full handshake and so shows the new certificate.
func TestResumptionEndsAtReload(t *testing.T) {
	ca := pkitest.NewCA(t)
	dir := t.TempDir()
	srvFiles := newSideFiles(t, dir, "server", ca.Server(t, "localhost"), ca.Cert)
	cliFiles := newSideFiles(t, dir, "client", ca.Client(t, "load"), ca.Cert)
	sw := startWatcher(t, srvFiles.files, Options{Role: pki.RoleServer})
	cw := startWatcher(t, cliFiles.files, Options{Role: pki.RoleClient, ServerName: "localhost"})
	srv := startServer(t, sw.Watcher, 0)

	first, err := whoAmI(t, srv.addr, cw)
	require.NoError(t, err)
	second, err := whoAmI(t, srv.addr, cw)
	require.NoError(t, err)
	assert.False(t, first.Response.GetConnection().GetResumed())
	assert.True(t, second.Response.GetConnection().GetResumed(), "the session did not resume within one set")

	leaf := ca.Server(t, "localhost")
	srvFiles.writeLeaf(t, leaf)
	sw.waitReload(t, serialOf(leaf))
	third, err := whoAmI(t, srv.addr, cw)

	require.NoError(t, err)
	assert.False(t, third.Response.GetConnection().GetResumed(), "a session from before the reload resumed")
	assert.Equal(t, serialOf(leaf), third.Server.Identity.Serial)
}

// TestVerifyConnectionHookRuns checks that Options.VerifyConnection runs
// on the server for full and resumed handshakes, after the chain has been
// verified, and that its error rejects the client.
func TestVerifyConnectionHookRuns(t *testing.T) {
	ca := pkitest.NewCA(t)
	dir := t.TempDir()
	clientLeaf := ca.Client(t, "load")
	srvFiles := newSideFiles(t, dir, "server", ca.Server(t, "localhost"), ca.Cert)
	cliFiles := newSideFiles(t, dir, "client", clientLeaf, ca.Cert)
	var denied atomic.Value
	denied.Store("")
	var calls atomic.Int64
	verify := func(cs tls.ConnectionState) error {
		calls.Add(1)
		if len(cs.VerifiedChains) == 0 {
			return errors.New("no verified chain")
		}
		if serial := pki.IdentityOf(cs.VerifiedChains[0][0]).Serial; serial == denied.Load() {
			return fmt.Errorf("client certificate %s is denied", serial)
		}
		return nil
	}
	sw := startWatcher(t, srvFiles.files, Options{Role: pki.RoleServer, VerifyConnection: verify})
	cw := startWatcher(t, cliFiles.files, Options{Role: pki.RoleClient, ServerName: "localhost"})
	srv := startServer(t, sw.Watcher, 0)

	_, err := whoAmI(t, srv.addr, cw)
	require.NoError(t, err)
	res, err := whoAmI(t, srv.addr, cw)
	require.NoError(t, err)
	require.True(t, res.Response.GetConnection().GetResumed())
	assert.Equal(t, int64(2), calls.Load(), "the hook did not run on both handshakes")

	denied.Store(serialOf(clientLeaf))
	_, err = whoAmI(t, srv.addr, cw)

	require.Error(t, err)
	failures := srv.waitHandshakeFailures(t, 1)
	assert.Contains(t, failures[0].Err.Error(), "is denied")
}

// TestNotYetValidTakenOnceValid checks that files rejected as not yet
// valid are taken, without any file change, once the clock reaches their
// not-before time.
func TestNotYetValidTakenOnceValid(t *testing.T) {
	ca := pkitest.NewCA(t)
	dir := t.TempDir()
	srvFiles := newSideFiles(t, dir, "server", ca.Server(t, "localhost"), ca.Cert)
	var now atomic.Pointer[time.Time]
	start := time.Now()
	now.Store(&start)
	events := make(chan Event, 16)
	w, err := New(srvFiles.files, Options{Role: pki.RoleServer, Now: func() time.Time { return *now.Load() },
		OnReload: func(e Event) { events <- e }})
	require.NoError(t, err)
	future := ca.Issue(t, pki.LeafRequest{Role: pki.RoleServer, CommonName: "localhost", DNSNames: []string{"localhost"},
		NotBefore: start.Add(time.Hour), NotAfter: start.Add(2 * time.Hour)})
	srvFiles.writeLeaf(t, future)

	err = w.Reload()
	assert.Equal(t, ReasonNotYetValid, ReasonOf(err))
	require.NoError(t, w.Reload(), "the same not-yet-valid files were reported again")
	later := start.Add(90 * time.Minute)
	now.Store(&later)
	require.NoError(t, w.Reload())

	require.Len(t, events, 2)
	assert.Equal(t, ReasonNotYetValid, (<-events).Reason)
	e := <-events
	require.NoError(t, e.Err)
	assert.Equal(t, serialOf(future), e.Current.Identity().Serial)
}
