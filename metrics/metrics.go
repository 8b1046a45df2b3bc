package metrics

import (
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/grpc-mtls/grpc-mtls/pki"
	"github.com/grpc-mtls/grpc-mtls/server"
)

// Label values of mtls_handshakes_total and mtls_reloads_total.
const (
	ResultSuccess = "success"
	ResultFailure = "failure"
	// ReasonNone is the reason label of successful handshakes.
	ReasonNone = "none"
)

// Role label values of mtls_certificate_not_after_timestamp_seconds.
const (
	RoleLeaf         = "leaf"
	RoleIntermediate = "intermediate"
	RoleTrustedCA    = "trusted_ca"
)

// Metrics holds the server's counters and gauges and its status view. The
// zero value is not usable; call New.
type Metrics struct {
	registry *prometheus.Registry

	handshakes        *prometheus.CounterVec
	handshakeDuration *prometheus.HistogramVec
	rpcs              *prometheus.CounterVec
	rpcDuration       *prometheus.HistogramVec
	notAfter          *prometheus.GaugeVec
	trustedCAs        prometheus.Gauge
	reloads           *prometheus.CounterVec
	lastReload        *prometheus.GaugeVec

	mu     sync.Mutex
	status Status
	now    func() time.Time
}

// New returns Metrics registered in a registry of their own, together with
// the Go runtime and process collectors.
func New() *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		now:      time.Now,
		handshakes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mtls_handshakes_total",
			Help: "TLS handshakes by result (success, failure) and failure reason as pki.Diagnose names it (none for successes).",
		}, []string{"result", "reason"}),
		handshakeDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "mtls_handshake_duration_seconds",
			Help:    "Time from the client's first byte being awaited to the end of the TLS handshake, by result.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"result"}),
		rpcs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mtls_rpcs_total",
			Help: "Finished RPCs by full method name and gRPC status code.",
		}, []string{"method", "code"}),
		rpcDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "mtls_rpc_duration_seconds",
			Help:    "RPC handling time by full method name.",
			Buckets: prometheus.DefBuckets,
		}, []string{"method"}),
		notAfter: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "mtls_certificate_not_after_timestamp_seconds",
			Help: "Expiry as a Unix time: of the certificate the server presents (leaf), the earliest of its intermediates (intermediate) and the earliest trusted CA (trusted_ca).",
		}, []string{"role"}),
		trustedCAs: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mtls_trusted_cas",
			Help: "Number of CA certificates in the truststore that verifies clients.",
		}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mtls_reloads_total",
			Help: "Certificate reloads by result (success, failure).",
		}, []string{"result"}),
		lastReload: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "mtls_last_reload_timestamp_seconds",
			Help: "Unix time of the last certificate reload, by result.",
		}, []string{"result"}),
	}
	m.registry.MustRegister(
		m.handshakes, m.handshakeDuration, m.rpcs, m.rpcDuration,
		m.notAfter, m.trustedCAs, m.reloads, m.lastReload,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	// Show both reload counters at zero, so that a rate over them works
	// before the first reload.
	m.reloads.WithLabelValues(ResultSuccess)
	m.reloads.WithLabelValues(ResultFailure)
	return m
}

// Registry returns the registry that holds the metrics, for adding more
// collectors or for gathering in tests.
func (m *Metrics) Registry() *prometheus.Registry { return m.registry }

// Handler serves the metrics at /metrics in the Prometheus text format and
// the status view at /status as JSON.
func (m *Metrics) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /status", m.serveStatus)
	return mux
}

// Instrument sets the hooks of opts that feed these metrics. Hooks already
// set in opts keep being called, before the metrics are updated.
func (m *Metrics) Instrument(opts *server.Options) {
	prevFailure, prevSuccess, prevCall := opts.OnHandshakeFailure, opts.OnHandshakeSuccess, opts.OnCall
	opts.OnHandshakeFailure = func(f server.HandshakeFailure) {
		if prevFailure != nil {
			prevFailure(f)
		}
		m.HandshakeFailed(f)
	}
	opts.OnHandshakeSuccess = func(s server.HandshakeSuccess) {
		if prevSuccess != nil {
			prevSuccess(s)
		}
		m.HandshakeSucceeded(s)
	}
	opts.OnCall = func(c server.CallInfo) {
		if prevCall != nil {
			prevCall(c)
		}
		m.CallFinished(c)
	}
}

// HandshakeFailed counts a failed handshake under its diagnosed reason.
func (m *Metrics) HandshakeFailed(f server.HandshakeFailure) {
	reason := f.Diagnosis.Reason
	if reason == "" {
		reason = pki.ReasonUnknown
	}
	m.handshakes.WithLabelValues(ResultFailure, string(reason)).Inc()
	m.handshakeDuration.WithLabelValues(ResultFailure).Observe(f.Duration.Seconds())
}

// HandshakeSucceeded counts a successful handshake.
func (m *Metrics) HandshakeSucceeded(s server.HandshakeSuccess) {
	m.handshakes.WithLabelValues(ResultSuccess, ReasonNone).Inc()
	m.handshakeDuration.WithLabelValues(ResultSuccess).Observe(s.Duration.Seconds())
}

// CallFinished counts a finished RPC. gRPC runs the server's interceptors,
// and so this hook, only for methods of registered services, which keeps
// the method label bounded.
func (m *Metrics) CallFinished(c server.CallInfo) {
	m.rpcs.WithLabelValues(c.Method, c.Code.String()).Inc()
	m.rpcDuration.WithLabelValues(c.Method).Observe(c.Duration.Seconds())
}
