package authz_test

import (
	"testing"

	"github.com/grpc-mtls/grpc-mtls/pki/pkitest"
	"github.com/grpc-mtls/grpc-mtls/server/authz"
)

// BenchmarkAuthorize measures one decision against a policy of a deny
// rule and three allow rules, the last one matching.
func BenchmarkAuthorize(b *testing.B) {
	ca := pkitest.NewCA(b)
	leaf := ca.Client(b, "team/billing/api")
	peer := peerOf(leaf)
	policy, err := authz.FromFlags([]string{
		"spiffe://test.local/client=/mtls.v1.DemoService/*",
		"dns:*.internal,cn:ops-*=/grpc.health.v1.Health/*",
		"spiffe://test.local/team/**=/mtls.v1.DemoService/Echo*,/mtls.v1.DemoService/WhoAmI",
	}, []string{"spiffe://test.local/guest=*"})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if d := policy.Authorize(peer, methodEcho); !d.Allowed {
			b.Fatalf("denied: %s", d.Reason)
		}
	}
}
