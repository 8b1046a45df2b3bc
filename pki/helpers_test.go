package pki_test

import (
	"crypto"
	"crypto/x509"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/grpc-mtls/grpc-mtls/pki"
)

func TestMain(m *testing.M) {
	// The production count of 600,000 rounds makes each encryption and
	// decryption take over a second under the race detector. The CLI tests
	// check the real count with openssl.
	pki.SetPBKDF2Iterations(2048)
	os.Exit(m.Run())
}

// keyCache holds a few keys per type for the whole test binary, because
// RSA key generation takes up to a second and most tests need some key of
// a type, not a fresh one.
var keyCache sync.Map // keySlot -> func() (crypto.Signer, error)

// keySlot names one cached key: its type and what it is for ("ca",
// "server", "client"), so that a CA and its leaves never share a key.
type keySlot struct {
	keyType pki.KeyType
	use     string
}

func testKey(tb testing.TB, kt pki.KeyType, use string) crypto.Signer {
	tb.Helper()
	key, err := loadCachedKey(keySlot{kt, use})
	require.NoError(tb, err, "generate %s key for %s", kt, use)
	return key
}

func loadCachedKey(slot keySlot) (crypto.Signer, error) {
	gen, _ := keyCache.LoadOrStore(slot, sync.OnceValues(func() (crypto.Signer, error) { return pki.GenerateKey(slot.keyType) }))
	return gen.(func() (crypto.Signer, error))()
}

// fixedNow is the clock of tests that check validity periods.
var fixedNow = time.Date(2030, 6, 15, 12, 30, 45, 123456789, time.UTC)

func clock() time.Time { return fixedNow }

// newTestCA returns a CA of key type kt whose key comes from the cache.
func newTestCA(tb testing.TB, kt pki.KeyType) *pki.CA {
	tb.Helper()
	ca, err := pki.NewCA(pki.CAOptions{KeyType: kt, Key: testKey(tb, kt, "ca")})
	require.NoError(tb, err)
	return ca
}

func issue(tb testing.TB, ca *pki.CA, req pki.LeafRequest) *pki.Leaf {
	tb.Helper()
	leaf, err := ca.Issue(req)
	require.NoError(tb, err)
	return leaf
}

// serverRequest returns a server certificate request whose key comes from
// the cache.
func serverRequest(tb testing.TB, kt pki.KeyType) pki.LeafRequest {
	tb.Helper()
	return pki.LeafRequest{Role: pki.RoleServer, CommonName: "server", DNSNames: []string{"server", "localhost"}, Key: testKey(tb, kt, "server")}
}

// clientRequest returns a client certificate request with the SPIFFE ID
// spiffe://example.test/client, whose key comes from the cache.
func clientRequest(tb testing.TB, kt pki.KeyType) pki.LeafRequest {
	tb.Helper()
	id, err := pki.SPIFFEID("example.test", "client")
	require.NoError(tb, err)
	return pki.LeafRequest{Role: pki.RoleClient, CommonName: "client", URIs: []*url.URL{id}, Key: testKey(tb, kt, "client")}
}

// writeFile writes data to name inside dir with mode 0600 and returns
// the path.
func writeFile(tb testing.TB, dir, name string, data []byte) string {
	tb.Helper()
	path := filepath.Join(dir, name)
	require.NoError(tb, os.WriteFile(path, data, 0o600))
	return path
}

func readFile(tb testing.TB, path string) []byte {
	tb.Helper()
	data, err := os.ReadFile(path)
	require.NoError(tb, err)
	return data
}

func certPEM(certs ...*x509.Certificate) []byte { return pki.EncodeCertificatesPEM(certs...) }

func keyPEM(tb testing.TB, key crypto.Signer) []byte {
	tb.Helper()
	data, err := pki.MarshalPrivateKeyPEM(key)
	require.NoError(tb, err)
	return data
}

// samePublicKey reports whether two public keys are equal.
func samePublicKey(a, b crypto.PublicKey) bool {
	key, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && key.Equal(b)
}

// testPassphrase encrypts the cached encrypted key.
const testPassphrase = "correct horse battery staple"

// encryptedCAKey is the key of newTestCA(tb, pki.KeyECDSAP256) as
// encrypted PKCS#8 PEM, made once for every test that needs one.
var encryptedCAKey = sync.OnceValues(func() ([]byte, error) {
	key, err := loadCachedKey(keySlot{pki.KeyECDSAP256, "ca"})
	if err != nil {
		return nil, err
	}
	return pki.MarshalEncryptedPrivateKeyPEM(key, []byte(testPassphrase))
})

func encryptedCAKeyPEM(tb testing.TB) []byte {
	tb.Helper()
	testKey(tb, pki.KeyECDSAP256, "ca")
	data, err := encryptedCAKey()
	require.NoError(tb, err)
	return data
}
