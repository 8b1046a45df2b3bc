package authz_test

import (
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/grpc-mtls/grpc-mtls/pki"
	"github.com/grpc-mtls/grpc-mtls/pki/pkitest"
	"github.com/grpc-mtls/grpc-mtls/server"
	"github.com/grpc-mtls/grpc-mtls/server/authz"
)

const (
	methodWhoAmI = "/mtls.v1.DemoService/WhoAmI"
	methodEcho   = "/mtls.v1.DemoService/Echo"
	methodHealth = "/grpc.health.v1.Health/Check"
)

// peerWith issues a real client certificate for req and returns the peer
// the server would see.
func peerWith(t *testing.T, ca *pkitest.CA, req pki.LeafRequest) server.Peer {
	t.Helper()
	req.Role = pki.RoleClient
	return peerOf(ca.Issue(t, req))
}

func peerOf(leaf *pki.Leaf) server.Peer {
	return server.Peer{Identity: pki.IdentityOf(leaf.Cert)}
}

func spiffePeer(t *testing.T, ca *pkitest.CA, id string) server.Peer {
	t.Helper()
	u, err := url.Parse(id)
	require.NoError(t, err)
	return peerWith(t, ca, pki.LeafRequest{CommonName: "client", URIs: []*url.URL{u}})
}

func mustCompile(t *testing.T, spec authz.Spec) *authz.Policy {
	t.Helper()
	p, err := authz.Compile(spec)
	require.NoError(t, err)
	return p
}

func allowOnly(principal string, methods ...string) authz.Spec {
	return authz.Spec{Allow: []authz.RuleSpec{{Name: "rule", Principals: []string{principal}, Methods: methods}}}
}

func TestPrincipalMatching(t *testing.T) {
	ca := pkitest.NewCA(t)
	client := spiffePeer(t, ca, "spiffe://grpc-mtls.local/client")
	teamMember := spiffePeer(t, ca, "spiffe://grpc-mtls.local/team/billing/api")
	otherDomain := spiffePeer(t, ca, "spiffe://other.local/client")
	httpsURI := spiffePeer(t, ca, "https://example.org/billing")
	dnsPeer := peerWith(t, ca, pki.LeafRequest{CommonName: "api", DNSNames: []string{"API.Billing.Internal"}})
	cnPeer := peerWith(t, ca, pki.LeafRequest{CommonName: "billing-worker", DNSNames: []string{"worker"}})
	anonymous := server.Peer{}

	tests := []struct {
		name      string
		principal string
		peer      server.Peer
		allowed   bool
		matched   string
	}{
		{"spiffe exact", "spiffe://grpc-mtls.local/client", client, true, "spiffe://grpc-mtls.local/client"},
		{"spiffe exact other path", "spiffe://grpc-mtls.local/client", teamMember, false, ""},
		{"spiffe exact other domain", "spiffe://grpc-mtls.local/client", otherDomain, false, ""},
		{"spiffe path prefix", "spiffe://grpc-mtls.local/team/**", teamMember, true, "spiffe://grpc-mtls.local/team/billing/api"},
		{"spiffe prefix needs the segment", "spiffe://grpc-mtls.local/team/**", client, false, ""},
		{"spiffe star stays in segment", "spiffe://grpc-mtls.local/team/*", teamMember, false, ""},
		{"spiffe star in segment", "spiffe://grpc-mtls.local/team/*/api", teamMember, true, "spiffe://grpc-mtls.local/team/billing/api"},
		{"spiffe any domain", "spiffe://*/client", otherDomain, true, "spiffe://other.local/client"},
		{"spiffe ignores other URIs", "spiffe://example.org/billing", httpsURI, false, ""},
		{"uri exact", "uri:https://example.org/billing", httpsURI, true, "https://example.org/billing"},
		{"uri glob", "uri:https://example.org/*", httpsURI, true, "https://example.org/billing"},
		{"uri matches spiffe too", "uri:spiffe://grpc-mtls.local/*", client, true, "spiffe://grpc-mtls.local/client"},
		{"dns case-insensitive", "dns:api.billing.internal", dnsPeer, true, "API.Billing.Internal"},
		{"dns star is one label", "dns:*.internal", dnsPeer, false, ""},
		{"dns star label", "dns:*.billing.internal", dnsPeer, true, "API.Billing.Internal"},
		{"dns double star", "dns:**.internal", dnsPeer, true, "API.Billing.Internal"},
		{"cn exact", "cn:billing-worker", cnPeer, true, "billing-worker"},
		{"cn glob", "cn:billing-*", cnPeer, true, "billing-worker"},
		{"cn case-sensitive", "cn:Billing-worker", cnPeer, false, ""},
		{"any verified", "*", cnPeer, true, "billing-worker"},
		{"any verified excludes anonymous", "*", anonymous, false, ""},
		{"anonymous", "anonymous", anonymous, true, "anonymous"},
		{"anonymous excludes verified", "anonymous", client, false, ""},
		{"spiffe excludes anonymous", "spiffe://grpc-mtls.local/**", anonymous, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustCompile(t, allowOnly(tt.principal, "*"))

			d := p.Authorize(tt.peer, methodWhoAmI)

			assert.Equal(t, tt.allowed, d.Allowed)
			if tt.allowed {
				assert.Equal(t, tt.matched, d.Principal)
			}
		})
	}
}

func TestMethodMatching(t *testing.T) {
	ca := pkitest.NewCA(t)
	client := spiffePeer(t, ca, "spiffe://grpc-mtls.local/client")

	tests := []struct {
		name    string
		method  string
		call    string
		allowed bool
	}{
		{"every method", "*", methodEcho, true},
		{"double star", "**", methodHealth, true},
		{"exact", methodWhoAmI, methodWhoAmI, true},
		{"exact other method", methodWhoAmI, methodEcho, false},
		{"service", "/mtls.v1.DemoService/*", methodEcho, true},
		{"service other service", "/mtls.v1.DemoService/*", methodHealth, false},
		{"package glob", "/mtls.v1.*/*", methodEcho, true},
		{"method prefix", "/mtls.v1.DemoService/Echo*", "/mtls.v1.DemoService/EchoStream", true},
		{"no partial match", "/mtls.v1.DemoService/Echo", "/mtls.v1.DemoService/EchoStream", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustCompile(t, allowOnly("*", tt.method))

			d := p.Authorize(client, tt.call)

			assert.Equal(t, tt.allowed, d.Allowed)
		})
	}
}

func TestDenyOverridesAllow(t *testing.T) {
	ca := pkitest.NewCA(t)
	guest := spiffePeer(t, ca, "spiffe://grpc-mtls.local/guest")
	p := mustCompile(t, authz.Spec{
		Allow: []authz.RuleSpec{{Name: "everyone", Principals: []string{"*"}, Methods: []string{"*"}}},
		Deny:  []authz.RuleSpec{{Name: "no-guests", Principals: []string{"spiffe://grpc-mtls.local/guest"}, Methods: []string{"/mtls.v1.DemoService/*"}}},
	})

	echo := p.Authorize(guest, methodEcho)
	health := p.Authorize(guest, methodHealth)

	assert.False(t, echo.Allowed)
	assert.Equal(t, "spiffe://grpc-mtls.local/guest", echo.Principal)
	assert.Equal(t, `deny "no-guests" (spiffe://grpc-mtls.local/guest on /mtls.v1.DemoService/*)`, echo.Rule)
	assert.Equal(t, `denied by rule deny "no-guests" (spiffe://grpc-mtls.local/guest on /mtls.v1.DemoService/*)`, echo.Reason)
	assert.True(t, health.Allowed)
	assert.Equal(t, `allow "everyone" (* on *)`, health.Rule)
}

func TestDenialNamesClosestRule(t *testing.T) {
	ca := pkitest.NewCA(t)
	reader := spiffePeer(t, ca, "spiffe://grpc-mtls.local/reader")
	stranger := spiffePeer(t, ca, "spiffe://grpc-mtls.local/stranger")
	p := mustCompile(t, authz.Spec{Allow: []authz.RuleSpec{
		{Name: "reader", Principals: []string{"spiffe://grpc-mtls.local/reader"}, Methods: []string{methodWhoAmI}},
	}})

	readerEcho := p.Authorize(reader, methodEcho)
	strangerEcho := p.Authorize(stranger, methodEcho)

	assert.False(t, readerEcho.Allowed)
	assert.Equal(t, `no rule matched: rule allow "reader" (spiffe://grpc-mtls.local/reader on /mtls.v1.DemoService/WhoAmI) covers this caller but not this method`, readerEcho.Reason)
	assert.False(t, strangerEcho.Allowed)
	assert.Equal(t, "spiffe://grpc-mtls.local/stranger", strangerEcho.Principal)
	assert.Equal(t, "no rule matched", strangerEcho.Reason)
	assert.Empty(t, strangerEcho.Rule)
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name string
		spec authz.Spec
		want string
	}{
		{"no allow rule", authz.Spec{}, "no allow rule"},
		{"no principals", allowOnly("", "*"), `allow rule "rule": principal "": use spiffe://`},
		{"unknown prefix", allowOnly("email:a@example.org", "*"), `principal "email:a@example.org": use spiffe://TRUST-DOMAIN/PATH`},
		{"uppercase trust domain", allowOnly("spiffe://Example.org/x", "*"), "lowercase trust domain"},
		{"empty trust domain", allowOnly("spiffe:///x", "*"), "lowercase trust domain"},
		{"empty name", allowOnly("dns:", "*"), "the name after the prefix is empty"},
		{"method without slash", allowOnly("*", "mtls.v1.DemoService/Echo"), `method "mtls.v1.DemoService/Echo": use /package.Service/Method`},
		{"method without service", allowOnly("*", "/Echo"), `method "/Echo"`},
		{"method trailing slash", allowOnly("*", "/mtls.v1.DemoService/"), `method "/mtls.v1.DemoService/"`},
		{"no methods", allowOnly("*"), "no methods"},
		{"unnamed rule numbered", authz.Spec{Allow: []authz.RuleSpec{{Principals: []string{"*"}, Methods: []string{"*"}}, {Principals: []string{"bad"}, Methods: []string{"*"}}}}, `allow rule "allow #2"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := authz.Compile(tt.spec)

			assert.ErrorContains(t, err, tt.want)
		})
	}
}

func TestParseFlagRule(t *testing.T) {
	tests := []struct {
		text       string
		principals []string
		methods    []string
	}{
		{"spiffe://grpc-mtls.local/client=/mtls.v1.DemoService/*", []string{"spiffe://grpc-mtls.local/client"}, []string{"/mtls.v1.DemoService/*"}},
		{"cn:a, dns:b.internal=/x.S/A,/x.S/B", []string{"cn:a", "dns:b.internal"}, []string{"/x.S/A", "/x.S/B"}},
		{"uri:https://example.org/?q=1=*", []string{"uri:https://example.org/?q=1"}, []string{"*"}},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			r, err := authz.ParseFlagRule(tt.text)

			require.NoError(t, err)
			assert.Equal(t, tt.principals, r.Principals)
			assert.Equal(t, tt.methods, r.Methods)
		})
	}
}

func TestFromFlagsErrors(t *testing.T) {
	_, noEquals := authz.FromFlags([]string{"spiffe://grpc-mtls.local/client"}, nil)
	_, denyOnly := authz.FromFlags(nil, []string{"*=*"})
	_, badDeny := authz.FromFlags([]string{"*=*"}, []string{"nobody"})

	assert.ErrorContains(t, noEquals, `--allow: rule "spiffe://grpc-mtls.local/client": use PRINCIPAL=METHOD`)
	assert.ErrorContains(t, denyOnly, "--allow/--deny: the policy has no allow rule")
	assert.ErrorContains(t, badDeny, "--deny: rule \"nobody\"")
}

func TestRulesListsDenyFirst(t *testing.T) {
	p, err := authz.FromFlags([]string{"*=*"}, []string{"anonymous=*"})
	require.NoError(t, err)

	rules := p.Rules()

	require.Len(t, rules, 2)
	assert.Equal(t, authz.Deny, rules[0].Effect)
	assert.Equal(t, "deny #1", rules[0].Name)
	assert.Equal(t, authz.Allow, rules[1].Effect)
	assert.Equal(t, "allow #1", rules[1].Name)
}
