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
	"sync"
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

	// Written with InitOptions.Intermediate only.
	FileIntermediateCert = "intermediate.crt"
	FileIntermediateKey  = "intermediate.key"

	// The second client identity, which a demo policy leaves out.
	FileGuestCert    = "guest.crt"
	FileGuestKey     = "guest.key"
	FileGuestP12     = "guest.p12"
	DefaultGuestName = "guest"
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
	// KeyType applies to the CAs and every leaf; default DefaultKeyType.
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
	// GuestName is the common name and SPIFFE ID path of a second client
	// identity; default DefaultGuestName. Demos use it to show a verified
	// client that an authorization policy denies.
	GuestName string
	// TrustDomain is the SPIFFE trust domain; default DefaultTrustZone.
	TrustDomain string
	// Intermediate makes a root CA with path length 1 and an
	// intermediate CA with path length 0 that signs the leaves. The
	// truststores still hold only the root, and each keystore carries the
	// intermediate so that its holder sends the whole chain.
	Intermediate bool

	// P12Password protects the PKCS#12 files. When nil, Init generates a
	// random password and writes it to p12.password.
	P12Password []byte
	// CAPassphrase, when set, encrypts ca.key as PKCS#8 with AES-256. The
	// intermediate's key is not encrypted, since it issues day to day.
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
	CA Identity
	// Intermediate is set when InitOptions.Intermediate was.
	Intermediate *Identity
	Server       Identity
	Client       Identity
	Guest        Identity
	// Files are the paths written, in order.
	Files []string
	// PasswordGenerated is true when Init made the PKCS#12 password and
	// wrote it to p12.password.
	PasswordGenerated bool
	// Kept is true when KeepExisting found a complete PKI in Dir. Files
	// then lists the existing files, and nothing was written.
	Kept bool
}

// initPKI holds the CAs and leaves that Init creates before writing them.
type initPKI struct {
	root *CA
	// issuer signs the leaves: the root, or the intermediate.
	issuer                *CA
	server, client, guest *Leaf
}

// Init creates a CA, a server certificate and two client certificates
// (the client and a guest), and writes them as PEM files and PKCS#12
// keystores and truststore into opts.Dir. It writes nothing if any target
// file exists, unless opts.Force is set, and keeps a complete existing
// set if opts.KeepExisting is set.
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
	reqs, err := initRequests(opts, kt)
	if err != nil {
		return nil, err
	}
	p, err := createPKI(opts, kt, reqs)
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
	files, err := initFiles(opts, p, password, generated)
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
	if !generated && opts.Force {
		if err := removeStalePassword(filepath.Join(opts.Dir, FileP12Password), password); err != nil {
			return nil, fmt.Errorf("pki init: %w", err)
		}
	}

	res := &InitResult{CA: IdentityOf(p.root.Cert), Server: IdentityOf(p.server.Cert), Client: IdentityOf(p.client.Cert),
		Guest: IdentityOf(p.guest.Cert), PasswordGenerated: generated}
	if p.issuer != p.root {
		inter := IdentityOf(p.issuer.Cert)
		res.Intermediate = &inter
	}
	for _, f := range files {
		res.Files = append(res.Files, f.Path)
	}
	return res, nil
}

// leafRequests are the leaves Init issues.
type leafRequests struct {
	server, client, guest LeafRequest
}

func createPKI(opts InitOptions, kt KeyType, reqs leafRequests) (*initPKI, error) {
	rootOpts := CAOptions{KeyType: kt, Validity: opts.CAValidity, Now: opts.Now}
	if opts.Intermediate {
		// Room for exactly one intermediate below the root.
		rootOpts.MaxPathLen = 1
	}
	root, err := NewCA(rootOpts)
	if err != nil {
		return nil, err
	}
	p := &initPKI{root: root, issuer: root}
	if opts.Intermediate {
		if p.issuer, err = root.NewIntermediate(CAOptions{KeyType: kt, Validity: opts.CAValidity, Now: opts.Now}); err != nil {
			return nil, err
		}
	}
	if p.server, err = p.issuer.Issue(reqs.server); err != nil {
		return nil, err
	}
	if p.client, err = p.issuer.Issue(reqs.client); err != nil {
		return nil, err
	}
	if p.guest, err = p.issuer.Issue(reqs.guest); err != nil {
		return nil, err
	}
	return p, nil
}

func initRequests(opts InitOptions, kt KeyType) (leafRequests, error) {
	dns := opts.ServerDNS
	ips := opts.ServerIPs
	if dns == nil && ips == nil {
		dns = []string{"server", "localhost"}
		ips = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	}
	clientName := valueOr(opts.ClientName, "client")
	guestName := valueOr(opts.GuestName, DefaultGuestName)
	if guestName == clientName {
		return leafRequests{}, fmt.Errorf("pki init: the client and the guest are both named %q: give them different names", clientName)
	}
	trustDomain := valueOr(opts.TrustDomain, DefaultTrustZone)
	id, err := SPIFFEID(trustDomain, clientName)
	if err != nil {
		return leafRequests{}, fmt.Errorf("pki init: %w", err)
	}
	guestID, err := SPIFFEID(trustDomain, guestName)
	if err != nil {
		return leafRequests{}, fmt.Errorf("pki init: %w", err)
	}
	serverCN := "server"
	if len(dns) > 0 {
		serverCN = dns[0]
	}
	server := LeafRequest{Role: RoleServer, CommonName: serverCN, DNSNames: dns, IPs: ips, KeyType: kt, Validity: opts.LeafValidity, Now: opts.Now}
	client := LeafRequest{Role: RoleClient, CommonName: clientName, URIs: []*url.URL{id}, KeyType: kt, Validity: opts.LeafValidity, Now: opts.Now}
	guest := LeafRequest{Role: RoleClient, CommonName: guestName, URIs: []*url.URL{guestID}, KeyType: kt, Validity: opts.LeafValidity, Now: opts.Now}
	return leafRequests{server: server, client: client, guest: guest}, nil
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

func initFiles(opts InitOptions, p *initPKI, password []byte, writePassword bool) ([]File, error) {
	path := func(name string) string { return filepath.Join(opts.Dir, name) }
	caKey, err := encodeKey(p.root.Key, opts.CAPassphrase)
	if err != nil {
		return nil, err
	}
	// Each PKCS#12 file derives its keys with PBKDF2, which takes most of
	// the time of pki init, so the four are encoded at once.
	var (
		server, client, guest encodedLeaf
		trustP12              []byte
	)
	err = runConcurrently(
		func() (err error) { server, err = encodeLeaf(p.server, password); return err },
		func() (err error) { client, err = encodeLeaf(p.client, password); return err },
		func() (err error) { guest, err = encodeLeaf(p.guest, password); return err },
		func() (err error) {
			// The truststore holds only the root: intermediates reach the
			// peer in each side's chain, and trusting one directly would
			// keep it trusted even after the root stops vouching for it.
			trustP12, err = EncodeTruststore([]*x509.Certificate{p.root.Cert}, password, P12Modern)
			return err
		},
	)
	if err != nil {
		return nil, err
	}

	files := []File{
		{path(FileCACert), EncodeCertificatesPEM(p.root.Cert), ModePublic},
		{filepath.Join(caKeyDir(opts), FileCAKey), caKey, ModePrivate},
		{path(FileServerCert), server.certPEM, ModePublic},
		{path(FileServerKey), server.keyPEM, ModePrivate},
		{path(FileClientCert), client.certPEM, ModePublic},
		{path(FileClientKey), client.keyPEM, ModePrivate},
		{path(FileServerP12), server.p12, ModePrivate},
		{path(FileClientP12), client.p12, ModePrivate},
		// The truststore holds only public certificates, but Java and
		// OpenSSL still need the password to check its integrity.
		{path(FileTruststore), trustP12, ModePublic},
	}
	if p.issuer != p.root {
		interKey, err := MarshalPrivateKeyPEM(p.issuer.Key)
		if err != nil {
			return nil, err
		}
		files = append(files,
			File{path(FileIntermediateCert), EncodeCertificatesPEM(p.issuer.Cert), ModePublic},
			File{path(FileIntermediateKey), interKey, ModePrivate})
	}
	files = append(files,
		File{path(FileGuestCert), guest.certPEM, ModePublic},
		File{path(FileGuestKey), guest.keyPEM, ModePrivate},
		File{path(FileGuestP12), guest.p12, ModePrivate})
	if writePassword {
		files = append(files, File{path(FileP12Password), append(password, '\n'), ModePrivate})
	}
	return files, nil
}

// encodedLeaf is a leaf in the three forms Init writes.
type encodedLeaf struct {
	// certPEM holds the leaf followed by its intermediates, the chain
	// its holder sends.
	certPEM []byte
	keyPEM  []byte
	// p12 holds key, leaf, intermediates and root.
	p12 []byte
}

func encodeLeaf(leaf *Leaf, password []byte) (encodedLeaf, error) {
	ks := leaf.Keystore()
	keyPEM, err := MarshalPrivateKeyPEM(leaf.Key)
	if err != nil {
		return encodedLeaf{}, err
	}
	p12, err := EncodeKeystore(ks, leaf.Roots(), password, P12Modern)
	if err != nil {
		return encodedLeaf{}, err
	}
	certPEM := EncodeCertificatesPEM(append([]*x509.Certificate{ks.Leaf}, ks.Intermediates...)...)
	return encodedLeaf{certPEM: certPEM, keyPEM: keyPEM, p12: p12}, nil
}

// runConcurrently runs each function in its own goroutine and returns the
// error of the first function in argument order that failed.
func runConcurrently(fns ...func() error) error {
	errs := make([]error, len(fns))
	var wg sync.WaitGroup
	for i, fn := range fns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = fn()
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
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

// removeStalePassword removes a password file that an earlier run
// generated and that no longer opens the new keystores, so that no reader
// takes a wrong password from it. A file containing the current password,
// such as the one given with --p12-password-file, stays.
func removeStalePassword(path string, password []byte) error {
	old, err := ReadPassword(path)
	if err != nil || string(old) == string(password) {
		return nil
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("remove stale %s: %w", path, err)
	}
	return nil
}
