package pki

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"time"
)

// File names that Init writes inside its directory.
const (
	FileCACert       = "ca.crt"
	FileCAKey        = "ca.key"
	FileServerCert   = "server.crt"
	FileServerKey    = "server.key"
	FileClientCert   = "client.crt"
	FileClientKey    = "client.key"
	FileServerP12    = "server.p12"
	FileClientP12    = "client.p12"
	FileTruststore   = "truststore.p12"
	FileP12Password  = "p12.password"
	DefaultTrustZone = "grpc-mtls.local"
)

// InitOptions configures Init. Zero values select the defaults noted on
// each field.
type InitOptions struct {
	// Dir receives the files. It is created with mode 0700 if missing.
	Dir string
	// CAKeyDir, when set, receives ca.key instead of Dir, so that Dir can
	// be given to servers and clients without the key that signs
	// certificates. It is created with mode 0700 if missing.
	CAKeyDir string
	// KeyType applies to the CA and both leaves; default DefaultKeyType.
	KeyType      KeyType
	CAValidity   time.Duration // default DefaultCAValidity
	LeafValidity time.Duration // default DefaultLeafValidity

	// ServerDNS and ServerIPs are the server certificate's SANs; default
	// "server", "localhost", 127.0.0.1 and ::1.
	ServerDNS []string
	ServerIPs []net.IP
	// ClientName is the client's common name and the last path segment of
	// its SPIFFE ID; default "client".
	ClientName string
	// TrustDomain is the SPIFFE trust domain; default DefaultTrustZone.
	TrustDomain string

	// P12Password protects the PKCS#12 files. When nil, Init generates a
	// random password and writes it to p12.password.
	P12Password []byte
	// CAPassphrase, when set, encrypts ca.key as PKCS#8 with AES-256.
	CAPassphrase []byte
	// Force allows overwriting existing files.
	Force bool
	// KeepExisting makes Init keep a complete PKI that Dir already contains:
	// it writes nothing and returns the existing identities with Kept set.
	// A directory with only some of the files is an error wrapping
	// ErrIncompletePKI. It cannot be combined with Force.
	KeepExisting bool
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// InitResult lists what Init created.
type InitResult struct {
	CA     Identity
	Server Identity
	Client Identity
	// Files are the paths written, in order.
	Files []string
	// PasswordGenerated is true when Init made the PKCS#12 password and
	// wrote it to p12.password.
	PasswordGenerated bool
	// Kept is true when KeepExisting found a complete PKI in Dir. Files
	// then lists the existing files, and nothing was written.
	Kept bool
}

// Init creates a CA, a server and a client certificate, and writes them as
// PEM files and PKCS#12 keystores and truststore into opts.Dir. It writes
// nothing if any target file exists, unless opts.Force is set, and keeps a
// complete existing set if opts.KeepExisting is set.
func Init(opts InitOptions) (*InitResult, error) {
	if opts.Dir == "" {
		return nil, fmt.Errorf("pki init: no directory given")
	}
	if opts.KeepExisting {
		if opts.Force {
			return nil, fmt.Errorf("pki init: Force and KeepExisting both set: use one of them")
		}
		kept, err := keepExisting(opts)
		if err != nil || kept != nil {
			return kept, err
		}
	}
	kt := opts.KeyType
	if kt == "" {
		kt = DefaultKeyType
	}
	if _, err := ParseKeyType(string(kt)); err != nil {
		return nil, fmt.Errorf("pki init: %w", err)
	}
	serverReq, clientReq, err := initRequests(opts, kt)
	if err != nil {
		return nil, err
	}

	ca, err := NewCA(CAOptions{KeyType: kt, Validity: opts.CAValidity, Now: opts.Now})
	if err != nil {
		return nil, fmt.Errorf("pki init: %w", err)
	}
	server, err := ca.Issue(serverReq)
	if err != nil {
		return nil, fmt.Errorf("pki init: %w", err)
	}
	client, err := ca.Issue(clientReq)
	if err != nil {
		return nil, fmt.Errorf("pki init: %w", err)
	}

	password := opts.P12Password
	generated := password == nil
	if generated {
		if password, err = randomPassword(); err != nil {
			return nil, fmt.Errorf("pki init: %w", err)
		}
	}
	files, err := initFiles(opts, ca, server, client, password, generated)
	if err != nil {
		return nil, fmt.Errorf("pki init: %w", err)
	}
	for _, dir := range []string{opts.Dir, caKeyDir(opts)} {
		if err := os.MkdirAll(dir, ModeDir); err != nil {
			return nil, fmt.Errorf("pki init: create directory %s: %w", dir, err)
		}
	}
	if err := WriteFiles(files, opts.Force); err != nil {
		return nil, fmt.Errorf("pki init: %w", err)
	}

	res := &InitResult{CA: IdentityOf(ca.Cert), Server: IdentityOf(server.Cert), Client: IdentityOf(client.Cert), PasswordGenerated: generated}
	for _, f := range files {
		res.Files = append(res.Files, f.Path)
	}
	return res, nil
}

func initRequests(opts InitOptions, kt KeyType) (LeafRequest, LeafRequest, error) {
	dns := opts.ServerDNS
	ips := opts.ServerIPs
	if dns == nil && ips == nil {
		dns = []string{"server", "localhost"}
		ips = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	}
	clientName := valueOr(opts.ClientName, "client")
	trustDomain := valueOr(opts.TrustDomain, DefaultTrustZone)
	id, err := SPIFFEID(trustDomain, clientName)
	if err != nil {
		return LeafRequest{}, LeafRequest{}, fmt.Errorf("pki init: %w", err)
	}
	serverCN := "server"
	if len(dns) > 0 {
		serverCN = dns[0]
	}
	server := LeafRequest{Role: RoleServer, CommonName: serverCN, DNSNames: dns, IPs: ips, KeyType: kt, Validity: opts.LeafValidity, Now: opts.Now}
	client := LeafRequest{Role: RoleClient, CommonName: clientName, URIs: []*url.URL{id}, KeyType: kt, Validity: opts.LeafValidity, Now: opts.Now}
	return server, client, nil
}

// SPIFFEID builds spiffe://trustDomain/path and checks both parts against
// the SPIFFE ID rules: a lowercase trust domain and a non-empty path.
func SPIFFEID(trustDomain, path string) (*url.URL, error) {
	for _, r := range trustDomain {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_') {
			return nil, fmt.Errorf("trust domain %q: use only lowercase letters, digits, '.', '-' and '_'", trustDomain)
		}
	}
	if trustDomain == "" || path == "" {
		return nil, fmt.Errorf("SPIFFE ID needs a trust domain and a path, got %q and %q", trustDomain, path)
	}
	u := &url.URL{Scheme: "spiffe", Host: trustDomain, Path: "/" + path}
	return url.Parse(u.String())
}

func initFiles(opts InitOptions, ca *CA, server, client *Leaf, password []byte, writePassword bool) ([]File, error) {
	path := func(name string) string { return filepath.Join(opts.Dir, name) }
	caKey, err := encodeKey(ca.Key, opts.CAPassphrase)
	if err != nil {
		return nil, err
	}
	serverKey, err := MarshalPrivateKeyPEM(server.Key)
	if err != nil {
		return nil, err
	}
	clientKey, err := MarshalPrivateKeyPEM(client.Key)
	if err != nil {
		return nil, err
	}
	serverP12, err := EncodeKeystore(&Keystore{Leaf: server.Cert, Key: server.Key}, []*x509.Certificate{ca.Cert}, password, P12Modern)
	if err != nil {
		return nil, err
	}
	clientP12, err := EncodeKeystore(&Keystore{Leaf: client.Cert, Key: client.Key}, []*x509.Certificate{ca.Cert}, password, P12Modern)
	if err != nil {
		return nil, err
	}
	trustP12, err := EncodeTruststore([]*x509.Certificate{ca.Cert}, password, P12Modern)
	if err != nil {
		return nil, err
	}

	files := []File{
		{path(FileCACert), EncodeCertificatesPEM(ca.Cert), ModePublic},
		{filepath.Join(caKeyDir(opts), FileCAKey), caKey, ModePrivate},
		{path(FileServerCert), EncodeCertificatesPEM(server.Cert), ModePublic},
		{path(FileServerKey), serverKey, ModePrivate},
		{path(FileClientCert), EncodeCertificatesPEM(client.Cert), ModePublic},
		{path(FileClientKey), clientKey, ModePrivate},
		{path(FileServerP12), serverP12, ModePrivate},
		{path(FileClientP12), clientP12, ModePrivate},
		// The truststore holds only public certificates, but Java and
		// OpenSSL still need the password to check its integrity.
		{path(FileTruststore), trustP12, ModePublic},
	}
	if writePassword {
		files = append(files, File{path(FileP12Password), append(password, '\n'), ModePrivate})
	}
	return files, nil
}

func encodeKey(key crypto.Signer, passphrase []byte) ([]byte, error) {
	if len(passphrase) > 0 {
		return MarshalEncryptedPrivateKeyPEM(key, passphrase)
	}
	return MarshalPrivateKeyPEM(key)
}

// randomPassword returns 24 random bytes in URL-safe base64: 192 bits,
// printable, and safe to pass through shells and keytool.
func randomPassword() ([]byte, error) {
	raw := make([]byte, 24)
	if _, err := rand.Read(raw); err != nil {
		return nil, fmt.Errorf("generate PKCS#12 password: %w", err)
	}
	return []byte(base64.RawURLEncoding.EncodeToString(raw)), nil
}
