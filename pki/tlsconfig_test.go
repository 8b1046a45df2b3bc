package pki_test

import (
	"crypto/tls"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/grpc-mtls/grpc-mtls/pki"
)

func TestServerTLSConfig(t *testing.T) {
	ca := newTestCA(t, pki.KeyECDSAP256)
	leaf := issue(t, ca, serverRequest(t, pki.KeyECDSAP256))
	ks := &pki.Keystore{Leaf: leaf.Cert, Key: leaf.Key}
	ts := &pki.Truststore{Certs: append(ca.Chain, ca.Cert)}

	cfg, err := pki.ServerTLSConfig(ks, ts, pki.TLSOptions{})
	require.NoError(t, err)

	assert.Equal(t, tls.RequireAndVerifyClientCert, cfg.ClientAuth)
	assert.Equal(t, uint16(tls.VersionTLS13), cfg.MinVersion)
	assert.False(t, cfg.InsecureSkipVerify)
	assert.False(t, cfg.SessionTicketsDisabled)
	require.Len(t, cfg.Certificates, 1)
	assert.Equal(t, leaf.Cert.Raw, cfg.Certificates[0].Certificate[0])
	assert.True(t, cfg.ClientCAs.Equal(ts.Pool()), "client CAs are the truststore")

	cfg, err = pki.ServerTLSConfig(ks, ts, pki.TLSOptions{AllowTLS12: true, DisableSessionResumption: true})
	require.NoError(t, err)

	assert.Equal(t, uint16(tls.VersionTLS12), cfg.MinVersion)
	assert.True(t, cfg.SessionTicketsDisabled)

	_, err = pki.ServerTLSConfig(nil, ts, pki.TLSOptions{})
	assert.ErrorContains(t, err, "a keystore and a truststore are both required")
}

func TestClientTLSConfig(t *testing.T) {
	ca := newTestCA(t, pki.KeyECDSAP256)
	leaf := issue(t, ca, clientRequest(t, pki.KeyECDSAP256))
	ks := &pki.Keystore{Leaf: leaf.Cert, Key: leaf.Key}
	ts := &pki.Truststore{Certs: append(ca.Chain, ca.Cert)}

	cfg, err := pki.ClientTLSConfig(ks, ts, "server", pki.TLSOptions{})
	require.NoError(t, err)

	assert.Equal(t, "server", cfg.ServerName)
	assert.Equal(t, uint16(tls.VersionTLS13), cfg.MinVersion)
	assert.False(t, cfg.InsecureSkipVerify)
	assert.NotNil(t, cfg.ClientSessionCache, "sessions can resume")
	assert.True(t, cfg.RootCAs.Equal(ts.Pool()))
	require.Len(t, cfg.Certificates, 1)
	require.NotNil(t, cfg.GetClientCertificate)
	other := newTestCA(t, pki.KeyEd25519)
	presented, err := cfg.GetClientCertificate(&tls.CertificateRequestInfo{AcceptableCAs: [][]byte{other.Cert.RawSubject}})
	require.NoError(t, err)
	assert.Equal(t, leaf.Cert.Raw, presented.Certificate[0], "the certificate is presented even to a server that names other CAs")

	cfg, err = pki.ClientTLSConfig(nil, ts, "", pki.TLSOptions{DisableSessionResumption: true})
	require.NoError(t, err)

	assert.Empty(t, cfg.Certificates, "a client without a keystore presents nothing")
	assert.Nil(t, cfg.GetClientCertificate)
	assert.Nil(t, cfg.ClientSessionCache)

	_, err = pki.ClientTLSConfig(ks, nil, "server", pki.TLSOptions{})
	assert.ErrorContains(t, err, "a truststore is required to verify the server")
}
