package client_test

import (
	"context"
	"crypto/tls"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/grpc-mtls/grpc-mtls/client"
	"github.com/grpc-mtls/grpc-mtls/pki"
	"github.com/grpc-mtls/grpc-mtls/pki/pkitest"
	"github.com/grpc-mtls/grpc-mtls/server"
)

// callRecorder stores the Peer of every call passed to the server's OnCall hook.
type callRecorder struct {
	mu    sync.Mutex
	peers []server.Peer
}

func (r *callRecorder) record(c server.CallInfo) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.peers = append(r.peers, c.Peer)
}

func (r *callRecorder) last(t *testing.T) server.Peer {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	require.NotEmpty(t, r.peers, "the server's OnCall hook saw no call")
	return r.peers[len(r.peers)-1]
}

func startServer(t *testing.T, cfg *tls.Config, calls *callRecorder) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := server.New(cfg, server.Options{OnCall: calls.record})
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return lis.Addr().String()
}

// whoAmI makes one call on a new connection and closes it.
func whoAmI(t *testing.T, addr string, cfg *tls.Config) *client.WhoAmIResult {
	t.Helper()
	c, err := client.Dial(addr, cfg)
	require.NoError(t, err)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := c.WhoAmI(ctx)
	require.NoError(t, err)
	return res
}

func TestResumedConnectionKeepsPeerIdentity(t *testing.T) {
	ca := pkitest.NewCA(t)
	serverLeaf := ca.Server(t, "localhost", "127.0.0.1")
	clientLeaf := ca.Client(t, "billing")
	serverCfg, err := pki.ServerTLSConfig(pkitest.Keystore(serverLeaf), ca.Truststore(), pki.TLSOptions{})
	require.NoError(t, err)
	calls := &callRecorder{}
	addr := startServer(t, serverCfg, calls)

	tests := []struct {
		name        string
		opts        pki.TLSOptions
		wantResumed bool
	}{
		{"default options resume", pki.TLSOptions{}, true},
		{"resumption disabled", pki.TLSOptions{DisableSessionResumption: true}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clientCfg, err := pki.ClientTLSConfig(pkitest.Keystore(clientLeaf), ca.Truststore(), "localhost", tt.opts)
			require.NoError(t, err)

			first := whoAmI(t, addr, clientCfg)
			require.False(t, first.Response.GetConnection().GetResumed(), "the first connection has no session to resume")
			second := whoAmI(t, addr, clientCfg)

			// The server's view, from the WhoAmI reply and from its hook.
			wantClient := pki.IdentityOf(clientLeaf.Cert)
			assert.Equal(t, tt.wantResumed, second.Response.GetConnection().GetResumed())
			assert.Equal(t, wantClient.Fingerprint, second.Response.GetClient().GetSha256Fingerprint())
			assert.Equal(t, []string{"spiffe://" + pkitest.TrustDomain + "/billing"}, second.Response.GetClient().GetUris())
			peer := calls.last(t)
			assert.Equal(t, tt.wantResumed, peer.Connection.Resumed)
			assert.Equal(t, wantClient.Fingerprint, peer.Identity.Fingerprint)
			assert.Len(t, peer.Chain, 2, "the verified chain is the client certificate and the CA")

			// The client's view of the server.
			assert.Equal(t, tt.wantResumed, second.Server.Connection.Resumed)
			assert.Equal(t, pki.IdentityOf(serverLeaf.Cert).Fingerprint, second.Server.Identity.Fingerprint)
		})
	}
}
