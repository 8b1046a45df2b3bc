package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/grpc-mtls/grpc-mtls/pki"
)

func runPKIInspect(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("pki inspect", stderr, "pki inspect [--password-file FILE] FILE...")
	passwordFile := fs.String("password-file", "", "password of PKCS#12 files, or passphrase of encrypted keys")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return errors.New("name at least one file to inspect")
	}
	var password []byte
	if *passwordFile != "" {
		var err error
		if password, err = pki.ReadPassword(*passwordFile); err != nil {
			return fmt.Errorf("--password-file: %w", err)
		}
	}
	failed := 0
	for _, path := range fs.Args() {
		items, err := pki.Inspect(path, password)
		if err != nil {
			fmt.Fprintf(stderr, "%v\n", err)
			failed++
			continue
		}
		fmt.Fprintf(stdout, "%s:\n", path)
		for _, it := range items {
			printItem(stdout, it)
		}
	}
	if failed > 0 {
		return exitError{code: 1}
	}
	return nil
}

func printItem(w io.Writer, it pki.Item) {
	fmt.Fprintf(w, "  %s\n", it.Kind)
	if it.Kind == "private key" {
		fmt.Fprintf(w, "    key type:        %s\n", it.KeyType)
		if it.PublicKeySHA256 != "" {
			fmt.Fprintf(w, "    public key hash: SHA256:%s\n", it.PublicKeySHA256)
		}
		return
	}
	id := it.Identity
	fmt.Fprintf(w, "    subject:         %s\n", id.Subject)
	fmt.Fprintf(w, "    issuer:          %s\n", id.Issuer)
	if sans := id.SANs(); len(sans) > 0 {
		fmt.Fprintf(w, "    SANs:            %s\n", strings.Join(sans, ", "))
	}
	fmt.Fprintf(w, "    serial:          %s\n", id.Serial)
	fmt.Fprintf(w, "    valid:           %s to %s%s\n", id.NotBefore.Format(time.RFC3339), id.NotAfter.Format(time.RFC3339), validityNote(id))
	fmt.Fprintf(w, "    key type:        %s\n", it.KeyType)
	fmt.Fprintf(w, "    signature:       %s\n", it.SignatureAlgorithm)
	if it.IsCA {
		pathLen := "unlimited"
		if it.MaxPathLen >= 0 {
			pathLen = fmt.Sprint(it.MaxPathLen)
		}
		fmt.Fprintf(w, "    CA:              yes, path length %s\n", pathLen)
	}
	fmt.Fprintf(w, "    key usage:       %s\n", strings.Join(it.KeyUsage, ", "))
	if len(it.ExtKeyUsage) > 0 {
		fmt.Fprintf(w, "    ext. key usage:  %s\n", strings.Join(it.ExtKeyUsage, ", "))
	}
	fmt.Fprintf(w, "    SHA-256:         %s\n", id.Fingerprint)
	fmt.Fprintf(w, "    public key hash: SHA256:%s\n", it.PublicKeySHA256)
}

func validityNote(id pki.Identity) string {
	now := time.Now()
	switch {
	case now.After(id.NotAfter):
		return " (EXPIRED)"
	case now.Before(id.NotBefore):
		return " (NOT YET VALID)"
	}
	return fmt.Sprintf(" (%d days left)", int(time.Until(id.NotAfter).Hours()/24))
}
