package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/grpc-mtls/grpc-mtls/pki"
)

// caFlags select the issuing CA of 'pki issue', 'pki revoke' and 'pki crl'.
type caFlags struct {
	dir, cert, key, passphraseFile string
}

func (c *caFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.dir, "ca-dir", "", "directory with intermediate.crt and intermediate.key if present, else ca.crt and ca.key (instead of --ca-cert/--ca-key)")
	fs.StringVar(&c.cert, "ca-cert", "", "PEM file with the issuing CA certificate")
	fs.StringVar(&c.key, "ca-key", "", "PEM file with the issuing CA's private key")
	fs.StringVar(&c.passphraseFile, "ca-passphrase-file", "", "file holding the passphrase of an encrypted CA key")
}

// files returns the CA certificate and key files the flags select.
func (c *caFlags) files() (certFile, keyFile string, err error) {
	if c.dir != "" {
		if c.cert != "" || c.key != "" {
			return "", "", errors.New("--ca-dir and --ca-cert/--ca-key both given: use one of them")
		}
		certFile, keyFile = issuingCAFiles(c.dir)
		return certFile, keyFile, nil
	}
	if c.cert == "" || c.key == "" {
		return "", "", errors.New("no issuing CA: give --ca-dir, or --ca-cert and --ca-key")
	}
	return c.cert, c.key, nil
}

// load reads the CA the flags select and returns it with its certificate
// file, next to which its revocation record and CRL live.
func (c *caFlags) load() (*pki.CA, string, error) {
	certFile, keyFile, err := c.files()
	if err != nil {
		return nil, "", err
	}
	var passphrase []byte
	if c.passphraseFile != "" {
		if passphrase, err = pki.ReadPassword(c.passphraseFile); err != nil {
			return nil, "", fmt.Errorf("--ca-passphrase-file: %w", err)
		}
	}
	ca, err := pki.LoadCA(certFile, keyFile, passphrase)
	if err != nil {
		return nil, "", err
	}
	return ca, certFile, nil
}

// issuingCAFiles returns the certificate and key of the CA in dir that
// signs leaves: the intermediate CA when 'pki init --intermediate' made
// one, else the root.
func issuingCAFiles(dir string) (certFile, keyFile string) {
	inter := filepath.Join(dir, pki.FileIntermediateCert)
	if _, err := os.Stat(inter); err == nil {
		return inter, filepath.Join(dir, pki.FileIntermediateKey)
	}
	return filepath.Join(dir, pki.FileCACert), filepath.Join(dir, pki.FileCAKey)
}
