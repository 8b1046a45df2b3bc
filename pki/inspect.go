package pki

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"software.sslmate.com/src/go-pkcs12"
)

// Item is one certificate or key found in a file by Inspect.
type Item struct {
	// Kind is "certificate", "private key" or "trusted certificate".
	Kind string
	// Certificate fields; Identity is zero for keys.
	Identity           Identity
	IsCA               bool
	MaxPathLen         int // -1 when unlimited or not a CA
	KeyUsage           []string
	ExtKeyUsage        []string
	SignatureAlgorithm string
	// KeyType describes the public key ("ECDSA P-256", "RSA 4096").
	KeyType string
	// PublicKeySHA256 is the SHA-256 of the DER public key, so that a key
	// and its certificate can be matched without showing the key.
	PublicKeySHA256 string
	// Encrypted is true for a private key that needs a passphrase.
	Encrypted bool
}

// Inspect describes every certificate and key in a PEM or PKCS#12 file.
// password is needed only for PKCS#12 files and encrypted keys; without
// it, an encrypted key is listed as encrypted. Key material is never part
// of the result.
func Inspect(path string, password []byte) ([]Item, error) {
	data, err := ReadFile(path)
	if err != nil {
		return nil, err
	}
	return InspectData(path, data, password)
}

// InspectData is Inspect for file content already in memory; path names
// the file in errors.
func InspectData(path string, data, password []byte) ([]Item, error) {
	if !looksLikePEM(data) {
		return inspectPKCS12(path, data, password)
	}
	var items []Item
	if certs, err := ParseCertificatesPEM(data); err == nil {
		for _, c := range certs {
			items = append(items, certificateItem("certificate", c))
		}
	}
	if strings.Contains(string(data), "PRIVATE KEY-----") {
		key, err := ParsePrivateKeyPEM(data, password)
		switch {
		case errors.Is(err, ErrPassphraseRequired):
			items = append(items, Item{Kind: "private key", Encrypted: true, KeyType: "encrypted (give the passphrase to see more)"})
		case err != nil:
			return nil, fmt.Errorf("inspect %s: %w", path, err)
		default:
			items = append(items, Item{Kind: "private key", KeyType: DescribeKey(key), PublicKeySHA256: publicKeyHash(key.Public()), Encrypted: len(password) > 0 && strings.Contains(string(data), "ENCRYPTED")})
		}
	}
	if len(items) == 0 {
		return nil, fmt.Errorf("inspect %s: no certificate or private key found in the PEM data", path)
	}
	return items, nil
}

func inspectPKCS12(path string, data, password []byte) ([]Item, error) {
	if len(password) == 0 {
		return nil, fmt.Errorf("inspect %s: not PEM, so probably PKCS#12, which needs its password: give --password-file", path)
	}
	if err := checkKDFCost(data); err != nil {
		return nil, fmt.Errorf("inspect %s: %w", path, err)
	}
	key, leaf, chain, err := pkcs12.DecodeChain(data, string(password))
	if err == nil {
		items := []Item{certificateItem("certificate", leaf)}
		for _, c := range chain {
			items = append(items, certificateItem("certificate", c))
		}
		if signer, serr := asSigner(key); serr == nil {
			items = append(items, Item{Kind: "private key", KeyType: DescribeKey(signer), PublicKeySHA256: publicKeyHash(signer.Public())})
		}
		return items, nil
	}
	if errors.Is(err, pkcs12.ErrIncorrectPassword) {
		return nil, p12Error("PKCS#12 file", path, err)
	}
	certs, terr := pkcs12.DecodeTrustStore(data, string(password))
	if terr != nil {
		return nil, p12Error("PKCS#12 file", path, err)
	}
	items := make([]Item, 0, len(certs))
	for _, c := range certs {
		items = append(items, certificateItem("trusted certificate", c))
	}
	if len(items) == 0 {
		return nil, fmt.Errorf("inspect %s: PKCS#12 file with no key and no trusted certificate entries", path)
	}
	return items, nil
}

func certificateItem(kind string, c *x509.Certificate) Item {
	it := Item{
		Kind:               kind,
		Identity:           IdentityOf(c),
		IsCA:               c.IsCA,
		MaxPathLen:         -1,
		KeyUsage:           keyUsageNames(c.KeyUsage),
		SignatureAlgorithm: c.SignatureAlgorithm.String(),
		KeyType:            DescribeKey(c.PublicKey),
		PublicKeySHA256:    publicKeyHash(c.PublicKey),
	}
	if c.IsCA && (c.MaxPathLen > 0 || c.MaxPathLenZero) {
		it.MaxPathLen = c.MaxPathLen
	}
	for _, u := range c.ExtKeyUsage {
		it.ExtKeyUsage = append(it.ExtKeyUsage, extKeyUsageName(u))
	}
	return it
}

func publicKeyHash(pub any) string {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

func keyUsageNames(u x509.KeyUsage) []string {
	names := []struct {
		bit  x509.KeyUsage
		name string
	}{
		{x509.KeyUsageDigitalSignature, "digitalSignature"},
		{x509.KeyUsageContentCommitment, "contentCommitment"},
		{x509.KeyUsageKeyEncipherment, "keyEncipherment"},
		{x509.KeyUsageDataEncipherment, "dataEncipherment"},
		{x509.KeyUsageKeyAgreement, "keyAgreement"},
		{x509.KeyUsageCertSign, "keyCertSign"},
		{x509.KeyUsageCRLSign, "cRLSign"},
		{x509.KeyUsageEncipherOnly, "encipherOnly"},
		{x509.KeyUsageDecipherOnly, "decipherOnly"},
	}
	var out []string
	for _, n := range names {
		if u&n.bit != 0 {
			out = append(out, n.name)
		}
	}
	return out
}

func extKeyUsageName(u x509.ExtKeyUsage) string {
	switch u {
	case x509.ExtKeyUsageServerAuth:
		return "serverAuth"
	case x509.ExtKeyUsageClientAuth:
		return "clientAuth"
	case x509.ExtKeyUsageAny:
		return "any"
	case x509.ExtKeyUsageCodeSigning:
		return "codeSigning"
	case x509.ExtKeyUsageEmailProtection:
		return "emailProtection"
	case x509.ExtKeyUsageOCSPSigning:
		return "OCSPSigning"
	case x509.ExtKeyUsageTimeStamping:
		return "timeStamping"
	}
	return fmt.Sprintf("extKeyUsage(%d)", u)
}
