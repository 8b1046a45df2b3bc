package reload

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/grpc-mtls/grpc-mtls/pki"
)

// Files names the files of one side: the keystore it presents and the
// truststore it checks the peer against.
type Files struct {
	Keystore   pki.KeystoreSource
	Truststore pki.TruststoreSource
}

// Paths returns every file the set is read from, password files included.
func (f Files) Paths() []string {
	return append(f.Keystore.Paths(), f.Truststore.Paths()...)
}

// keystorePath is the file that holds the certificate, for messages.
func (f Files) keystorePath() string {
	if f.Keystore.PKCS12File != "" {
		return f.Keystore.PKCS12File
	}
	return f.Keystore.CertFile
}

// Reason is a short, stable code for why a set of files was rejected, for
// logs and metrics.
type Reason string

// Rejection reasons.
const (
	// ReasonLoadFailed: a file is missing, unreadable or not a certificate,
	// key or PKCS#12 file, or a password is wrong.
	ReasonLoadFailed Reason = "load_failed"
	// ReasonKeyMismatch: the private key is not the certificate's key,
	// typically because only one of the two files was replaced.
	ReasonKeyMismatch Reason = "key_mismatch"
	// ReasonExpired: the certificate's not-after time has passed.
	ReasonExpired Reason = "expired"
	// ReasonNotYetValid: the certificate's not-before time is in the future.
	ReasonNotYetValid Reason = "not_yet_valid"
	// ReasonWrongKeyUsage: the certificate lacks the extended key usage of
	// its role (serverAuth for a server, clientAuth for a client).
	ReasonWrongKeyUsage Reason = "wrong_key_usage"
	// ReasonUntrustedChain: the certificate does not chain to a CA in the
	// truststore of the same set.
	ReasonUntrustedChain Reason = "untrusted_chain"
	// ReasonFilesChanging: the files changed again each time they were
	// read, so no consistent set could be loaded.
	ReasonFilesChanging Reason = "files_changing"
	// ReasonWatchFailed: the file-system watcher failed; the periodic
	// check still runs.
	ReasonWatchFailed Reason = "watch_failed"
)

// RejectError is the error of a rejected set: the reason code and the
// cause, which names the file involved.
type RejectError struct {
	Reason Reason
	Err    error
}

func (e *RejectError) Error() string { return e.Err.Error() }

func (e *RejectError) Unwrap() error { return e.Err }

// ReasonOf returns the reason code of an error from Load, New or
// Watcher.Reload, or "" when err is nil or has no code.
func ReasonOf(err error) Reason {
	var rej *RejectError
	if errors.As(err, &rej) {
		return rej.Reason
	}
	return ""
}

func reject(reason Reason, err error) error {
	return &RejectError{Reason: reason, Err: err}
}

// Material is one checked set of certificate, key and truststore, with the
// tls.Config built from it. A Material never changes once loaded.
type Material struct {
	Role       pki.Role
	Keystore   *pki.Keystore
	Truststore *pki.Truststore
	// LoadedAt is when the set was read.
	LoadedAt time.Time

	// server or client is the config of this set for Role.
	server *tls.Config
	client *tls.Config
	// digest is the SHA-256 hash of the files' contents, password files
	// included, so it is never exposed.
	digest [32]byte
}

// Identity returns the identity of the certificate the set presents.
func (m *Material) Identity() pki.Identity {
	return pki.IdentityOf(m.Keystore.Leaf)
}

// Load reads files once and checks them as one set for opts.Role. The key
// must belong to the certificate, and the certificate must be valid at
// opts.Now and carry the extended key usage of the role. Unless
// opts.SkipChainCheck is set, the certificate and its intermediates must
// also chain to a CA in the truststore. Errors are *RejectError values.
func Load(files Files, opts Options) (*Material, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	return load(files, opts)
}

func load(files Files, opts Options) (*Material, error) {
	ks, err := pki.LoadKeystore(files.Keystore)
	if err != nil {
		if errors.Is(err, pki.ErrKeyMismatch) {
			return nil, reject(ReasonKeyMismatch, err)
		}
		return nil, reject(ReasonLoadFailed, err)
	}
	ts, err := pki.LoadTruststore(files.Truststore)
	if err != nil {
		return nil, reject(ReasonLoadFailed, err)
	}
	now := opts.Now()
	if err := check(files, ks, ts, opts, now); err != nil {
		return nil, err
	}

	m := &Material{Role: opts.Role, Keystore: ks, Truststore: ts, LoadedAt: now}
	if opts.Role == pki.RoleServer {
		m.server, err = serverConfig(ks, ts, opts)
	} else {
		m.client, err = clientConfig(ks, ts, opts)
	}
	if err != nil {
		return nil, reject(ReasonLoadFailed, err)
	}
	return m, nil
}

// check applies the rules a set must pass before it may replace the one in
// use, each with its own reason code.
func check(files Files, ks *pki.Keystore, ts *pki.Truststore, opts Options, now time.Time) error {
	leaf := ks.Leaf
	id := pki.IdentityOf(leaf)
	where := fmt.Sprintf("certificate %s (subject %q, serial %s)", files.keystorePath(), id.Subject, id.Serial)

	if now.Before(leaf.NotBefore) {
		return reject(ReasonNotYetValid, fmt.Errorf("%s is not valid before %s: wait, issue one whose validity has started, or check the clock", where, leaf.NotBefore.Format(time.RFC3339)))
	}
	if now.After(leaf.NotAfter) {
		return reject(ReasonExpired, fmt.Errorf("%s expired at %s: issue a new certificate", where, leaf.NotAfter.Format(time.RFC3339)))
	}
	usage := keyUsageOf(opts.Role)
	if !hasKeyUsage(leaf, usage) {
		return reject(ReasonWrongKeyUsage, fmt.Errorf("%s lacks the %sAuth extended key usage a %s certificate needs: issue it with --role %s", where, opts.Role, opts.Role, opts.Role))
	}
	if opts.SkipChainCheck {
		return nil
	}

	intermediates := x509.NewCertPool()
	for _, c := range ks.Intermediates {
		intermediates.AddCert(c)
	}
	_, err := leaf.Verify(x509.VerifyOptions{
		Roots:         ts.Pool(),
		Intermediates: intermediates,
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{usage},
	})
	if err != nil {
		return reject(ReasonUntrustedChain, fmt.Errorf("%s, issued by %q, does not chain to a CA in truststore %s: %w; add its CA to the truststore before switching certificates (see 'mtls pki truststore')", where, id.Issuer, files.Truststore.File, err))
	}
	return nil
}

func keyUsageOf(role pki.Role) x509.ExtKeyUsage {
	if role == pki.RoleClient {
		return x509.ExtKeyUsageClientAuth
	}
	return x509.ExtKeyUsageServerAuth
}

// hasKeyUsage follows crypto/x509: a certificate without extended key
// usages, or with "any", may be used for every purpose.
func hasKeyUsage(cert *x509.Certificate, usage x509.ExtKeyUsage) bool {
	if len(cert.ExtKeyUsage) == 0 {
		return true
	}
	for _, u := range cert.ExtKeyUsage {
		if u == usage || u == x509.ExtKeyUsageAny {
			return true
		}
	}
	return false
}

func serverConfig(ks *pki.Keystore, ts *pki.Truststore, opts Options) (*tls.Config, error) {
	cfg, err := pki.ServerTLSConfig(ks, ts, opts.TLS)
	if err != nil {
		return nil, err
	}
	cfg.VerifyConnection = opts.VerifyConnection
	return cfg, nil
}

// clientConfig builds the client config of one set. Every set gets its
// own session cache (from pki.ClientTLSConfig), so a client that reloaded
// makes full handshakes and presents its new certificate instead of
// resuming a session made with the old one.
func clientConfig(ks *pki.Keystore, ts *pki.Truststore, opts Options) (*tls.Config, error) {
	cfg, err := pki.ClientTLSConfig(nil, ts, opts.ServerName, opts.TLS)
	if err != nil {
		return nil, err
	}
	cert := ks.TLSCertificate()
	// GetClientCertificate sends the certificate even when its issuer is
	// not among the CAs the server lists, so that a server which does not
	// trust it yet fails with "unknown certificate authority" instead of
	// "certificate required".
	cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		return &cert, nil
	}
	cfg.VerifyConnection = opts.VerifyConnection
	return cfg, nil
}
