package server_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/grpc-mtls/grpc-mtls/client"
	"github.com/grpc-mtls/grpc-mtls/pki"
	"github.com/grpc-mtls/grpc-mtls/pki/pkitest"
	"github.com/grpc-mtls/grpc-mtls/server"
)

// hookWait bounds how long a test waits for a server hook that must come.
// It is a deadlock guard, not a speed goal.
const hookWait = 10 * time.Second

// testServer is a server.New server on a loopback port, with its hooks
// recorded.
type testServer struct {
	addr     string
	leaf     *pki.Leaf
	failures chan server.HandshakeFailure

	mu    sync.Mutex
	calls []server.CallInfo
}

// startServer serves on 127.0.0.1 with a server certificate of ca for
// localhost and 127.0.0.1, trusting clients of ca.
func startServer(t *testing.T, ca *pkitest.CA) *testServer {
	t.Helper()
	ts := &testServer{leaf: ca.Server(t, "localhost", "127.0.0.1"), failures: make(chan server.HandshakeFailure, 32)}
	cfg, err := pki.ServerTLSConfig(pkitest.Keystore(ts.leaf), ca.Truststore(), pki.TLSOptions{})
	require.NoError(t, err)
	srv := server.New(cfg, server.Options{
		ServerCertificate: func() *x509.Certificate { return ts.leaf.Cert },
		OnHandshakeFailure: func(f server.HandshakeFailure) {
			select {
			case ts.failures <- f:
			default: // gRPC's reconnection attempts may add more than a test reads
			}
		},
		OnCall: func(c server.CallInfo) {
			ts.mu.Lock()
			defer ts.mu.Unlock()
			ts.calls = append(ts.calls, c)
		},
	})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	ts.addr = lis.Addr().String()
	return ts
}

// nextFailure returns the next handshake failure the server reported.
func (ts *testServer) nextFailure(t *testing.T) server.HandshakeFailure {
	t.Helper()
	select {
	case f := <-ts.failures:
		return f
	case <-time.After(hookWait):
		t.Fatalf("the server reported no handshake failure within %s", hookWait)
		return server.HandshakeFailure{}
	}
}

func (ts *testServer) recordedCalls() []server.CallInfo {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return append([]server.CallInfo(nil), ts.calls...)
}

func dial(t *testing.T, addr string, cfg *tls.Config) *client.Client {
	t.Helper()
	c, err := client.Dial(addr, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func clientConfig(t *testing.T, ks *pki.Keystore, ts *pki.Truststore, serverName string) *tls.Config {
	t.Helper()
	cfg, err := pki.ClientTLSConfig(ks, ts, serverName, pki.TLSOptions{})
	require.NoError(t, err)
	return cfg
}

func callContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hookWait)
	t.Cleanup(cancel)
	return ctx
}

func TestMutualTLSUnaryAndStream(t *testing.T) {
	ca := pkitest.NewCA(t)
	srv := startServer(t, ca)
	clientLeaf := ca.Client(t, "alice")
	c := dial(t, srv.addr, clientConfig(t, pkitest.Keystore(clientLeaf), ca.Truststore(), ""))
	ctx := callContext(t)
	wantID := "spiffe://" + pkitest.TrustDomain + "/alice"
	wantSerial := fmt.Sprintf("%x", clientLeaf.Cert.SerialNumber)

	res, err := c.WhoAmI(ctx)
	require.NoError(t, err)

	seen := res.Response.GetClient()
	assert.Equal(t, []string{wantID}, seen.GetUris(), "the server saw the client's SPIFFE ID")
	assert.Equal(t, wantSerial, seen.GetSerial(), "the server saw the client's serial")
	assert.Equal(t, "CN=alice", seen.GetSubject())
	assert.Equal(t, ca.Cert.Subject.String(), seen.GetIssuer())
	assert.Equal(t, clientLeaf.Cert.NotAfter.Unix(), seen.GetNotAfter().AsTime().Unix())
	assert.Equal(t, "TLS 1.3", res.Response.GetConnection().GetTlsVersion())
	assert.Equal(t, "h2", res.Response.GetConnection().GetAlpn())
	assert.False(t, res.Response.GetConnection().GetResumed(), "the first connection makes a full handshake")
	assert.Equal(t, fmt.Sprintf("%x", srv.leaf.Cert.SerialNumber), res.Response.GetServer().GetSerial())

	assert.Equal(t, fmt.Sprintf("%x", srv.leaf.Cert.SerialNumber), res.Server.Identity.Serial, "the client verified the server's certificate")
	assert.Equal(t, []string{"localhost"}, res.Server.Identity.DNSNames)
	assert.Equal(t, "TLS 1.3", res.Server.Connection.Version)

	echo, err := c.Echo(ctx, "ping")
	require.NoError(t, err)
	assert.Equal(t, "ping", echo.GetMessage())
	assert.Equal(t, wantID, echo.GetCaller())

	replies, err := c.Stream(ctx, []string{"one", "two", "three"})
	require.NoError(t, err)
	require.Len(t, replies, 3)
	for i, r := range replies {
		assert.Equal(t, []string{"one", "two", "three"}[i], r.GetMessage())
		assert.Equal(t, int64(i+1), r.GetSequence())
		assert.Equal(t, wantID, r.GetCaller())
	}

	serving, err := c.Health(ctx, "")
	require.NoError(t, err)
	assert.Equal(t, healthpb.HealthCheckResponse_SERVING, serving)

	calls := srv.recordedCalls()
	require.Len(t, calls, 4, "WhoAmI, Echo, EchoStream and Health reached the call hook")
	methods := []string{"/mtls.v1.DemoService/WhoAmI", "/mtls.v1.DemoService/Echo", "/mtls.v1.DemoService/EchoStream", "/grpc.health.v1.Health/Check"}
	for i, call := range calls {
		assert.Equal(t, methods[i], call.Method)
		assert.Equal(t, codes.OK, call.Code, call.Method)
		assert.Equal(t, wantID, call.Peer.Identity.SPIFFEID(), "%s: the interceptor placed the verified peer", call.Method)
		assert.Equal(t, wantSerial, call.Peer.Identity.Serial, call.Method)
		require.Len(t, call.Peer.Chain, 2, "%s: leaf and CA", call.Method)
		assert.Equal(t, ca.Cert.Subject.String(), call.Peer.Chain[1].Subject)
	}
	assert.Empty(t, srv.failures, "no handshake failed")
}

// rejectionCase is a client that the server or the client itself must
// reject, with the reasons each side must give.
type rejectionCase struct {
	name string
	// clientConfig builds the client's TLS config against the server's CA.
	clientConfig func(t *testing.T, serverCA *pkitest.CA) *tls.Config
	// clientErr is a substring of the client's error.
	clientErr    string
	clientReason pki.Reason
	// serverErr is a substring of the error the server's hook received.
	serverErr    string
	serverReason pki.Reason
}

func TestMutualTLSRejections(t *testing.T) {
	tests := []rejectionCase{
		{
			name: "no client certificate",
			clientConfig: func(t *testing.T, serverCA *pkitest.CA) *tls.Config {
				return clientConfig(t, nil, serverCA.Truststore(), "")
			},
			clientErr:    "remote error: tls: certificate required",
			clientReason: pki.ReasonNoClientCertificate,
			serverErr:    "client didn't provide a certificate",
			serverReason: pki.ReasonNoClientCertificate,
		},
		{
			name: "client certificate from another CA",
			clientConfig: func(t *testing.T, serverCA *pkitest.CA) *tls.Config {
				other := pkitest.NewCA(t, pkitest.WithName("other CA"))
				return clientConfig(t, pkitest.Keystore(other.Client(t, "mallory")), serverCA.Truststore(), "")
			},
			clientErr:    "remote error: tls: unknown certificate authority",
			clientReason: pki.ReasonPeerRejectedAuthority,
			serverErr:    "x509: certificate signed by unknown authority",
			serverReason: pki.ReasonUnknownAuthority,
		},
		{
			name: "server name not in the certificate",
			clientConfig: func(t *testing.T, serverCA *pkitest.CA) *tls.Config {
				return clientConfig(t, pkitest.Keystore(serverCA.Client(t, "alice")), serverCA.Truststore(), "billing.internal")
			},
			clientErr:    "x509: certificate is valid for localhost, not billing.internal",
			clientReason: pki.ReasonNameMismatch,
			serverErr:    "remote error: tls: bad certificate",
			serverReason: pki.ReasonPeerRejectedCert,
		},
		{
			name: "server certificate from a CA the client does not trust",
			clientConfig: func(t *testing.T, serverCA *pkitest.CA) *tls.Config {
				other := pkitest.NewCA(t, pkitest.WithName("client-side CA"))
				return clientConfig(t, pkitest.Keystore(serverCA.Client(t, "alice")), other.Truststore(), "")
			},
			clientErr:    "x509: certificate signed by unknown authority",
			clientReason: pki.ReasonUnknownAuthority,
			serverErr:    "remote error: tls: bad certificate",
			serverReason: pki.ReasonPeerRejectedCert,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ca := pkitest.NewCA(t)
			srv := startServer(t, ca)
			c := dial(t, srv.addr, tt.clientConfig(t, ca))

			res, err := c.WhoAmI(callContext(t))

			assert.Nil(t, res)
			require.Error(t, err, "the call must fail")
			assert.Equal(t, codes.Unavailable, status.Code(err))
			assert.ErrorContains(t, err, tt.clientErr)
			assert.Equal(t, tt.clientReason, pki.Diagnose(err, pki.RoleClient).Reason, "client-side diagnosis of %q", err)

			failure := srv.nextFailure(t)
			assert.ErrorContains(t, failure.Err, tt.serverErr)
			assert.Equal(t, tt.serverReason, failure.Diagnosis.Reason, "server-side diagnosis of %q", failure.Err)
			assert.Equal(t, failure.Err, failure.Diagnosis.Err, "the diagnosis keeps the raw error")
			assert.NotEmpty(t, failure.Diagnosis.Summary)
			tcp, ok := failure.Addr.(*net.TCPAddr)
			require.True(t, ok, "peer address %v is TCP", failure.Addr)
			assert.True(t, tcp.IP.IsLoopback(), "peer address %v", tcp)
			assert.Empty(t, srv.recordedCalls(), "no call reached a handler")
		})
	}
}

func TestSessionResumptionKeepsIdentity(t *testing.T) {
	ca := pkitest.NewCA(t)
	srv := startServer(t, ca)
	clientLeaf := ca.Client(t, "alice")
	cfg := clientConfig(t, pkitest.Keystore(clientLeaf), ca.Truststore(), "")
	ctx := callContext(t)
	wantSerial := fmt.Sprintf("%x", clientLeaf.Cert.SerialNumber)

	first, err := dial(t, srv.addr, cfg).WhoAmI(ctx)
	require.NoError(t, err)
	// A second connection with the same config, and so the same session
	// cache, offers the ticket the server sent on the first one.
	second, err := dial(t, srv.addr, cfg).WhoAmI(ctx)
	require.NoError(t, err)

	assert.False(t, first.Response.GetConnection().GetResumed(), "first connection: full handshake")
	assert.True(t, second.Response.GetConnection().GetResumed(), "second connection: resumed, as the server saw it")
	assert.True(t, second.Server.Connection.Resumed, "second connection: resumed, as the client saw it")
	assert.Equal(t, wantSerial, second.Response.GetClient().GetSerial(), "the resumed connection still carries the verified client certificate")
	assert.Equal(t, []string{"spiffe://" + pkitest.TrustDomain + "/alice"}, second.Response.GetClient().GetUris())
	assert.Equal(t, first.Server.Identity.Fingerprint, second.Server.Identity.Fingerprint, "the client still knows the server's certificate")

	calls := srv.recordedCalls()
	require.Len(t, calls, 2)
	assert.True(t, calls[1].Peer.Connection.Resumed)
	assert.Equal(t, wantSerial, calls[1].Peer.Identity.Serial)
}

func TestSessionResumptionDisabled(t *testing.T) {
	ca := pkitest.NewCA(t)
	srv := startServer(t, ca)
	cfg, err := pki.ClientTLSConfig(pkitest.Keystore(ca.Client(t, "alice")), ca.Truststore(), "", pki.TLSOptions{DisableSessionResumption: true})
	require.NoError(t, err)
	ctx := callContext(t)

	_, err = dial(t, srv.addr, cfg).WhoAmI(ctx)
	require.NoError(t, err)
	second, err := dial(t, srv.addr, cfg).WhoAmI(ctx)
	require.NoError(t, err)

	assert.False(t, second.Response.GetConnection().GetResumed(), "without a session cache every handshake is full")
}
