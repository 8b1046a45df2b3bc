package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"

	"github.com/youmark/pkcs8"
)

// KeyType names a private key algorithm and size.
type KeyType string

// Supported key types. ECDSA P-256 is the default because it signs and
// verifies handshakes many times faster than RSA at a comparable strength,
// and every TLS stack supports it (see docs/BENCHMARKS.md for the figures).
const (
	KeyECDSAP256 KeyType = "ecdsa-p256"
	KeyECDSAP384 KeyType = "ecdsa-p384"
	KeyEd25519   KeyType = "ed25519"
	KeyRSA2048   KeyType = "rsa-2048"
	KeyRSA3072   KeyType = "rsa-3072"
	KeyRSA4096   KeyType = "rsa-4096"

	DefaultKeyType = KeyECDSAP256
)

// KeyTypes lists every supported key type, the default first.
var KeyTypes = []KeyType{KeyECDSAP256, KeyECDSAP384, KeyEd25519, KeyRSA2048, KeyRSA3072, KeyRSA4096}

// ParseKeyType returns the key type named s, or an error listing the
// supported names.
func ParseKeyType(s string) (KeyType, error) {
	for _, kt := range KeyTypes {
		if string(kt) == s {
			return kt, nil
		}
	}
	names := make([]string, len(KeyTypes))
	for i, kt := range KeyTypes {
		names[i] = string(kt)
	}
	return "", fmt.Errorf("unsupported key type %q: use one of %s", s, strings.Join(names, ", "))
}

// GenerateKey creates a new private key of type kt.
func GenerateKey(kt KeyType) (crypto.Signer, error) {
	switch kt {
	case KeyECDSAP256, "":
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case KeyECDSAP384:
		return ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case KeyEd25519:
		_, key, err := ed25519.GenerateKey(rand.Reader)
		return key, err
	case KeyRSA2048:
		return rsa.GenerateKey(rand.Reader, 2048)
	case KeyRSA3072:
		return rsa.GenerateKey(rand.Reader, 3072)
	case KeyRSA4096:
		return rsa.GenerateKey(rand.Reader, 4096)
	}
	_, err := ParseKeyType(string(kt))
	return nil, err
}

// DescribeKey returns a short description of a public or private key, such
// as "ECDSA P-256" or "RSA 4096".
func DescribeKey(key any) string {
	if s, ok := key.(crypto.Signer); ok {
		key = s.Public()
	}
	switch k := key.(type) {
	case *ecdsa.PublicKey:
		return "ECDSA " + k.Curve.Params().Name
	case ed25519.PublicKey:
		return "Ed25519"
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA %d", k.N.BitLen())
	}
	return fmt.Sprintf("unknown key type %T", key)
}

// MarshalPrivateKeyPEM encodes key as an unencrypted PKCS#8 PEM block.
func MarshalPrivateKeyPEM(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode private key as PKCS#8: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// pbkdf2Iterations is the PBKDF2-HMAC-SHA256 round count of encrypted
// keys: 600,000 is OWASP's 2023 figure. Only this package's tests lower it,
// because each round trip then takes over a second under the race detector.
var pbkdf2Iterations = 600_000

// MarshalEncryptedPrivateKeyPEM encodes key as an encrypted PKCS#8 PEM
// block (PBES2 with PBKDF2-SHA256 and AES-256-CBC), the format that
// "openssl pkey" reads with -passin.
func MarshalEncryptedPrivateKeyPEM(key crypto.Signer, passphrase []byte) ([]byte, error) {
	if len(passphrase) == 0 {
		return nil, errors.New("encrypt private key: the passphrase is empty")
	}
	der, err := pkcs8.MarshalPrivateKey(key, passphrase, &pkcs8.Opts{
		Cipher: pkcs8.AES256CBC,
		KDFOpts: pkcs8.PBKDF2Opts{
			SaltSize:       16,
			IterationCount: pbkdf2Iterations,
			HMACHash:       crypto.SHA256,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("encrypt private key as PKCS#8: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: der}), nil
}

// ErrPassphraseRequired means a private key is encrypted and no passphrase
// was given.
var ErrPassphraseRequired = errors.New("the private key is encrypted and no passphrase was given")

// ErrWrongPassphrase means decrypting a private key or a PKCS#12 file
// failed, almost always because the passphrase or password is wrong.
var ErrWrongPassphrase = errors.New("the passphrase or password is wrong")

// ParsePrivateKeyPEM decodes the first private key in data. It accepts
// PKCS#8 ("PRIVATE KEY"), encrypted PKCS#8 ("ENCRYPTED PRIVATE KEY", which
// needs passphrase), PKCS#1 ("RSA PRIVATE KEY") and SEC1 ("EC PRIVATE
// KEY"). Blocks of other types, such as certificates or EC parameters, are
// skipped.
func ParsePrivateKeyPEM(data, passphrase []byte) (crypto.Signer, error) {
	var seen []string
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		seen = append(seen, block.Type)
		if x509.IsEncryptedPEMBlock(block) { //nolint:staticcheck // detecting the legacy format to reject it clearly
			return nil, errors.New("legacy PEM encryption (Proc-Type: 4,ENCRYPTED) is not supported: convert the key with 'openssl pkcs8 -topk8 -v2 aes-256-cbc'")
		}
		switch block.Type {
		case "PRIVATE KEY":
			key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("parse PKCS#8 private key: %w", err)
			}
			return asSigner(key)
		case "ENCRYPTED PRIVATE KEY":
			if len(passphrase) == 0 {
				return nil, ErrPassphraseRequired
			}
			key, err := pkcs8.ParsePKCS8PrivateKey(block.Bytes, passphrase)
			if err != nil {
				return nil, fmt.Errorf("decrypt PKCS#8 private key: %w (%v)", ErrWrongPassphrase, err)
			}
			return asSigner(key)
		case "RSA PRIVATE KEY":
			key, err := x509.ParsePKCS1PrivateKey(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("parse PKCS#1 RSA private key: %w", err)
			}
			return key, nil
		case "EC PRIVATE KEY":
			key, err := x509.ParseECPrivateKey(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("parse SEC1 EC private key: %w", err)
			}
			return key, nil
		}
	}
	if len(seen) == 0 {
		return nil, errors.New("no PEM data found: expected a block such as -----BEGIN PRIVATE KEY-----")
	}
	return nil, fmt.Errorf("no private key found among PEM blocks %s: expected PRIVATE KEY, ENCRYPTED PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY", strings.Join(seen, ", "))
}

func asSigner(key any) (crypto.Signer, error) {
	switch k := key.(type) {
	case *rsa.PrivateKey:
		return k, nil
	case *ecdsa.PrivateKey:
		return k, nil
	case ed25519.PrivateKey:
		return k, nil
	}
	return nil, fmt.Errorf("unsupported private key type %T: use ECDSA, Ed25519 or RSA", key)
}
