package pki

import (
	"bytes"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"

	"software.sslmate.com/src/go-pkcs12"
)

// Keystore is the material one side presents in a handshake: its
// certificate, the intermediate certificates up to (not including) the
// root, and its key.
type Keystore struct {
	Leaf          *x509.Certificate
	Intermediates []*x509.Certificate
	Key           crypto.Signer
}

// TLSCertificate returns the keystore in the form crypto/tls sends.
func (ks *Keystore) TLSCertificate() tls.Certificate {
	chain := [][]byte{ks.Leaf.Raw}
	for _, c := range ks.Intermediates {
		chain = append(chain, c.Raw)
	}
	return tls.Certificate{Certificate: chain, PrivateKey: ks.Key, Leaf: ks.Leaf}
}

// Truststore is the set of CA certificates a side accepts as issuers of the
// peer's certificate.
type Truststore struct {
	Certs []*x509.Certificate
}

// Pool returns the truststore as an x509.CertPool.
func (ts *Truststore) Pool() *x509.CertPool {
	pool := x509.NewCertPool()
	for _, c := range ts.Certs {
		pool.AddCert(c)
	}
	return pool
}

// KeystoreSource names the files a keystore is loaded from: either PEM
// files (CertFile and KeyFile) or a PKCS#12 file (PKCS12File and
// PasswordFile).
type KeystoreSource struct {
	// CertFile holds the PEM certificate, optionally followed by its
	// intermediate CA certificates.
	CertFile string
	// KeyFile holds the PEM private key: PKCS#8, encrypted PKCS#8, PKCS#1
	// or SEC1.
	KeyFile string
	// KeyPassphraseFile holds the passphrase of an encrypted KeyFile.
	KeyPassphraseFile string

	// PKCS12File holds key, certificate and chain in one PKCS#12 file.
	PKCS12File string
	// PasswordFile holds the PKCS#12 password.
	PasswordFile string
}

// Paths returns the files the source reads, for watching and messages.
func (s KeystoreSource) Paths() []string {
	return nonEmpty(s.CertFile, s.KeyFile, s.KeyPassphraseFile, s.PKCS12File, s.PasswordFile)
}

// TruststoreSource names the file a truststore is loaded from: PEM CA
// certificates, or a PKCS#12 truststore with its password file.
type TruststoreSource struct {
	File         string
	PasswordFile string
}

// Paths returns the files the source reads.
func (s TruststoreSource) Paths() []string {
	return nonEmpty(s.File, s.PasswordFile)
}

func nonEmpty(values ...string) []string {
	var out []string
	for _, v := range values {
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}

// LoadKeystore reads a keystore and checks that its key matches its
// certificate.
func LoadKeystore(src KeystoreSource) (*Keystore, error) {
	pemSet := src.CertFile != "" || src.KeyFile != ""
	switch {
	case pemSet && src.PKCS12File != "":
		return nil, fmt.Errorf("load keystore: give either a certificate and key (%s, %s) or a PKCS#12 keystore (%s), not both", src.CertFile, src.KeyFile, src.PKCS12File)
	case src.PKCS12File != "":
		return loadPKCS12Keystore(src)
	case src.CertFile == "" || src.KeyFile == "":
		return nil, errors.New("load keystore: give both a certificate file and a key file, or a PKCS#12 keystore")
	}

	certs, err := LoadCertificates(src.CertFile)
	if err != nil {
		return nil, fmt.Errorf("load keystore: %w", err)
	}
	keyPEM, err := ReadFile(src.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("load keystore: %w", err)
	}
	var passphrase []byte
	if src.KeyPassphraseFile != "" {
		if passphrase, err = ReadPassword(src.KeyPassphraseFile); err != nil {
			return nil, fmt.Errorf("load keystore: %w", err)
		}
	}
	key, err := ParsePrivateKeyPEM(keyPEM, passphrase)
	if err != nil {
		if bytes.Contains(keyPEM, []byte("CERTIFICATE-----")) && !bytes.Contains(keyPEM, []byte("PRIVATE KEY-----")) {
			return nil, fmt.Errorf("load key %s: the file holds a certificate, not a key: are the certificate and key files swapped?", src.KeyFile)
		}
		if errors.Is(err, ErrPassphraseRequired) {
			return nil, fmt.Errorf("load key %s: %w: give its passphrase file", src.KeyFile, err)
		}
		return nil, fmt.Errorf("load key %s: %w", src.KeyFile, err)
	}
	ks := &Keystore{Leaf: certs[0], Intermediates: certs[1:], Key: key}
	if err := VerifyKeyPair(ks.Leaf, key); err != nil {
		return nil, fmt.Errorf("load keystore: key %s does not belong to certificate %s (subject %q): %w; use the key that was generated with this certificate", src.KeyFile, src.CertFile, ks.Leaf.Subject.String(), err)
	}
	return ks, nil
}

func loadPKCS12Keystore(src KeystoreSource) (*Keystore, error) {
	data, err := ReadFile(src.PKCS12File)
	if err != nil {
		return nil, fmt.Errorf("load keystore: %w", err)
	}
	password, err := readP12Password(src.PasswordFile, src.PKCS12File)
	if err != nil {
		return nil, err
	}
	ks, err := DecodePKCS12Keystore(data, password)
	if err != nil {
		if !errors.Is(err, ErrWrongPassphrase) {
			if _, terr := DecodePKCS12Truststore(data, password); terr == nil {
				return nil, fmt.Errorf("load keystore %s: it has no private key, only trusted certificates (is it a truststore?): give the keystore, such as server.p12 or client.p12", src.PKCS12File)
			}
		}
		return nil, fmt.Errorf("load keystore %s: %w", src.PKCS12File, err)
	}
	return ks, nil
}

// DecodePKCS12Keystore decodes a PKCS#12 keystore held in memory and checks
// that its key matches its certificate. A wrong password gives an error
// wrapping ErrWrongPassphrase. LoadKeystore reads the file and calls it.
func DecodePKCS12Keystore(data, password []byte) (*Keystore, error) {
	if err := checkKDFCost(data); err != nil {
		return nil, err
	}
	key, leaf, chain, err := pkcs12.DecodeChain(data, string(password))
	if errors.Is(err, pkcs12.ErrIncorrectPassword) {
		return nil, p12DecodeError(err)
	}
	if err != nil {
		return nil, fmt.Errorf("not a readable PKCS#12 keystore: %w: check that the file holds a private key and its certificate, and is not a truststore", err)
	}
	signer, err := asSigner(key)
	if err != nil {
		return nil, err
	}
	if err := VerifyKeyPair(leaf, signer); err != nil {
		return nil, err
	}
	return &Keystore{Leaf: leaf, Intermediates: withoutRoots(chain), Key: signer}, nil
}

// DecodePKCS12Truststore decodes the trusted certificate entries of a
// PKCS#12 truststore held in memory. It does not check that they are CAs;
// LoadTruststore does.
func DecodePKCS12Truststore(data, password []byte) ([]*x509.Certificate, error) {
	if err := checkKDFCost(data); err != nil {
		return nil, err
	}
	certs, err := pkcs12.DecodeTrustStore(data, string(password))
	if errors.Is(err, pkcs12.ErrIncorrectPassword) {
		return nil, p12DecodeError(err)
	}
	if err != nil {
		return nil, fmt.Errorf("not a readable PKCS#12 truststore: %w: check that the file holds only trusted certificate entries, as 'keytool -importcert' writes them, and is not a keystore", err)
	}
	return certs, nil
}

// withoutRoots drops self-signed certificates, which a peer must already
// trust and so need not be sent.
func withoutRoots(certs []*x509.Certificate) []*x509.Certificate {
	var out []*x509.Certificate
	for _, c := range certs {
		if isSelfSigned(c) {
			continue
		}
		out = append(out, c)
	}
	return out
}

func readP12Password(passwordFile, p12File string) ([]byte, error) {
	if passwordFile == "" {
		return nil, fmt.Errorf("load %s: not PEM, so read as PKCS#12, which needs its password: give the password file, or check the path if a PEM file was meant", p12File)
	}
	password, err := ReadPassword(passwordFile)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", p12File, err)
	}
	return password, nil
}

func p12Error(kind, path string, err error) error {
	return fmt.Errorf("load %s %s: %w", kind, path, p12DecodeError(err))
}

func p12DecodeError(err error) error {
	if errors.Is(err, pkcs12.ErrIncorrectPassword) {
		return fmt.Errorf("%w: check the password file", ErrWrongPassphrase)
	}
	return fmt.Errorf("not a readable PKCS#12 file: %w", err)
}

// LoadTruststore reads CA certificates from a PEM file or a PKCS#12
// truststore. A PKCS#12 truststore must contain trusted certificate
// entries, as keytool and EncodeTruststore write them.
func LoadTruststore(src TruststoreSource) (*Truststore, error) {
	if src.File == "" {
		return nil, errors.New("load truststore: no file given: name the CA certificate file or PKCS#12 truststore")
	}
	data, err := ReadFile(src.File)
	if err != nil {
		return nil, fmt.Errorf("load truststore: %w", err)
	}
	var certs []*x509.Certificate
	if looksLikePEM(data) {
		if certs, err = ParseCertificatesPEM(data); err != nil {
			return nil, fmt.Errorf("load truststore %s: %w", src.File, err)
		}
	} else {
		password, err := readP12Password(src.PasswordFile, src.File)
		if err != nil {
			return nil, err
		}
		if certs, err = DecodePKCS12Truststore(data, password); err != nil {
			if !errors.Is(err, ErrWrongPassphrase) {
				if _, kerr := DecodePKCS12Keystore(data, password); kerr == nil {
					return nil, fmt.Errorf("load truststore %s: it has a private key entry, not trusted certificate entries (is it a keystore?): give the truststore, such as truststore.p12", src.File)
				}
			}
			return nil, fmt.Errorf("load truststore %s: %w", src.File, err)
		}
		if len(certs) == 0 {
			return nil, fmt.Errorf("load truststore %s: it has no trusted certificate entries (is it a keystore?): build it with 'mtls pki init' or 'keytool -importcert'", src.File)
		}
	}
	for _, c := range certs {
		if !c.IsCA {
			return nil, fmt.Errorf("load truststore %s: certificate %q is not a CA (basic constraints CA:FALSE or missing): a truststore holds the CA certificates that sign the peer's certificate", src.File, c.Subject.String())
		}
	}
	return &Truststore{Certs: certs}, nil
}

// LoadCertificates reads one or more PEM certificates from path.
func LoadCertificates(path string) ([]*x509.Certificate, error) {
	data, err := ReadFile(path)
	if err != nil {
		return nil, err
	}
	certs, err := ParseCertificatesPEM(data)
	if err != nil {
		if bytes.Contains(data, []byte("PRIVATE KEY-----")) {
			return nil, fmt.Errorf("load certificate %s: the file holds a private key, not a certificate: are the certificate and key files swapped?", path)
		}
		return nil, fmt.Errorf("load certificate %s: %w", path, err)
	}
	return certs, nil
}

// ParseCertificatesPEM decodes every CERTIFICATE block in data, in order.
func ParseCertificatesPEM(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	var other []string
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			other = append(other, block.Type)
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse certificate %d: %w", len(certs)+1, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		if len(other) > 0 {
			return nil, fmt.Errorf("no CERTIFICATE block found, only %s", strings.Join(other, ", "))
		}
		return nil, errors.New("no PEM certificate found: expected -----BEGIN CERTIFICATE-----")
	}
	return certs, nil
}

func looksLikePEM(data []byte) bool {
	return bytes.Contains(data, []byte("-----BEGIN "))
}

// EncodeCertificatesPEM encodes certs as consecutive CERTIFICATE blocks.
func EncodeCertificatesPEM(certs ...*x509.Certificate) []byte {
	var buf bytes.Buffer
	for _, c := range certs {
		_ = pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return buf.Bytes()
}

// P12Encoding selects the algorithms of a PKCS#12 file.
type P12Encoding int

const (
	// P12Modern uses AES-256-CBC with PBKDF2 and a SHA-256 MAC. OpenSSL
	// 3, Java 12 and later and Go read it.
	P12Modern P12Encoding = iota
	// P12Legacy uses RC2 and 3DES with a SHA-1 MAC, for old readers such
	// as Java 8 and OpenSSL 1.1. OpenSSL 3 reads it only with -legacy.
	P12Legacy
)

func (e P12Encoding) encoder() *pkcs12.Encoder {
	if e == P12Legacy {
		return pkcs12.LegacyRC2
	}
	return pkcs12.Modern
}

// EncodeKeystore encodes a keystore as PKCS#12 with the certificate, key
// and the chain up to and including caCerts.
func EncodeKeystore(ks *Keystore, caCerts []*x509.Certificate, password []byte, enc P12Encoding) ([]byte, error) {
	chain := append(append([]*x509.Certificate(nil), ks.Intermediates...), caCerts...)
	data, err := enc.encoder().Encode(ks.Key, ks.Leaf, chain, string(password))
	if err != nil {
		return nil, fmt.Errorf("encode PKCS#12 keystore: %w", err)
	}
	return data, nil
}

// EncodeTruststore encodes CA certificates as a PKCS#12 truststore whose
// entries Java's keytool lists as trustedCertEntry.
func EncodeTruststore(certs []*x509.Certificate, password []byte, enc P12Encoding) ([]byte, error) {
	entries := make([]pkcs12.TrustStoreEntry, len(certs))
	for i, c := range certs {
		entries[i] = pkcs12.TrustStoreEntry{Cert: c, FriendlyName: friendlyName(c)}
	}
	data, err := enc.encoder().EncodeTrustStoreEntries(entries, string(password))
	if err != nil {
		return nil, fmt.Errorf("encode PKCS#12 truststore: %w", err)
	}
	return data, nil
}

func friendlyName(c *x509.Certificate) string {
	if c.Subject.CommonName != "" {
		return strings.ToLower(strings.ReplaceAll(c.Subject.CommonName, " ", "-"))
	}
	return fmt.Sprintf("%x", c.SerialNumber)
}
