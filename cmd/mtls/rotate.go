package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/grpc-mtls/grpc-mtls/pki"
)

// runPKINewCA creates a CA in a directory of its own, beside the one in
// use, as the first step of a CA rotation.
func runPKINewCA(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("pki new-ca", stderr, "pki new-ca --dir DIR [flags]")
	dir := fs.String("dir", "", "directory for ca.crt and ca.key, created with mode 0700; use a new one, not the directory of the CA in use (required)")
	name := fs.String("name", "", "common name of the CA (default \"grpc-mtls CA\" and today's date, so that old and new CA differ)")
	keyType := fs.String("key-type", string(pki.DefaultKeyType), "key type: "+keyTypeNames())
	validity := &durationFlag{pki.DefaultCAValidity}
	fs.Var(validity, "validity", "how long the CA certificate is valid, in days (1825d) or a Go duration")
	caPassphraseFile := fs.String("ca-passphrase-file", "", "file holding a passphrase to encrypt ca.key with (PKCS#8, AES-256)")
	force := fs.Bool("force", false, "overwrite an existing ca.crt and ca.key in --dir")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q: pki new-ca takes only flags", fs.Arg(0))
	}
	if *dir == "" {
		return errors.New("--dir is required: name a new directory for the CA")
	}
	kt, err := pki.ParseKeyType(*keyType)
	if err != nil {
		return fmt.Errorf("--key-type: %w", err)
	}
	if *name == "" {
		*name = "grpc-mtls CA " + time.Now().UTC().Format(time.DateOnly)
	}
	var passphrase []byte
	if *caPassphraseFile != "" {
		if passphrase, err = pki.ReadPassword(*caPassphraseFile); err != nil {
			return fmt.Errorf("--ca-passphrase-file: %w", err)
		}
	}

	ca, err := pki.NewCA(pki.CAOptions{CommonName: *name, KeyType: kt, Validity: validity.d})
	if err != nil {
		return err
	}
	files, err := pki.CAFiles(*dir, ca, passphrase)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*dir, pki.ModeDir); err != nil {
		return fmt.Errorf("create --dir %s: %w", *dir, err)
	}
	if err := pki.WriteFiles(files, *force); err != nil {
		return fmt.Errorf("pki new-ca: %w", err)
	}

	id := pki.IdentityOf(ca.Cert)
	fmt.Fprintf(stdout, "Created CA %s (serial %s, %s, valid until %s):\n", id.Subject, id.Serial, id.KeyType, id.NotAfter.Format(time.DateOnly))
	for _, f := range files {
		fmt.Fprintf(stdout, "  %s\n", f.Path)
	}
	fmt.Fprintf(stdout, "Next: make both sides trust the old and the new CA, for example\n  mtls pki truststore --out trust.pem --force OLD-DIR/%s %s\n", pki.FileCACert, files[0].Path)
	return nil
}

// runPKITruststore writes one truststore with the CA certificates of
// several PEM files.
func runPKITruststore(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("pki truststore", stderr, "pki truststore --out FILE [flags] CA.crt...")
	out := fs.String("out", "", "file to write the truststore to (required)")
	p12PasswordFile := fs.String("p12-password-file", "", "write a PKCS#12 truststore protected by the password in this file, instead of PEM")
	force := fs.Bool("force", false, "replace an existing --out file (atomically, so a process reloading it never reads half a file)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *out == "" {
		return errors.New("--out is required: name the truststore file to write")
	}
	if fs.NArg() == 0 {
		return errors.New("name at least one PEM file with CA certificates after the flags")
	}
	ext := strings.ToLower(filepath.Ext(*out))
	if *p12PasswordFile == "" && (ext == ".p12" || ext == ".pfx") {
		return fmt.Errorf("--out %s names a PKCS#12 file: give --p12-password-file, or use a .pem name for a PEM truststore", *out)
	}

	var stores []*pki.Truststore
	for _, path := range fs.Args() {
		ts, err := pki.LoadTruststore(pki.TruststoreSource{File: path})
		if err != nil {
			return err
		}
		stores = append(stores, ts)
	}
	merged := pki.MergeTruststores(stores...)

	data := pki.EncodeCertificatesPEM(merged.Certs...)
	mode, format := pki.ModePublic, "PEM"
	if *p12PasswordFile != "" {
		password, err := pki.ReadPassword(*p12PasswordFile)
		if err != nil {
			return fmt.Errorf("--p12-password-file: %w", err)
		}
		if data, err = pki.EncodeTruststore(merged.Certs, password, pki.P12Modern); err != nil {
			return err
		}
		format = "PKCS#12"
	}
	if err := pki.WriteFiles([]pki.File{{Path: *out, Data: data, Mode: mode}}, *force); err != nil {
		return fmt.Errorf("pki truststore: %w", err)
	}

	fmt.Fprintf(stdout, "Wrote %s truststore %s with %d CA certificate(s):\n", format, *out, len(merged.Certs))
	now := time.Now()
	for _, c := range merged.Certs {
		id := pki.IdentityOf(c)
		note := ""
		if now.After(c.NotAfter) {
			note = "  EXPIRED: it verifies nothing; drop it"
		}
		fmt.Fprintf(stdout, "  %s  serial %s  valid until %s%s\n", id.Subject, id.Serial, id.NotAfter.Format(time.DateOnly), note)
	}
	return nil
}
