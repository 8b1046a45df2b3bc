package main_test

import (
	"net"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var serialLine = regexp.MustCompile(`serial:\s+([0-9a-f]+)`)

func TestServeAndCall(t *testing.T) {
	dir := initPKI(t)
	srv := startServer(t, nil, dir.serverArgs()...)

	res := mustMTLS(t, args([]string{"call", "--addr", srv.addr, "--echo", "2", "--stream"}, dir.clientArgs())...)

	out := res.stdout
	assert.Contains(t, out, "Connected to "+srv.addr+" over TLS 1.3")
	assert.Contains(t, out, "ALPN h2")
	assert.Contains(t, out, "The server, as this client verified it:\n  subject:     CN=server\n  SANs:        server, localhost, 127.0.0.1, ::1")
	assert.Contains(t, out, "This client, as the server verified it:\n  subject:     CN=client\n  SANs:        spiffe://grpc-mtls.local/client")
	assert.Contains(t, out, `Echo 2: sent "hello 2", server replied "hello 2" to caller spiffe://grpc-mtls.local/client`)
	assert.Contains(t, out, `Stream reply #3: "three" to caller spiffe://grpc-mtls.local/client`)
	assert.Empty(t, res.stderr)

	serials := serialLine.FindAllStringSubmatch(out, -1)
	require.Len(t, serials, 2, "the server's and the client's serial")
	clientSerial := serials[1][1]
	for _, method := range []string{"WhoAmI", "Echo", "EchoStream"} {
		line := srv.waitLog(t, "msg=call method=/mtls.v1.DemoService/"+method+" ")
		assert.Contains(t, line, "caller=spiffe://grpc-mtls.local/client", method)
		assert.Contains(t, line, "serial="+clientSerial, "%s: the server logs the verified client serial", method)
		assert.Contains(t, line, "code=OK", method)
	}
	for _, line := range srv.logLines() {
		assert.NotContains(t, line, "rejected handshake")
	}
}

func TestServeLogsStartup(t *testing.T) {
	dir := initPKI(t)
	srv := startServer(t, nil, dir.serverArgs()...)

	line := srv.waitLog(t, `msg="server listening"`)

	assert.Contains(t, line, "addr="+srv.addr)
	assert.Contains(t, line, `subject="CN=server"`)
	assert.Contains(t, line, "client_auth=RequireAndVerifyClientCert")
	assert.Contains(t, line, "min_tls=1.3")
	assert.Regexp(t, `not_after=\S+`, line)
}

// TestCallFailures checks, for each wrong client, the exit code, the raw
// error with its plain-language cause, and the server's log line.
func TestCallFailures(t *testing.T) {
	dir := initPKI(t)
	other := initPKI(t)
	srv := startServer(t, nil, dir.serverArgs()...)
	tests := []struct {
		name         string
		flags        []string
		rawError     string
		likelyCause  string
		clientReason string
		// serverReason is the reason in the server's 'rejected handshake'
		// log line.
		serverReason string
	}{
		{
			name:         "no client certificate",
			flags:        []string{"--ca", dir.path("ca.crt")},
			rawError:     "remote error: tls: certificate required",
			likelyCause:  "The server requires a client certificate, and we have none configured, so we sent none.",
			clientReason: "no_client_certificate",
			serverReason: "no_client_certificate",
		},
		{
			name:         "client certificate from another CA",
			flags:        []string{"--cert", other.path("client.crt"), "--key", other.path("client.key"), "--ca", dir.path("ca.crt")},
			rawError:     "remote error: tls: unknown certificate authority",
			likelyCause:  "The server does not trust the CA that signed our certificate.",
			clientReason: "peer_rejected_authority",
			serverReason: "unknown_authority",
		},
		{
			name:         "server name not in the certificate",
			flags:        args(dir.clientArgs(), []string{"--server-name", "billing.internal"}),
			rawError:     "x509: certificate is valid for server, localhost, not billing.internal",
			likelyCause:  "The server's certificate is valid for server, localhost, but we expected billing.internal.",
			clientReason: "name_mismatch",
			serverReason: "peer_rejected_certificate",
		},
		{
			name:         "server CA not trusted",
			flags:        []string{"--cert", dir.path("client.crt"), "--key", dir.path("client.key"), "--ca", other.path("ca.crt")},
			rawError:     "x509: certificate signed by unknown authority",
			likelyCause:  "The server's certificate does not chain to a CA in our truststore",
			clientReason: "unknown_authority",
			serverReason: "peer_rejected_certificate",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(srv.logLines())

			res := mtls(t, append([]string{"call", "--addr", srv.addr}, tt.flags...)...)

			assert.Equal(t, 1, res.code, res.String())
			assert.Contains(t, res.stderr, "Call to "+srv.addr+" failed.")
			assert.Contains(t, res.stderr, "raw error:    rpc error: code = Unavailable")
			assert.Contains(t, res.stderr, tt.rawError)
			assert.Contains(t, res.stderr, "likely cause: "+tt.likelyCause)
			assert.Contains(t, res.stderr, "what to do:")
			assert.Contains(t, res.stderr, "reason code:  "+tt.clientReason+"\n")
			assert.NotContains(t, res.stdout, "Connected to")

			line := srv.waitLogAfter(t, before, `msg="rejected handshake"`, "reason="+tt.serverReason+" ")
			assert.Contains(t, line, "peer=127.0.0.1:")
			assert.Contains(t, line, "explanation=")
		})
	}
}

func TestCallNothingListening(t *testing.T) {
	dir := initPKI(t)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := lis.Addr().String()
	require.NoError(t, lis.Close())

	res := mtls(t, args([]string{"call", "--addr", addr, "--timeout", "5s"}, dir.clientArgs())...)

	assert.Equal(t, 1, res.code, res.String())
	assert.Contains(t, res.stderr, "connection refused")
	assert.Contains(t, res.stderr, "likely cause: Nothing is listening at that address.")
	assert.Contains(t, res.stderr, "reason code:  connection_refused")
}

func TestCallExpectFailure(t *testing.T) {
	dir := initPKI(t)
	srv := startServer(t, nil, dir.serverArgs()...)
	base := []string{"call", "--addr", srv.addr}

	res := mtls(t, args(base, []string{"--ca", dir.path("ca.crt"), "--expect-failure", "no_client_certificate"})...)
	assert.Equal(t, 0, res.code, res.String())
	assert.Contains(t, res.stdout, "Rejected as expected (reason no_client_certificate).")
	assert.Contains(t, res.stdout, "likely cause: The server requires a client certificate, and we have none configured, so we sent none.")

	res = mtls(t, args(base, []string{"--ca", dir.path("ca.crt"), "--expect-failure", "unknown_authority"})...)
	assert.Equal(t, 1, res.code, res.String())
	assert.Contains(t, res.stderr, "UNEXPECTED: the call was rejected, but for reason no_client_certificate instead of unknown_authority.")

	res = mtls(t, args(base, dir.clientArgs(), []string{"--expect-failure", "any"})...)
	assert.Equal(t, 1, res.code, res.String())
	assert.Contains(t, res.stderr, "UNEXPECTED: the call succeeded, but it should have been rejected")
}

func TestHealth(t *testing.T) {
	dir := initPKI(t)
	srv := startServer(t, nil, dir.serverArgs()...)
	base := []string{"health", "--addr", srv.addr}

	res := mtls(t, args(base, dir.clientArgs())...)
	assert.Equal(t, 0, res.code, res.String())
	assert.Equal(t, "SERVING\n", res.stdout)

	res = mtls(t, args(base, dir.clientArgs(), []string{"--service", "mtls.v1.DemoService"})...)
	assert.Equal(t, 0, res.code, res.String())
	assert.Equal(t, "SERVING\n", res.stdout)

	res = mtls(t, args(base, dir.clientArgs(), []string{"--service", "no.such.Service"})...)
	assert.Equal(t, 1, res.code, res.String())
	assert.Contains(t, res.stderr, "code = NotFound")

	res = mtls(t, args(base, []string{"--ca", dir.path("ca.crt")})...)
	assert.Equal(t, 1, res.code, "health without a client certificate fails: %s", res)
	assert.Contains(t, res.stderr, "reason code:  no_client_certificate")
}

func TestServeAndCallWithKeystores(t *testing.T) {
	dir := initPKI(t)
	password := dir.path("p12.password")
	srv := startServer(t, nil, "--keystore", dir.path("server.p12"), "--truststore", dir.path("truststore.p12"), "--password-file", password)

	res := mustMTLS(t, "call", "--addr", srv.addr, "--keystore", dir.path("client.p12"), "--truststore", dir.path("truststore.p12"), "--password-file", password)

	assert.Contains(t, res.stdout, "SANs:        spiffe://grpc-mtls.local/client")
	srv.waitLog(t, "msg=call method=/mtls.v1.DemoService/WhoAmI ", "code=OK")
}

func TestIssuedClientIsAccepted(t *testing.T) {
	dir := initPKI(t)
	srv := startServer(t, nil, dir.serverArgs()...)
	out := dir.path("billing")
	mustMTLS(t, "pki", "issue", "--ca-dir", string(dir), "--role", "client", "--name", "billing", "--out", out)

	res := mustMTLS(t, "call", "--addr", srv.addr, "--cert", out+".crt", "--key", out+".key", "--ca", dir.path("ca.crt"))

	assert.Contains(t, res.stdout, "SANs:        spiffe://grpc-mtls.local/billing")
	srv.waitLog(t, "msg=call ", "caller=spiffe://grpc-mtls.local/billing")
}

func TestEnvironmentVariables(t *testing.T) {
	dir := initPKI(t)
	srv := startServer(t, []string{
		"MTLS_LISTEN=127.0.0.1:0",
		"MTLS_CERT=" + dir.path("server.crt"),
		"MTLS_KEY=" + dir.path("server.key"),
		"MTLS_CA=" + dir.path("ca.crt"),
		"MTLS_LOG_FORMAT=json",
	})
	clientEnv := []string{
		"MTLS_ADDR=" + srv.addr,
		"MTLS_CERT=" + dir.path("client.crt"),
		"MTLS_KEY=" + dir.path("client.key"),
		"MTLS_CA=" + dir.path("ca.crt"),
	}

	res := run(t, clientEnv, mtlsBin, "call")
	assert.Equal(t, 0, res.code, res.String())
	assert.Contains(t, res.stdout, "Connected to "+srv.addr)
	assert.Contains(t, srv.waitLog(t, `"msg":"call"`), `"caller":"spiffe://grpc-mtls.local/client"`, "MTLS_LOG_FORMAT=json switched the log format")

	res = run(t, clientEnv, mtlsBin, "health")
	assert.Equal(t, 0, res.code, res.String())

	res = run(t, append(clientEnv, "MTLS_ADDR=127.0.0.1:1"), mtlsBin, "call", "--addr", srv.addr)
	assert.Equal(t, 0, res.code, "a flag on the command line wins over its variable: %s", res)

	res = run(t, append(clientEnv, "MTLS_TIMEOUT=soon"), mtlsBin, "call")
	assert.Equal(t, 1, res.code, res.String())
	assert.Contains(t, res.stderr, `environment variable MTLS_TIMEOUT="soon" for --timeout`)
}

func TestConflictingFlags(t *testing.T) {
	dir := initPKI(t)
	cert, key, ca := dir.path("server.crt"), dir.path("server.key"), dir.path("ca.crt")
	p12, trust, password := dir.path("server.p12"), dir.path("truststore.p12"), dir.path("p12.password")
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"cert and keystore", []string{"serve", "--cert", cert, "--key", key, "--keystore", p12, "--ca", ca, "--password-file", password},
			"--cert/--key and --keystore both given: use one of them"},
		{"ca and truststore", []string{"serve", "--cert", cert, "--key", key, "--ca", ca, "--truststore", trust, "--password-file", password},
			"--ca and --truststore both given: use one of them"},
		{"cert without key", []string{"serve", "--cert", cert, "--ca", ca}, "--cert and --key go together"},
		{"no certificate", []string{"serve", "--ca", ca}, "no certificate given: use --cert and --key, or --keystore"},
		{"no truststore", []string{"serve", "--cert", cert, "--key", key}, "no truststore given: use --ca (PEM) or --truststore"},
		{"keystore without password file", []string{"serve", "--keystore", p12, "--truststore", trust}, "--keystore and --truststore need --password-file"},
		{"client cert and keystore", []string{"call", "--cert", cert, "--key", key, "--keystore", p12, "--ca", ca, "--password-file", password},
			"--cert/--key and --keystore both given"},
		{"swapped certificate and key", []string{"serve", "--cert", key, "--key", cert, "--ca", ca}, "are the certificate and key files swapped?"},
		{"issue with two CA sources", []string{"pki", "issue", "--ca-dir", string(dir), "--ca-cert", ca, "--role", "client", "--name", "x", "--out", "x"},
			"--ca-dir and --ca-cert/--ca-key both given: use one of them"},
		{"invalid log format", []string{"serve", "--cert", cert, "--key", key, "--ca", ca, "--log-format", "xml"}, `--log-format "xml": use text or json`},
		{"stray argument", []string{"serve", "--cert", cert, "--key", key, "--ca", ca, "extra"}, `unexpected argument "extra"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := mtls(t, tt.args...)

			assert.Equal(t, 1, res.code, res.String())
			assert.Contains(t, res.stderr, tt.wantErr)
			assert.NotContains(t, res.stderr, "server listening", "the server never started")
		})
	}
}

func TestUnknownCommand(t *testing.T) {
	res := mtls(t, "launch")

	assert.Equal(t, 2, res.code)
	assert.Contains(t, res.stderr, `mtls: unknown command "launch"`)
	assert.Contains(t, res.stderr, "Usage:")
}

func TestServeListenAddressInUse(t *testing.T) {
	dir := initPKI(t)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = lis.Close() })

	res := mtls(t, args([]string{"serve", "--listen", lis.Addr().String()}, dir.serverArgs())...)

	assert.Equal(t, 1, res.code, res.String())
	assert.Contains(t, res.stderr, "listen on --listen "+lis.Addr().String())
	assert.Contains(t, res.stderr, "address already in use")
}
