package pki_test

import (
	"crypto/tls"
	"crypto/x509"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/grpc-mtls/grpc-mtls/pki"
	"github.com/grpc-mtls/grpc-mtls/pki/pkitest"
	"github.com/grpc-mtls/grpc-mtls/server"
	"github.com/grpc-mtls/grpc-mtls/server/servertest"
)

// revocationServer starts a server for ca's clients that checks them
// against the CRLs in crls, reloaded on change. reloads receives every
// reload, failures every failed handshake.
type revocationServer struct {
	addr     string
	crls     *pki.CRLWatcher
	reloads  chan pki.CRLReload
	failures chan server.HandshakeFailure
}

func startRevocationServer(t *testing.T, ca *pkitest.CA, serverLeaf *pki.Leaf, trust *pki.Truststore, crlPaths []string, opts pki.RevocationOptions) *revocationServer {
	t.Helper()
	s := &revocationServer{reloads: make(chan pki.CRLReload, 8)}
	var err error
	s.crls, err = pki.WatchCRLs(crlPaths, trust, pki.CRLWatchOptions{OnReload: func(r pki.CRLReload) { s.reloads <- r }})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.crls.Close() })
	cfg, err := pki.ServerTLSConfig(pkitest.Keystore(serverLeaf), trust, pki.TLSOptions{})
	require.NoError(t, err)
	cfg.VerifyConnection = pki.RevocationCheck(s.crls.Current, opts)
	var onFailure func(server.HandshakeFailure)
	s.failures, onFailure = handshakeFailures()
	s.addr = servertest.Start(t, cfg, server.Options{OnHandshakeFailure: onFailure})
	return s
}

func (s *revocationServer) nextReload(t *testing.T) pki.CRLReload {
	t.Helper()
	select {
	case r := <-s.reloads:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("the CRL file changed but no reload was reported")
		return pki.CRLReload{}
	}
}

func clientConfig(t *testing.T, leaf *pki.Leaf, trust *pki.Truststore) *tls.Config {
	t.Helper()
	return keystoreClient(t, pkitest.Keystore(leaf), trust)
}

func TestRevokedClientRejected(t *testing.T) {
	ca := pkitest.NewCA(t)
	files := crlFiles(t)
	revoked := ca.Client(t, "revoked")
	publish(t, ca.CA, files, revoked, pki.CRLOptions{})
	srv := startRevocationServer(t, ca, ca.Server(t), ca.Truststore(), []string{files.CRL}, pki.RevocationOptions{})

	_, revokedErr := servertest.Dial(t, srv.addr, clientConfig(t, revoked, ca.Truststore())).WhoAmI(callContext(t))
	failure := nextFailure(t, srv.failures)
	res, validErr := servertest.Dial(t, srv.addr, clientConfig(t, ca.Client(t, "valid"), ca.Truststore())).WhoAmI(callContext(t))

	require.Error(t, revokedErr)
	assert.ErrorContains(t, revokedErr, "remote error: tls: bad certificate", "crypto/tls sends bad_certificate for a VerifyConnection error")
	assert.Equal(t, pki.ReasonPeerRejectedCert, pki.Diagnose(revokedErr, pki.RoleClient).Reason)
	assert.ErrorIs(t, failure.Err, pki.ErrRevoked)
	assert.Equal(t, pki.ReasonRevoked, failure.Diagnosis.Reason)
	assert.Contains(t, failure.Err.Error(), revoked.Cert.SerialNumber.Text(16))
	require.NoError(t, validErr)
	assert.Equal(t, []string{"spiffe://test.local/valid"}, res.Response.GetClient().GetUris())
}

// A client that got a session ticket before its revocation must not get
// back in by resuming that session.
func TestRevocationReloadBlocksResumption(t *testing.T) {
	ca := pkitest.NewCA(t)
	files := crlFiles(t)
	publish(t, ca.CA, files, nil, pki.CRLOptions{})
	leaf := ca.Client(t, "client")
	srv := startRevocationServer(t, ca, ca.Server(t), ca.Truststore(), []string{files.CRL}, pki.RevocationOptions{})
	cfg := clientConfig(t, leaf, ca.Truststore()) // one session cache for every dial
	first, err := servertest.Dial(t, srv.addr, cfg).WhoAmI(callContext(t))
	require.NoError(t, err)
	resumed, err := servertest.Dial(t, srv.addr, cfg).WhoAmI(callContext(t))
	require.NoError(t, err)
	require.False(t, first.Server.Connection.Resumed)
	require.True(t, resumed.Server.Connection.Resumed, "the second connection resumes the first one's session")

	publish(t, ca.CA, files, leaf, pki.CRLOptions{})
	reload := srv.nextReload(t)
	_, afterErr := servertest.Dial(t, srv.addr, cfg).WhoAmI(callContext(t))
	failure := nextFailure(t, srv.failures)

	require.NoError(t, reload.Err)
	assert.Len(t, reload.Set.CRLs()[0].List.RevokedCertificateEntries, 1)
	require.Error(t, afterErr)
	assert.Equal(t, pki.ReasonRevoked, failure.Diagnosis.Reason)
}

func TestCRLReloadKeepsOldSetOnBadFile(t *testing.T) {
	ca := pkitest.NewCA(t)
	forger := pkitest.NewCA(t)
	files := crlFiles(t)
	revoked := ca.Client(t, "revoked")
	publish(t, ca.CA, files, revoked, pki.CRLOptions{})
	srv := startRevocationServer(t, ca, ca.Server(t), ca.Truststore(), []string{files.CRL}, pki.RevocationOptions{})

	// A CRL from another key with the same CA name, listing nothing,
	// would readmit the revoked client if it were accepted.
	forged := pki.CRLFiles{State: filepath.Join(t.TempDir(), "forged.json"), CRL: files.CRL}
	publish(t, forger.CA, forged, nil, pki.CRLOptions{})
	reload := srv.nextReload(t)
	_, revokedErr := servertest.Dial(t, srv.addr, clientConfig(t, revoked, ca.Truststore())).WhoAmI(callContext(t))
	failure := nextFailure(t, srv.failures)

	assert.ErrorContains(t, reload.Err, "its signature does not verify")
	assert.Same(t, srv.crls.Current(), reload.Set)
	require.Error(t, revokedErr)
	assert.Equal(t, pki.ReasonRevoked, failure.Diagnosis.Reason)
}

func TestRevocationWithIntermediateEndToEnd(t *testing.T) {
	dir, _ := initIntermediatePKI(t, nil)
	inter, err := pki.LoadCA(filepath.Join(dir, pki.FileIntermediateCert), filepath.Join(dir, pki.FileIntermediateKey), nil)
	require.NoError(t, err)
	trust, err := pki.LoadTruststore(pki.TruststoreSource{File: filepath.Join(dir, pki.FileCACert)})
	require.NoError(t, err)
	serverKS := loadKeystore(t, dir, pki.FileServerCert, pki.FileServerKey)
	guestKS := loadKeystore(t, dir, pki.FileGuestCert, pki.FileGuestKey)
	clientKS := loadKeystore(t, dir, pki.FileClientCert, pki.FileClientKey)
	files := pki.CRLFilesFor(filepath.Join(dir, pki.FileIntermediateCert))
	_, err = pki.PublishCRL(inter, files, &pki.RevokeRequest{Serial: guestKS.Leaf.SerialNumber}, pki.CRLOptions{})
	require.NoError(t, err)
	cfg, err := pki.ServerTLSConfig(serverKS, trust, pki.TLSOptions{})
	require.NoError(t, err)
	set, err := pki.LoadCRLs([]string{files.CRL}, trust)
	require.NoError(t, err)
	cfg.VerifyConnection = pki.RevocationCheck(func() *pki.CRLSet { return set }, pki.RevocationOptions{})
	failures, onFailure := handshakeFailures()
	addr := servertest.Start(t, cfg, server.Options{OnHandshakeFailure: onFailure})

	_, guestErr := servertest.Dial(t, addr, keystoreClient(t, guestKS, trust)).WhoAmI(callContext(t))
	failure := nextFailure(t, failures)
	_, clientErr := servertest.Dial(t, addr, keystoreClient(t, clientKS, trust)).WhoAmI(callContext(t))

	require.Error(t, guestErr)
	assert.Equal(t, pki.ReasonRevoked, failure.Diagnosis.Reason)
	assert.NoError(t, clientErr)
}

func TestStaleCRLPoliciesEndToEnd(t *testing.T) {
	ca := pkitest.NewCA(t)
	files := crlFiles(t)
	hourAgo := func() time.Time { return time.Now().Add(-2 * time.Hour) }
	publish(t, ca.CA, files, nil, pki.CRLOptions{Validity: time.Hour, Now: hourAgo})
	var mu sync.Mutex
	var uses []pki.StaleCRLUse
	onStale := func(u pki.StaleCRLUse) {
		mu.Lock()
		defer mu.Unlock()
		uses = append(uses, u)
	}
	warn := startRevocationServer(t, ca, ca.Server(t), ca.Truststore(), []string{files.CRL}, pki.RevocationOptions{OnStale: onStale})
	reject := startRevocationServer(t, ca, ca.Server(t), ca.Truststore(), []string{files.CRL}, pki.RevocationOptions{OnStale: onStale, Stale: pki.StaleReject})

	_, warnErr := servertest.Dial(t, warn.addr, clientConfig(t, ca.Client(t, "a"), ca.Truststore())).WhoAmI(callContext(t))
	_, rejectErr := servertest.Dial(t, reject.addr, clientConfig(t, ca.Client(t, "b"), ca.Truststore())).WhoAmI(callContext(t))
	failure := nextFailure(t, reject.failures)

	assert.NoError(t, warnErr)
	require.Error(t, rejectErr)
	assert.ErrorIs(t, failure.Err, pki.ErrCRLStale)
	assert.Equal(t, pki.ReasonCRLStale, failure.Diagnosis.Reason)
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, uses, 2, "both servers report the stale CRL")
	assert.False(t, uses[0].Rejected)
	assert.True(t, uses[1].Rejected)
}

func loadKeystore(t *testing.T, dir, certName, keyName string) *pki.Keystore {
	t.Helper()
	ks, err := pki.LoadKeystore(pki.KeystoreSource{CertFile: filepath.Join(dir, certName), KeyFile: filepath.Join(dir, keyName)})
	require.NoError(t, err)
	return ks
}

func keystoreClient(t *testing.T, ks *pki.Keystore, trust *pki.Truststore) *tls.Config {
	t.Helper()
	cfg, err := pki.ClientTLSConfig(ks, trust, "localhost", pki.TLSOptions{})
	require.NoError(t, err)
	return cfg
}

func TestRevocationCheckWithoutSet(t *testing.T) {
	check := pki.RevocationCheck(func() *pki.CRLSet { return nil }, pki.RevocationOptions{})

	assert.NoError(t, check(tls.ConnectionState{}))
}

func TestRevokedDiagnosisNamesCertificate(t *testing.T) {
	ca := pkitest.NewCA(t)
	files := crlFiles(t)
	revoked := ca.Client(t, "revoked")
	publish(t, ca.CA, files, revoked, pki.CRLOptions{})
	set, err := pki.LoadCRLs([]string{files.CRL}, ca.Truststore())
	require.NoError(t, err)

	checkErr := set.Check([][]*x509.Certificate{{revoked.Cert, ca.Cert}}, pki.RevocationOptions{})
	d := pki.Diagnose(checkErr, pki.RoleServer)

	var revokedErr *pki.RevokedError
	require.ErrorAs(t, checkErr, &revokedErr)
	assert.Equal(t, files.CRL, revokedErr.CRL.Path)
	assert.Equal(t, pki.ReasonRevoked, d.Reason)
	require.NotNil(t, d.Certificate)
	assert.Equal(t, pki.RoleClient, d.Certificate.Owner)
	assert.Equal(t, revoked.Cert.SerialNumber.Text(16), d.Certificate.Serial)
}
