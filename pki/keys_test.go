package pki_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/grpc-mtls/grpc-mtls/pki"
)

func TestParseKeyType(t *testing.T) {
	for _, kt := range pki.KeyTypes {
		got, err := pki.ParseKeyType(string(kt))

		require.NoError(t, err)
		assert.Equal(t, kt, got)
	}
	assert.Equal(t, pki.KeyECDSAP256, pki.DefaultKeyType)
	assert.Equal(t, pki.DefaultKeyType, pki.KeyTypes[0], "the default is listed first")

	_, err := pki.ParseKeyType("rsa-1024")

	assert.ErrorContains(t, err, `unsupported key type "rsa-1024": use one of ecdsa-p256, ecdsa-p384, ed25519, rsa-2048, rsa-3072, rsa-4096`)
}

func TestPrivateKeyPEMRoundTrip(t *testing.T) {
	tests := []struct {
		keyType     pki.KeyType
		description string
	}{
		{pki.KeyECDSAP256, "ECDSA P-256"},
		{pki.KeyECDSAP384, "ECDSA P-384"},
		{pki.KeyEd25519, "Ed25519"},
		{pki.KeyRSA2048, "RSA 2048"},
		{pki.KeyRSA3072, "RSA 3072"},
		{pki.KeyRSA4096, "RSA 4096"},
	}
	for _, tt := range tests {
		t.Run(string(tt.keyType), func(t *testing.T) {
			key := testKey(t, tt.keyType, "server")
			data, err := pki.MarshalPrivateKeyPEM(key)
			require.NoError(t, err)
			block, _ := pem.Decode(data)
			require.NotNil(t, block)

			parsed, err := pki.ParsePrivateKeyPEM(data, nil)
			require.NoError(t, err)

			assert.Equal(t, "PRIVATE KEY", block.Type, "unencrypted keys are PKCS#8")
			assert.True(t, samePublicKey(key.Public(), parsed.Public()), "same key after the round trip")
			assert.Equal(t, tt.description, pki.DescribeKey(parsed))
		})
	}
}

func TestEncryptedPrivateKey(t *testing.T) {
	key := testKey(t, pki.KeyECDSAP256, "ca")
	data := encryptedCAKeyPEM(t)
	block, _ := pem.Decode(data)
	require.NotNil(t, block)

	assert.Equal(t, "ENCRYPTED PRIVATE KEY", block.Type)
	assert.NotContains(t, string(data), "BEGIN PRIVATE KEY", "no clear-text key beside the encrypted one")

	parsed, err := pki.ParsePrivateKeyPEM(data, []byte(testPassphrase))
	require.NoError(t, err)
	assert.True(t, samePublicKey(key.Public(), parsed.Public()), "same key after the round trip")

	_, err = pki.ParsePrivateKeyPEM(data, []byte("wrong"))
	assert.ErrorIs(t, err, pki.ErrWrongPassphrase)
	assert.ErrorContains(t, err, "decrypt PKCS#8 private key: the passphrase or password is wrong")

	_, err = pki.ParsePrivateKeyPEM(data, nil)
	assert.ErrorIs(t, err, pki.ErrPassphraseRequired)
	assert.ErrorContains(t, err, "the private key is encrypted and no passphrase was given")

	_, err = pki.MarshalEncryptedPrivateKeyPEM(key, nil)
	assert.ErrorContains(t, err, "the passphrase is empty")
}

func TestParsePrivateKeyFormats(t *testing.T) {
	rsaKey := testKey(t, pki.KeyRSA2048, "server").(*rsa.PrivateKey)
	ecKey := testKey(t, pki.KeyECDSAP384, "server").(*ecdsa.PrivateKey)
	sec1, err := x509.MarshalECPrivateKey(ecKey)
	require.NoError(t, err)
	pkcs8, err := x509.MarshalPKCS8PrivateKey(ecKey)
	require.NoError(t, err)
	// "openssl ecparam -genkey" writes the curve parameters before the key.
	ecParams := pem.EncodeToMemory(&pem.Block{Type: "EC PARAMETERS", Bytes: []byte{0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22}})
	tests := []struct {
		name string
		data []byte
		want crypto.PublicKey
	}{
		{"PKCS#1 RSA", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)}), rsaKey.Public()},
		{"SEC1 EC", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1}), ecKey.Public()},
		{"SEC1 EC after EC PARAMETERS", append(ecParams, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1})...), ecKey.Public()},
		{"PKCS#8 EC", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}), ecKey.Public()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, err := pki.ParsePrivateKeyPEM(tt.data, nil)

			require.NoError(t, err)
			assert.True(t, samePublicKey(tt.want, key.Public()))
		})
	}
}

func TestParsePrivateKeyErrors(t *testing.T) {
	ca := newTestCA(t, pki.KeyECDSAP256)
	legacy, err := x509.EncryptPEMBlock(rand.Reader, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(testKey(t, pki.KeyRSA2048, "server").(*rsa.PrivateKey)), []byte("pw"), x509.PEMCipherAES256) //nolint:staticcheck // building the legacy format the parser must reject
	require.NoError(t, err)
	tests := []struct {
		name    string
		data    []byte
		wantErr string
	}{
		{"not PEM", []byte("hello"), "no PEM data found"},
		{"certificate only", certPEM(ca.Cert), "no private key found among PEM blocks CERTIFICATE"},
		{"corrupt PKCS#8", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1, 2, 3}}), "parse PKCS#8 private key"},
		{"corrupt PKCS#1", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: []byte{1, 2, 3}}), "parse PKCS#1 RSA private key"},
		{"corrupt SEC1", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: []byte{1, 2, 3}}), "parse SEC1 EC private key"},
		{"legacy encryption", pem.EncodeToMemory(legacy), "legacy PEM encryption (Proc-Type: 4,ENCRYPTED) is not supported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, err := pki.ParsePrivateKeyPEM(tt.data, nil)

			assert.ErrorContains(t, err, tt.wantErr)
			assert.Nil(t, key)
		})
	}
}

func TestVerifyKeyPair(t *testing.T) {
	ca := newTestCA(t, pki.KeyECDSAP256)
	leaf := issue(t, ca, serverRequest(t, pki.KeyECDSAP256))

	assert.NoError(t, pki.VerifyKeyPair(leaf.Cert, leaf.Key))
	assert.ErrorContains(t, pki.VerifyKeyPair(leaf.Cert, ca.Key), "the private key does not match the certificate's public key")
	assert.Error(t, pki.VerifyKeyPair(leaf.Cert, testKey(t, pki.KeyEd25519, "server")), "a key of another type never matches")
}
