package main_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/grpc-mtls/grpc-mtls/internal/tooltest"
)

func TestGrpcurlWithClientCertificate(t *testing.T) {
	grpcurl := tooltest.Require(t, "grpcurl")
	dir := initPKI(t)
	srv := startServer(t, nil, dir.serverArgs()...)
	tlsFlags := []string{"-cacert", dir.path("ca.crt"), "-cert", dir.path("client.crt"), "-key", dir.path("client.key"), "-connect-timeout", "10"}

	list := run(t, nil, grpcurl, args(tlsFlags, []string{srv.addr, "list"})...)

	require.Equal(t, 0, list.code, list.String())
	services := strings.Fields(list.stdout)
	assert.Contains(t, services, "mtls.v1.DemoService", "reflection lists the demo service")
	assert.Contains(t, services, "grpc.health.v1.Health", "reflection lists the health service")

	call := run(t, nil, grpcurl, args(tlsFlags, []string{srv.addr, "mtls.v1.DemoService/WhoAmI"})...)

	require.Equal(t, 0, call.code, call.String())
	var reply struct {
		Client struct {
			Subject string   `json:"subject"`
			URIs    []string `json:"uris"`
		} `json:"client"`
		Connection struct {
			TLSVersion string `json:"tlsVersion"`
		} `json:"connection"`
	}
	require.NoError(t, json.Unmarshal([]byte(call.stdout), &reply), call.stdout)
	assert.Equal(t, "CN=client", reply.Client.Subject)
	assert.Equal(t, []string{"spiffe://grpc-mtls.local/client"}, reply.Client.URIs)
	assert.Equal(t, "TLS 1.3", reply.Connection.TLSVersion)
	srv.waitLog(t, "msg=call method=/mtls.v1.DemoService/WhoAmI ", "caller=spiffe://grpc-mtls.local/client", "code=OK")
}

func TestGrpcurlWithoutClientCertificate(t *testing.T) {
	grpcurl := tooltest.Require(t, "grpcurl")
	dir := initPKI(t)
	srv := startServer(t, nil, dir.serverArgs()...)

	res := run(t, nil, grpcurl, "-cacert", dir.path("ca.crt"), "-connect-timeout", "2", srv.addr, "list")

	assert.NotEqual(t, 0, res.code, "grpcurl without -cert/-key must fail: %s", res)
	assert.NotContains(t, res.stdout, "mtls.v1.DemoService")
	line := srv.waitLog(t, `msg="rejected handshake"`, "reason=no_client_certificate ")
	assert.Contains(t, line, `error="tls: client didn't provide a certificate"`)
}

// notHTTP2 is what s_client sends after the handshake. A gRPC server that
// accepted the client closes the connection when it reads these first 24
// bytes, which are not the HTTP/2 preface. One that rejected the client
// sends a TLS alert instead. With -ign_eof, s_client waits for either.
const notHTTP2 = "this is not an HTTP/2 connection preface\n"

func TestOpenSSLClientHandshake(t *testing.T) {
	openssl := tooltest.Require(t, "openssl")
	dir := initPKI(t)
	srv := startServer(t, nil, dir.serverArgs()...)
	base := []string{"s_client", "-connect", srv.addr, "-CAfile", dir.path("ca.crt"), "-alpn", "h2", "-verify_return_error", "-ign_eof"}

	res := runWithInput(t, notHTTP2, nil, openssl, args(base, []string{"-cert", dir.path("client.crt"), "-key", dir.path("client.key")})...)

	assert.Equal(t, 0, res.code, res.String())
	assert.Contains(t, res.stdout, "Verify return code: 0 (ok)")
	assert.Contains(t, res.stdout, "New, TLSv1.3")
	assert.Contains(t, res.stdout, "ALPN protocol: h2")
	assert.NotContains(t, res.stderr, "alert")
	for _, line := range srv.logLines() {
		assert.NotContains(t, line, "rejected handshake")
	}

	t.Run("without a client certificate", func(t *testing.T) {
		before := len(srv.logLines())

		res := runWithInput(t, notHTTP2, nil, openssl, base...)

		assert.NotEqual(t, 0, res.code, res.String())
		assert.Contains(t, res.stderr, "alert certificate required")
		line := srv.waitLogAfter(t, before, `msg="rejected handshake"`, "reason=no_client_certificate ")
		assert.Contains(t, line, "peer=127.0.0.1:")
	})
}
