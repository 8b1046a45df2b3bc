package doctor_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/zmap/zlint/v3/lint"

	"github.com/grpc-mtls/grpc-mtls/doctor"
	"github.com/grpc-mtls/grpc-mtls/lab"
	"github.com/grpc-mtls/grpc-mtls/pki"
)

// side returns the doctor options for one side of a lab scenario.
func side(sc *lab.Scenario, role pki.Role, names ...string) doctor.Options {
	e := sc.Server
	if role == pki.RoleClient {
		e = sc.Client
	}
	opts := doctor.Options{Role: role, Names: names}
	switch {
	case e.Keystore != "":
		opts.Keystore = pki.KeystoreSource{PKCS12File: e.Keystore, PasswordFile: e.PasswordFile}
	case e.Cert != "":
		opts.Keystore = pki.KeystoreSource{CertFile: e.Cert, KeyFile: e.Key, KeyPassphraseFile: e.KeyPassphraseFile}
	}
	if e.Truststore != "" {
		opts.Truststore = pki.TruststoreSource{File: e.Truststore, PasswordFile: e.PasswordFile}
	} else {
		opts.Truststore = pki.TruststoreSource{File: e.CA}
	}
	return opts
}

// peerTrusts makes the doctor build the chain against the peer's
// truststore, as a PKI with one CA per side needs.
func peerTrusts(opts doctor.Options, peer lab.Endpoint) doctor.Options {
	opts.PeerTruststore = pki.TruststoreSource{File: peer.CA}
	return opts
}

type doctorRow struct {
	kind string
	// options returns what the doctor checks; the zero value of check
	// means the doctor must report no errors.
	options func(sc *lab.Scenario) doctor.Options
	// connect starts the scenario's server and checks it with Addr.
	connect  bool
	check    string
	severity doctor.Severity
}

func server(names ...string) func(*lab.Scenario) doctor.Options {
	return func(sc *lab.Scenario) doctor.Options { return side(sc, pki.RoleServer, names...) }
}

func client(names ...string) func(*lab.Scenario) doctor.Options {
	return func(sc *lab.Scenario) doctor.Options { return side(sc, pki.RoleClient, names...) }
}

var doctorRows = []doctorRow{
	{kind: "client-does-not-trust-server-ca", options: client(), check: "chain"},
	{kind: "server-does-not-trust-client-ca", options: server(), check: "chain"},
	{kind: "truststore-has-regenerated-ca", options: client(), check: "chain"},
	{kind: "truststore-holds-leaf", options: client(), check: "truststore"},
	{kind: "server-name-not-in-sans", options: server("localhost"), check: "san"},
	{kind: "service-name-not-in-sans", options: server("grpc-server"), check: "san"},
	{kind: "common-name-only", options: server(), check: "san"},
	{kind: "ip-without-ip-san", options: server("127.0.0.1"), check: "san"},
	{kind: "server-identity-not-expected", options: server(lab.SPIFFE("orders")), check: "san"},
	{kind: "client-identity-not-allowed", options: client(lab.SPIFFE("client")), check: "san"},
	{kind: "client-cert-without-clientauth", options: client(), check: "eku"},
	{kind: "server-cert-without-serverauth", options: server(), check: "eku"},
	{kind: "intermediate-not-a-ca", options: server(), check: "ca-constraints"},
	{kind: "ca-without-certsign", options: server(), check: "ca-key-usage"},
	{kind: "server-cert-expired", options: server(), check: "validity"},
	{kind: "client-cert-expired", options: client(), check: "validity"},
	{kind: "server-cert-not-yet-valid", options: server(), check: "validity"},
	{kind: "clock-skew-backdated", options: server()},
	{kind: "clock-skew-not-backdated", options: server(), check: "validity"},
	{kind: "server-omits-intermediate", options: func(sc *lab.Scenario) doctor.Options {
		return peerTrusts(side(sc, pki.RoleServer), sc.Client)
	}, check: "chain"},
	{kind: "client-omits-intermediate", options: func(sc *lab.Scenario) doctor.Options {
		return peerTrusts(side(sc, pki.RoleClient), sc.Server)
	}, check: "chain"},
	{kind: "key-does-not-match-cert", options: server(), check: "keystore"},
	{kind: "cert-and-key-swapped", options: server(), check: "keystore"},
	{kind: "encrypted-key-without-passphrase", options: server(), check: "keystore"},
	{kind: "encrypted-key-wrong-passphrase", options: server(), check: "keystore"},
	{kind: "key-pkcs1-loads", options: server()},
	{kind: "key-pkcs8-loads", options: server()},
	{kind: "key-sec1-loads", options: server()},
	{kind: "key-unsupported-curve", options: server(), check: "key-type"},
	{kind: "key-unsupported-type", options: server(), check: "keystore"},
	{kind: "sha1-signature", options: server(), check: "signature"},
	{kind: "rsa-1024", options: server(), check: "key-size"},
	{kind: "negative-serial-load", options: server(), check: "lint:e_serial_number_not_positive"},
	{kind: "negative-serial-peer", options: server(), check: "keystore"},
	{kind: "tls-client-on-plaintext-port", options: client(), connect: true, check: "handshake"},
	{kind: "server-without-alpn-h2", options: client(), connect: true, check: "alpn"},
	{kind: "tls12-client-vs-tls13-server", options: client(), connect: true, check: "tls12", severity: doctor.SeverityInfo},
	{kind: "no-client-certificate", options: client(), connect: true, check: "client-certificate"},
	{kind: "server-does-not-trust-client-ca", options: client(), connect: true, check: "client-auth"},
	{kind: "p12-wrong-password", options: server(), check: "keystore"},
	{kind: "p12-legacy-rc2-loads", options: server()},
	{kind: "p12-legacy-3des-loads", options: server()},
	{kind: "p12-modern-aes-loads", options: server()},
	{kind: "p12-truststore-without-trusted-entries", options: client(), check: "truststore"},
}

// notForDoctor are kinds whose files are sound: the fault is in how the
// client connects, which the doctor, a correct client itself, cannot see.
var notForDoctor = map[string]string{
	"plaintext-client-on-tls-port": "the client's flags (no TLS), not its files",
	"client-without-alpn-h2":       "the client's code (no ALPN h2), not its files",
}

func TestDoctorCoversEveryKind(t *testing.T) {
	covered := map[string]bool{}
	for _, r := range doctorRows {
		covered[r.kind] = true
	}
	for _, k := range lab.Kinds() {
		_, exempt := notForDoctor[k.Name]
		assert.True(t, covered[k.Name] || exempt, "kind %s has no doctor row", k.Name)
	}
}

func TestDoctorFindsEachKind(t *testing.T) {
	for _, r := range doctorRows {
		name := r.kind
		if r.connect {
			name += "/connect"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			k, ok := lab.Lookup(r.kind)
			require.True(t, ok)
			sc, err := k.Build(t.TempDir())
			require.NoError(t, err)
			opts := r.options(sc)
			opts.Timeout = 10 * time.Second
			// zlint is slow under the race detector; the healthy-PKI test
			// and the rows that expect a lint finding cover it.
			opts.NoLint = !strings.HasPrefix(r.check, "lint:")
			if r.connect {
				srv, err := lab.Serve(sc)
				require.NoError(t, err)
				defer srv.Stop()
				opts.Addr = srv.Addr()
				opts.ServerName = "localhost"
			}

			report := doctor.Check(context.Background(), opts)

			if r.check == "" {
				assert.False(t, report.HasErrors(), "findings: %+v", report.Findings)
				return
			}
			want := r.severity
			if want == "" {
				want = doctor.SeverityError
			}
			found := false
			for _, f := range report.Findings {
				if f.Check == r.check && f.Severity == want {
					found = true
					assert.NotEmpty(t, f.Problem)
				}
			}
			assert.True(t, found, "no %s finding %q in %+v", want, r.check, report.Findings)
			if want == doctor.SeverityError {
				assert.True(t, report.HasErrors())
			}
		})
	}
}

func TestDoctorHealthyPKI(t *testing.T) {
	// RSA 3072 and 4096 take the RSA 2048 path and would only make the
	// test slower.
	for _, kt := range []pki.KeyType{pki.KeyECDSAP256, pki.KeyECDSAP384, pki.KeyEd25519, pki.KeyRSA2048} {
		t.Run(string(kt), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			_, err := pki.Init(pki.InitOptions{Dir: dir, KeyType: kt})
			require.NoError(t, err)
			path := func(name string) string { return filepath.Join(dir, name) }
			password := path(pki.FileP12Password)

			for _, opts := range []doctor.Options{
				{Role: pki.RoleServer, Keystore: pki.KeystoreSource{CertFile: path(pki.FileServerCert), KeyFile: path(pki.FileServerKey)},
					Truststore: pki.TruststoreSource{File: path(pki.FileCACert)}, Names: []string{"server", "localhost", "127.0.0.1", "::1"}, Within: 30 * 24 * time.Hour},
				{Role: pki.RoleClient, Keystore: pki.KeystoreSource{PKCS12File: path(pki.FileClientP12), PasswordFile: password},
					Truststore: pki.TruststoreSource{File: path(pki.FileTruststore), PasswordFile: password}, Names: []string{"spiffe://grpc-mtls.local/client"}, Within: 30 * 24 * time.Hour},
			} {
				report := doctor.Check(context.Background(), opts)
				for _, f := range report.Findings {
					assert.Equal(t, doctor.SeverityInfo, f.Severity, "%s finding on a healthy %s PKI: %+v", opts.Role, kt, f)
				}
				assert.NotEmpty(t, report.Certificates)
			}
		})
	}
}

func TestDoctorHealthyServer(t *testing.T) {
	k, ok := lab.Lookup("key-pkcs8-loads")
	require.True(t, ok)
	sc, err := k.Build(t.TempDir())
	require.NoError(t, err)
	srv, err := lab.Serve(sc)
	require.NoError(t, err)
	defer srv.Stop()

	opts := side(sc, pki.RoleClient)
	opts.Addr, opts.ServerName = srv.Addr(), "localhost"
	report := doctor.Check(context.Background(), opts)

	conn := report.Connection
	require.NotNil(t, conn)
	assert.Equal(t, "TLS 1.3", conn.TLSVersion)
	assert.Equal(t, "h2", conn.ALPN)
	assert.True(t, conn.CertificateRequested)
	assert.Equal(t, []string{"CN=lab CA,O=grpc-mtls"}, conn.AcceptableCAs)
	require.NotEmpty(t, conn.Presented)
	assert.Equal(t, "CN=localhost", conn.Presented[0].Subject)
	require.NotNil(t, conn.Accepted)
	assert.True(t, *conn.Accepted)
	assert.Equal(t, "SERVING", conn.Health)
	assert.False(t, report.HasErrors(), "findings: %+v", report.Findings)

	var text bytes.Buffer
	report.WriteText(&text)
	assert.Contains(t, text.String(), "our certificate: accepted (health SERVING)")
	assert.Contains(t, text.String(), "client CAs:      CN=lab CA,O=grpc-mtls")

	data, err := json.Marshal(report)
	require.NoError(t, err)
	assert.Contains(t, string(data), `"acceptable_cas":["CN=lab CA,O=grpc-mtls"]`)
}

func TestSkippedLintsAreDocumented(t *testing.T) {
	doc, err := os.ReadFile("../docs/DOCTOR.md")
	require.NoError(t, err)
	assert.Contains(t, string(doc), "`skippedLints`")
	for name, reason := range doctor.SkippedLints() {
		assert.NotEmpty(t, reason, "lint %s has no reason", name)
		assert.NotNil(t, lint.GlobalRegistry().ByName(name), "zlint has no lint named %s", name)
	}
}
