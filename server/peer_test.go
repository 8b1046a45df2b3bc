package server

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	grpcpeer "google.golang.org/grpc/peer"

	"github.com/grpc-mtls/grpc-mtls/pki"
	"github.com/grpc-mtls/grpc-mtls/pki/pkitest"
)

func TestPeerFromContext(t *testing.T) {
	ca := pkitest.NewCA(t)
	connPeer := Peer{Identity: pki.IdentityOf(ca.Client(t, "conn").Cert)}
	explicitPeer := Peer{Identity: pki.IdentityOf(ca.Client(t, "explicit").Cert)}
	grpcCtx := grpcpeer.NewContext(context.Background(), &grpcpeer.Peer{AuthInfo: AuthInfo{Peer: connPeer}})

	tests := []struct {
		name     string
		ctx      context.Context
		wantName string
		wantOK   bool
	}{
		{"connection peer from the transport", grpcCtx, "spiffe://test.local/conn", true},
		{"explicit peer wins", ContextWithPeer(grpcCtx, explicitPeer), "spiffe://test.local/explicit", true},
		{"explicit peer alone", ContextWithPeer(context.Background(), explicitPeer), "spiffe://test.local/explicit", true},
		{"no peer", context.Background(), "", false},
		{"peer without verified certificate", grpcpeer.NewContext(context.Background(), &grpcpeer.Peer{AuthInfo: AuthInfo{}}), "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, ok := PeerFromContext(tt.ctx)
			assert.Equal(t, tt.wantOK, ok)
			if tt.wantOK {
				assert.Equal(t, tt.wantName, p.Identity.Name())
			}
		})
	}
}
