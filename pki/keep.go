package pki

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// ErrIncompletePKI means a directory contains some, but not all, of the
// files that Init writes, so Init can neither keep the set nor complete it.
var ErrIncompletePKI = errors.New("incomplete PKI")

// initFilePaths returns the paths of the files Init writes for opts.
// p12.password is among them only when Init generates the PKCS#12
// password.
func initFilePaths(opts InitOptions) []string {
	path := func(name string) string { return filepath.Join(opts.Dir, name) }
	paths := []string{
		path(FileCACert), filepath.Join(caKeyDir(opts), FileCAKey),
		path(FileServerCert), path(FileServerKey),
		path(FileClientCert), path(FileClientKey),
		path(FileServerP12), path(FileClientP12), path(FileTruststore),
	}
	paths = append(paths, guestFilePaths(opts)...)
	if opts.Intermediate {
		paths = append(paths, path(FileIntermediateCert), path(FileIntermediateKey))
	}
	if opts.P12Password == nil {
		paths = append(paths, path(FileP12Password))
	}
	return paths
}

func guestFilePaths(opts InitOptions) []string {
	return []string{filepath.Join(opts.Dir, FileGuestCert), filepath.Join(opts.Dir, FileGuestKey), filepath.Join(opts.Dir, FileGuestP12)}
}

// caKeyDir returns the directory that receives ca.key.
func caKeyDir(opts InitOptions) string {
	if opts.CAKeyDir != "" {
		return opts.CAKeyDir
	}
	return opts.Dir
}

// keepExisting returns the result for a complete PKI already in opts.Dir,
// or nil when the directory contains none of its files. When only some of
// the files exist, it returns an error wrapping ErrIncompletePKI that
// names the missing ones.
func keepExisting(opts InitOptions) (*InitResult, error) {
	var present, missing []string
	for _, path := range initFilePaths(opts) {
		_, err := os.Lstat(path)
		switch {
		case err == nil:
			present = append(present, path)
		case errors.Is(err, fs.ErrNotExist):
			missing = append(missing, path)
		default:
			return nil, fmt.Errorf("pki init: check existing file %s: %w", path, err)
		}
	}
	if len(present) == 0 {
		return nil, nil
	}
	// A PKI made before Init issued the guest identity has none of its
	// files. It is still complete; only a partial guest set is not.
	guest := guestFilePaths(opts)
	withoutGuest := slices.DeleteFunc(slices.Clone(missing), func(p string) bool { return slices.Contains(guest, p) })
	hasGuest := len(missing)-len(withoutGuest) < len(guest)
	if !hasGuest {
		missing = withoutGuest
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("pki init: %w: missing %s: restore them from a backup, or replace the whole PKI with --force (which makes a new CA)",
			ErrIncompletePKI, strings.Join(missing, ", "))
	}

	ca, err := loadFirstCertificate(opts.Dir, FileCACert)
	if err != nil {
		return nil, err
	}
	res := &InitResult{CA: IdentityOf(ca), Files: present, Kept: true}
	if err := loadKeptLeaves(opts.Dir, ca, hasGuest, res); err != nil {
		return nil, err
	}
	return res, nil
}

// loadKeptLeaves fills res with the kept intermediate and leaves, and
// checks that each is signed by its issuer. The leaves of a PKI made with
// Intermediate are signed by the intermediate, whether or not this run
// requests one.
func loadKeptLeaves(dir string, ca *x509.Certificate, hasGuest bool, res *InitResult) error {
	issuer := ca
	if _, err := os.Lstat(filepath.Join(dir, FileIntermediateCert)); err == nil {
		if issuer, err = loadLeafOf(ca, dir, FileIntermediateCert); err != nil {
			return err
		}
		inter := IdentityOf(issuer)
		res.Intermediate = &inter
	}
	type keptLeaf struct {
		name string
		id   *Identity
	}
	leaves := []keptLeaf{{FileServerCert, &res.Server}, {FileClientCert, &res.Client}}
	if hasGuest {
		leaves = append(leaves, keptLeaf{FileGuestCert, &res.Guest})
	}
	for _, leaf := range leaves {
		cert, err := loadLeafOf(issuer, dir, leaf.name)
		if err != nil {
			return err
		}
		*leaf.id = IdentityOf(cert)
	}
	return nil
}

func loadFirstCertificate(dir, name string) (*x509.Certificate, error) {
	certs, err := LoadCertificates(filepath.Join(dir, name))
	if err != nil {
		return nil, fmt.Errorf("pki init: keep existing PKI: %w", err)
	}
	return certs[0], nil
}

// loadLeafOf loads a certificate and checks that ca signed it, so that a
// kept directory never mixes certificates of two CAs.
func loadLeafOf(ca *x509.Certificate, dir, name string) (*x509.Certificate, error) {
	leaf, err := loadFirstCertificate(dir, name)
	if err != nil {
		return nil, err
	}
	if err := leaf.CheckSignatureFrom(ca); err != nil {
		return nil, fmt.Errorf("pki init: keep existing PKI: %s is not signed by %q in %s: %w: replace the whole PKI with --force",
			name, ca.Subject.String(), dir, err)
	}
	return leaf, nil
}
