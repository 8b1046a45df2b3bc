package metrics_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/grpc-mtls/grpc-mtls/client"
	"github.com/grpc-mtls/grpc-mtls/metrics"
	"github.com/grpc-mtls/grpc-mtls/pki"
	"github.com/grpc-mtls/grpc-mtls/pki/pkitest"
	"github.com/grpc-mtls/grpc-mtls/server"
)

// instrumentedServer is an mTLS server on loopback whose metrics are served
// over plain HTTP on another loopback port.
type instrumentedServer struct {
	addr        string
	metricsURL  string
	ca          *pkitest.CA
	keystore    *pki.Keystore
	m           *metrics.Metrics
	mu          sync.Mutex
	diagnosed   map[pki.Reason]int
	failureSeen chan struct{}
}

func startInstrumented(t *testing.T) *instrumentedServer {
	t.Helper()
	ca := pkitest.NewCA(t)
	ks := pkitest.Keystore(ca.Server(t, "localhost", "127.0.0.1"))
	cfg, err := pki.ServerTLSConfig(ks, ca.Truststore(), pki.TLSOptions{})
	require.NoError(t, err)

	s := &instrumentedServer{ca: ca, keystore: ks, m: metrics.New(), diagnosed: map[pki.Reason]int{}, failureSeen: make(chan struct{}, 1)}
	s.m.SetMaterial(ks, ca.Truststore())
	opts := server.Options{OnHandshakeFailure: func(f server.HandshakeFailure) {
		s.mu.Lock()
		s.diagnosed[f.Diagnosis.Reason]++
		s.mu.Unlock()
		select {
		case s.failureSeen <- struct{}{}:
		default:
		}
	}}
	s.m.Instrument(&opts)
	srv := server.New(cfg, opts)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	s.addr = lis.Addr().String()

	metricsLis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	httpSrv := &http.Server{Handler: s.m.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = httpSrv.Serve(metricsLis) }()
	t.Cleanup(func() { _ = httpSrv.Close() })
	s.metricsURL = "http://" + metricsLis.Addr().String()
	return s
}

func (s *instrumentedServer) diagnoses() map[pki.Reason]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[pki.Reason]int{}
	for k, v := range s.diagnosed {
		out[k] = v
	}
	return out
}

func (s *instrumentedServer) waitFailures(t *testing.T, n int) {
	t.Helper()
	guard := time.After(30 * time.Second)
	for {
		total := 0
		for _, v := range s.diagnoses() {
			total += v
		}
		if total >= n {
			return
		}
		select {
		case <-s.failureSeen:
		case <-guard:
			t.Fatalf("server diagnosed %v, want %d failures", s.diagnoses(), n)
		}
	}
}

func call(addr string, cfg *tls.Config) error {
	c, err := client.Dial(addr, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := c.WhoAmI(ctx); err != nil {
		return err
	}
	_, err = c.Echo(ctx, "hi")
	return err
}

func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	require.NoError(t, err)
	return families
}

// counterValues returns the family's counter values keyed by the value of
// label, for the series whose other labels match filter.
func counterValues(f *dto.MetricFamily, label string, filter map[string]string) map[string]float64 {
	out := map[string]float64{}
	if f == nil {
		return out
	}
	for _, m := range f.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		match := true
		for k, v := range filter {
			if labels[k] != v {
				match = false
			}
		}
		if match {
			out[labels[label]] = m.GetCounter().GetValue()
		}
	}
	return out
}

func TestMetricsReasonsMatchDiagnoses(t *testing.T) {
	s := startInstrumented(t)
	require.NoError(t, call(s.addr, s.ca.ClientTLSConfig(t, "alice", "localhost")))
	require.NoError(t, call(s.addr, s.ca.ClientTLSConfig(t, "bob", "localhost")))

	// Provoke failures of several kinds.
	noCert, err := pki.ClientTLSConfig(nil, s.ca.Truststore(), "localhost", pki.TLSOptions{})
	require.NoError(t, err)
	other := pkitest.NewCA(t, pkitest.WithName("other CA"))
	wrongCA, err := pki.ClientTLSConfig(nil, s.ca.Truststore(), "localhost", pki.TLSOptions{})
	require.NoError(t, err)
	mallory := pkitest.Keystore(other.Client(t, "mallory")).TLSCertificate()
	wrongCA.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &mallory, nil }
	oldTLS := s.ca.ClientTLSConfig(t, "old", "localhost")
	oldTLS.MinVersion, oldTLS.MaxVersion = tls.VersionTLS12, tls.VersionTLS12

	for i := 0; i < 3; i++ {
		require.Error(t, call(s.addr, noCert))
	}
	require.Error(t, call(s.addr, wrongCA))
	require.Error(t, call(s.addr, oldTLS))
	conn, err := net.Dial("tcp", s.addr)
	require.NoError(t, err)
	_, err = io.WriteString(conn, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, conn)
	conn.Close()
	s.waitFailures(t, 6)

	families := scrape(t, s.metricsURL)
	failures := counterValues(families["mtls_handshakes_total"], "reason", map[string]string{"result": metrics.ResultFailure})
	want := map[string]float64{}
	for reason, n := range s.diagnoses() {
		want[string(reason)] = float64(n)
	}
	assert.Equal(t, want, failures, "failure reasons in /metrics against the server's diagnoses")
	assert.Equal(t, map[string]float64{
		string(pki.ReasonNoClientCertificate): 3,
		string(pki.ReasonUnknownAuthority):    1,
		string(pki.ReasonVersionMismatch):     1,
		string(pki.ReasonNotTLS):              1,
	}, failures)

	successes := counterValues(families["mtls_handshakes_total"], "reason", map[string]string{"result": metrics.ResultSuccess})
	assert.Equal(t, map[string]float64{metrics.ReasonNone: 2}, successes)

	rpcs := counterValues(families["mtls_rpcs_total"], "method", map[string]string{"code": "OK"})
	assert.Equal(t, float64(2), rpcs["/mtls.v1.DemoService/WhoAmI"])
	assert.Equal(t, float64(2), rpcs["/mtls.v1.DemoService/Echo"])
}

func TestMetricsLabelsAreBounded(t *testing.T) {
	s := startInstrumented(t)
	require.NoError(t, call(s.addr, s.ca.ClientTLSConfig(t, "alice", "localhost")))
	s.m.ObserveReload(metrics.ReloadEvent{Err: errors.New("read server.key: file not found")})

	allowed := map[string]bool{"result": true, "reason": true, "method": true, "code": true, "role": true, "le": true}
	for name, f := range scrape(t, s.metricsURL) {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if len(name) > 5 && name[:5] == "mtls_" {
					assert.True(t, allowed[l.GetName()], "metric %s has label %s=%q", name, l.GetName(), l.GetValue())
				}
				assert.NotContains(t, l.GetValue(), "127.0.0.1", "metric %s carries a peer address", name)
			}
		}
	}
}

func TestMetricsExpiryGauges(t *testing.T) {
	s := startInstrumented(t)
	families := scrape(t, s.metricsURL)
	f := families["mtls_certificate_not_after_timestamp_seconds"]
	require.NotNil(t, f)
	got := map[string]float64{}
	for _, m := range f.GetMetric() {
		require.Len(t, m.GetLabel(), 1)
		got[m.GetLabel()[0].GetValue()] = m.GetGauge().GetValue()
	}
	assert.Equal(t, map[string]float64{
		metrics.RoleLeaf:      float64(s.keystore.Leaf.NotAfter.Unix()),
		metrics.RoleTrustedCA: float64(s.ca.Cert.NotAfter.Unix()),
	}, got)
	assert.Equal(t, float64(1), families["mtls_trusted_cas"].GetMetric()[0].GetGauge().GetValue())
}

func fetchStatus(t *testing.T, url string) metrics.Status {
	t.Helper()
	resp, err := http.Get(url + "/status")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	var st metrics.Status
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&st))
	return st
}

func TestStatusShowsCertificateAndReloads(t *testing.T) {
	s := startInstrumented(t)
	st := fetchStatus(t, s.metricsURL)
	id := pki.IdentityOf(s.keystore.Leaf)
	require.NotNil(t, st.Certificate)
	assert.Equal(t, id.Serial, st.Certificate.Serial)
	assert.Equal(t, id.Subject, st.Certificate.Subject)
	assert.Equal(t, []string{"localhost", "127.0.0.1"}, st.Certificate.SANs)
	assert.True(t, id.NotAfter.Equal(st.Certificate.NotAfter))
	require.Len(t, st.TrustedCAs, 1)
	assert.Equal(t, pki.IdentityOf(s.ca.Cert).Fingerprint, st.TrustedCAs[0].SHA256)
	assert.Nil(t, st.LastReload)

	s.m.ObserveReload(metrics.ReloadEvent{Err: errors.New("load key server.key: the file is empty")})
	st = fetchStatus(t, s.metricsURL)
	require.NotNil(t, st.LastReload)
	assert.Equal(t, metrics.ResultFailure, st.LastReload.Result)
	assert.Contains(t, st.LastReload.Error, "server.key")
	assert.Equal(t, id.Serial, st.Certificate.Serial, "a failed reload keeps the old certificate")

	next := pkitest.Keystore(s.ca.Server(t, "localhost"))
	s.m.ObserveReload(metrics.ReloadEvent{Keystore: next, Truststore: s.ca.Truststore()})
	st = fetchStatus(t, s.metricsURL)
	assert.Equal(t, metrics.ResultSuccess, st.LastReload.Result)
	assert.Empty(t, st.LastReload.Error)
	assert.Equal(t, pki.IdentityOf(next.Leaf).Serial, st.Certificate.Serial)

	reloads := counterValues(scrape(t, s.metricsURL)["mtls_reloads_total"], "result", nil)
	assert.Equal(t, map[string]float64{metrics.ResultSuccess: 1, metrics.ResultFailure: 1}, reloads)
}
