package lab

import (
	"crypto/tls"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/grpc-mtls/grpc-mtls/pki"
)

// ServerMode selects what listens on the server side of a scenario.
type ServerMode int

const (
	// ServerMTLS is the project's gRPC server with mutual TLS.
	ServerMTLS ServerMode = iota
	// ServerPlaintext is a gRPC server without TLS.
	ServerPlaintext
	// ServerTLSWithoutALPN completes mutual TLS handshakes but does not
	// negotiate ALPN, like a TLS-terminating proxy set up for HTTP/1.1.
	ServerTLSWithoutALPN
)

// ClientMode selects what connects on the client side of a scenario.
type ClientMode int

const (
	// ClientGRPC is the project's gRPC client with mutual TLS.
	ClientGRPC ClientMode = iota
	// ClientPlaintext is a gRPC client without TLS.
	ClientPlaintext
	// ClientHTTP1 is a TLS client that offers only ALPN "http/1.1".
	ClientHTTP1
)

// Endpoint names the files one side loads, with the meaning of the mtls
// flags of the same names. Empty fields are not used.
type Endpoint struct {
	Cert, Key, KeyPassphraseFile string
	CA                           string
	Keystore, Truststore         string
	PasswordFile                 string
	// PresentUnparsed makes the side send Cert without parsing it, as a
	// TLS stack other than Go's would, so that the peer's reaction to a
	// certificate Go cannot parse can be seen.
	PresentUnparsed bool
}

func (e Endpoint) keystoreSource() (pki.KeystoreSource, bool) {
	switch {
	case e.Keystore != "":
		return pki.KeystoreSource{PKCS12File: e.Keystore, PasswordFile: e.PasswordFile}, true
	case e.Cert != "" || e.Key != "":
		return pki.KeystoreSource{CertFile: e.Cert, KeyFile: e.Key, KeyPassphraseFile: e.KeyPassphraseFile}, true
	}
	return pki.KeystoreSource{}, false
}

func (e Endpoint) truststoreSource() pki.TruststoreSource {
	if e.Truststore != "" {
		return pki.TruststoreSource{File: e.Truststore, PasswordFile: e.PasswordFile}
	}
	return pki.TruststoreSource{File: e.CA}
}

// flags returns the mtls flags that load the endpoint's files.
func (e Endpoint) flags() []string {
	var out []string
	add := func(name, value string) {
		if value != "" {
			out = append(out, "--"+name, value)
		}
	}
	add("cert", e.Cert)
	add("key", e.Key)
	add("key-passphrase-file", e.KeyPassphraseFile)
	add("ca", e.CA)
	add("keystore", e.Keystore)
	add("truststore", e.Truststore)
	add("password-file", e.PasswordFile)
	return out
}

// Scenario is a kind's files and the way each side uses them.
type Scenario struct {
	Kind *Kind
	// Dir holds the files the endpoints name.
	Dir    string
	Server Endpoint
	Client Endpoint

	ServerMode ServerMode
	ClientMode ClientMode

	// DialHost is the host the client dials; default "localhost".
	DialHost string
	// ServerName overrides the name the client expects in the server's
	// certificate, as --server-name does.
	ServerName string
	// AllowedClientIDs and ExpectedServerIDs are passed to
	// pki.RequirePeerID on the server and the client.
	AllowedClientIDs  []string
	ExpectedServerIDs []string
	// ClientMaxVersion caps the client's TLS version, as a client that
	// cannot speak TLS 1.3 does; zero leaves it uncapped.
	ClientMaxVersion uint16

	// expectFailure is the client's diagnosis reason, once Run has seen
	// it, for the --expect-failure flag of the reproducing command.
	expectFailure pki.Reason
}

func (sc *Scenario) dialHost() string {
	if sc.DialHost != "" {
		return sc.DialHost
	}
	return "localhost"
}

// Commands returns shell commands that reproduce the scenario with the
// mtls CLI and the files in Dir, or nil when only 'mtls lab run' can
// reproduce it. dir replaces Dir in the output, so that a guide can show
// "$DIR".
func (sc *Scenario) Commands(dir string) []string {
	if sc.ServerMode != ServerMTLS || sc.ClientMode == ClientHTTP1 || sc.Server.PresentUnparsed {
		return nil
	}
	rel := func(args []string) string {
		for i, a := range args {
			if strings.HasPrefix(a, sc.Dir+string(filepath.Separator)) {
				args[i] = dir + a[len(sc.Dir):]
			}
		}
		return strings.Join(args, " ")
	}
	serve := append([]string{"mtls", "serve", "--listen", "127.0.0.1:8443"}, sc.Server.flags()...)
	for _, id := range sc.AllowedClientIDs {
		serve = append(serve, "--allow-client", id)
	}
	if sc.ClientMode == ClientPlaintext {
		return []string{rel(serve) + " &", "grpcurl -plaintext " + sc.dialHost() + ":8443 list"}
	}
	call := append([]string{"mtls", "call", "--addr", sc.dialHost() + ":8443"}, sc.Client.flags()...)
	if sc.ServerName != "" {
		call = append(call, "--server-name", sc.ServerName)
	}
	for _, id := range sc.ExpectedServerIDs {
		call = append(call, "--expect-server", id)
	}
	if sc.ClientMaxVersion == tls.VersionTLS12 {
		return []string{rel(serve) + " &", fmt.Sprintf("openssl s_client -tls1_2 -connect 127.0.0.1:8443 -cert %s/client.crt -key %s/client.key </dev/null", dir, dir)}
	}
	if sc.expectFailure != "" {
		call = append(call, "--expect-failure", string(sc.expectFailure))
	}
	return []string{rel(serve) + " &", rel(call)}
}
