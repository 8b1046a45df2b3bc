package lab_test

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/grpc-mtls/grpc-mtls/lab"
	"github.com/grpc-mtls/grpc-mtls/pki"
)

// seen is what one side must show: substrings of its raw error, the
// diagnosis reason, the side the diagnosis blames and key words of its
// summary.
type seen struct {
	err    []string
	reason pki.Reason
	side   pki.Role
	words  []string
	// cert is the subject of the certificate the diagnosis names, when
	// it must name one.
	cert string
}

type row struct {
	kind string
	// load is set for kinds whose files a loader rejects.
	load     *seen
	loadSide pki.Role
	// client and server are set for kinds that fail in the handshake or
	// at the first call; both nil means the call must succeed.
	client, server *seen
}

const (
	handshakeFailed = "transport: authentication handshake failed"
	lateRejection   = "server closed the connection after the TLS handshake"
	clientRejected  = "remote error: tls: bad certificate"
)

// serverSawRejection is the server's view when the client rejected the
// server's certificate.
var serverSawRejection = &seen{err: []string{clientRejected}, reason: pki.ReasonPeerRejectedCert, side: pki.RoleClient, words: []string{"client rejected our certificate"}}

// serverSawRejectionOf is serverSawRejection naming the server's own
// certificate.
func serverSawRejectionOf(subject string) *seen {
	s := *serverSawRejection
	s.cert = subject
	return &s
}

var rows = []row{
	// Trust.
	{kind: "client-does-not-trust-server-ca",
		client: &seen{err: []string{handshakeFailed, "x509: certificate signed by unknown authority"}, reason: pki.ReasonUnknownAuthority, side: pki.RoleClient, words: []string{"does not chain to a CA in our truststore", "intermediate", "We trust: CN=other CA"}},
		server: serverSawRejection},
	{kind: "server-does-not-trust-client-ca",
		client: &seen{err: []string{lateRejection, "remote error: tls: unknown certificate authority"}, reason: pki.ReasonPeerRejectedAuthority, side: pki.RoleServer, words: []string{"does not trust the CA that signed our certificate"}},
		server: &seen{err: []string{"x509: certificate signed by unknown authority"}, reason: pki.ReasonUnknownAuthority, side: pki.RoleServer, words: []string{`issued by "CN=lab CA`, "not in our truststore"}}},
	{kind: "truststore-has-regenerated-ca",
		client: &seen{err: []string{"x509: certificate signed by unknown authority", "x509: ECDSA verification failure", `candidate authority certificate \"lab CA\"`}, reason: pki.ReasonWrongCA, side: pki.RoleClient, words: []string{`named "lab CA"`, "same name, different key"}},
		server: serverSawRejection},
	{kind: "truststore-holds-leaf", loadSide: pki.RoleClient,
		load: &seen{err: []string{"load truststore", "server.crt", `certificate "CN=localhost" is not a CA`}, reason: pki.ReasonTruststoreNotCA, side: pki.RoleClient, words: []string{"not a CA", "peer's own certificate"}}},

	// Names.
	{kind: "server-name-not-in-sans",
		client: &seen{err: []string{"x509: certificate is valid for api.internal, not localhost"}, reason: pki.ReasonNameMismatch, side: pki.RoleClient, words: []string{"valid for api.internal", "expected localhost"}},
		server: serverSawRejectionOf("CN=api.internal")},
	{kind: "service-name-not-in-sans",
		client: &seen{err: []string{"x509: certificate is valid for localhost, not grpc-server"}, reason: pki.ReasonNameMismatch, side: pki.RoleClient, words: []string{"valid for localhost", "expected grpc-server"}},
		server: serverSawRejection},
	{kind: "common-name-only",
		client: &seen{err: []string{"x509: certificate relies on legacy Common Name field, use SANs instead"}, reason: pki.ReasonLegacyCommonName, side: pki.RoleClient, words: []string{"only in the Common Name", "no subject alternative names"}},
		server: serverSawRejection},
	{kind: "ip-without-ip-san",
		client: &seen{err: []string{"x509: cannot validate certificate for 127.0.0.1 because it doesn't contain any IP SANs"}, reason: pki.ReasonNameMismatch, side: pki.RoleClient, words: []string{"IP address", "no IP SANs"}},
		server: serverSawRejection},
	{kind: "server-identity-not-expected",
		client: &seen{err: []string{"peer identity not allowed", "spiffe://grpc-mtls.local/billing", "want one of spiffe://grpc-mtls.local/orders"}, reason: pki.ReasonPeerIDNotAllowed, side: pki.RoleClient, words: []string{"signed by a CA we trust", "identity we do not accept"}},
		server: serverSawRejection},
	{kind: "client-identity-not-allowed",
		client: &seen{err: []string{lateRejection, clientRejected}, reason: pki.ReasonPeerRejectedCert, side: pki.RoleServer, words: []string{"server rejected our certificate"}},
		server: &seen{err: []string{"peer identity not allowed", `certificate "CN=intruder"`, "want one of spiffe://grpc-mtls.local/client"}, reason: pki.ReasonPeerIDNotAllowed, side: pki.RoleServer, words: []string{"identity we do not accept"}, cert: "CN=intruder"}},

	// Key usage.
	{kind: "client-cert-without-clientauth",
		client: &seen{err: []string{lateRejection, clientRejected}, reason: pki.ReasonPeerRejectedCert, side: pki.RoleServer, words: []string{"server rejected our certificate"}},
		server: &seen{err: []string{"x509: certificate specifies an incompatible key usage"}, reason: pki.ReasonWrongKeyUsage, side: pki.RoleServer, words: []string{"not allowed for client authentication", "clientAuth"}, cert: "CN=client"}},
	{kind: "server-cert-without-serverauth",
		client: &seen{err: []string{handshakeFailed, "x509: certificate specifies an incompatible key usage"}, reason: pki.ReasonWrongKeyUsage, side: pki.RoleClient, words: []string{"not allowed for server authentication", "serverAuth"}},
		server: serverSawRejection},
	{kind: "intermediate-not-a-ca",
		client: &seen{err: []string{"parent certificate cannot sign this kind of certificate", "lab intermediate CA"}, reason: pki.ReasonNotACA, side: pki.RoleClient, words: []string{`"lab intermediate CA"`, "not allowed to sign certificates", "CA:TRUE"}},
		server: serverSawRejection},
	{kind: "ca-without-certsign",
		client: &seen{err: []string{"parent certificate cannot sign this kind of certificate", "lab CA without certSign"}, reason: pki.ReasonNotACA, side: pki.RoleClient, words: []string{"not allowed to sign certificates", "keyCertSign"}},
		server: serverSawRejection},

	// Validity.
	{kind: "server-cert-expired",
		client: &seen{err: []string{"x509: certificate has expired or is not yet valid: current time", "is after"}, reason: pki.ReasonExpired, side: pki.RoleClient, words: []string{"server's certificate expired at"}},
		server: serverSawRejection},
	{kind: "client-cert-expired",
		client: &seen{err: []string{lateRejection, "remote error: tls: expired certificate"}, reason: pki.ReasonPeerRejectedExpired, side: pki.RoleServer, words: []string{"rejected our certificate", "expired"}, cert: "CN=client"},
		server: &seen{err: []string{"x509: certificate has expired or is not yet valid", "is after"}, reason: pki.ReasonExpired, side: pki.RoleServer, words: []string{"client's certificate expired at"}, cert: "CN=client"}},
	{kind: "server-cert-not-yet-valid",
		client: &seen{err: []string{"x509: certificate has expired or is not yet valid", "is before"}, reason: pki.ReasonExpired, side: pki.RoleClient, words: []string{"not valid until"}},
		server: serverSawRejection},
	{kind: "clock-skew-backdated"},
	{kind: "clock-skew-not-backdated",
		client: &seen{err: []string{"x509: certificate has expired or is not yet valid", "is before"}, reason: pki.ReasonExpired, side: pki.RoleClient, words: []string{"valid only in about 3 minutes", "not backdated"}},
		server: serverSawRejection},

	// Chains.
	{kind: "server-omits-intermediate",
		client: &seen{err: []string{"x509: certificate signed by unknown authority"}, reason: pki.ReasonUnknownAuthority, side: pki.RoleClient, words: []string{"did not send the intermediate CA certificate", "We trust: CN=lab root CA"}},
		server: serverSawRejection},
	{kind: "client-omits-intermediate",
		client: &seen{err: []string{lateRejection, "remote error: tls: unknown certificate authority"}, reason: pki.ReasonPeerRejectedAuthority, side: pki.RoleServer, words: []string{"does not trust the CA that signed our certificate"}},
		server: &seen{err: []string{"x509: certificate signed by unknown authority"}, reason: pki.ReasonUnknownAuthority, side: pki.RoleServer, words: []string{"sent only its own certificate", "intermediate CA, the client must send it along"}}},

	// Keys.
	{kind: "key-does-not-match-cert", loadSide: pki.RoleServer,
		load: &seen{err: []string{"other-server.key does not belong to certificate", "server.crt", "the private key does not match the certificate's public key"}, reason: pki.ReasonKeyMismatch, side: pki.RoleServer, words: []string{"not the key of our certificate"}}},
	{kind: "cert-and-key-swapped", loadSide: pki.RoleServer,
		load: &seen{err: []string{"server.key: the file holds a private key, not a certificate", "swapped"}, reason: pki.ReasonCertKeySwapped, side: pki.RoleServer, words: []string{"swapped"}}},
	{kind: "encrypted-key-without-passphrase", loadSide: pki.RoleServer,
		load: &seen{err: []string{"server-encrypted.key", "the private key is encrypted and no passphrase was given"}, reason: pki.ReasonPassphraseRequired, side: pki.RoleServer, words: []string{"encrypted", "no passphrase"}}},
	{kind: "encrypted-key-wrong-passphrase", loadSide: pki.RoleServer,
		load: &seen{err: []string{"server-encrypted.key", "the passphrase or password is wrong"}, reason: pki.ReasonWrongPassphrase, side: pki.RoleServer, words: []string{"does not decrypt"}}},
	{kind: "key-pkcs1-loads"},
	{kind: "key-pkcs8-loads"},
	{kind: "key-sec1-loads"},
	{kind: "key-unsupported-curve",
		client: &seen{err: []string{handshakeFailed, "remote error: tls: handshake failure"}, reason: pki.ReasonHandshakeFailure, side: pki.RoleServer, words: []string{"aborted the handshake", "P-224"}},
		server: &seen{err: []string{"tls: unsupported certificate curve (P-224)"}, reason: pki.ReasonUnsupportedKey, side: pki.RoleServer, words: []string{"cannot sign a TLS 1.3 handshake"}, cert: "CN=localhost"}},
	{kind: "key-unsupported-type", loadSide: pki.RoleServer,
		load: &seen{err: []string{"server-dsa.key", "unknown algorithm: 1.2.840.10040.4.1"}, reason: pki.ReasonUnsupportedKey, side: pki.RoleServer, words: []string{"DSA"}}},

	// Weak or malformed.
	{kind: "sha1-signature",
		client: &seen{err: []string{"x509: cannot verify signature: insecure algorithm SHA1-RSA"}, reason: pki.ReasonInsecureSignature, side: pki.RoleClient, words: []string{"insecure algorithm", "SHA-1"}},
		server: serverSawRejection},
	{kind: "rsa-1024"},
	{kind: "negative-serial-load", loadSide: pki.RoleServer,
		load: &seen{err: []string{"server-negative-serial.crt", "x509: negative serial number"}, reason: pki.ReasonMalformedCertificate, side: pki.RoleServer, words: []string{"negative serial number"}}},
	{kind: "negative-serial-peer",
		client: &seen{err: []string{"tls: failed to parse certificate from server: x509: negative serial number"}, reason: pki.ReasonMalformedCertificate, side: pki.RoleClient, words: []string{"cannot parse", "negative"}},
		server: &seen{err: []string{"remote error: tls: error decoding message"}, reason: pki.ReasonPeerRejectedCert, side: pki.RoleClient, words: []string{"cannot parse our certificate"}}},

	// Protocol.
	{kind: "plaintext-client-on-tls-port",
		client: &seen{err: []string{"error reading server preface"}, reason: pki.ReasonPeerClosed, side: pki.RoleServer, words: []string{"without TLS"}},
		server: &seen{err: []string{"tls: first record does not look like a TLS handshake"}, reason: pki.ReasonNotTLS, side: pki.RoleServer, words: []string{"does not speak TLS", "plaintext"}}},
	{kind: "tls-client-on-plaintext-port",
		client: &seen{err: []string{handshakeFailed, "tls: first record does not look like a TLS handshake"}, reason: pki.ReasonNotTLS, side: pki.RoleClient, words: []string{"server does not speak TLS"}},
		server: &seen{err: []string{"plaintext server received a TLS handshake record"}, reason: pki.ReasonNotTLS, side: pki.RoleServer, words: []string{"TLS client connected to this plaintext port"}}},
	{kind: "server-without-alpn-h2",
		client: &seen{err: []string{"credentials: cannot check peer: missing selected ALPN property"}, reason: pki.ReasonALPN, side: pki.RoleClient, words: []string{`without selecting ALPN "h2"`}},
		server: &seen{err: []string{"handshake completed with no ALPN protocol", "EOF"}, reason: pki.ReasonALPN, side: pki.RoleServer, words: []string{"HTTP/2"}}},
	{kind: "client-without-alpn-h2",
		client: &seen{err: []string{"read HTTP/1.1 response: EOF"}, reason: pki.ReasonPeerClosed, side: pki.RoleServer, words: []string{"server closed the connection"}},
		server: &seen{err: []string{"credentials: cannot check peer: missing selected ALPN property"}, reason: pki.ReasonALPN, side: pki.RoleServer, words: []string{`without offering ALPN "h2"`}}},
	{kind: "tls12-client-vs-tls13-server",
		client: &seen{err: []string{handshakeFailed, "remote error: tls: protocol version not supported"}, reason: pki.ReasonVersionMismatch, side: pki.RoleServer, words: []string{"no TLS version in common"}},
		server: &seen{err: []string{"tls: client offered only unsupported versions: [303]"}, reason: pki.ReasonVersionMismatch, side: pki.RoleServer, words: []string{"at most TLS 1.2"}}},
	{kind: "no-client-certificate",
		client: &seen{err: []string{lateRejection, "remote error: tls: certificate required"}, reason: pki.ReasonNoClientCertificate, side: pki.RoleServer, words: []string{"we have none configured", "first call"}},
		server: &seen{err: []string{"tls: client didn't provide a certificate"}, reason: pki.ReasonNoClientCertificate, side: pki.RoleServer, words: []string{"sent no certificate"}}},

	// PKCS#12.
	{kind: "p12-wrong-password", loadSide: pki.RoleServer,
		load: &seen{err: []string{"load keystore", "server.p12: the passphrase or password is wrong: check the password file"}, reason: pki.ReasonWrongPassphrase, side: pki.RoleServer, words: []string{"does not decrypt"}}},
	{kind: "p12-legacy-rc2-loads"},
	{kind: "p12-legacy-3des-loads"},
	{kind: "p12-modern-aes-loads"},
	{kind: "p12-truststore-without-trusted-entries", loadSide: pki.RoleClient,
		load: &seen{err: []string{"load truststore", "client.p12"}, reason: pki.ReasonNoTrustedEntries, side: pki.RoleClient, words: []string{"no trusted certificate entries", "keystore"}}},
}

var (
	observeOnce  sync.Once
	observations map[string]*lab.Observation
	observeErr   error
)

// observeAll runs every kind once per test binary; the table test and the
// guide test share the result.
func observeAll(t *testing.T) map[string]*lab.Observation {
	t.Helper()
	observeOnce.Do(func() {
		observations = map[string]*lab.Observation{}
		for _, k := range lab.Kinds() {
			sc, err := k.Build(filepath.Join(labRoot, k.Name))
			if err != nil {
				observeErr = err
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			observations[k.Name] = lab.Run(ctx, sc)
			cancel()
		}
	})
	require.NoError(t, observeErr)
	return observations
}

func TestEveryKindHasARow(t *testing.T) {
	inTable := map[string]bool{}
	for _, r := range rows {
		inTable[r.kind] = true
	}
	for _, k := range lab.Kinds() {
		assert.True(t, inTable[k.Name], "kind %s has no row in the table", k.Name)
	}
	assert.Len(t, rows, len(lab.Kinds()))
}

func TestKinds(t *testing.T) {
	all := observeAll(t)
	for _, r := range rows {
		t.Run(r.kind, func(t *testing.T) {
			obs, ok := all[r.kind]
			require.True(t, ok, "no such kind")

			if r.load != nil {
				require.NotNil(t, obs.Load, "expected the %s's files to be rejected", r.loadSide)
				assert.Equal(t, r.loadSide, obs.Load.Side)
				checkSide(t, "loader", r.load, obs.Load)
				return
			}
			require.Nil(t, obs.Load, "files did not load")
			if r.client == nil && r.server == nil {
				require.True(t, obs.Succeeded(), "call failed: %v", obs.Client)
				assert.Equal(t, lab.SPIFFE("client"), obs.Caller)
				return
			}
			require.NotNil(t, obs.Client, "the call succeeded")
			checkSide(t, "client", r.client, obs.Client)
			require.NotNil(t, obs.Server, "the server reported no failure")
			checkSide(t, "server", r.server, obs.Server)
		})
	}
}

func checkSide(t *testing.T, who string, want *seen, got *lab.Failure) {
	t.Helper()
	msg := got.Message()
	for _, s := range want.err {
		assert.Contains(t, msg, s, "%s error", who)
	}
	d := got.Diagnosis
	assert.Equal(t, want.reason, d.Reason, "%s diagnosis reason for %q", who, msg)
	assert.Equal(t, string(want.side), d.Side, "%s diagnosis side", who)
	for _, w := range want.words {
		assert.Contains(t, d.Summary, w, "%s diagnosis summary", who)
	}
	assert.NotEmpty(t, d.Fix, "%s diagnosis fix", who)
	if want.cert != "" && assert.NotNil(t, d.Certificate, "%s diagnosis certificate", who) {
		assert.Equal(t, want.cert, d.Certificate.Subject, "%s diagnosis certificate", who)
		assert.NotEmpty(t, d.Certificate.Serial, "%s diagnosis certificate serial", who)
	}
	assert.Equal(t, got.Err, d.Err, "%s diagnosis keeps the raw error", who)
}

var update = flag.Bool("update", false, "rewrite docs/TROUBLESHOOTING.md from what the lab observes")

const guidePath = "../docs/TROUBLESHOOTING.md"

func TestTroubleshootingGuide(t *testing.T) {
	got := append(lab.Guide(observeAll(t)), '\n')
	if *update {
		require.NoError(t, os.MkdirAll(filepath.Dir(guidePath), 0o755))
		require.NoError(t, os.WriteFile(guidePath, got, 0o644))
		return
	}
	want, err := os.ReadFile(guidePath)
	require.NoError(t, err, "run 'go test ./lab -run TestTroubleshootingGuide -update' to create the guide")
	assert.Equal(t, string(want), string(got), "docs/TROUBLESHOOTING.md differs from what the lab observes: if the change is intended, run 'go test ./lab -run TestTroubleshootingGuide -update' and review the diff")
}

func TestNormalize(t *testing.T) {
	in := `load /tmp/x/server.crt: dial 127.0.0.1:43121 and localhost:8443: certificate (serial 8d92bb46d25631b8) current time 2026-12-04T20:06:04Z is after 2026-12-03T20:06:04Z`
	want := `load $DIR/server.crt: dial 127.0.0.1:PORT and localhost:PORT: certificate (serial SERIAL) current time TIME is after TIME`
	assert.Equal(t, want, lab.Normalize(in, "/tmp/x"))
}
