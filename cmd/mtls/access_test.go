package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/grpc-mtls/grpc-mtls/client"
	"github.com/grpc-mtls/grpc-mtls/pki"
	"github.com/grpc-mtls/grpc-mtls/server"
	"github.com/grpc-mtls/grpc-mtls/server/servertest"
)

// syncBuffer is a log destination that handler goroutines may share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// accessServer is a demo PKI and a server configured from serve's access
// flags, the way runServe configures it.
type accessServer struct {
	dir       string
	addr      string
	log       *syncBuffer
	migration *server.Migration
	failures  chan server.HandshakeFailure
}

func parseAccessFlags(t *testing.T, args ...string) (*accessFlags, error) {
	t.Helper()
	fs := newFlagSet("serve", io.Discard, "serve")
	var a accessFlags
	a.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	return &a, a.validate()
}

func startAccessServer(t *testing.T, dir string, args ...string) *accessServer {
	t.Helper()
	a, err := parseAccessFlags(t, args...)
	require.NoError(t, err)
	s := &accessServer{dir: dir, log: &syncBuffer{}, failures: make(chan server.HandshakeFailure, 8)}
	log := slog.New(slog.NewTextHandler(s.log, nil))
	ks := loadKeystoreFiles(t, dir, pki.FileServerCert, pki.FileServerKey)
	ts := loadTrust(t, dir)
	cfg, err := pki.ServerTLSConfig(ks, ts, a.tlsOptions(pki.TLSOptions{}))
	require.NoError(t, err)
	logFailure := logHandshakeFailure(log, pki.Material{Keystore: ks, Truststore: ts})
	opts := server.Options{
		OnHandshakeFailure: func(f server.HandshakeFailure) { logFailure(f); s.failures <- f },
		OnCall:             logCall(log),
	}
	stop, err := a.apply(cfg, ts, &opts, log)
	require.NoError(t, err)
	t.Cleanup(stop)
	s.migration = opts.Migration
	s.addr = servertest.Start(t, cfg, opts)
	return s
}

func loadKeystoreFiles(t *testing.T, dir, certName, keyName string) *pki.Keystore {
	t.Helper()
	ks, err := pki.LoadKeystore(pki.KeystoreSource{CertFile: filepath.Join(dir, certName), KeyFile: filepath.Join(dir, keyName)})
	require.NoError(t, err)
	return ks
}

func loadTrust(t *testing.T, dir string) *pki.Truststore {
	t.Helper()
	ts, err := pki.LoadTruststore(pki.TruststoreSource{File: filepath.Join(dir, pki.FileCACert)})
	require.NoError(t, err)
	return ts
}

// dialAs returns a client presenting the named identity of the demo PKI
// ("client" or "guest"), or no certificate for "".
func (s *accessServer) dialAs(t *testing.T, name string) *client.Client {
	t.Helper()
	var ks *pki.Keystore
	if name != "" {
		ks = loadKeystoreFiles(t, s.dir, name+".crt", name+".key")
	}
	cfg, err := pki.ClientTLSConfig(ks, loadTrust(t, s.dir), "localhost", pki.TLSOptions{})
	require.NoError(t, err)
	return servertest.Dial(t, s.addr, cfg)
}

func (s *accessServer) nextFailure(t *testing.T) server.HandshakeFailure {
	t.Helper()
	select {
	case f := <-s.failures:
		return f
	case <-time.After(10 * time.Second):
		t.Fatal("the server reported no failed handshake")
		return server.HandshakeFailure{}
	}
}

func callContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestAccessFlagsValidation(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"policy and allow", []string{"--policy", "p.yaml", "--allow", "*=*"}, "--policy and --allow/--deny both given"},
		{"deny alone", []string{"--deny", "*=*"}, "--deny without --allow"},
		{"bad stale policy", []string{"--crl-stale", "ignore"}, `--crl-stale: unknown stale CRL policy "ignore"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseAccessFlags(t, tt.args...)

			assert.ErrorContains(t, err, tt.want)
		})
	}
}

func TestServeAllowFlagsDenyGuest(t *testing.T) {
	dir := initPKI(t)
	s := startAccessServer(t, dir, "--allow", "spiffe://grpc-mtls.local/client=/mtls.v1.DemoService/*,/grpc.health.v1.Health/*")

	_, clientErr := s.dialAs(t, "client").WhoAmI(callContext(t))
	_, guestErr := s.dialAs(t, "guest").Echo(callContext(t), "hi")

	assert.NoError(t, clientErr)
	assert.Equal(t, codes.PermissionDenied, status.Code(guestErr))
	assert.Equal(t, "spiffe://grpc-mtls.local/guest may not call /mtls.v1.DemoService/Echo: no rule matched", status.Convert(guestErr).Message())
	logs := s.log.String()
	assert.Contains(t, logs, `msg="authorization rule" rule="allow \"allow #1\"`)
	assert.Contains(t, logs, `msg="permission denied"`)
	assert.Contains(t, logs, "caller=spiffe://grpc-mtls.local/guest")
	assert.Contains(t, logs, "method=/mtls.v1.DemoService/Echo")
}

func TestServeAllowFromEnvironment(t *testing.T) {
	dir := initPKI(t)
	t.Setenv("MTLS_ALLOW", "spiffe://grpc-mtls.local/client=*\nspiffe://grpc-mtls.local/guest=/grpc.health.v1.Health/*")
	s := startAccessServer(t, dir)

	_, guestHealthErr := s.dialAs(t, "guest").Health(callContext(t), "")
	_, guestEchoErr := s.dialAs(t, "guest").Echo(callContext(t), "hi")

	assert.NoError(t, guestHealthErr)
	assert.Equal(t, codes.PermissionDenied, status.Code(guestEchoErr))
	assert.Equal(t, 2, strings.Count(s.log.String(), `msg="authorization rule"`))
}

// The shipped example policy must load, admit the demo client and deny
// the guest everything but health checks.
func TestServeExamplePolicy(t *testing.T) {
	dir := initPKI(t)
	s := startAccessServer(t, dir, "--policy", filepath.Join("..", "..", "examples", "policy.yaml"))

	_, clientErr := s.dialAs(t, "client").Echo(callContext(t), "hi")
	_, guestErr := s.dialAs(t, "guest").WhoAmI(callContext(t))
	_, guestHealthErr := s.dialAs(t, "guest").Health(callContext(t), "")

	assert.NoError(t, clientErr)
	assert.Equal(t, codes.PermissionDenied, status.Code(guestErr))
	assert.Contains(t, status.Convert(guestErr).Message(), `spiffe://grpc-mtls.local/guest may not call /mtls.v1.DemoService/WhoAmI: no rule matched: rule allow "health-checks"`)
	assert.NoError(t, guestHealthErr)
	assert.Contains(t, s.log.String(), `msg="authorization policy loaded: calls no rule allows are denied"`)
}

func TestServeCRLRejectsRevokedGuest(t *testing.T) {
	dir := initPKI(t, "--intermediate")
	code, _, stderr := runCLI(t, "pki", "revoke", "--ca-dir", dir, "--cert", filepath.Join(dir, pki.FileGuestCert))
	require.Equal(t, 0, code, stderr)
	s := startAccessServer(t, dir, "--crl", filepath.Join(dir, "intermediate.crl"))

	_, guestErr := s.dialAs(t, "guest").WhoAmI(callContext(t))
	failure := s.nextFailure(t)
	_, clientErr := s.dialAs(t, "client").WhoAmI(callContext(t))

	assert.ErrorContains(t, guestErr, "remote error: tls: bad certificate")
	assert.Equal(t, pki.ReasonRevoked, failure.Diagnosis.Reason)
	assert.NoError(t, clientErr)
	logs := s.log.String()
	assert.Contains(t, logs, `msg="CRL loaded" path=`+filepath.Join(dir, "intermediate.crl"))
	assert.Contains(t, logs, `msg="rejected handshake"`)
	assert.Contains(t, logs, "reason=revoked")
}

func TestServeStaleCRLRejectMode(t *testing.T) {
	dir := initPKI(t)
	ca, err := pki.LoadCA(filepath.Join(dir, pki.FileCACert), filepath.Join(dir, pki.FileCAKey), nil)
	require.NoError(t, err)
	crlFiles := pki.CRLFilesFor(filepath.Join(dir, pki.FileCACert))
	past := func() time.Time { return time.Now().Add(-48 * time.Hour) }
	_, err = pki.PublishCRL(ca, crlFiles, nil, pki.CRLOptions{Validity: 24 * time.Hour, Now: past})
	require.NoError(t, err)
	s := startAccessServer(t, dir, "--crl", crlFiles.CRL, "--crl-stale", "reject")

	_, first := s.dialAs(t, "client").WhoAmI(callContext(t))
	failure := s.nextFailure(t)
	_, second := s.dialAs(t, "guest").WhoAmI(callContext(t))
	s.nextFailure(t)

	require.Error(t, first)
	require.Error(t, second)
	assert.Equal(t, pki.ReasonCRLStale, failure.Diagnosis.Reason)
	logs := s.log.String()
	assert.Equal(t, 1, strings.Count(logs, "CRL is past its next update; rejecting every client of its CA"), "the warning is rate-limited")
	assert.Contains(t, logs, "crl_stale=reject")
}

func TestServeMigrationMode(t *testing.T) {
	dir := initPKI(t)
	s := startAccessServer(t, dir, "--allow-missing-client-cert")

	first, firstErr := s.dialAs(t, "").WhoAmI(callContext(t))
	_, secondErr := s.dialAs(t, "").WhoAmI(callContext(t))
	_, clientErr := s.dialAs(t, "client").WhoAmI(callContext(t))

	require.NoError(t, firstErr)
	assert.True(t, first.Response.GetAnonymous())
	require.NoError(t, secondErr)
	require.NoError(t, clientErr)
	require.NotNil(t, s.migration)
	assert.Equal(t, int64(2), s.migration.AnonymousConnections())
	logs := s.log.String()
	assert.Contains(t, logs, "MIGRATION MODE is on (--allow-missing-client-cert)")
	assert.Equal(t, 1, strings.Count(logs, "MIGRATION MODE: admitted a client without a certificate"), "one line per client host per interval")
	assert.Contains(t, logs, "caller=anonymous")
}

func TestServeWithoutMigrationRejectsAnonymous(t *testing.T) {
	dir := initPKI(t)
	s := startAccessServer(t, dir)

	_, err := s.dialAs(t, "").WhoAmI(callContext(t))
	failure := s.nextFailure(t)

	require.Error(t, err)
	assert.Equal(t, pki.ReasonNoClientCertificate, failure.Diagnosis.Reason)
	assert.Nil(t, s.migration)
	assert.NotContains(t, s.log.String(), "MIGRATION")
}

func TestLogLimiter(t *testing.T) {
	l := newLogLimiter(time.Minute)
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	l.now = func() time.Time { return now }

	first, _ := l.allow("10.0.0.1")
	second, _ := l.allow("10.0.0.1")
	other, _ := l.allow("10.0.0.2")
	now = now.Add(time.Minute)
	later, suppressed := l.allow("10.0.0.1")

	assert.True(t, first)
	assert.False(t, second)
	assert.True(t, other)
	assert.True(t, later)
	assert.Equal(t, 1, suppressed)
}
