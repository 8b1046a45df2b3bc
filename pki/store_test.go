package pki_test

import (
	"crypto/x509"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/grpc-mtls/grpc-mtls/pki"
)

const testPassword = "p12-test-password"

func TestKeystoreRoundTripEveryKeyType(t *testing.T) {
	for _, kt := range pki.KeyTypes {
		t.Run(string(kt), func(t *testing.T) {
			dir := t.TempDir()
			// The round trip concerns the leaf's key, so one fast CA signs
			// every type.
			ca := newTestCA(t, pki.KeyECDSAP256)
			leaf := issue(t, ca, serverRequest(t, kt))
			password := writeFile(t, dir, "p12.password", []byte(testPassword+"\n"))
			p12, err := pki.EncodeKeystore(&pki.Keystore{Leaf: leaf.Cert, Key: leaf.Key}, []*x509.Certificate{ca.Cert}, []byte(testPassword), pki.P12Modern)
			require.NoError(t, err)
			sources := map[string]pki.KeystoreSource{
				"PEM": {
					CertFile: writeFile(t, dir, "server.crt", certPEM(leaf.Cert)),
					KeyFile:  writeFile(t, dir, "server.key", keyPEM(t, leaf.Key)),
				},
				"PKCS#12": {PKCS12File: writeFile(t, dir, "server.p12", p12), PasswordFile: password},
			}
			for format, src := range sources {
				ks, err := pki.LoadKeystore(src)
				require.NoError(t, err, format)

				assert.Equal(t, leaf.Cert.Raw, ks.Leaf.Raw, "%s: same certificate", format)
				assert.NoError(t, pki.VerifyKeyPair(ks.Leaf, ks.Key), "%s: key matches", format)
				assert.Empty(t, ks.Intermediates, "%s: the root CA is not sent as an intermediate", format)
				assert.Equal(t, pki.DescribeKey(leaf.Key), pki.DescribeKey(ks.Key), "%s: key type", format)
			}
		})
	}
}

func TestKeystoreLegacyEncoding(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t, pki.KeyECDSAP256)
	leaf := issue(t, ca, clientRequest(t, pki.KeyECDSAP256))
	p12, err := pki.EncodeKeystore(&pki.Keystore{Leaf: leaf.Cert, Key: leaf.Key}, []*x509.Certificate{ca.Cert}, []byte(testPassword), pki.P12Legacy)
	require.NoError(t, err)
	trust, err := pki.EncodeTruststore([]*x509.Certificate{ca.Cert}, []byte(testPassword), pki.P12Legacy)
	require.NoError(t, err)
	password := writeFile(t, dir, "p12.password", []byte(testPassword))

	ks, err := pki.LoadKeystore(pki.KeystoreSource{PKCS12File: writeFile(t, dir, "client.p12", p12), PasswordFile: password})
	require.NoError(t, err)
	ts, err := pki.LoadTruststore(pki.TruststoreSource{File: writeFile(t, dir, "truststore.p12", trust), PasswordFile: password})
	require.NoError(t, err)

	assert.Equal(t, leaf.Cert.Raw, ks.Leaf.Raw)
	require.Len(t, ts.Certs, 1)
	assert.Equal(t, ca.Cert.Raw, ts.Certs[0].Raw)
}

func TestKeystoreWithIntermediate(t *testing.T) {
	// A keystore file may carry an intermediate CA after the leaf. The
	// intermediate is sent in the handshake, the self-signed root is not.
	// Loading keeps every certificate that is not self-signed, so a
	// second leaf of the root serves as the intermediate here.
	dir := t.TempDir()
	root := newTestCA(t, pki.KeyECDSAP256)
	intermediate := issue(t, root, serverRequest(t, pki.KeyECDSAP384))
	leaf := issue(t, root, clientRequest(t, pki.KeyECDSAP256))
	password := writeFile(t, dir, "p12.password", []byte(testPassword))
	ks := &pki.Keystore{Leaf: leaf.Cert, Intermediates: []*x509.Certificate{intermediate.Cert}, Key: leaf.Key}
	p12, err := pki.EncodeKeystore(ks, []*x509.Certificate{root.Cert}, []byte(testPassword), pki.P12Modern)
	require.NoError(t, err)

	fromPEM, err := pki.LoadKeystore(pki.KeystoreSource{
		CertFile: writeFile(t, dir, "chain.crt", certPEM(leaf.Cert, intermediate.Cert)),
		KeyFile:  writeFile(t, dir, "leaf.key", keyPEM(t, leaf.Key)),
	})
	require.NoError(t, err)
	fromP12, err := pki.LoadKeystore(pki.KeystoreSource{PKCS12File: writeFile(t, dir, "leaf.p12", p12), PasswordFile: password})
	require.NoError(t, err)

	for name, got := range map[string]*pki.Keystore{"PEM": fromPEM, "PKCS#12": fromP12} {
		require.Len(t, got.Intermediates, 1, name)
		assert.Equal(t, intermediate.Cert.Raw, got.Intermediates[0].Raw, name)
		chain := got.TLSCertificate().Certificate
		require.Len(t, chain, 2, "%s: leaf and intermediate are sent", name)
		assert.Equal(t, leaf.Cert.Raw, chain[0], name)
	}
}

func TestLoadKeystoreErrors(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t, pki.KeyECDSAP256)
	server := issue(t, ca, serverRequest(t, pki.KeyECDSAP256))
	client := issue(t, ca, clientRequest(t, pki.KeyECDSAP256))
	serverCert := writeFile(t, dir, "server.crt", certPEM(server.Cert))
	serverKey := writeFile(t, dir, "server.key", keyPEM(t, server.Key))
	clientKey := writeFile(t, dir, "client.key", keyPEM(t, client.Key))
	// The cached encrypted key is the CA's, so the CA certificate pairs
	// with it: LoadKeystore does not care which role a certificate has.
	caCert := writeFile(t, dir, "ca.crt", certPEM(ca.Cert))
	encKey := writeFile(t, dir, "ca-enc.key", encryptedCAKeyPEM(t))
	keyPassphrase := writeFile(t, dir, "key.passphrase", []byte(testPassphrase+"\n"))
	p12, err := pki.EncodeKeystore(&pki.Keystore{Leaf: server.Cert, Key: server.Key}, []*x509.Certificate{ca.Cert}, []byte(testPassword), pki.P12Modern)
	require.NoError(t, err)
	p12File := writeFile(t, dir, "server.p12", p12)
	rightPassword := writeFile(t, dir, "right.password", []byte(testPassword))
	trust, err := pki.EncodeTruststore([]*x509.Certificate{ca.Cert}, []byte(testPassword), pki.P12Modern)
	require.NoError(t, err)
	trustFile := writeFile(t, dir, "truststore.p12", trust)
	wrongPassword := writeFile(t, dir, "wrong.password", []byte("not it"))

	tests := []struct {
		name    string
		src     pki.KeystoreSource
		wantErr string
	}{
		{"key of another certificate", pki.KeystoreSource{CertFile: serverCert, KeyFile: clientKey},
			"key " + clientKey + " does not belong to certificate " + serverCert + ` (subject "CN=server")`},
		{"certificate and key swapped", pki.KeystoreSource{CertFile: serverKey, KeyFile: serverCert},
			"load certificate " + serverKey + ": the file holds a private key, not a certificate: are the certificate and key files swapped?"},
		{"certificate given as key", pki.KeystoreSource{CertFile: serverCert, KeyFile: serverCert},
			"load key " + serverCert + ": the file holds a certificate, not a key: are the certificate and key files swapped?"},
		{"encrypted key without passphrase", pki.KeystoreSource{CertFile: caCert, KeyFile: encKey},
			"load key " + encKey + ": the private key is encrypted and no passphrase was given: give its passphrase file"},
		{"certificate without key", pki.KeystoreSource{CertFile: serverCert}, "give both a certificate file and a key file"},
		{"PEM and PKCS#12 together", pki.KeystoreSource{CertFile: serverCert, KeyFile: serverKey, PKCS12File: p12File}, "not both"},
		{"missing key file", pki.KeystoreSource{CertFile: serverCert, KeyFile: filepath.Join(dir, "nope.key")}, "nope.key: file not found"},
		{"PKCS#12 without password file", pki.KeystoreSource{PKCS12File: p12File}, "a PKCS#12 file needs its password: give the password file"},
		{"PKCS#12 with wrong password", pki.KeystoreSource{PKCS12File: p12File, PasswordFile: wrongPassword},
			"load keystore " + p12File + ": the passphrase or password is wrong: check the password file"},
		{"PEM file as PKCS#12", pki.KeystoreSource{PKCS12File: serverCert, PasswordFile: rightPassword}, "not a readable PKCS#12 file"},
		{"truststore instead of keystore", pki.KeystoreSource{PKCS12File: trustFile, PasswordFile: rightPassword},
			"load keystore " + trustFile + ": it has no private key, only trusted certificates (is it a truststore?)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ks, err := pki.LoadKeystore(tt.src)

			assert.ErrorContains(t, err, tt.wantErr)
			assert.Nil(t, ks)
		})
	}

	t.Run("wrong PKCS#12 password is ErrWrongPassphrase", func(t *testing.T) {
		_, err := pki.LoadKeystore(pki.KeystoreSource{PKCS12File: p12File, PasswordFile: wrongPassword})

		assert.ErrorIs(t, err, pki.ErrWrongPassphrase)
	})
	t.Run("encrypted key with passphrase file", func(t *testing.T) {
		ks, err := pki.LoadKeystore(pki.KeystoreSource{CertFile: caCert, KeyFile: encKey, KeyPassphraseFile: keyPassphrase})

		require.NoError(t, err)
		assert.NoError(t, pki.VerifyKeyPair(ks.Leaf, ks.Key))
	})
}

func TestLoadTruststore(t *testing.T) {
	dir := t.TempDir()
	first := newTestCA(t, pki.KeyECDSAP256)
	second := newTestCA(t, pki.KeyEd25519)
	password := writeFile(t, dir, "p12.password", []byte(testPassword))
	trust, err := pki.EncodeTruststore([]*x509.Certificate{first.Cert, second.Cert}, []byte(testPassword), pki.P12Modern)
	require.NoError(t, err)

	tests := []struct {
		name string
		src  pki.TruststoreSource
	}{
		{"PEM bundle", pki.TruststoreSource{File: writeFile(t, dir, "cas.crt", certPEM(first.Cert, second.Cert))}},
		{"PKCS#12", pki.TruststoreSource{File: writeFile(t, dir, "truststore.p12", trust), PasswordFile: password}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts, err := pki.LoadTruststore(tt.src)
			require.NoError(t, err)

			require.Len(t, ts.Certs, 2)
			subjects := []string{ts.Certs[0].Subject.String(), ts.Certs[1].Subject.String()}
			assert.ElementsMatch(t, []string{first.Cert.Subject.String(), second.Cert.Subject.String()}, subjects)
			leaf := issue(t, second, clientRequest(t, pki.KeyEd25519))
			_, err = leaf.Cert.Verify(x509.VerifyOptions{Roots: ts.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
			assert.NoError(t, err, "the pool verifies a certificate of either CA")
		})
	}
}

func TestLoadTruststoreErrors(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t, pki.KeyECDSAP256)
	leaf := issue(t, ca, serverRequest(t, pki.KeyECDSAP256))
	password := writeFile(t, dir, "p12.password", []byte(testPassword))
	wrong := writeFile(t, dir, "wrong.password", []byte("not it"))
	trust, err := pki.EncodeTruststore([]*x509.Certificate{ca.Cert}, []byte(testPassword), pki.P12Modern)
	require.NoError(t, err)
	trustFile := writeFile(t, dir, "truststore.p12", trust)
	keystore, err := pki.EncodeKeystore(&pki.Keystore{Leaf: leaf.Cert, Key: leaf.Key}, nil, []byte(testPassword), pki.P12Modern)
	require.NoError(t, err)
	leafTrust, err := pki.EncodeTruststore([]*x509.Certificate{leaf.Cert}, []byte(testPassword), pki.P12Modern)
	require.NoError(t, err)
	leafCert := writeFile(t, dir, "server.crt", certPEM(leaf.Cert))

	tests := []struct {
		name    string
		src     pki.TruststoreSource
		wantErr string
	}{
		{"non-CA certificate in PEM", pki.TruststoreSource{File: leafCert},
			"load truststore " + leafCert + `: certificate "CN=server" is not a CA (basic constraints CA:FALSE or missing)`},
		{"non-CA certificate in PKCS#12", pki.TruststoreSource{File: writeFile(t, dir, "leaf-trust.p12", leafTrust), PasswordFile: password},
			`certificate "CN=server" is not a CA`},
		{"keystore instead of truststore", pki.TruststoreSource{File: writeFile(t, dir, "server.p12", keystore), PasswordFile: password},
			"load truststore " + filepath.Join(dir, "server.p12") + ": it has a private key entry, not trusted certificate entries (is it a keystore?)"},
		{"wrong password", pki.TruststoreSource{File: trustFile, PasswordFile: wrong},
			"load truststore " + trustFile + ": the passphrase or password is wrong"},
		{"PKCS#12 without password file", pki.TruststoreSource{File: trustFile}, "a PKCS#12 file needs its password"},
		{"key file instead of certificates", pki.TruststoreSource{File: writeFile(t, dir, "server.key", keyPEM(t, leaf.Key))}, "no CERTIFICATE block found, only PRIVATE KEY"},
		{"no file", pki.TruststoreSource{}, "no file given"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts, err := pki.LoadTruststore(tt.src)

			assert.ErrorContains(t, err, tt.wantErr)
			assert.Nil(t, ts)
		})
	}
}

func TestSourcePaths(t *testing.T) {
	ks := pki.KeystoreSource{CertFile: "a.crt", KeyFile: "a.key"}
	p12 := pki.KeystoreSource{PKCS12File: "a.p12", PasswordFile: "p"}
	ts := pki.TruststoreSource{File: "ca.crt"}

	assert.Equal(t, []string{"a.crt", "a.key"}, ks.Paths())
	assert.Equal(t, []string{"a.p12", "p"}, p12.Paths())
	assert.Equal(t, []string{"ca.crt"}, ts.Paths())
}
