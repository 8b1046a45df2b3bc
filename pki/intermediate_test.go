package pki_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/grpc-mtls/grpc-mtls/pki"
	"github.com/grpc-mtls/grpc-mtls/pki/faults"
	"github.com/grpc-mtls/grpc-mtls/pki/pkitest"
	"github.com/grpc-mtls/grpc-mtls/server"
	"github.com/grpc-mtls/grpc-mtls/server/servertest"
)

func initIntermediatePKI(t *testing.T, passphrase []byte) (string, *pki.InitResult) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "pki")
	res, err := pki.Init(pki.InitOptions{Dir: dir, Intermediate: true, P12Password: []byte("changeit"), CAPassphrase: passphrase})
	require.NoError(t, err)
	return dir, res
}

func loadCertificates(t *testing.T, path string) []*x509.Certificate {
	t.Helper()
	certs, err := pki.LoadCertificates(path)
	require.NoError(t, err)
	return certs
}

func TestInitIntermediateLayout(t *testing.T) {
	dir, res := initIntermediatePKI(t, nil)
	root := loadCertificates(t, filepath.Join(dir, pki.FileCACert))
	inter := loadCertificates(t, filepath.Join(dir, pki.FileIntermediateCert))
	serverChain := loadCertificates(t, filepath.Join(dir, pki.FileServerCert))
	clientChain := loadCertificates(t, filepath.Join(dir, pki.FileClientCert))
	truststore, err := pki.LoadTruststore(pki.TruststoreSource{File: filepath.Join(dir, pki.FileTruststore), PasswordFile: writePassword(t, "changeit")})
	require.NoError(t, err)

	require.Len(t, root, 1, "ca.crt holds the root only")
	assert.True(t, root[0].IsCA)
	assert.Equal(t, 1, root[0].MaxPathLen)
	require.Len(t, inter, 1)
	assert.True(t, inter[0].IsCA)
	assert.Equal(t, 0, inter[0].MaxPathLen)
	assert.True(t, inter[0].MaxPathLenZero)
	assert.NoError(t, inter[0].CheckSignatureFrom(root[0]))
	require.NotNil(t, res.Intermediate)
	assert.Equal(t, inter[0].Subject.String(), res.Intermediate.Subject)

	require.Len(t, serverChain, 2, "server.crt holds leaf and intermediate")
	assert.Equal(t, inter[0].Raw, serverChain[1].Raw)
	require.Len(t, clientChain, 2, "client.crt holds leaf and intermediate")
	assert.Equal(t, inter[0].Raw, clientChain[1].Raw)
	require.Len(t, truststore.Certs, 1, "the truststore holds the root only")
	assert.Equal(t, root[0].Raw, truststore.Certs[0].Raw)
}

func TestInitIntermediateEncryptsRootKeyOnly(t *testing.T) {
	dir, _ := initIntermediatePKI(t, []byte("root secret"))

	_, rootErr := pki.LoadCA(filepath.Join(dir, pki.FileCACert), filepath.Join(dir, pki.FileCAKey), nil)
	inter, interErr := pki.LoadCA(filepath.Join(dir, pki.FileIntermediateCert), filepath.Join(dir, pki.FileIntermediateKey), nil)

	assert.ErrorIs(t, rootErr, pki.ErrPassphraseRequired)
	require.NoError(t, interErr, "issuing from the intermediate needs no passphrase")
	assert.True(t, strings.HasPrefix(inter.Cert.Subject.CommonName, pki.DefaultIntermediateName+" "), inter.Cert.Subject.CommonName)
}

func TestInitIntermediateKeystoresCarryChain(t *testing.T) {
	dir, res := initIntermediatePKI(t, nil)
	password := writePassword(t, "changeit")

	for _, name := range []string{pki.FileServerP12, pki.FileClientP12, pki.FileGuestP12} {
		ks, err := pki.LoadKeystore(pki.KeystoreSource{PKCS12File: filepath.Join(dir, name), PasswordFile: password})
		require.NoError(t, err, name)
		require.Len(t, ks.Intermediates, 1, name)
		assert.Equal(t, res.Intermediate.CommonName, ks.Intermediates[0].Subject.CommonName, name)
	}
}

func TestInitWritesGuestIdentity(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")

	res, err := pki.Init(pki.InitOptions{Dir: dir, P12Password: []byte("changeit")})

	require.NoError(t, err)
	assert.Nil(t, res.Intermediate)
	assert.Equal(t, []string{"spiffe://grpc-mtls.local/guest"}, res.Guest.URIs)
	for _, name := range []string{pki.FileGuestCert, pki.FileGuestKey, pki.FileGuestP12} {
		assert.Contains(t, res.Files, filepath.Join(dir, name))
	}
	assert.NoFileExists(t, filepath.Join(dir, pki.FileIntermediateCert))
	guest, err := pki.LoadKeystore(pki.KeystoreSource{CertFile: filepath.Join(dir, pki.FileGuestCert), KeyFile: filepath.Join(dir, pki.FileGuestKey)})
	require.NoError(t, err)
	assert.Equal(t, "guest", guest.Leaf.Subject.CommonName)
	assert.Empty(t, guest.Intermediates, "a root-signed leaf has no intermediate to send")
}

func TestInitRejectsGuestNamedLikeClient(t *testing.T) {
	_, err := pki.Init(pki.InitOptions{Dir: t.TempDir(), ClientName: "app", GuestName: "app"})

	assert.ErrorContains(t, err, `the client and the guest are both named "app"`)
}

func writePassword(t *testing.T, password string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "password")
	require.NoError(t, os.WriteFile(path, []byte(password+"\n"), 0o600))
	return path
}

// chainRecorder keeps the verified chain of the last call the server saw.
type chainRecorder struct {
	mu    sync.Mutex
	chain []pki.Identity
}

func (r *chainRecorder) onCall(c server.CallInfo) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.chain = c.Peer.Chain
}

func (r *chainRecorder) last() []pki.Identity {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.chain
}

func TestIntermediateChainEndToEnd(t *testing.T) {
	dir, initRes := initIntermediatePKI(t, nil)
	serverKS, err := pki.LoadKeystore(pki.KeystoreSource{CertFile: filepath.Join(dir, pki.FileServerCert), KeyFile: filepath.Join(dir, pki.FileServerKey)})
	require.NoError(t, err)
	clientKS, err := pki.LoadKeystore(pki.KeystoreSource{CertFile: filepath.Join(dir, pki.FileClientCert), KeyFile: filepath.Join(dir, pki.FileClientKey)})
	require.NoError(t, err)
	trust, err := pki.LoadTruststore(pki.TruststoreSource{File: filepath.Join(dir, pki.FileCACert)})
	require.NoError(t, err)
	serverCfg, err := pki.ServerTLSConfig(serverKS, trust, pki.TLSOptions{})
	require.NoError(t, err)
	clientCfg, err := pki.ClientTLSConfig(clientKS, trust, "localhost", pki.TLSOptions{})
	require.NoError(t, err)
	var seen chainRecorder
	addr := servertest.Start(t, serverCfg, server.Options{OnCall: seen.onCall})

	res, err := servertest.Dial(t, addr, clientCfg).WhoAmI(callContext(t))

	require.NoError(t, err)
	assert.Equal(t, []string{"spiffe://grpc-mtls.local/client"}, res.Response.GetClient().GetUris())
	assert.Equal(t, initRes.Intermediate.Subject, res.Response.GetClient().GetIssuer())
	assert.Equal(t, initRes.Intermediate.Subject, res.Server.Identity.Issuer)
	chain := seen.last()
	require.Len(t, chain, 3, "the server verified leaf, intermediate and root")
	assert.Equal(t, initRes.Intermediate.CommonName, chain[1].CommonName)
	assert.Equal(t, initRes.CA.CommonName, chain[2].CommonName)
}

// handshakeFailures collects the server's failed handshakes.
func handshakeFailures() (chan server.HandshakeFailure, func(server.HandshakeFailure)) {
	failures := make(chan server.HandshakeFailure, 4)
	return failures, func(f server.HandshakeFailure) { failures <- f }
}

func nextFailure(t *testing.T, failures <-chan server.HandshakeFailure) server.HandshakeFailure {
	t.Helper()
	select {
	case f := <-failures:
		return f
	case <-time.After(10 * time.Second):
		t.Fatal("the server reported no failed handshake")
		return server.HandshakeFailure{}
	}
}

func TestServerWithoutIntermediateFails(t *testing.T) {
	root := pkitest.NewCA(t, pkitest.WithCADefects(faults.WithMaxPathLen(1)))
	inter := root.Intermediate(t, "issuing CA")
	serverLeaf := inter.Server(t)
	// The server's keystore lacks the intermediate, as when server.crt
	// holds only the leaf.
	bareServer := &pki.Keystore{Leaf: serverLeaf.Cert, Key: serverLeaf.Key}
	serverCfg, err := pki.ServerTLSConfig(bareServer, root.Truststore(), pki.TLSOptions{})
	require.NoError(t, err)
	clientCfg, err := pki.ClientTLSConfig(pkitest.Keystore(inter.Client(t, "client")), root.Truststore(), "localhost", pki.TLSOptions{})
	require.NoError(t, err)
	failures, onFailure := handshakeFailures()
	addr := servertest.Start(t, serverCfg, server.Options{OnHandshakeFailure: onFailure})

	_, callErr := servertest.Dial(t, addr, clientCfg).WhoAmI(callContext(t))
	failure := nextFailure(t, failures)

	require.Error(t, callErr)
	assert.Equal(t, pki.ReasonUnknownAuthority, pki.Diagnose(callErr, pki.RoleClient).Reason)
	assert.ErrorContains(t, callErr, "certificate signed by unknown authority")
	// A Go client answers any failed verification with a bad_certificate
	// alert, so the server learns only that its certificate was rejected.
	assert.Equal(t, pki.ReasonPeerRejectedCert, failure.Diagnosis.Reason)
}

// intermediateServer starts a server whose leaf comes from an
// intermediate CA below root, and sends the intermediate.
func intermediateServer(t *testing.T) (root, inter *pkitest.CA, addr string, failures <-chan server.HandshakeFailure) {
	t.Helper()
	root = pkitest.NewCA(t, pkitest.WithCADefects(faults.WithMaxPathLen(1)))
	inter = root.Intermediate(t, "issuing CA")
	serverCfg, err := pki.ServerTLSConfig(pkitest.Keystore(inter.Server(t)), root.Truststore(), pki.TLSOptions{})
	require.NoError(t, err)
	failed, onFailure := handshakeFailures()
	addr = servertest.Start(t, serverCfg, server.Options{OnHandshakeFailure: onFailure})
	return root, inter, addr, failed
}

// pki.ClientTLSConfig sends the configured chain whatever CAs the server
// lists, so a client without its intermediate reaches the server, which
// cannot build a path to its root.
func TestClientWithoutIntermediateFails(t *testing.T) {
	root, inter, addr, failures := intermediateServer(t)
	clientLeaf := inter.Client(t, "client")
	bareClient := &pki.Keystore{Leaf: clientLeaf.Cert, Key: clientLeaf.Key}
	clientCfg, err := pki.ClientTLSConfig(bareClient, root.Truststore(), "localhost", pki.TLSOptions{})
	require.NoError(t, err)

	_, callErr := servertest.Dial(t, addr, clientCfg).WhoAmI(callContext(t))
	failure := nextFailure(t, failures)

	assert.Equal(t, pki.ReasonPeerRejectedAuthority, pki.Diagnose(callErr, pki.RoleClient).Reason)
	assert.Equal(t, pki.ReasonUnknownAuthority, failure.Diagnosis.Reason)
}

// A tls.Config with only Certificates set, as most Go programs build it,
// sends a certificate only if the chain reaches a CA the server lists.
// Without the intermediate it reaches none, so the client sends nothing.
func TestStockGoClientWithoutIntermediateSendsNothing(t *testing.T) {
	root, inter, addr, failures := intermediateServer(t)
	clientLeaf := inter.Client(t, "client")
	bare := (&pki.Keystore{Leaf: clientLeaf.Cert, Key: clientLeaf.Key}).TLSCertificate()
	clientCfg := &tls.Config{Certificates: []tls.Certificate{bare}, RootCAs: root.Truststore().Pool(), ServerName: "localhost", MinVersion: tls.VersionTLS13}

	_, callErr := servertest.Dial(t, addr, clientCfg).WhoAmI(callContext(t))
	failure := nextFailure(t, failures)

	assert.Equal(t, pki.ReasonNoClientCertificate, pki.Diagnose(callErr, pki.RoleClient).Reason)
	assert.Equal(t, pki.ReasonNoClientCertificate, failure.Diagnosis.Reason)
}

func TestNewIntermediatePathLength(t *testing.T) {
	leafOnlyRoot, err := pki.NewCA(pki.CAOptions{})
	require.NoError(t, err)
	root, err := pki.NewCA(pki.CAOptions{MaxPathLen: 1})
	require.NoError(t, err)
	inter, err := root.NewIntermediate(pki.CAOptions{})
	require.NoError(t, err)

	_, fromLeafOnly := leafOnlyRoot.NewIntermediate(pki.CAOptions{})
	_, fromIntermediate := inter.NewIntermediate(pki.CAOptions{CommonName: "third level"})
	_, samePathLen := root.NewIntermediate(pki.CAOptions{MaxPathLen: 1})

	assert.ErrorContains(t, fromLeafOnly, fmt.Sprintf("CA %q has path length 0, so it may sign only leaf certificates", leafOnlyRoot.Cert.Subject.CommonName))
	assert.ErrorContains(t, fromIntermediate, `create intermediate CA "third level"`)
	assert.ErrorContains(t, samePathLen, "needs a path length below 1, not 1")
	assert.Equal(t, []*x509.Certificate{root.Cert}, inter.Chain)
}

func TestNewIntermediateEndsWithRoot(t *testing.T) {
	root, err := pki.NewCA(pki.CAOptions{MaxPathLen: 1, Validity: 48 * time.Hour})
	require.NoError(t, err)

	inter, err := root.NewIntermediate(pki.CAOptions{Validity: 365 * 24 * time.Hour})

	require.NoError(t, err)
	assert.Equal(t, root.Cert.NotAfter, inter.Cert.NotAfter)
}

func callContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}
