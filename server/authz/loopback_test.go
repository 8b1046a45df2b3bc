package authz_test

import (
	"context"
	"os"
	"path/filepath"
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

// reloadTimeout bounds the wait for a policy reload after the file
// changed; the watcher reacts within its settle delay.
const reloadTimeout = 10 * time.Second

// denials collects what the server's OnPermissionDenied hook receives.
type denials struct {
	mu   sync.Mutex
	list []server.Denial
}

func (d *denials) record(x server.Denial) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.list = append(d.list, x)
}

func (d *denials) all() []server.Denial {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]server.Denial(nil), d.list...)
}

func callContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestServerAllowsAndDeniesByIdentity(t *testing.T) {
	ca := pkitest.NewCA(t)
	policy, err := authz.FromFlags([]string{"spiffe://test.local/client=/mtls.v1.DemoService/*"}, nil)
	require.NoError(t, err)
	var denied denials
	addr := servertest.Start(t, ca.ServerTLSConfig(t), server.Options{Authorizer: policy, OnPermissionDenied: denied.record})
	allowed := servertest.Dial(t, addr, ca.ClientTLSConfig(t, "client", "localhost"))
	guest := servertest.Dial(t, addr, ca.ClientTLSConfig(t, "guest", "localhost"))
	ctx := callContext(t)

	res, allowedErr := allowed.WhoAmI(ctx)
	_, guestErr := guest.WhoAmI(ctx)

	require.NoError(t, allowedErr)
	assert.Equal(t, "spiffe://test.local/client", res.Response.GetAuthorization().GetPrincipal())
	assert.Equal(t, `allow "allow #1" (spiffe://test.local/client on /mtls.v1.DemoService/*)`, res.Response.GetAuthorization().GetRule())
	assert.Equal(t, codes.PermissionDenied, status.Code(guestErr))
	assert.Equal(t, "spiffe://test.local/guest may not call /mtls.v1.DemoService/WhoAmI: no rule matched", status.Convert(guestErr).Message())
	assert.Equal(t, pki.ReasonPermissionDenied, pki.Diagnose(guestErr, pki.RoleClient).Reason)
	got := denied.all()
	require.Len(t, got, 1)
	assert.Equal(t, "/mtls.v1.DemoService/WhoAmI", got[0].Method)
	assert.Equal(t, "spiffe://test.local/guest", got[0].Peer.Identity.SPIFFEID())
	assert.Equal(t, "no rule matched", got[0].Decision.Reason)
}

func TestServerPerMethodRules(t *testing.T) {
	ca := pkitest.NewCA(t)
	policy, err := authz.FromFlags([]string{
		"spiffe://test.local/client=*",
		"spiffe://test.local/reader=/mtls.v1.DemoService/WhoAmI,/grpc.health.v1.Health/*",
	}, nil)
	require.NoError(t, err)
	var denied denials
	addr := servertest.Start(t, ca.ServerTLSConfig(t), server.Options{Authorizer: policy, OnPermissionDenied: denied.record})
	reader := servertest.Dial(t, addr, ca.ClientTLSConfig(t, "reader", "localhost"))
	ctx := callContext(t)

	_, whoAmIErr := reader.WhoAmI(ctx)
	_, healthErr := reader.Health(ctx, "")
	_, echoErr := reader.Echo(ctx, "hello")
	_, streamErr := reader.Stream(ctx, []string{"one"})

	assert.NoError(t, whoAmIErr)
	assert.NoError(t, healthErr)
	assert.Equal(t, codes.PermissionDenied, status.Code(echoErr))
	assert.Contains(t, status.Convert(echoErr).Message(), `spiffe://test.local/reader may not call /mtls.v1.DemoService/Echo: no rule matched: rule allow "allow #2"`)
	assert.Equal(t, codes.PermissionDenied, status.Code(streamErr), "streams go through the policy too")
	assert.Contains(t, status.Convert(streamErr).Message(), "/mtls.v1.DemoService/EchoStream")
	assert.Len(t, denied.all(), 2)
}

func TestServerDenyRuleNamedInError(t *testing.T) {
	ca := pkitest.NewCA(t)
	policy, err := authz.FromFlags([]string{"spiffe://test.local/**=*"}, []string{"spiffe://test.local/guest=/mtls.v1.DemoService/*"})
	require.NoError(t, err)
	addr := servertest.Start(t, ca.ServerTLSConfig(t), server.Options{Authorizer: policy})
	guest := servertest.Dial(t, addr, ca.ClientTLSConfig(t, "guest", "localhost"))
	ctx := callContext(t)

	_, echoErr := guest.Echo(ctx, "hello")
	_, healthErr := guest.Health(ctx, "")

	assert.Equal(t, codes.PermissionDenied, status.Code(echoErr))
	assert.Equal(t, `spiffe://test.local/guest may not call /mtls.v1.DemoService/Echo: denied by rule deny "deny #1" (spiffe://test.local/guest on /mtls.v1.DemoService/*)`, status.Convert(echoErr).Message())
	assert.NoError(t, healthErr)
}

func TestServerWithoutPolicyAdmitsEveryClient(t *testing.T) {
	ca := pkitest.NewCA(t)
	addr := servertest.Start(t, ca.ServerTLSConfig(t), server.Options{})
	guest := servertest.Dial(t, addr, ca.ClientTLSConfig(t, "guest", "localhost"))

	res, err := guest.WhoAmI(callContext(t))

	require.NoError(t, err)
	assert.Nil(t, res.Response.GetAuthorization(), "no policy, no decision")
	assert.Equal(t, []string{"spiffe://test.local/guest"}, res.Response.GetClient().GetUris())
}

func writePolicy(t *testing.T, path, content string) {
	t.Helper()
	require.NoError(t, pki.WriteFileAtomic(path, []byte(content), pki.ModePublic))
}

const policyClientOnly = `
allow:
  - name: client-only
    principals: ["spiffe://test.local/client"]
    methods: ["*"]
`

const policyClientAndGuest = `
allow:
  - name: client-and-guest
    principals: ["spiffe://test.local/client", "spiffe://test.local/guest"]
    methods: ["*"]
`

// watchPolicy writes content to a new policy file and watches it. The
// returned channel receives every reload.
func watchPolicy(t *testing.T, content string) (string, *authz.FilePolicy, <-chan authz.Reload) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "policy.yaml")
	writePolicy(t, path, content)
	reloads := make(chan authz.Reload, 4)
	policy, err := authz.WatchFile(path, authz.WatchOptions{OnReload: func(r authz.Reload) { reloads <- r }})
	require.NoError(t, err)
	t.Cleanup(func() { _ = policy.Close() })
	return path, policy, reloads
}

func nextReload(t *testing.T, reloads <-chan authz.Reload) authz.Reload {
	t.Helper()
	select {
	case r := <-reloads:
		return r
	case <-time.After(reloadTimeout):
		t.Fatal("the policy file changed but no reload was reported")
		return authz.Reload{}
	}
}

func TestFilePolicyReloadsOnChange(t *testing.T) {
	ca := pkitest.NewCA(t)
	path, policy, reloads := watchPolicy(t, policyClientOnly)
	addr := servertest.Start(t, ca.ServerTLSConfig(t), server.Options{Authorizer: policy})
	guest := servertest.Dial(t, addr, ca.ClientTLSConfig(t, "guest", "localhost"))
	ctx := callContext(t)
	_, before := guest.WhoAmI(ctx)
	require.Equal(t, codes.PermissionDenied, status.Code(before))

	writePolicy(t, path, policyClientAndGuest)
	r := nextReload(t, reloads)
	res, after := guest.WhoAmI(ctx)

	require.NoError(t, r.Err)
	assert.Equal(t, path, r.Path)
	require.NoError(t, after, "the same connection sees the new policy")
	assert.Equal(t, `allow "client-and-guest" (spiffe://test.local/client, spiffe://test.local/guest on *)`, res.Response.GetAuthorization().GetRule())
}

func TestFilePolicyKeepsOldPolicyOnError(t *testing.T) {
	ca := pkitest.NewCA(t)
	path, policy, reloads := watchPolicy(t, policyClientOnly)
	addr := servertest.Start(t, ca.ServerTLSConfig(t), server.Options{Authorizer: policy})
	client := servertest.Dial(t, addr, ca.ClientTLSConfig(t, "client", "localhost"))
	ctx := callContext(t)

	writePolicy(t, path, "allow:\n  - principal: [\"*\"]\n")
	r := nextReload(t, reloads)
	_, callErr := client.WhoAmI(ctx)

	assert.ErrorContains(t, r.Err, "load policy "+path)
	assert.ErrorContains(t, r.Err, "field principal not found")
	assert.Same(t, policy.Policy(), r.Policy, "the reported policy is the one in force")
	assert.NoError(t, callErr, "the previous policy still admits the client")
}

func TestLoadFileErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		content string
		want    string
	}{
		{"not yaml", "allow: [", "invalid YAML"},
		{"unknown key", "allow:\n  - principals: [\"*\"]\n    method: [\"*\"]\n", "field method not found"},
		{"comment only", "# nothing here\n", "no YAML document"},
		{"bad principal", "allow:\n  - name: x\n    principals: [\"email:a\"]\n    methods: [\"*\"]\n", `allow rule "x": principal "email:a"`},
		{"no allow rules", "deny:\n  - principals: [\"*\"]\n    methods: [\"*\"]\n", "no allow rule"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, tt.name+".yaml")
			require.NoError(t, os.WriteFile(path, []byte(tt.content), 0o644))

			_, err := authz.LoadFile(path)

			assert.ErrorContains(t, err, "load policy "+path+": ")
			assert.ErrorContains(t, err, tt.want)
		})
	}
}

func TestLoadFileReadsJSON(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.json")
	require.NoError(t, os.WriteFile(path, []byte(`{"allow": [{"name": "all", "principals": ["*"], "methods": ["*"]}]}`), 0o644))

	p, err := authz.LoadFile(path)

	require.NoError(t, err)
	assert.Len(t, p.Rules(), 1)
}

func TestWatchFileRejectsInvalidFirstFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.yaml")
	require.NoError(t, os.WriteFile(path, []byte("allow: ["), 0o644))

	_, err := authz.WatchFile(path, authz.WatchOptions{})

	assert.ErrorContains(t, err, "invalid YAML")
}
