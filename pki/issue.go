package pki

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // RFC 5280 method 1 for key identifiers, not a signature
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"time"
)

// Role is the side of a TLS connection that a leaf certificate is for.
type Role string

// Leaf certificate roles.
const (
	RoleServer Role = "server"
	RoleClient Role = "client"
)

// Default validity periods and clock-skew allowance.
const (
	DefaultCAValidity   = 5 * 365 * 24 * time.Hour
	DefaultLeafValidity = 90 * 24 * time.Hour
	// DefaultBackdate moves NotBefore into the past so that a peer whose
	// clock runs a few minutes behind does not see a not-yet-valid
	// certificate.
	DefaultBackdate = 5 * time.Minute
)

// CA is a certificate authority: its certificate and the key that signs.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
	// Chain holds the certificates between Cert and the root, ordered
	// from Cert's issuer upwards; it is empty for a root CA.
	Chain []*x509.Certificate
}

// CAOptions configures NewCA. The zero value makes an ECDSA P-256 root CA
// named "grpc-mtls CA" plus 8 hex digits of its key identifier, valid for
// DefaultCAValidity.
type CAOptions struct {
	CommonName   string
	Organization string
	KeyType      KeyType
	Validity     time.Duration
	// Backdate is subtracted from the current time to give NotBefore;
	// zero means DefaultBackdate.
	Backdate time.Duration
	// Now returns the current time; nil means time.Now. Tests set it to
	// mint expired or not-yet-valid material.
	Now func() time.Time
	// Key, when set, is used instead of generating a new one.
	Key crypto.Signer
	// MaxPathLen is the number of intermediate CAs that may follow this
	// CA in a chain. The default 0 lets it sign leaf certificates only,
	// and 1 lets it sign intermediate CAs that sign leaves.
	MaxPathLen int
}

// NewCA creates a self-signed root CA. Its basic constraints are critical
// with CA:TRUE and a path length of opts.MaxPathLen, by default 0 so that
// it may sign leaf certificates but no intermediate CA.
func NewCA(opts CAOptions) (*CA, error) {
	return newCA(opts, nil)
}

// newCA creates a CA certificate signed by parent, or self-signed when
// parent is nil.
func newCA(opts CAOptions, parent *CA) (*CA, error) {
	if opts.MaxPathLen < 0 {
		return nil, fmt.Errorf("create CA: path length %d is negative", opts.MaxPathLen)
	}
	key := opts.Key
	if key == nil {
		var err error
		if key, err = GenerateKey(opts.KeyType); err != nil {
			return nil, fmt.Errorf("generate CA key: %w", err)
		}
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	skid, err := subjectKeyID(key.Public())
	if err != nil {
		return nil, err
	}
	// The default name ends in the first bytes of the key identifier, so
	// that two CAs made by separate runs never share a subject. Verifiers
	// pick issuer candidates by subject, and EncodeTruststore names the
	// truststore entry after the common name.
	defaultName := fmt.Sprintf("grpc-mtls CA %x", skid[:4])
	if parent != nil {
		defaultName = fmt.Sprintf("%s %x", DefaultIntermediateName, skid[:4])
	}
	name := pkix.Name{CommonName: valueOr(opts.CommonName, defaultName), Organization: []string{valueOr(opts.Organization, "grpc-mtls")}}
	notBefore, notAfter := validity(opts.Now, opts.Backdate, opts.Validity, DefaultCAValidity)

	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      name,
		SubjectKeyId: skid,

		NotBefore: notBefore,
		NotAfter:  notAfter,

		// A CA signs certificates and revocation lists, nothing else.
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,

		// The path length bounds how many intermediate CAs may sit below
		// this one: with 0 it can sign leaves but not another CA.
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            opts.MaxPathLen,
		MaxPathLenZero:        opts.MaxPathLen == 0,
	}
	issuerCert, issuerKey := tmpl, key
	if parent != nil {
		if err := parent.checkCanSignCA(tmpl); err != nil {
			return nil, err
		}
		issuerCert, issuerKey = parent.Cert, parent.Key
		tmpl.AuthorityKeyId = parent.Cert.SubjectKeyId
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuerCert, key.Public(), issuerKey)
	if err != nil {
		return nil, fmt.Errorf("sign CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse new CA certificate: %w", err)
	}
	ca := &CA{Cert: cert, Key: key}
	if parent != nil {
		ca.Chain = append([]*x509.Certificate{parent.Cert}, parent.Chain...)
	}
	return ca, nil
}

// LeafRequest describes a leaf certificate for CA.Issue.
type LeafRequest struct {
	Role       Role
	CommonName string
	DNSNames   []string
	IPs        []net.IP
	URIs       []*url.URL
	KeyType    KeyType
	Validity   time.Duration
	Backdate   time.Duration
	Now        func() time.Time
	// NotBefore and NotAfter, when set, replace the validity computed from
	// Now, Backdate and Validity. Tests use them for expired material.
	NotBefore time.Time
	NotAfter  time.Time
	// Key, when set, is certified instead of a newly generated key.
	Key crypto.Signer
}

// Leaf is an issued certificate with its key and the chain that leads to
// the issuing CA.
type Leaf struct {
	Cert  *x509.Certificate
	Key   crypto.Signer
	Chain []*x509.Certificate
}

// Issue creates and signs a leaf certificate for req. The caller's request
// is not modified.
func (ca *CA) Issue(req LeafRequest) (*Leaf, error) {
	if req.Role != RoleServer && req.Role != RoleClient {
		return nil, fmt.Errorf("issue certificate: role %q is neither %q nor %q", req.Role, RoleServer, RoleClient)
	}
	if len(req.DNSNames) == 0 && len(req.IPs) == 0 && len(req.URIs) == 0 {
		// Go and every modern TLS stack ignore the common name for
		// hostname checks, so a leaf without SANs is unusable.
		return nil, fmt.Errorf("issue %s certificate %q: give at least one DNS name, IP address or URI", req.Role, req.CommonName)
	}
	key := req.Key
	if key == nil {
		var err error
		if key, err = GenerateKey(req.KeyType); err != nil {
			return nil, fmt.Errorf("generate %s key: %w", req.Role, err)
		}
	}
	tmpl, err := leafTemplate(req, key.Public(), ca.Cert.SubjectKeyId)
	if err != nil {
		return nil, err
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		return nil, fmt.Errorf("sign %s certificate: %w", req.Role, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse new %s certificate: %w", req.Role, err)
	}
	chain := append([]*x509.Certificate{ca.Cert}, ca.Chain...)
	return &Leaf{Cert: cert, Key: key, Chain: chain}, nil
}

func leafTemplate(req LeafRequest, pub crypto.PublicKey, authorityKeyID []byte) (*x509.Certificate, error) {
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	skid, err := subjectKeyID(pub)
	if err != nil {
		return nil, err
	}
	notBefore, notAfter := validity(req.Now, req.Backdate, req.Validity, DefaultLeafValidity)
	if !req.NotBefore.IsZero() {
		notBefore = req.NotBefore
	}
	if !req.NotAfter.IsZero() {
		notAfter = req.NotAfter
	}
	if !notAfter.After(notBefore) {
		return nil, fmt.Errorf("issue %s certificate %q: not-after %s is not later than not-before %s", req.Role, req.CommonName, notAfter.Format(time.RFC3339), notBefore.Format(time.RFC3339))
	}

	// Each leaf is good for exactly one side of a connection.
	eku := x509.ExtKeyUsageServerAuth
	if req.Role == RoleClient {
		eku = x509.ExtKeyUsageClientAuth
	}
	usage := x509.KeyUsageDigitalSignature
	if _, ok := pub.(*rsa.PublicKey); ok && req.Role == RoleServer {
		// RSA key exchange in TLS 1.2 encrypts to the server's key. RFC
		// 5280 section 4.2.1.12 does not pair keyEncipherment with
		// clientAuth, so client certificates go without it.
		usage |= x509.KeyUsageKeyEncipherment
	}

	return &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: req.CommonName},
		DNSNames:     append([]string(nil), req.DNSNames...),
		IPAddresses:  append([]net.IP(nil), req.IPs...),
		URIs:         append([]*url.URL(nil), req.URIs...),

		NotBefore: notBefore,
		NotAfter:  notAfter,

		KeyUsage:       usage,
		ExtKeyUsage:    []x509.ExtKeyUsage{eku},
		SubjectKeyId:   skid,
		AuthorityKeyId: authorityKeyID,

		BasicConstraintsValid: true,
		IsCA:                  false,
	}, nil
}

// randomSerial returns a positive serial number with 128 random bits, the
// size RFC 5280 and the CA/Browser Forum require to make serials
// unpredictable (at least 64 bits of randomness).
func randomSerial() (*big.Int, error) {
	limit := new(big.Int).Lsh(big.NewInt(1), 128)
	for {
		n, err := rand.Int(rand.Reader, limit)
		if err != nil {
			return nil, fmt.Errorf("generate serial number: %w", err)
		}
		// Keep the full 128 bits so every serial has the same length,
		// and never zero.
		if n.BitLen() == 128 {
			return n, nil
		}
	}
}

// subjectKeyID computes the key identifier as the SHA-1 hash of the
// subjectPublicKey bit string, method 1 of RFC 5280 section 4.2.1.2.
func subjectKeyID(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("encode public key: %w", err)
	}
	var info struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(der, &info); err != nil {
		return nil, fmt.Errorf("decode public key: %w", err)
	}
	sum := sha1.Sum(info.PublicKey.Bytes) //nolint:gosec // key identifier, not a signature
	return sum[:], nil
}

func validity(now func() time.Time, backdate, period, defaultPeriod time.Duration) (time.Time, time.Time) {
	t := time.Now()
	if now != nil {
		t = now()
	}
	if backdate == 0 {
		backdate = DefaultBackdate
	}
	if period == 0 {
		period = defaultPeriod
	}
	t = t.UTC().Truncate(time.Second)
	return t.Add(-backdate), t.Add(period)
}

func valueOr(s, fallback string) string {
	if s == "" {
		return fallback
	}
	return s
}

// ErrKeyMismatch means a private key is not the key of the certificate it
// was loaded with.
var ErrKeyMismatch = errors.New("the private key does not match the certificate's public key")

// VerifyKeyPair returns ErrKeyMismatch when key is not the private key of
// cert.
func VerifyKeyPair(cert *x509.Certificate, key crypto.Signer) error {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	pub, ok := key.Public().(equaler)
	if !ok || !pub.Equal(cert.PublicKey) {
		return ErrKeyMismatch
	}
	return nil
}

// LoadCA reads a CA certificate and its private key. passphrase is needed
// only for an encrypted key.
func LoadCA(certFile, keyFile string, passphrase []byte) (*CA, error) {
	certs, err := LoadCertificates(certFile)
	if err != nil {
		return nil, fmt.Errorf("load CA: %w", err)
	}
	keyPEM, err := ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("load CA: %w", err)
	}
	key, err := ParsePrivateKeyPEM(keyPEM, passphrase)
	if err != nil {
		if errors.Is(err, ErrPassphraseRequired) {
			return nil, fmt.Errorf("load CA key %s: %w: give --ca-passphrase-file", keyFile, err)
		}
		return nil, fmt.Errorf("load CA key %s: %w", keyFile, err)
	}
	ca := &CA{Cert: certs[0], Key: key, Chain: certs[1:]}
	if !ca.Cert.IsCA {
		return nil, fmt.Errorf("load CA %s: certificate %q is not a CA (basic constraints CA:FALSE or missing)", certFile, ca.Cert.Subject.String())
	}
	if err := VerifyKeyPair(ca.Cert, key); err != nil {
		return nil, fmt.Errorf("load CA: key %s does not belong to certificate %s: %w", keyFile, certFile, err)
	}
	return ca, nil
}
