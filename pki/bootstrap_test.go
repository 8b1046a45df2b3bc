package pki_test

import (
	"crypto/x509"
	"encoding/pem"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/grpc-mtls/grpc-mtls/internal/tooltest"
	"github.com/grpc-mtls/grpc-mtls/pki"
)

// initFileNames are the files Init writes when it generates the PKCS#12
// password, sorted.
var initFileNames = []string{
	pki.FileCACert, pki.FileCAKey, pki.FileClientCert, pki.FileClientKey, pki.FileClientP12,
	pki.FileGuestCert, pki.FileGuestKey, pki.FileGuestP12,
	pki.FileP12Password, pki.FileServerCert, pki.FileServerKey, pki.FileServerP12, pki.FileTruststore,
}

// initPKI runs Init into a new directory below a test directory and
// returns that directory.
func initPKI(t *testing.T, opts pki.InitOptions) (string, *pki.InitResult) {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = filepath.Join(t.TempDir(), "pki")
	}
	res, err := pki.Init(opts)
	require.NoError(t, err)
	return opts.Dir, res
}

func loadCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	certs, err := pki.LoadCertificates(path)
	require.NoError(t, err)
	require.Len(t, certs, 1, "one certificate in %s", path)
	return certs[0]
}

func ipStrings(ips []net.IP) []string {
	out := make([]string, len(ips))
	for i, ip := range ips {
		out[i] = ip.String()
	}
	return out
}

func uriStrings(c *x509.Certificate) []string {
	out := make([]string, len(c.URIs))
	for i, u := range c.URIs {
		out[i] = u.String()
	}
	return out
}

func TestInitDefaultNames(t *testing.T) {
	dir, res := initPKI(t, pki.InitOptions{})
	server := loadCert(t, filepath.Join(dir, pki.FileServerCert))
	client := loadCert(t, filepath.Join(dir, pki.FileClientCert))
	ca := loadCert(t, filepath.Join(dir, pki.FileCACert))

	assert.Equal(t, []string{"server", "localhost"}, server.DNSNames)
	assert.Equal(t, []string{"127.0.0.1", "::1"}, ipStrings(server.IPAddresses))
	assert.Empty(t, server.URIs)
	assert.Equal(t, "server", server.Subject.CommonName)
	assert.Equal(t, []string{"spiffe://grpc-mtls.local/client"}, uriStrings(client))
	assert.Empty(t, client.DNSNames)
	assert.Empty(t, client.IPAddresses)
	assert.Equal(t, "client", client.Subject.CommonName)
	assert.True(t, strings.HasPrefix(ca.Subject.CommonName, "grpc-mtls CA "), "CA name %q", ca.Subject.CommonName)
	assert.Equal(t, "spiffe://grpc-mtls.local/client", res.Client.SPIFFEID())
	assert.Equal(t, ca.Subject.String(), res.CA.Subject)
	assert.Equal(t, "ECDSA P-256", res.Server.KeyType, "the default key type")
}

func TestInitCustomNames(t *testing.T) {
	dir, _ := initPKI(t, pki.InitOptions{
		ServerDNS:   []string{"api.example.test"},
		ServerIPs:   []net.IP{net.ParseIP("10.0.0.7")},
		ClientName:  "billing",
		TrustDomain: "example.test",
	})
	server := loadCert(t, filepath.Join(dir, pki.FileServerCert))
	client := loadCert(t, filepath.Join(dir, pki.FileClientCert))

	assert.Equal(t, []string{"api.example.test"}, server.DNSNames)
	assert.Equal(t, []string{"10.0.0.7"}, ipStrings(server.IPAddresses))
	assert.Equal(t, "api.example.test", server.Subject.CommonName, "the first DNS name is the common name")
	assert.Equal(t, []string{"spiffe://example.test/billing"}, uriStrings(client))
	assert.Equal(t, "billing", client.Subject.CommonName)
}

func TestInitOnlyIPs(t *testing.T) {
	dir, _ := initPKI(t, pki.InitOptions{ServerIPs: []net.IP{net.ParseIP("192.0.2.10")}})
	server := loadCert(t, filepath.Join(dir, pki.FileServerCert))

	assert.Empty(t, server.DNSNames)
	assert.Equal(t, []string{"192.0.2.10"}, ipStrings(server.IPAddresses))
}

func TestInitRejectsInvalidOptions(t *testing.T) {
	tests := []struct {
		name    string
		opts    pki.InitOptions
		wantErr string
	}{
		{"no directory", pki.InitOptions{}, "no directory given"},
		{"unknown key type", pki.InitOptions{Dir: "x", KeyType: "rsa-1024"}, `unsupported key type "rsa-1024"`},
		{"uppercase trust domain", pki.InitOptions{Dir: "x", TrustDomain: "Example.org"}, `trust domain "Example.org": use only lowercase letters`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.opts.Dir != "" {
				tt.opts.Dir = filepath.Join(dir, tt.opts.Dir)
			}

			res, err := pki.Init(tt.opts)

			assert.ErrorContains(t, err, tt.wantErr)
			assert.Nil(t, res)
			assert.Empty(t, dirEntries(t, dir), "nothing was created")
		})
	}
}

func TestInitFileModes(t *testing.T) {
	dir, res := initPKI(t, pki.InitOptions{})
	want := map[string]fs.FileMode{
		pki.FileCACert:     0o644,
		pki.FileServerCert: 0o644,
		pki.FileClientCert: 0o644,
		pki.FileGuestCert:  0o644,
		// The truststore holds only the CA certificate.
		pki.FileTruststore:  0o644,
		pki.FileCAKey:       0o600,
		pki.FileServerKey:   0o600,
		pki.FileClientKey:   0o600,
		pki.FileGuestKey:    0o600,
		pki.FileServerP12:   0o600,
		pki.FileClientP12:   0o600,
		pki.FileGuestP12:    0o600,
		pki.FileP12Password: 0o600,
	}

	assert.Equal(t, fs.FileMode(0o700), fileMode(t, dir), "the PKI directory")
	assert.Equal(t, initFileNames, dirEntries(t, dir), "exactly these files, no temporary ones")
	for name, mode := range want {
		assert.Equal(t, mode, fileMode(t, filepath.Join(dir, name)), name)
	}
	assert.Len(t, res.Files, len(initFileNames))
	assert.True(t, res.PasswordGenerated)
}

func TestInitRejectsExistingFiles(t *testing.T) {
	dir, _ := initPKI(t, pki.InitOptions{})
	before := map[string][]byte{}
	for _, name := range initFileNames {
		before[name] = readFile(t, filepath.Join(dir, name))
	}

	_, err := pki.Init(pki.InitOptions{Dir: dir})

	require.ErrorIs(t, err, pki.ErrFileExists)
	assert.ErrorContains(t, err, filepath.Join(dir, pki.FileCAKey))
	assert.ErrorContains(t, err, "use --force to overwrite")
	for name, data := range before {
		assert.Equal(t, data, readFile(t, filepath.Join(dir, name)), "%s is unchanged", name)
	}
}

func TestInitRejectsOneExistingFile(t *testing.T) {
	dir := t.TempDir()
	existing := writeFile(t, dir, pki.FileClientKey, []byte("someone's key"))

	_, err := pki.Init(pki.InitOptions{Dir: dir})

	require.ErrorIs(t, err, pki.ErrFileExists)
	assert.ErrorContains(t, err, existing)
	assert.NotContains(t, err.Error(), pki.FileCACert, "only the existing file is named")
	assert.Equal(t, []string{pki.FileClientKey}, dirEntries(t, dir), "no other file was written")
	assert.Equal(t, "someone's key", string(readFile(t, existing)))
}

func TestInitForceReplacesEverything(t *testing.T) {
	dir, first := initPKI(t, pki.InitOptions{})
	oldKey := readFile(t, filepath.Join(dir, pki.FileCAKey))

	dir, second := initPKI(t, pki.InitOptions{Dir: dir, Force: true})

	assert.NotEqual(t, first.CA.Fingerprint, second.CA.Fingerprint, "a new CA")
	assert.NotEqual(t, oldKey, readFile(t, filepath.Join(dir, pki.FileCAKey)), "a new CA key")
	assert.Equal(t, initFileNames, dirEntries(t, dir))
	assert.Equal(t, second.CA.Fingerprint, pki.IdentityOf(loadCert(t, filepath.Join(dir, pki.FileCACert))).Fingerprint)
}

func TestInitEncryptedCAKey(t *testing.T) {
	passphrase := []byte("ca passphrase")
	dir, _ := initPKI(t, pki.InitOptions{CAPassphrase: passphrase})
	caCert, caKey := filepath.Join(dir, pki.FileCACert), filepath.Join(dir, pki.FileCAKey)
	block, _ := pem.Decode(readFile(t, caKey))
	require.NotNil(t, block)

	assert.Equal(t, "ENCRYPTED PRIVATE KEY", block.Type)

	ca, err := pki.LoadCA(caCert, caKey, passphrase)
	require.NoError(t, err)
	leaf, err := ca.Issue(serverRequest(t, pki.KeyECDSAP256))
	require.NoError(t, err, "the loaded CA can issue")
	assert.NoError(t, leaf.Cert.CheckSignatureFrom(loadCert(t, caCert)))

	_, err = pki.LoadCA(caCert, caKey, nil)
	assert.ErrorIs(t, err, pki.ErrPassphraseRequired)

	for _, name := range []string{pki.FileServerKey, pki.FileClientKey} {
		block, _ := pem.Decode(readFile(t, filepath.Join(dir, name)))
		require.NotNil(t, block)
		assert.Equal(t, "PRIVATE KEY", block.Type, "%s stays unencrypted for the services that load it", name)
	}

	t.Run("openssl pkey reads it", func(t *testing.T) {
		openssl := tooltest.Require(t, "openssl")
		passFile := writeFile(t, t.TempDir(), "ca.passphrase", append(passphrase, '\n'))

		out, err := exec.Command(openssl, "pkey", "-in", caKey, "-passin", "file:"+passFile, "-noout", "-text_pub").CombinedOutput()

		require.NoError(t, err, "openssl pkey: %s", out)
		assert.Contains(t, string(out), "NIST CURVE: P-256")

		out, err = exec.Command(openssl, "pkey", "-in", caKey, "-passin", "pass:wrong", "-noout").CombinedOutput()
		assert.Error(t, err, "openssl rejects a wrong passphrase: %s", out)
	})
}

func TestInitGivenP12Password(t *testing.T) {
	dir, res := initPKI(t, pki.InitOptions{P12Password: []byte(testPassword)})
	password := writeFile(t, t.TempDir(), "given.password", []byte(testPassword))

	assert.False(t, res.PasswordGenerated)
	assert.NoFileExists(t, filepath.Join(dir, pki.FileP12Password), "a given password is never written out")
	_, err := pki.LoadKeystore(pki.KeystoreSource{PKCS12File: filepath.Join(dir, pki.FileServerP12), PasswordFile: password})
	assert.NoError(t, err)
}

func TestInitGeneratedP12Password(t *testing.T) {
	dir, _ := initPKI(t, pki.InitOptions{})
	raw := readFile(t, filepath.Join(dir, pki.FileP12Password))
	password, err := pki.ReadPassword(filepath.Join(dir, pki.FileP12Password))
	require.NoError(t, err)

	assert.True(t, strings.HasSuffix(string(raw), "\n"), "the file ends with a newline")
	assert.Len(t, password, 32, "24 random bytes in unpadded base64")
	assert.NotContains(t, string(password), " ")

	otherDir, _ := initPKI(t, pki.InitOptions{})
	otherPassword := readFile(t, filepath.Join(otherDir, pki.FileP12Password))
	assert.NotEqual(t, raw, otherPassword, "every run draws a new password")
}

func TestInitValidity(t *testing.T) {
	dir, _ := initPKI(t, pki.InitOptions{Now: clock, CAValidity: 30 * 24 * time.Hour, LeafValidity: 7 * 24 * time.Hour})
	now := fixedNow.Truncate(time.Second)

	ca := loadCert(t, filepath.Join(dir, pki.FileCACert))
	assert.Equal(t, now.Add(-pki.DefaultBackdate), ca.NotBefore)
	assert.Equal(t, now.Add(30*24*time.Hour), ca.NotAfter)
	for _, name := range []string{pki.FileServerCert, pki.FileClientCert} {
		leaf := loadCert(t, filepath.Join(dir, name))
		assert.Equal(t, now.Add(-pki.DefaultBackdate), leaf.NotBefore, name)
		assert.Equal(t, now.Add(7*24*time.Hour), leaf.NotAfter, name)
	}
}

// TestInitRoundTripKeyTypes loads every file Init writes back, for each key
// type but RSA 4096, whose three keys would take seconds to generate.
// TestKeystoreRoundTripEveryKeyType covers that type.
func TestInitRoundTripKeyTypes(t *testing.T) {
	for _, kt := range []pki.KeyType{pki.KeyECDSAP256, pki.KeyECDSAP384, pki.KeyEd25519, pki.KeyRSA2048, pki.KeyRSA3072} {
		t.Run(string(kt), func(t *testing.T) {
			dir, res := initPKI(t, pki.InitOptions{KeyType: kt})
			path := func(name string) string { return filepath.Join(dir, name) }
			password := path(pki.FileP12Password)

			ca, err := pki.LoadCA(path(pki.FileCACert), path(pki.FileCAKey), nil)
			require.NoError(t, err)
			pemTrust, err := pki.LoadTruststore(pki.TruststoreSource{File: path(pki.FileCACert)})
			require.NoError(t, err)
			p12Trust, err := pki.LoadTruststore(pki.TruststoreSource{File: path(pki.FileTruststore), PasswordFile: password})
			require.NoError(t, err)
			require.Len(t, p12Trust.Certs, 1)

			assert.Equal(t, res.CA.KeyType, pki.DescribeKey(ca.Key))
			assert.Equal(t, ca.Cert.Raw, pemTrust.Certs[0].Raw)
			assert.Equal(t, ca.Cert.Raw, p12Trust.Certs[0].Raw)

			for _, side := range []struct{ cert, key, p12 string }{
				{pki.FileServerCert, pki.FileServerKey, pki.FileServerP12},
				{pki.FileClientCert, pki.FileClientKey, pki.FileClientP12},
			} {
				fromPEM, err := pki.LoadKeystore(pki.KeystoreSource{CertFile: path(side.cert), KeyFile: path(side.key)})
				require.NoError(t, err, side.cert)
				fromP12, err := pki.LoadKeystore(pki.KeystoreSource{PKCS12File: path(side.p12), PasswordFile: password})
				require.NoError(t, err, side.p12)

				assert.Equal(t, fromPEM.Leaf.Raw, fromP12.Leaf.Raw, "%s and %s hold the same certificate", side.cert, side.p12)
				assert.True(t, samePublicKey(fromPEM.Key.Public(), fromP12.Key.Public()), "%s and %s hold the same key", side.key, side.p12)
				assert.Equal(t, res.Server.KeyType, pki.DescribeKey(fromPEM.Key))
				_, err = fromPEM.Leaf.Verify(x509.VerifyOptions{Roots: p12Trust.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
				assert.NoError(t, err, "%s chains to the truststore's CA", side.cert)
			}
		})
	}
}

func TestSPIFFEID(t *testing.T) {
	tests := []struct {
		name        string
		trustDomain string
		path        string
		want        string
		wantErr     string
	}{
		{"simple", "example.org", "client", "spiffe://example.org/client", ""},
		{"nested path", "prod.example.org", "ns/billing", "spiffe://prod.example.org/ns/billing", ""},
		{"uppercase domain", "Example.org", "client", "", "use only lowercase letters"},
		{"domain with port", "example.org:8443", "client", "", "use only lowercase letters"},
		{"empty domain", "", "client", "", "needs a trust domain and a path"},
		{"empty path", "example.org", "", "", "needs a trust domain and a path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := pki.SPIFFEID(tt.trustDomain, tt.path)

			if tt.wantErr != "" {
				assert.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, id.String())
		})
	}
}

func TestInitDirectoryCreated(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "nested", "pki")

	_, err := pki.Init(pki.InitOptions{Dir: dir})

	require.NoError(t, err)
	info, err := os.Stat(dir)
	require.NoError(t, err)
	assert.True(t, info.IsDir())
	assert.Equal(t, fs.FileMode(0o700), info.Mode().Perm())
}
