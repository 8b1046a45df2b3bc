package reload

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/grpc-mtls/grpc-mtls/client"
	"github.com/grpc-mtls/grpc-mtls/pki"
	"github.com/grpc-mtls/grpc-mtls/pki/pkitest"
)

// loadWorkers is the number of clients calling at once in the rotation
// tests: enough for handshakes to overlap with reloads on two cores.
const loadWorkers = 4

// serverMaxAge makes the server send GOAWAY often, so clients reconnect
// and make new handshakes several times during each test.
const serverMaxAge = 200 * time.Millisecond

// callsAfterRotation is how many more calls each worker makes once the
// rotation is complete, so the tests also cover the steady state after it.
const callsAfterRotation = 50

// requireNoFailures lets every worker make callsAfterRotation more calls,
// then checks the client side (failed calls) and the server side (failed
// handshakes) of the load run, and logs the figures.
func requireNoFailures(t *testing.T, l *loadGen, srv *testServer, name string) {
	t.Helper()
	before := l.snapshot()
	l.waitAll(t, "more calls", func(i int, o observation) bool { return o.calls >= before[i].calls+callsAfterRotation })
	calls, failed, errs := l.finish()
	t.Logf("%s: %d RPCs made, %d failed, %d workers", name, calls, failed, len(before))
	assert.Equal(t, int64(0), failed, "failed calls: %v", errs)
	assert.Empty(t, srv.handshakeFailures(), "server rejected handshakes")
	assert.Positive(t, calls)
}

func TestRotationServerCertificate(t *testing.T) {
	ca := pkitest.NewCA(t)
	dir := t.TempDir()
	oldLeaf := ca.Server(t, "localhost")
	srvFiles := newSideFiles(t, dir, "server", oldLeaf, ca.Cert)
	cliFiles := newSideFiles(t, dir, "client", ca.Client(t, "load"), ca.Cert)
	sw := startWatcher(t, srvFiles.files, Options{Role: pki.RoleServer})
	cw := startWatcher(t, cliFiles.files, Options{Role: pki.RoleClient, ServerName: "localhost"})
	srv := startServer(t, sw.Watcher, serverMaxAge)
	load := startLoad(t, loadWorkers, srv.addr, dialReloading(t, srv.addr, cw.Watcher, client.RotationOptions{}))
	load.waitAll(t, "the old server certificate", func(_ int, o observation) bool { return o.serverSerial == serialOf(oldLeaf) })

	newLeaf := ca.Server(t, "localhost")
	srvFiles.writeLeaf(t, newLeaf)
	e := sw.waitReload(t, serialOf(newLeaf))

	assert.Equal(t, TriggerNotify, e.Trigger)
	assert.Equal(t, serialOf(oldLeaf), e.Previous.Identity().Serial)
	load.waitAll(t, "the new server certificate", func(_ int, o observation) bool { return o.serverSerial == serialOf(newLeaf) })
	requireNoFailures(t, load, srv, "server certificate rotation")
}

func TestRotationClientCertificate(t *testing.T) {
	ca := pkitest.NewCA(t)
	dir := t.TempDir()
	oldLeaf := ca.Client(t, "load")
	srvFiles := newSideFiles(t, dir, "server", ca.Server(t, "localhost"), ca.Cert)
	cliFiles := newSideFiles(t, dir, "client", oldLeaf, ca.Cert)
	sw := startWatcher(t, srvFiles.files, Options{Role: pki.RoleServer})
	cw := startWatcher(t, cliFiles.files, Options{Role: pki.RoleClient, ServerName: "localhost"})
	// No maximum age on the server: the client alone must notice its new
	// certificate and reconnect.
	srv := startServer(t, sw.Watcher, 0)
	load := startLoad(t, loadWorkers, srv.addr, dialReloading(t, srv.addr, cw.Watcher, client.RotationOptions{}))
	load.waitAll(t, "the old client certificate", func(_ int, o observation) bool { return o.clientSerial == serialOf(oldLeaf) })

	newLeaf := ca.Client(t, "load")
	cliFiles.writeLeaf(t, newLeaf)
	cw.waitReload(t, serialOf(newLeaf))

	load.waitAll(t, "the new client certificate", func(_ int, o observation) bool { return o.clientSerial == serialOf(newLeaf) })
	requireNoFailures(t, load, srv, "client certificate rotation")
}

// TestRotationCAWithOverlap replaces the CA in the order that never breaks
// a connection: both truststores first trust old and new CA, then the
// leaves are re-issued by the new CA, then the old CA is dropped.
func TestRotationCAWithOverlap(t *testing.T) {
	oldCA := pkitest.NewCA(t, pkitest.WithName("old CA"))
	newCA := pkitest.NewCA(t, pkitest.WithName("new CA"))
	dir := t.TempDir()
	srvFiles := newSideFiles(t, dir, "server", oldCA.Server(t, "localhost"), oldCA.Cert)
	cliFiles := newSideFiles(t, dir, "client", oldCA.Client(t, "load"), oldCA.Cert)
	sw := startWatcher(t, srvFiles.files, Options{Role: pki.RoleServer})
	cw := startWatcher(t, cliFiles.files, Options{Role: pki.RoleClient, ServerName: "localhost"})
	srv := startServer(t, sw.Watcher, serverMaxAge)
	load := startLoad(t, loadWorkers, srv.addr, dialReloading(t, srv.addr, cw.Watcher, client.RotationOptions{}))
	load.waitAll(t, "a first call", func(_ int, o observation) bool { return o.calls > 0 })

	// Step 1: both sides trust both CAs.
	srvFiles.writeTrust(t, oldCA.Cert, newCA.Cert)
	cliFiles.writeTrust(t, oldCA.Cert, newCA.Cert)
	for _, w := range []*watched{sw, cw} {
		e := w.next(t)
		require.NoError(t, e.Err)
		assert.Len(t, e.Current.Truststore.Certs, 2)
	}

	// Step 2: the server presents a certificate from the new CA.
	newServer := newCA.Server(t, "localhost")
	srvFiles.writeLeaf(t, newServer)
	sw.waitReload(t, serialOf(newServer))
	load.waitAll(t, "the server certificate from the new CA", func(_ int, o observation) bool { return o.serverSerial == serialOf(newServer) })

	// Step 3: the clients present a certificate from the new CA.
	newClient := newCA.Client(t, "load")
	cliFiles.writeLeaf(t, newClient)
	cw.waitReload(t, serialOf(newClient))
	load.waitAll(t, "the client certificate from the new CA", func(_ int, o observation) bool { return o.clientSerial == serialOf(newClient) })

	// Step 4: both sides drop the old CA, and every worker reconnects.
	before := load.snapshot()
	srvFiles.writeTrust(t, newCA.Cert)
	cliFiles.writeTrust(t, newCA.Cert)
	for _, w := range []*watched{sw, cw} {
		e := w.next(t)
		require.NoError(t, e.Err)
		assert.Len(t, e.Current.Truststore.Certs, 1)
	}
	load.waitAll(t, "a new connection after the old CA was dropped", func(i int, o observation) bool {
		return o.connections > before[i].connections
	})
	requireNoFailures(t, load, srv, "CA rotation with overlap")

	// The old CA is really gone: a client with an old-CA certificate is
	// rejected by the server as signed by an unknown authority.
	oldCfg, err := pki.ClientTLSConfig(pkitest.Keystore(oldCA.Client(t, "stale")), &pki.Truststore{Certs: newCA.Truststore().Certs}, "localhost", pki.TLSOptions{})
	require.NoError(t, err)
	stale, err := client.Dial(srv.addr, oldCfg)
	require.NoError(t, err)
	defer stale.Close()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	_, err = stale.WhoAmI(ctx)
	require.Error(t, err)
	assert.Equal(t, pki.ReasonPeerRejectedAuthority, pki.Diagnose(err, pki.RoleClient).Reason)
	failures := srv.waitHandshakeFailures(t, 1)
	require.Len(t, failures, 1)
	assert.Equal(t, pki.ReasonUnknownAuthority, failures[0].Diagnosis.Reason)
}

func TestClientMaxConnectionAge(t *testing.T) {
	ca := pkitest.NewCA(t)
	dir := t.TempDir()
	srvFiles := newSideFiles(t, dir, "server", ca.Server(t, "localhost"), ca.Cert)
	cliFiles := newSideFiles(t, dir, "client", ca.Client(t, "load"), ca.Cert)
	sw := startWatcher(t, srvFiles.files, Options{Role: pki.RoleServer})
	cw := startWatcher(t, cliFiles.files, Options{Role: pki.RoleClient, ServerName: "localhost"})
	srv := startServer(t, sw.Watcher, 0)
	rot := client.RotationOptions{MaxConnectionAge: 100 * time.Millisecond, Grace: 5 * time.Second}
	load := startLoad(t, loadWorkers, srv.addr, dialReloading(t, srv.addr, cw.Watcher, rot))

	load.waitAll(t, "three connections", func(_ int, o observation) bool { return o.connections >= 3 })
	requireNoFailures(t, load, srv, "client maximum connection age")
}
