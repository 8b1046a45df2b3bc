package doctor

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"

	"github.com/grpc-mtls/grpc-mtls/pki"
)

// material holds the certificates and key that load could read, file by
// file, so that one broken file does not hide the problems of the others.
type material struct {
	keystore  *pki.Keystore
	leaf      *x509.Certificate
	inter     []*x509.Certificate
	trust     *pki.Truststore
	peerTrust *pki.Truststore
	// lintDER holds every certificate found, as DER, including those Go
	// cannot parse, for zlint (whose parser is more lenient).
	lintDER []lintInput
}

type lintInput struct {
	source string
	der    []byte
}

func (r *Report) load(opts Options) *material {
	m := &material{}
	r.loadKeystore(opts, m)

	ts, err := r.loadTruststore("truststore", opts.Truststore, m)
	m.trust = ts
	if err == nil && opts.PeerTruststore.File != "" {
		m.peerTrust, _ = r.loadTruststore("peer truststore", opts.PeerTruststore, m)
	} else {
		m.peerTrust = m.trust
	}
	return m
}

func (r *Report) loadKeystore(opts Options, m *material) {
	src := opts.Keystore
	if src.CertFile == "" && src.PKCS12File == "" {
		r.add(Finding{Severity: SeverityError, Check: "keystore",
			Problem: fmt.Sprintf("no keystore given: the %s has no certificate to present, and a mutual TLS peer rejects it", opts.Role),
			Fix:     "give the certificate and key (--cert/--key) or the PKCS#12 keystore (--keystore)"})
		return
	}
	ks, err := pki.LoadKeystore(src)
	if err != nil {
		r.add(loadFinding("keystore", opts.Role, err))
	} else {
		m.keystore, m.leaf, m.inter = ks, ks.Leaf, ks.Intermediates
		for _, c := range append([]*x509.Certificate{ks.Leaf}, ks.Intermediates...) {
			m.lintDER = append(m.lintDER, lintInput{"keystore", c.Raw})
		}
		return
	}
	// The keystore did not load: read what certificates the PEM file has,
	// to check them all the same.
	if src.CertFile == "" {
		return
	}
	certs, ders := readPEMCertificates(src.CertFile)
	for _, der := range ders {
		m.lintDER = append(m.lintDER, lintInput{"keystore", der})
	}
	if len(certs) > 0 {
		m.leaf, m.inter = certs[0], certs[1:]
	}
}

func (r *Report) loadTruststore(name string, src pki.TruststoreSource, m *material) (*pki.Truststore, error) {
	if src.File == "" {
		r.add(Finding{Severity: SeverityError, Check: name, Problem: "no " + name + " given: nothing to verify the peer's certificate against",
			Fix: "give the CA certificate file (--ca) or the PKCS#12 truststore (--truststore)"})
		return nil, fmt.Errorf("no %s", name)
	}
	ts, err := pki.LoadTruststore(src)
	if err != nil {
		r.add(loadFinding(name, "", err))
		_, ders := readPEMCertificates(src.File)
		for _, der := range ders {
			m.lintDER = append(m.lintDER, lintInput{name, der})
		}
		return nil, err
	}
	for _, c := range ts.Certs {
		m.lintDER = append(m.lintDER, lintInput{name, c.Raw})
	}
	return ts, nil
}

// loadFinding turns a loader error into a finding with pki's diagnosis.
func loadFinding(check string, role pki.Role, err error) Finding {
	if role == "" {
		role = pki.RoleClient
	}
	d := pki.Diagnose(err, role)
	f := Finding{Severity: SeverityError, Check: check, Problem: err.Error(), Fix: d.Fix}
	if d.Reason != pki.ReasonUnknown {
		f.Problem = d.Summary + " (" + err.Error() + ")"
	}
	return f
}

// readPEMCertificates returns the certificates Go can parse and the DER
// of every CERTIFICATE block in path, ignoring errors: the loader has
// already reported them.
func readPEMCertificates(path string) ([]*x509.Certificate, [][]byte) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil
	}
	var certs []*x509.Certificate
	var ders [][]byte
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return certs, ders
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		ders = append(ders, block.Bytes)
		if c, err := x509.ParseCertificate(block.Bytes); err == nil {
			certs = append(certs, c)
		}
	}
}
