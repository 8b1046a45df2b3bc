package server_test

import (
	"crypto/tls"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/grpc-mtls/grpc-mtls/pki"
	"github.com/grpc-mtls/grpc-mtls/pki/pkitest"
	"github.com/grpc-mtls/grpc-mtls/server"
	"github.com/grpc-mtls/grpc-mtls/server/authz"
	"github.com/grpc-mtls/grpc-mtls/server/servertest"
)

// hookLog records what the server's hooks receive.
type hookLog struct {
	mu         sync.Mutex
	anonymous  []net.Addr
	failures   []server.HandshakeFailure
	denials    []server.Denial
	handshakes chan struct{}
}

func newHookLog() *hookLog { return &hookLog{handshakes: make(chan struct{}, 16)} }

func (h *hookLog) onAnonymous(addr net.Addr) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.anonymous = append(h.anonymous, addr)
}

func (h *hookLog) onFailure(f server.HandshakeFailure) {
	h.mu.Lock()
	h.failures = append(h.failures, f)
	h.mu.Unlock()
	h.handshakes <- struct{}{}
}

// waitFailure waits for the server to report a failed handshake, which
// it does right after the client's first call fails.
func (h *hookLog) waitFailure(t *testing.T) {
	t.Helper()
	select {
	case <-h.handshakes:
	case <-time.After(10 * time.Second):
		t.Fatal("the server reported no failed handshake")
	}
}

func (h *hookLog) onDenied(d server.Denial) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.denials = append(h.denials, d)
}

func (h *hookLog) snapshot() (anonymous []net.Addr, failures []server.HandshakeFailure, denials []server.Denial) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append(anonymous, h.anonymous...), append(failures, h.failures...), append(denials, h.denials...)
}

// migrationServer starts a server that admits clients without a
// certificate, with the given authorizer (nil for none).
func migrationServer(t *testing.T, ca *pkitest.CA, authorizer server.Authorizer) (string, *server.Migration, *hookLog) {
	t.Helper()
	hooks := newHookLog()
	cfg, err := pki.ServerTLSConfig(pkitest.Keystore(ca.Server(t)), ca.Truststore(), pki.TLSOptions{AllowMissingClientCert: true})
	require.NoError(t, err)
	migration := &server.Migration{OnAnonymousConnection: hooks.onAnonymous}
	opts := server.Options{Migration: migration, Authorizer: authorizer, OnHandshakeFailure: hooks.onFailure, OnPermissionDenied: hooks.onDenied}
	return servertest.Start(t, cfg, opts), migration, hooks
}

// clientWithoutCertificate trusts ca but presents no certificate.
func clientWithoutCertificate(t *testing.T, ca *pkitest.CA) *tls.Config {
	t.Helper()
	cfg, err := pki.ClientTLSConfig(nil, ca.Truststore(), "localhost", pki.TLSOptions{})
	require.NoError(t, err)
	return cfg
}

func TestMigrationAdmitsClientWithoutCertificate(t *testing.T) {
	ca := pkitest.NewCA(t)
	addr, migration, hooks := migrationServer(t, ca, nil)
	anonymous := servertest.Dial(t, addr, clientWithoutCertificate(t, ca))
	ctx := callContext(t)

	res, whoAmIErr := anonymous.WhoAmI(ctx)
	echo, echoErr := anonymous.Echo(ctx, "hello")

	require.NoError(t, whoAmIErr)
	assert.True(t, res.Response.GetAnonymous())
	assert.Nil(t, res.Response.GetClient(), "no certificate, no client identity")
	require.NoError(t, echoErr)
	assert.Equal(t, "anonymous", echo.GetCaller())
	assert.Equal(t, int64(1), migration.AnonymousConnections())
	assert.Equal(t, int64(2), migration.AnonymousCalls())
	anonymousAddrs, _, _ := hooks.snapshot()
	require.Len(t, anonymousAddrs, 1)
	assert.Equal(t, res.Response.GetConnection().GetPeerAddress(), anonymousAddrs[0].String())
}

func TestMigrationStillVerifiesPresentedCertificates(t *testing.T) {
	ca := pkitest.NewCA(t)
	addr, migration, hooks := migrationServer(t, ca, nil)
	verified := servertest.Dial(t, addr, ca.ClientTLSConfig(t, "client", "localhost"))
	expiredLeaf := ca.Issue(t, pki.LeafRequest{Role: pki.RoleClient, CommonName: "expired", DNSNames: []string{"expired"},
		NotBefore: time.Now().Add(-2 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})
	expiredCfg, err := pki.ClientTLSConfig(pkitest.Keystore(expiredLeaf), ca.Truststore(), "localhost", pki.TLSOptions{})
	require.NoError(t, err)
	expired := servertest.Dial(t, addr, expiredCfg)
	ctx := callContext(t)

	res, verifiedErr := verified.WhoAmI(ctx)
	_, expiredErr := expired.WhoAmI(ctx)
	hooks.waitFailure(t)

	require.NoError(t, verifiedErr)
	assert.False(t, res.Response.GetAnonymous())
	assert.Equal(t, []string{"spiffe://test.local/client"}, res.Response.GetClient().GetUris())
	assert.Equal(t, pki.ReasonPeerRejectedExpired, pki.Diagnose(expiredErr, pki.RoleClient).Reason)
	_, failures, _ := hooks.snapshot()
	require.Len(t, failures, 1)
	assert.Equal(t, pki.ReasonExpired, failures[0].Diagnosis.Reason)
	assert.Equal(t, int64(0), migration.AnonymousConnections())
}

// A client that sends a certificate from a CA the server does not trust
// is rejected, as it would be without migration mode.
func TestMigrationRejectsUntrustedCertificate(t *testing.T) {
	ca := pkitest.NewCA(t)
	otherCA := pkitest.NewCA(t, pkitest.WithName("other CA"))
	addr, migration, hooks := migrationServer(t, ca, nil)
	cfg, err := pki.ClientTLSConfig(pkitest.Keystore(otherCA.Client(t, "intruder")), ca.Truststore(), "localhost", pki.TLSOptions{})
	require.NoError(t, err)
	untrusted := servertest.Dial(t, addr, cfg)

	_, callErr := untrusted.WhoAmI(callContext(t))
	hooks.waitFailure(t)

	assert.Equal(t, pki.ReasonPeerRejectedAuthority, pki.Diagnose(callErr, pki.RoleClient).Reason)
	_, failures, _ := hooks.snapshot()
	require.Len(t, failures, 1)
	assert.Equal(t, pki.ReasonUnknownAuthority, failures[0].Diagnosis.Reason)
	assert.Equal(t, int64(0), migration.AnonymousConnections())
}

// A tls.Config with only Certificates set, as most Go programs and
// grpcurl build it, sends its certificate only if it chains to one of the
// CAs that the server names in its certificate request. In migration mode
// such a client connects without a certificate and becomes anonymous,
// which the server reports like any other anonymous connection.
func TestMigrationStockGoClientWithholdsUntrustedCertificate(t *testing.T) {
	ca := pkitest.NewCA(t)
	otherCA := pkitest.NewCA(t, pkitest.WithName("other CA"))
	addr, migration, hooks := migrationServer(t, ca, nil)
	cfg := clientWithoutCertificate(t, ca)
	cfg.Certificates = []tls.Certificate{pkitest.Keystore(otherCA.Client(t, "intruder")).TLSCertificate()}
	withheld := servertest.Dial(t, addr, cfg)

	res, callErr := withheld.WhoAmI(callContext(t))

	require.NoError(t, callErr)
	assert.True(t, res.Response.GetAnonymous())
	assert.Equal(t, int64(1), migration.AnonymousConnections())
	anonymousAddrs, _, _ := hooks.snapshot()
	assert.Len(t, anonymousAddrs, 1)
}

func TestMigrationPolicyDeniesAnonymousByDefault(t *testing.T) {
	ca := pkitest.NewCA(t)
	policy, err := authz.FromFlags([]string{"*=*"}, nil)
	require.NoError(t, err)
	addr, migration, hooks := migrationServer(t, ca, policy)
	anonymous := servertest.Dial(t, addr, clientWithoutCertificate(t, ca))

	_, callErr := anonymous.WhoAmI(callContext(t))

	assert.Equal(t, codes.PermissionDenied, status.Code(callErr))
	assert.Equal(t, "anonymous may not call /mtls.v1.DemoService/WhoAmI: no rule matched", status.Convert(callErr).Message())
	assert.Equal(t, int64(1), migration.AnonymousCalls(), "denied anonymous calls are counted too")
	_, _, denials := hooks.snapshot()
	require.Len(t, denials, 1)
	assert.True(t, denials[0].Peer.Anonymous())
}

func TestMigrationPolicyAllowsNamedAnonymous(t *testing.T) {
	ca := pkitest.NewCA(t)
	policy, err := authz.FromFlags([]string{"*=*", "anonymous=/grpc.health.v1.Health/*"}, nil)
	require.NoError(t, err)
	addr, _, _ := migrationServer(t, ca, policy)
	anonymous := servertest.Dial(t, addr, clientWithoutCertificate(t, ca))
	ctx := callContext(t)

	_, healthErr := anonymous.Health(ctx, "")
	_, whoAmIErr := anonymous.WhoAmI(ctx)

	assert.NoError(t, healthErr)
	assert.Equal(t, codes.PermissionDenied, status.Code(whoAmIErr))
}

// A tls.Config that admits clients without a certificate, on a server
// not in migration mode, must not let them reach a handler.
func TestWithoutMigrationAnonymousIsUnauthenticated(t *testing.T) {
	ca := pkitest.NewCA(t)
	cfg, err := pki.ServerTLSConfig(pkitest.Keystore(ca.Server(t)), ca.Truststore(), pki.TLSOptions{AllowMissingClientCert: true})
	require.NoError(t, err)
	addr := servertest.Start(t, cfg, server.Options{})
	anonymous := servertest.Dial(t, addr, clientWithoutCertificate(t, ca))
	ctx := callContext(t)

	_, unaryErr := anonymous.WhoAmI(ctx)
	_, streamErr := anonymous.Stream(ctx, []string{"one"})

	assert.Equal(t, codes.Unauthenticated, status.Code(unaryErr))
	assert.Equal(t, codes.Unauthenticated, status.Code(streamErr))
}

func TestDefaultServerRejectsClientWithoutCertificate(t *testing.T) {
	ca := pkitest.NewCA(t)
	hooks := newHookLog()
	addr := servertest.Start(t, ca.ServerTLSConfig(t), server.Options{OnHandshakeFailure: hooks.onFailure})
	anonymous := servertest.Dial(t, addr, clientWithoutCertificate(t, ca))

	_, callErr := anonymous.WhoAmI(callContext(t))
	hooks.waitFailure(t)

	assert.Equal(t, pki.ReasonNoClientCertificate, pki.Diagnose(callErr, pki.RoleClient).Reason)
	_, failures, _ := hooks.snapshot()
	require.Len(t, failures, 1)
	assert.Equal(t, pki.ReasonNoClientCertificate, failures[0].Diagnosis.Reason)
}
