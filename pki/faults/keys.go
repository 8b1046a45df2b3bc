package faults

import (
	"crypto"
	"crypto/dsa" //nolint:staticcheck // DSA keys are the unsupported key type this package mints
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
	"math/big"

	"github.com/youmark/pkcs8"
	"software.sslmate.com/src/go-pkcs12"

	"github.com/grpc-mtls/grpc-mtls/pki"
)

// GenerateP224Key returns an ECDSA key on the NIST P-224 curve, which Go's
// x509 package parses but no TLS 1.3 signature scheme covers.
func GenerateP224Key() (crypto.Signer, error) {
	return ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
}

// GenerateRSAKey returns an RSA key of bits bits. Go refuses sizes under
// 1024 bits, so 1024 is the weakest it can make.
func GenerateRSAKey(bits int) (crypto.Signer, error) {
	return rsa.GenerateKey(rand.Reader, bits)
}

// MarshalPKCS1PEM encodes an RSA key as a PKCS#1 "RSA PRIVATE KEY" block,
// the format of "openssl genrsa" before OpenSSL 3.
func MarshalPKCS1PEM(key crypto.Signer) ([]byte, error) {
	k, ok := key.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("PKCS#1 encodes only RSA keys, not %s", pki.DescribeKey(key))
	}
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}), nil
}

// MarshalSEC1PEM encodes an ECDSA key as a SEC1 "EC PRIVATE KEY" block,
// the format of "openssl ecparam -genkey".
func MarshalSEC1PEM(key crypto.Signer) ([]byte, error) {
	k, ok := key.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("SEC1 encodes only ECDSA keys, not %s", pki.DescribeKey(key))
	}
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("encode SEC1 key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), nil
}

// oidDSA identifies DSA keys in PKCS#8 (RFC 3279).
var oidDSA = asn1.ObjectIdentifier{1, 2, 840, 10040, 4, 1}

// DSAKeyPEM returns a new 1024-bit DSA private key as a PKCS#8 "PRIVATE
// KEY" block, as "openssl genpkey -algorithm DSA" writes it. Go's x509
// package cannot parse DSA private keys.
func DSAKeyPEM() ([]byte, error) {
	var key dsa.PrivateKey
	if err := dsa.GenerateParameters(&key.Parameters, rand.Reader, dsa.L1024N160); err != nil {
		return nil, fmt.Errorf("generate DSA parameters: %w", err)
	}
	if err := dsa.GenerateKey(&key, rand.Reader); err != nil {
		return nil, fmt.Errorf("generate DSA key: %w", err)
	}
	params, err := asn1.Marshal(struct{ P, Q, G *big.Int }{key.P, key.Q, key.G})
	if err != nil {
		return nil, fmt.Errorf("encode DSA parameters: %w", err)
	}
	x, err := asn1.Marshal(key.X)
	if err != nil {
		return nil, fmt.Errorf("encode DSA key: %w", err)
	}
	der, err := asn1.Marshal(struct {
		Version    int
		Algorithm  pkix.AlgorithmIdentifier
		PrivateKey []byte
	}{0, pkix.AlgorithmIdentifier{Algorithm: oidDSA, Parameters: asn1.RawValue{FullBytes: params}}, x})
	if err != nil {
		return nil, fmt.Errorf("encode DSA key as PKCS#8: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// EncodeKeystore3DES encodes ks as PKCS#12 with 3DES for both key and
// certificates and a SHA-1 MAC, as Java 8 keytool and OpenSSL 1.1 write
// it. pki.EncodeKeystore covers the RC2 legacy and the modern AES form.
func EncodeKeystore3DES(ks *pki.Keystore, caCerts []*x509.Certificate, password []byte) ([]byte, error) {
	chain := append(append([]*x509.Certificate(nil), ks.Intermediates...), caCerts...)
	data, err := pkcs12.LegacyDES.Encode(ks.Key, ks.Leaf, chain, string(password))
	if err != nil {
		return nil, fmt.Errorf("encode 3DES PKCS#12 keystore: %w", err)
	}
	return data, nil
}

// labIterations is the PBKDF2 iteration count of MarshalEncryptedKeyPEM.
// pki.MarshalEncryptedPrivateKeyPEM uses 600,000 for real keys; lab keys
// protect nothing, and a low count keeps tests fast.
const labIterations = 2048

// MarshalEncryptedKeyPEM encrypts key as PKCS#8 (PBES2, AES-256-CBC) like
// pki.MarshalEncryptedPrivateKeyPEM, with a PBKDF2 iteration count too low
// for real keys, so that tests of encrypted keys stay fast.
func MarshalEncryptedKeyPEM(key crypto.Signer, passphrase []byte) ([]byte, error) {
	der, err := pkcs8.MarshalPrivateKey(key, passphrase, &pkcs8.Opts{
		Cipher:  pkcs8.AES256CBC,
		KDFOpts: pkcs8.PBKDF2Opts{SaltSize: 16, IterationCount: labIterations, HMACHash: crypto.SHA256},
	})
	if err != nil {
		return nil, fmt.Errorf("encrypt private key as PKCS#8: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: der}), nil
}
