package main

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/grpc-mtls/grpc-mtls/pki"
)

func runPKIIssue(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("pki issue", stderr, "pki issue --role server|client --name NAME --out PREFIX [flags]")
	var caSource caFlags
	caSource.register(fs)
	role := fs.String("role", "", "certificate role: server (EKU serverAuth) or client (EKU clientAuth)")
	name := fs.String("name", "", "subject common name")
	dns := &listFlag{}
	fs.Var(dns, "dns", "DNS names, comma-separated or repeated")
	ipList := &listFlag{}
	fs.Var(ipList, "ip", "IP addresses, comma-separated or repeated")
	uriList := &listFlag{}
	fs.Var(uriList, "uri", "URI SANs, comma-separated or repeated (default for a client: spiffe://TRUST-DOMAIN/NAME)")
	trustDomain := fs.String("trust-domain", pki.DefaultTrustZone, "SPIFFE trust domain of the default client URI")
	keyType := fs.String("key-type", string(pki.DefaultKeyType), "key type: "+keyTypeNames())
	validity := &durationFlag{pki.DefaultLeafValidity}
	fs.Var(validity, "validity", "how long the certificate is valid, in days (90d) or a Go duration")
	notBefore := fs.String("not-before", "", "explicit start of validity, RFC 3339 (for testing expired or future certificates)")
	notAfter := fs.String("not-after", "", "explicit end of validity, RFC 3339")
	out := fs.String("out", "", "output path prefix: writes PREFIX.crt and PREFIX.key (required)")
	p12PasswordFile := fs.String("p12-password-file", "", "also write PREFIX.p12, protected by the password in this file")
	force := fs.Bool("force", false, "overwrite existing files")
	if err := parseFlags(fs, args); err != nil {
		return err
	}

	if _, _, err := caSource.files(); err != nil {
		return err
	}
	if *out == "" || *name == "" {
		return errors.New("--out and --name are required")
	}
	req := pki.LeafRequest{Role: pki.Role(*role), CommonName: *name, DNSNames: dns.values, Validity: validity.d}
	if req.Role != pki.RoleServer && req.Role != pki.RoleClient {
		return fmt.Errorf("--role %q: use server or client", *role)
	}
	var err error
	if req.KeyType, err = pki.ParseKeyType(*keyType); err != nil {
		return fmt.Errorf("--key-type: %w", err)
	}
	if req.IPs, err = parseIPs("ip", ipList.values); err != nil {
		return err
	}
	if req.URIs, err = parseURIs(uriList.values); err != nil {
		return err
	}
	if req.Role == pki.RoleClient && len(req.URIs) == 0 && len(req.DNSNames) == 0 && len(req.IPs) == 0 {
		id, err := pki.SPIFFEID(*trustDomain, *name)
		if err != nil {
			return fmt.Errorf("--trust-domain/--name: %w", err)
		}
		req.URIs = []*url.URL{id}
	}
	if req.NotBefore, err = parseTimeFlag("not-before", *notBefore); err != nil {
		return err
	}
	if req.NotAfter, err = parseTimeFlag("not-after", *notAfter); err != nil {
		return err
	}

	ca, _, err := caSource.load()
	if err != nil {
		return err
	}
	if _, keyFile, ferr := caSource.files(); ferr == nil {
		printLoosePermissions(stderr, keyFile, caSource.passphraseFile)
	}
	leaf, err := ca.Issue(req)
	if err != nil {
		return err
	}
	files, err := leafFiles(*out, leaf, *p12PasswordFile)
	if err != nil {
		return err
	}
	if err := pki.WriteFiles(files, *force); err != nil {
		return err
	}
	id := pki.IdentityOf(leaf.Cert)
	fmt.Fprintf(stdout, "Issued %s certificate %s (SANs %s, serial %s, valid %s to %s) signed by %s\n", req.Role, id.Subject,
		strings.Join(id.SANs(), ", "), id.Serial, id.NotBefore.Format(time.RFC3339), id.NotAfter.Format(time.RFC3339), id.Issuer)
	for _, f := range files {
		fmt.Fprintf(stdout, "  %s\n", f.Path)
	}
	return nil
}

func leafFiles(prefix string, leaf *pki.Leaf, p12PasswordFile string) ([]pki.File, error) {
	keyPEM, err := pki.MarshalPrivateKeyPEM(leaf.Key)
	if err != nil {
		return nil, err
	}
	// The certificate file carries the intermediates too, so that the
	// holder sends its whole chain; the root stays out.
	ks := leaf.Keystore()
	chain := append([]*x509.Certificate{leaf.Cert}, ks.Intermediates...)
	files := []pki.File{
		{Path: prefix + ".crt", Data: pki.EncodeCertificatesPEM(chain...), Mode: pki.ModePublic},
		{Path: prefix + ".key", Data: keyPEM, Mode: pki.ModePrivate},
	}
	if p12PasswordFile != "" {
		password, err := pki.ReadPassword(p12PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("--p12-password-file: %w", err)
		}
		p12, err := pki.EncodeKeystore(ks, leaf.Roots(), password, pki.P12Modern)
		if err != nil {
			return nil, err
		}
		files = append(files, pki.File{Path: prefix + ".p12", Data: p12, Mode: pki.ModePrivate})
	}
	return files, nil
}

func parseURIs(values []string) ([]*url.URL, error) {
	out := make([]*url.URL, 0, len(values))
	for _, v := range values {
		u, err := url.Parse(v)
		if err != nil || u.Scheme == "" {
			return nil, fmt.Errorf("--uri %q: not an absolute URI such as spiffe://example.org/service", v)
		}
		out = append(out, u)
	}
	return out, nil
}

func parseTimeFlag(name, value string) (time.Time, error) {
	if value == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, value)
	if err != nil {
		return time.Time{}, fmt.Errorf("--%s %q: use RFC 3339 such as 2025-01-31T00:00:00Z", name, value)
	}
	return t, nil
}
