package main

import (
	"errors"
	"fmt"
	"io"
	"math/big"
	"strings"
	"time"

	"github.com/grpc-mtls/grpc-mtls/pki"
)

func runPKIRevoke(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("pki revoke", stderr, "pki revoke --ca-dir DIR (--serial HEX | --cert FILE) [flags]")
	var caSource caFlags
	caSource.register(fs)
	serialHex := fs.String("serial", "", "serial number to revoke, in hexadecimal as 'mtls pki inspect' prints it (colons allowed)")
	certFile := fs.String("cert", "", "PEM certificate to revoke (instead of --serial); it must be issued by the CA")
	reason := fs.String("reason", "unspecified", "RFC 5280 revocation reason, such as keyCompromise, superseded or cessationOfOperation")
	validity := &durationFlag{pki.DefaultCRLValidity}
	fs.Var(validity, "crl-validity", "time until the CRL's next-update, after which servers treat it as stale")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if (*serialHex == "") == (*certFile == "") {
		return errors.New("give exactly one of --serial and --cert to name the certificate to revoke")
	}
	if _, err := pki.ParseRevocationReason(*reason); err != nil {
		return fmt.Errorf("--reason: %w", err)
	}
	ca, caCertFile, err := caSource.load()
	if err != nil {
		return err
	}
	req := &pki.RevokeRequest{Reason: *reason}
	if *certFile != "" {
		if req.Serial, req.Subject, err = serialFromCertificate(*certFile, ca); err != nil {
			return err
		}
	} else if req.Serial, err = parseSerial(*serialHex); err != nil {
		return err
	}

	files := pki.CRLFilesFor(caCertFile)
	out, err := pki.PublishCRL(ca, files, req, pki.CRLOptions{Validity: validity.d})
	if err != nil {
		return err
	}
	if out.AlreadyRevoked != nil {
		fmt.Fprintf(stdout, "Serial %s was already revoked at %s; the record keeps that entry.\n", out.AlreadyRevoked.Serial, out.AlreadyRevoked.RevokedAt.Format(time.RFC3339))
	} else {
		fmt.Fprintf(stdout, "Revoked serial %s%s, reason %s.\n", req.Serial.Text(16), subjectNote(req.Subject), *reason)
	}
	printPublished(stdout, ca, files, out)
	return nil
}

func runPKICRL(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("pki crl", stderr, "pki crl --ca-dir DIR [flags]")
	var caSource caFlags
	caSource.register(fs)
	validity := &durationFlag{pki.DefaultCRLValidity}
	fs.Var(validity, "crl-validity", "time until the CRL's next-update, after which servers treat it as stale")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	ca, caCertFile, err := caSource.load()
	if err != nil {
		return err
	}
	files := pki.CRLFilesFor(caCertFile)
	out, err := pki.PublishCRL(ca, files, nil, pki.CRLOptions{Validity: validity.d})
	if err != nil {
		return err
	}
	printPublished(stdout, ca, files, out)
	return nil
}

func printPublished(w io.Writer, ca *pki.CA, files pki.CRLFiles, out *pki.Published) {
	fmt.Fprintf(w, "Recorded in %s (%d revoked).\n", files.State, len(out.Revocations.Revoked))
	fmt.Fprintf(w, "Published CRL number %s to %s, signed by %s, next update %s.\n",
		out.CRL.Number, files.CRL, ca.Cert.Subject.String(), out.CRL.NextUpdate.Format(time.RFC3339))
	fmt.Fprintf(w, "Servers check it with 'mtls serve --crl %s' and reload it when it changes. Publish again before the next update ('mtls pki crl').\n", files.CRL)
}

func subjectNote(subject string) string {
	if subject == "" {
		return ""
	}
	return " (" + subject + ")"
}

// serialFromCertificate returns the serial and subject of the certificate
// in path, after checking that ca issued it.
func serialFromCertificate(path string, ca *pki.CA) (*big.Int, string, error) {
	certs, err := pki.LoadCertificates(path)
	if err != nil {
		return nil, "", fmt.Errorf("--cert: %w", err)
	}
	cert := certs[0]
	if err := cert.CheckSignatureFrom(ca.Cert); err != nil {
		return nil, "", fmt.Errorf("--cert %s: certificate %q was not issued by CA %q (its issuer is %q): revoke it with the CA that signed it",
			path, cert.Subject.String(), ca.Cert.Subject.String(), cert.Issuer.String())
	}
	return cert.SerialNumber, cert.Subject.String(), nil
}

// parseSerial reads a hexadecimal serial number such as "3f9a" or, as
// OpenSSL prints it, "3F:9A".
func parseSerial(text string) (*big.Int, error) {
	clean := strings.TrimPrefix(strings.ToLower(strings.ReplaceAll(text, ":", "")), "0x")
	serial, ok := new(big.Int).SetString(clean, 16)
	if !ok || serial.Sign() <= 0 {
		return nil, fmt.Errorf("--serial %q: not a positive hexadecimal number such as 3f9a or 3F:9A", text)
	}
	return serial, nil
}
