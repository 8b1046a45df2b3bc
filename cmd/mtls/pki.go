package main

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/grpc-mtls/grpc-mtls/pki"
)

func runPKI(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New("missing subcommand: use 'mtls pki init', 'issue', 'inspect', 'new-ca', 'truststore', 'revoke' or 'crl'")
	}
	switch args[0] {
	case "init":
		return runPKIInit(args[1:], stdout, stderr)
	case "issue":
		return runPKIIssue(args[1:], stdout, stderr)
	case "inspect":
		return runPKIInspect(args[1:], stdout, stderr)
	case "new-ca":
		return runPKINewCA(args[1:], stdout, stderr)
	case "truststore":
		return runPKITruststore(args[1:], stdout, stderr)
	case "revoke":
		return runPKIRevoke(args[1:], stdout, stderr)
	case "crl":
		return runPKICRL(args[1:], stdout, stderr)
	}
	return fmt.Errorf("unknown subcommand %q: use 'mtls pki init', 'issue', 'inspect', 'new-ca', 'truststore', 'revoke' or 'crl'", args[0])
}

func runPKIInit(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("pki init", stderr, "pki init --dir DIR [flags]")
	dir := fs.String("dir", "", "directory for the PKI files, created with mode 0700 (required)")
	caKeyDir := fs.String("ca-key-dir", "", "directory for ca.key, created with mode 0700 (default: --dir); keeps the CA key out of the directory that servers and clients mount")
	keyType := fs.String("key-type", string(pki.DefaultKeyType), "key type: "+keyTypeNames())
	caValidity := &durationFlag{pki.DefaultCAValidity}
	fs.Var(caValidity, "ca-validity", "how long the CA certificate is valid, in days (90d) or a Go duration")
	leafValidity := &durationFlag{pki.DefaultLeafValidity}
	fs.Var(leafValidity, "leaf-validity", "how long the server and client certificates are valid")
	serverDNS := &listFlag{values: []string{"server", "localhost"}}
	fs.Var(serverDNS, "server-dns", "DNS names in the server certificate, comma-separated or repeated")
	serverIP := &listFlag{values: []string{"127.0.0.1", "::1"}}
	fs.Var(serverIP, "server-ip", "IP addresses in the server certificate, comma-separated or repeated")
	clientName := fs.String("client-name", "client", "client common name, also the path of its SPIFFE ID")
	guestName := fs.String("guest-name", pki.DefaultGuestName, "common name and SPIFFE ID path of the second client identity, for authorization demos")
	intermediate := fs.Bool("intermediate", false, "sign the leaves with an intermediate CA (intermediate.crt/.key) below the root, so that ca.key can stay offline")
	trustDomain := fs.String("trust-domain", pki.DefaultTrustZone, "SPIFFE trust domain of the client identity spiffe://DOMAIN/NAME")
	p12PasswordFile := fs.String("p12-password-file", "", "file holding the PKCS#12 password (default: generate one into DIR/p12.password)")
	caPassphraseFile := fs.String("ca-passphrase-file", "", "file holding a passphrase to encrypt ca.key with (PKCS#8, AES-256)")
	force := fs.Bool("force", false, "overwrite existing files")
	keepExisting := fs.Bool("keep-existing", false, "if DIR already holds a complete PKI, keep it, write nothing and exit 0 (for a setup step that runs on every start)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *dir == "" {
		return errors.New("--dir is required: name the directory for the PKI files")
	}
	if *force && *keepExisting {
		return errors.New("--force and --keep-existing both given: use one of them")
	}
	kt, err := pki.ParseKeyType(*keyType)
	if err != nil {
		return fmt.Errorf("--key-type: %w", err)
	}
	ips, err := parseIPs("server-ip", serverIP.values)
	if err != nil {
		return err
	}
	if len(serverDNS.values) == 0 && len(ips) == 0 {
		return errors.New("--server-dns and --server-ip are both empty: the server certificate needs at least one name")
	}
	opts := pki.InitOptions{
		Dir: *dir, CAKeyDir: *caKeyDir, KeyType: kt, CAValidity: caValidity.d, LeafValidity: leafValidity.d,
		ServerDNS: serverDNS.values, ServerIPs: ips, ClientName: *clientName, GuestName: *guestName, TrustDomain: *trustDomain,
		Intermediate: *intermediate, Force: *force, KeepExisting: *keepExisting,
	}
	if *p12PasswordFile != "" {
		if opts.P12Password, err = pki.ReadPassword(*p12PasswordFile); err != nil {
			return fmt.Errorf("--p12-password-file: %w", err)
		}
	}
	if *caPassphraseFile != "" {
		if opts.CAPassphrase, err = pki.ReadPassword(*caPassphraseFile); err != nil {
			return fmt.Errorf("--ca-passphrase-file: %w", err)
		}
	}

	start := time.Now()
	res, err := pki.Init(opts)
	if err != nil {
		return err
	}
	if res.Kept {
		printKeptResult(stdout, *dir, res, opts)
		return nil
	}
	printInitResult(stdout, res, kt, time.Since(start))
	return nil
}

func printInitResult(w io.Writer, res *pki.InitResult, kt pki.KeyType, took time.Duration) {
	fmt.Fprintf(w, "Created a %s PKI in %s (%d ms):\n", kt, filepath.Dir(res.Files[0]), took.Milliseconds())
	fmt.Fprintf(w, "  CA      %s  serial %s  valid until %s\n", res.CA.Subject, res.CA.Serial, res.CA.NotAfter.Format(time.DateOnly))
	if res.Intermediate != nil {
		fmt.Fprintf(w, "  issuer  %s  serial %s  valid until %s  (intermediate CA, signs the leaves)\n", res.Intermediate.Subject, res.Intermediate.Serial, res.Intermediate.NotAfter.Format(time.DateOnly))
	}
	fmt.Fprintf(w, "  server  %s  SANs %s  valid until %s\n", res.Server.Subject, strings.Join(res.Server.SANs(), ", "), res.Server.NotAfter.Format(time.DateOnly))
	fmt.Fprintf(w, "  client  %s  SANs %s  valid until %s\n", res.Client.Subject, strings.Join(res.Client.SANs(), ", "), res.Client.NotAfter.Format(time.DateOnly))
	fmt.Fprintf(w, "  guest   %s  SANs %s  valid until %s\n", res.Guest.Subject, strings.Join(res.Guest.SANs(), ", "), res.Guest.NotAfter.Format(time.DateOnly))
	fmt.Fprintln(w, "Files:")
	for _, f := range res.Files {
		fmt.Fprintf(w, "  %s\n", f)
	}
	if res.PasswordGenerated {
		fmt.Fprintf(w, "The PKCS#12 password was generated and written to %s (mode 0600).\n", filepath.Join(filepath.Dir(res.Files[0]), pki.FileP12Password))
	}
	fmt.Fprintln(w, "Keep ca.key secret: anyone who has it can mint certificates this server and client accept.")
	if res.Intermediate != nil {
		fmt.Fprintln(w, "Day-to-day issuing needs only intermediate.crt and intermediate.key; ca.key can be moved offline.")
	}
}

func keyTypeNames() string {
	names := make([]string, len(pki.KeyTypes))
	for i, kt := range pki.KeyTypes {
		names[i] = string(kt)
	}
	return strings.Join(names, ", ")
}
