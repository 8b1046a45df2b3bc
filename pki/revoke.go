package pki

import (
	"bytes"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// DefaultCRLValidity is the time from a CRL's this-update to its
// next-update. A server treats a CRL past its next-update as stale, so a
// CA must publish a fresh CRL within this time even if nothing new was
// revoked.
const DefaultCRLValidity = 7 * 24 * time.Hour

// revocationReasons maps the RFC 5280 CRLReason names to their codes.
// removeFromCRL (8) is left out, since it applies only to delta CRLs.
var revocationReasons = map[string]int{
	"unspecified":          0,
	"keyCompromise":        1,
	"cACompromise":         2,
	"affiliationChanged":   3,
	"superseded":           4,
	"cessationOfOperation": 5,
	"certificateHold":      6,
	"privilegeWithdrawn":   9,
	"aACompromise":         10,
}

// ParseRevocationReason returns the RFC 5280 CRLReason code named name;
// the empty name is "unspecified".
func ParseRevocationReason(name string) (int, error) {
	if name == "" {
		return 0, nil
	}
	if code, ok := revocationReasons[name]; ok {
		return code, nil
	}
	names := make([]string, 0, len(revocationReasons))
	for n := range revocationReasons {
		names = append(names, n)
	}
	sort.Strings(names)
	return 0, fmt.Errorf("unknown revocation reason %q: use one of %s", name, strings.Join(names, ", "))
}

// RevocationReasonName returns the RFC 5280 name of a CRLReason code.
func RevocationReasonName(code int) string {
	for name, c := range revocationReasons {
		if c == code {
			return name
		}
	}
	return fmt.Sprintf("reason %d", code)
}

// RevokedCertificate is one entry of a CA's revocation record.
type RevokedCertificate struct {
	// Serial is the serial number in lowercase hexadecimal.
	Serial    string    `json:"serial"`
	RevokedAt time.Time `json:"revoked_at"`
	// Reason is an RFC 5280 CRLReason name, such as "keyCompromise".
	Reason string `json:"reason,omitempty"`
	// Subject is the certificate's subject, when it was known, for people
	// reading the record.
	Subject string `json:"subject,omitempty"`
}

// Revocations is a CA's record of revoked certificates, the source from
// which each CRL is made. It lives in a small JSON file next to the CA.
type Revocations struct {
	// CRLNumber is the number of the last CRL made from this record. RFC
	// 5280 requires the numbers of a CA's CRLs to increase.
	CRLNumber int64                `json:"crl_number"`
	Revoked   []RevokedCertificate `json:"revoked"`
}

// CRLFiles names a CA's revocation record and the CRL published from it.
type CRLFiles struct {
	State string
	CRL   string
}

// CRLFilesFor returns the files that belong to the CA certificate in
// caCertFile: DIR/ca.crt gets DIR/ca.revoked.json and DIR/ca.crl.
func CRLFilesFor(caCertFile string) CRLFiles {
	base := strings.TrimSuffix(caCertFile, filepath.Ext(caCertFile))
	return CRLFiles{State: base + ".revoked.json", CRL: base + ".crl"}
}

// LoadRevocations reads a revocation record. A missing file is an empty
// record, since a CA starts with nothing revoked.
func LoadRevocations(path string) (*Revocations, error) {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return &Revocations{}, nil
	}
	data, err := ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load revocation record: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var r Revocations
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("load revocation record %s: invalid JSON: %w: restore it from a backup, since it lists every revoked serial", path, err)
	}
	for i, e := range r.Revoked {
		if _, ok := new(big.Int).SetString(e.Serial, 16); !ok {
			return nil, fmt.Errorf("load revocation record %s: entry %d: serial %q is not hexadecimal", path, i+1, e.Serial)
		}
	}
	return &r, nil
}

// find returns the entry for serial, or nil.
func (r *Revocations) find(serial *big.Int) *RevokedCertificate {
	for i := range r.Revoked {
		if s, ok := new(big.Int).SetString(r.Revoked[i].Serial, 16); ok && s.Cmp(serial) == 0 {
			return &r.Revoked[i]
		}
	}
	return nil
}

// RevokeRequest names a certificate to revoke.
type RevokeRequest struct {
	Serial *big.Int
	// Subject is recorded for people reading the record; may be empty.
	Subject string
	// Reason is an RFC 5280 CRLReason name; empty means unspecified.
	Reason string
}

// CRLOptions configures PublishCRL.
type CRLOptions struct {
	// Validity is the time until the CRL's next-update; default
	// DefaultCRLValidity.
	Validity time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Published is the outcome of PublishCRL.
type Published struct {
	CRL *x509.RevocationList
	// Revocations is the record as written.
	Revocations *Revocations
	// AlreadyRevoked is the earlier entry when the requested serial was
	// revoked before; the record then keeps the earlier entry.
	AlreadyRevoked *RevokedCertificate
}

// PublishCRL adds revoke (when not nil) to ca's revocation record in
// files.State, signs a CRL with the next CRL number that lists every
// revoked certificate, and writes the record and then the CRL, each
// atomically. The record goes first because it is the source of truth: if
// writing the CRL fails, running PublishCRL again publishes it.
func PublishCRL(ca *CA, files CRLFiles, revoke *RevokeRequest, opts CRLOptions) (*Published, error) {
	record, err := LoadRevocations(files.State)
	if err != nil {
		return nil, err
	}
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	at := now().UTC().Truncate(time.Second)
	out := &Published{Revocations: record}
	if revoke != nil {
		if out.AlreadyRevoked = record.find(revoke.Serial); out.AlreadyRevoked == nil {
			if _, err := ParseRevocationReason(revoke.Reason); err != nil {
				return nil, err
			}
			record.Revoked = append(record.Revoked, RevokedCertificate{Serial: revoke.Serial.Text(16), RevokedAt: at, Reason: revoke.Reason, Subject: revoke.Subject})
		}
	}
	record.CRLNumber++

	crlPEM, crl, err := ca.createCRL(record, at, opts.Validity)
	if err != nil {
		return nil, err
	}
	state, err := json.MarshalIndent(record, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode revocation record: %w", err)
	}
	if err := WriteFileAtomic(files.State, append(state, '\n'), ModePublic); err != nil {
		return nil, fmt.Errorf("save revocation record: %w", err)
	}
	if err := WriteFileAtomic(files.CRL, crlPEM, ModePublic); err != nil {
		return nil, fmt.Errorf("publish CRL (the revocation is recorded in %s; run the command again to publish): %w", files.State, err)
	}
	out.CRL = crl
	return out, nil
}

// createCRL signs a CRL from record. The PEM output holds the CRL and,
// when ca is not a root, ca's certificate and intermediates, so that a
// server can check the CRL's signature with nothing but its truststore.
func (ca *CA) createCRL(record *Revocations, thisUpdate time.Time, validity time.Duration) ([]byte, *x509.RevocationList, error) {
	if validity <= 0 {
		validity = DefaultCRLValidity
	}
	tmpl := &x509.RevocationList{
		Number:     big.NewInt(record.CRLNumber),
		ThisUpdate: thisUpdate,
		NextUpdate: thisUpdate.Add(validity),
	}
	for _, e := range record.Revoked {
		serial, _ := new(big.Int).SetString(e.Serial, 16)
		code, err := ParseRevocationReason(e.Reason)
		if err != nil {
			return nil, nil, fmt.Errorf("revocation record: serial %s: %w", e.Serial, err)
		}
		tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries, x509.RevocationListEntry{SerialNumber: serial, RevocationTime: e.RevokedAt, ReasonCode: code})
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, ca.Cert, ca.Key)
	if err != nil {
		return nil, nil, fmt.Errorf("sign CRL with CA %q: %w", ca.Cert.Subject.CommonName, err)
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		return nil, nil, fmt.Errorf("parse new CRL: %w", err)
	}
	out := pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der})
	if !isSelfSigned(ca.Cert) {
		out = append(out, EncodeCertificatesPEM(append([]*x509.Certificate{ca.Cert}, withoutRoots(ca.Chain)...)...)...)
	}
	return out, crl, nil
}
