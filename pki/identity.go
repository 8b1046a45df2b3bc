package pki

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"net"
	"strings"
	"time"
)

// Identity is the holder of a verified certificate, as its fields name it.
type Identity struct {
	Subject     string
	CommonName  string
	DNSNames    []string
	IPAddresses []net.IP
	URIs        []string
	// Serial is the serial number in lowercase hexadecimal.
	Serial    string
	Issuer    string
	NotBefore time.Time
	NotAfter  time.Time
	// Fingerprint is the SHA-256 hash of the DER certificate, in hex.
	Fingerprint string
	KeyType     string
	// Certificate is the parsed certificate the fields come from.
	Certificate *x509.Certificate
}

// IdentityOf returns the identity of cert.
func IdentityOf(cert *x509.Certificate) Identity {
	uris := make([]string, len(cert.URIs))
	for i, u := range cert.URIs {
		uris[i] = u.String()
	}
	sum := sha256.Sum256(cert.Raw)
	return Identity{
		Subject:     cert.Subject.String(),
		CommonName:  cert.Subject.CommonName,
		DNSNames:    cert.DNSNames,
		IPAddresses: cert.IPAddresses,
		URIs:        uris,
		Serial:      fmt.Sprintf("%x", cert.SerialNumber),
		Issuer:      cert.Issuer.String(),
		NotBefore:   cert.NotBefore,
		NotAfter:    cert.NotAfter,
		Fingerprint: hex.EncodeToString(sum[:]),
		KeyType:     DescribeKey(cert.PublicKey),
		Certificate: cert,
	}
}

// SPIFFEID returns the first URI SAN with the spiffe scheme, or "".
func (id Identity) SPIFFEID() string {
	for _, u := range id.URIs {
		if strings.HasPrefix(u, "spiffe://") {
			return u
		}
	}
	return ""
}

// Name returns the most specific name of the holder: its SPIFFE ID or
// first URI SAN, else its common name, else its first DNS name.
func (id Identity) Name() string {
	switch {
	case len(id.URIs) > 0:
		if s := id.SPIFFEID(); s != "" {
			return s
		}
		return id.URIs[0]
	case id.CommonName != "":
		return id.CommonName
	case len(id.DNSNames) > 0:
		return id.DNSNames[0]
	}
	return id.Subject
}

// SANs returns every subject alternative name as one list of strings:
// DNS names, IP addresses and URIs, in that order.
func (id Identity) SANs() []string {
	out := append([]string(nil), id.DNSNames...)
	for _, ip := range id.IPAddresses {
		out = append(out, ip.String())
	}
	return append(out, id.URIs...)
}

// ConnectionInfo describes a negotiated TLS connection.
type ConnectionInfo struct {
	Version     string
	CipherSuite string
	Resumed     bool
	ALPN        string
}

// ConnectionInfoOf summarises a TLS connection state.
func ConnectionInfoOf(cs tls.ConnectionState) ConnectionInfo {
	return ConnectionInfo{
		Version:     tls.VersionName(cs.Version),
		CipherSuite: tls.CipherSuiteName(cs.CipherSuite),
		Resumed:     cs.DidResume,
		ALPN:        cs.NegotiatedProtocol,
	}
}
