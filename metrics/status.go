package metrics

import (
	"crypto/x509"
	"encoding/json"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/grpc-mtls/grpc-mtls/pki"
)

// Status is the JSON document served at /status.
type Status struct {
	// Certificate is the certificate the server presents.
	Certificate *CertificateStatus `json:"certificate"`
	// Intermediates are sent after Certificate, leaf side first.
	Intermediates []CertificateStatus `json:"intermediates,omitempty"`
	// TrustedCAs are the CAs that may sign client certificates.
	TrustedCAs []CertificateStatus `json:"trusted_cas"`
	// LoadedAt is when the material above was loaded.
	LoadedAt time.Time `json:"loaded_at"`
	// LastReload is the result of the last reload; nil before the first.
	LastReload *ReloadStatus `json:"last_reload"`
}

// CertificateStatus describes one certificate without its key.
type CertificateStatus struct {
	Subject   string    `json:"subject"`
	Issuer    string    `json:"issuer"`
	Serial    string    `json:"serial"`
	SANs      []string  `json:"sans,omitempty"`
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
	// SHA256 is the fingerprint of the DER certificate, in hex.
	SHA256 string `json:"sha256"`
}

// ReloadStatus is the outcome of one certificate reload.
type ReloadStatus struct {
	Time   time.Time `json:"time"`
	Result string    `json:"result"`
	// Error is the reload's error message; empty on success.
	Error string `json:"error,omitempty"`
}

// ReloadEvent is the report of one certificate reload attempt: the new
// material on success, or the error that kept the old material in place.
type ReloadEvent struct {
	Keystore   *pki.Keystore
	Truststore *pki.Truststore
	Err        error
}

// SetMaterial records the certificate the server presents and the CAs it
// trusts: the expiry gauges and the status view. Either may be nil to
// leave it unchanged.
func (m *Metrics) SetMaterial(ks *pki.Keystore, ts *pki.Truststore) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if ks != nil {
		leaf := certificateStatus(ks.Leaf)
		m.status.Certificate = &leaf
		m.status.Intermediates = certificateStatuses(ks.Intermediates)
		m.notAfter.WithLabelValues(RoleLeaf).Set(unixSeconds(ks.Leaf.NotAfter))
		setEarliest(m.notAfter, RoleIntermediate, ks.Intermediates)
	}
	if ts != nil {
		m.status.TrustedCAs = certificateStatuses(ts.Certs)
		m.trustedCAs.Set(float64(len(ts.Certs)))
		setEarliest(m.notAfter, RoleTrustedCA, ts.Certs)
	}
	m.status.LoadedAt = m.now().UTC()
}

// ObserveReload records one reload attempt. This is the hook a certificate
// reloader calls: on success it replaces the material as SetMaterial does,
// on failure it keeps the old material and records the error.
func (m *Metrics) ObserveReload(e ReloadEvent) {
	result := ResultSuccess
	if e.Err != nil {
		result = ResultFailure
	} else {
		m.SetMaterial(e.Keystore, e.Truststore)
	}
	now := m.now().UTC()
	m.reloads.WithLabelValues(result).Inc()
	m.lastReload.WithLabelValues(result).Set(unixSeconds(now))

	m.mu.Lock()
	defer m.mu.Unlock()
	m.status.LastReload = &ReloadStatus{Time: now, Result: result}
	if e.Err != nil {
		m.status.LastReload.Error = e.Err.Error()
	}
}

// Status returns a copy of the current status view.
func (m *Metrics) Status() Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.status
	if s.Certificate != nil {
		c := *s.Certificate
		s.Certificate = &c
	}
	if s.LastReload != nil {
		r := *s.LastReload
		s.LastReload = &r
	}
	s.Intermediates = append([]CertificateStatus(nil), s.Intermediates...)
	s.TrustedCAs = append([]CertificateStatus(nil), s.TrustedCAs...)
	return s
}

func (m *Metrics) serveStatus(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(m.Status())
}

func certificateStatus(c *x509.Certificate) CertificateStatus {
	id := pki.IdentityOf(c)
	return CertificateStatus{
		Subject:   id.Subject,
		Issuer:    id.Issuer,
		Serial:    id.Serial,
		SANs:      id.SANs(),
		NotBefore: id.NotBefore.UTC(),
		NotAfter:  id.NotAfter.UTC(),
		SHA256:    id.Fingerprint,
	}
}

func certificateStatuses(certs []*x509.Certificate) []CertificateStatus {
	out := make([]CertificateStatus, 0, len(certs))
	for _, c := range certs {
		out = append(out, certificateStatus(c))
	}
	return out
}

// setEarliest sets the gauge of role to the earliest expiry in certs, or
// removes it when certs is empty.
func setEarliest(g *prometheus.GaugeVec, role string, certs []*x509.Certificate) {
	if len(certs) == 0 {
		g.DeleteLabelValues(role)
		return
	}
	earliest := certs[0].NotAfter
	for _, c := range certs[1:] {
		if c.NotAfter.Before(earliest) {
			earliest = c.NotAfter
		}
	}
	g.WithLabelValues(role).Set(unixSeconds(earliest))
}

func unixSeconds(t time.Time) float64 {
	return float64(t.UnixNano()) / 1e9
}
