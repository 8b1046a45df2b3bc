package bench

import (
	"crypto/tls"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/grpc-mtls/grpc-mtls/pki"
)

// serverName is the name clients expect in the server certificates of the
// fixtures; pki init puts it there by default.
const serverName = "localhost"

// fixture is a PKI made by pki.Init with one key type: a CA, a server and
// a client certificate, as files and loaded.
type fixture struct {
	keyType pki.KeyType
	dir     string
	server  *pki.Keystore
	client  *pki.Keystore
	trust   *pki.Truststore
}

func (f *fixture) path(name string) string { return filepath.Join(f.dir, name) }

// serverConfig returns the server's mTLS config, as mtls serve builds it.
func (f *fixture) serverConfig(tb testing.TB) *tls.Config {
	tb.Helper()
	cfg, err := pki.ServerTLSConfig(f.server, f.trust, pki.TLSOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	return cfg
}

// clientConfig returns the client's mTLS config. With resume false it has
// no session cache, so every connection makes a full handshake.
func (f *fixture) clientConfig(tb testing.TB, resume bool) *tls.Config {
	tb.Helper()
	cfg, err := pki.ClientTLSConfig(f.client, f.trust, serverName, pki.TLSOptions{DisableSessionResumption: !resume})
	if err != nil {
		tb.Fatal(err)
	}
	return cfg
}

var (
	fixturesMu sync.Mutex
	fixtures   = map[pki.KeyType]*fixture{}
)

// loadFixture returns the PKI of key type kt, creating it on first use.
// With -fixtures the files outlive the process, so repeated runs skip the
// slow RSA key generation.
func loadFixture(tb testing.TB, kt pki.KeyType) *fixture {
	tb.Helper()
	fixturesMu.Lock()
	defer fixturesMu.Unlock()
	if f, ok := fixtures[kt]; ok {
		return f
	}

	f := &fixture{keyType: kt, dir: filepath.Join(fixtureRoot, string(kt))}
	if _, err := os.Stat(f.path(pki.FileCACert)); errors.Is(err, fs.ErrNotExist) {
		if _, err := pki.Init(pki.InitOptions{Dir: f.dir, KeyType: kt}); err != nil {
			tb.Fatalf("create %s fixture: %v", kt, err)
		}
	}
	var err error
	if f.server, err = pki.LoadKeystore(pki.KeystoreSource{CertFile: f.path(pki.FileServerCert), KeyFile: f.path(pki.FileServerKey)}); err != nil {
		tb.Fatal(err)
	}
	if f.client, err = pki.LoadKeystore(pki.KeystoreSource{CertFile: f.path(pki.FileClientCert), KeyFile: f.path(pki.FileClientKey)}); err != nil {
		tb.Fatal(err)
	}
	if f.trust, err = pki.LoadTruststore(pki.TruststoreSource{File: f.path(pki.FileCACert)}); err != nil {
		tb.Fatal(err)
	}
	fixtures[kt] = f
	return f
}
