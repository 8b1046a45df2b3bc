package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"github.com/grpc-mtls/grpc-mtls/pki/reload"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"time"

	"github.com/grpc-mtls/grpc-mtls/internal/throttle"
	"github.com/grpc-mtls/grpc-mtls/metrics"
	"github.com/grpc-mtls/grpc-mtls/pki"
	"github.com/grpc-mtls/grpc-mtls/server"
)

// Defaults of the rejection log throttle: at most five log lines per
// failure reason every ten seconds, the rest counted.
const (
	defaultRejectionLogInterval = 10 * time.Second
	defaultRejectionLogBurst    = 5
)

// hardeningFlags are the serve flags for server limits, the metrics
// listener and the logging of rejected handshakes.
type hardeningFlags struct {
	limits               server.Limits
	maxConcurrentStreams uint
	metricsListen        string
	rejectionLogInterval time.Duration
	rejectionLogBurst    int
}

func (h *hardeningFlags) register(fs *flag.FlagSet) {
	fs.IntVar(&h.limits.MaxConcurrentHandshakes, "max-concurrent-handshakes", server.DefaultMaxConcurrentHandshakes, "TLS handshakes in progress at once after the client's first message; others wait (-1: no limit)")
	fs.UintVar(&h.maxConcurrentStreams, "max-concurrent-streams", server.DefaultMaxConcurrentStreams, "calls open at once on one connection")
	fs.IntVar(&h.limits.MaxRecvMsgSize, "max-recv-msg-size", server.DefaultMaxRecvMsgSize, "largest request message, in bytes")
	fs.DurationVar(&h.limits.KeepaliveMinTime, "keepalive-min-time", server.DefaultKeepaliveMinTime, "shortest interval between client pings; a client pinging more often is disconnected")
	fs.BoolVar(&h.limits.KeepalivePermitWithoutStream, "keepalive-permit-without-stream", false, "accept client pings on connections without calls")
	fs.DurationVar(&h.limits.KeepaliveTime, "keepalive-time", server.DefaultKeepaliveTime, "ping a client whose connection has been silent this long")
	fs.DurationVar(&h.limits.KeepaliveTimeout, "keepalive-timeout", server.DefaultKeepaliveTimeout, "close a connection whose ping is not acknowledged within this time")
	fs.DurationVar(&h.limits.MaxConnectionIdle, "max-connection-idle", 0, "close connections without calls after this long (0: never)")
	fs.StringVar(&h.metricsListen, "metrics-listen", "", "serve Prometheus metrics at /metrics and the certificate status at /status on this address, over plain HTTP (default: off)")
	fs.DurationVar(&h.rejectionLogInterval, "rejection-log-interval", defaultRejectionLogInterval, "interval over which --rejection-log-burst applies")
	fs.IntVar(&h.rejectionLogBurst, "rejection-log-burst", defaultRejectionLogBurst, "rejected handshakes logged per failure reason and interval; the rest are counted in one summary line")
}

// validate checks the hardening flags and the serve timeouts.
func (h *hardeningFlags) validate(handshakeTimeout, shutdownTimeout time.Duration) error {
	positive := map[string]time.Duration{
		"handshake-timeout":      handshakeTimeout,
		"keepalive-min-time":     h.limits.KeepaliveMinTime,
		"keepalive-time":         h.limits.KeepaliveTime,
		"keepalive-timeout":      h.limits.KeepaliveTimeout,
		"rejection-log-interval": h.rejectionLogInterval,
	}
	for _, name := range []string{"handshake-timeout", "keepalive-min-time", "keepalive-time", "keepalive-timeout", "rejection-log-interval"} {
		if positive[name] <= 0 {
			return fmt.Errorf("--%s %s: use a positive duration such as 10s", name, positive[name])
		}
	}
	nonNegative := map[string]time.Duration{
		"shutdown-timeout":    shutdownTimeout,
		"max-connection-idle": h.limits.MaxConnectionIdle,
	}
	for _, name := range []string{"shutdown-timeout", "max-connection-idle"} {
		if nonNegative[name] < 0 {
			return fmt.Errorf("--%s %s: use zero or a positive duration", name, nonNegative[name])
		}
	}
	switch {
	case h.limits.MaxConcurrentHandshakes == 0:
		return errors.New("--max-concurrent-handshakes 0 would accept no connection: use a positive number, or -1 for no limit")
	case h.maxConcurrentStreams == 0 || h.maxConcurrentStreams > 1<<31-1:
		return fmt.Errorf("--max-concurrent-streams %d: use a number from 1 to 2147483647", h.maxConcurrentStreams)
	case h.limits.MaxRecvMsgSize <= 0:
		return fmt.Errorf("--max-recv-msg-size %d: use a positive number of bytes", h.limits.MaxRecvMsgSize)
	case h.rejectionLogBurst < 0:
		return fmt.Errorf("--rejection-log-burst %d: use zero (log only the counts) or a positive number", h.rejectionLogBurst)
	}
	h.limits.MaxConcurrentStreams = uint32(h.maxConcurrentStreams)
	return nil
}

// apply sets the limits in opts, throttles the logging of rejected
// handshakes and, with --metrics-listen, starts the metrics listener and
// instruments opts. The returned function flushes the throttle's counts
// and stops the metrics listener.
func (h *hardeningFlags) apply(opts *server.Options, log *slog.Logger, ks *pki.Keystore, ts *pki.Truststore) (m *metrics.Metrics, stop func(), err error) {
	opts.Limits = h.limits
	rejections := throttledFailureLog(log, opts.OnHandshakeFailure, h.rejectionLogInterval, h.rejectionLogBurst)
	opts.OnHandshakeFailure = rejections.onFailure
	if h.metricsListen == "" {
		return nil, rejections.flush, nil
	}

	m = metrics.New()
	m.SetMaterial(ks, ts)
	m.Instrument(opts)
	lis, err := net.Listen("tcp", h.metricsListen)
	if err != nil {
		return nil, nil, fmt.Errorf("listen on --metrics-listen %s: %w", h.metricsListen, err)
	}
	httpSrv := &http.Server{Handler: m.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := httpSrv.Serve(lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics listener stopped", "addr", lis.Addr().String(), "error", err.Error())
		}
	}()
	log.Info("metrics listening", "addr", lis.Addr().String(), "paths", "/metrics,/status")
	return m, func() {
		rejections.flush()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = httpSrv.Shutdown(ctx)
	}, nil
}

// failureLog logs rejected handshakes through a throttle, so that a flood
// of bad connections produces a few lines per reason and a count.
type failureLog struct {
	throttle *throttle.Throttle
	log      func(server.HandshakeFailure)
}

func throttledFailureLog(log *slog.Logger, logFailure func(server.HandshakeFailure), interval time.Duration, burst int) *failureLog {
	return &failureLog{
		throttle: throttle.New(interval, burst, func(reason string, n int) {
			log.Warn("rejected handshakes not logged", "reason", reason, "suppressed", n, "interval", interval.String())
		}),
		log: logFailure,
	}
}

func (l *failureLog) onFailure(f server.HandshakeFailure) {
	if l.throttle.Allow(string(f.Diagnosis.Reason)) && l.log != nil {
		l.log(f)
	}
}

func (l *failureLog) flush() { l.throttle.Flush() }

// privatePaths returns the secret files among the material flags.
func (m *materialFlags) privatePaths() []string {
	src, _ := m.keystoreSource()
	paths := src.PrivatePaths()
	if m.passwordFile != "" && !slices.Contains(paths, m.passwordFile) {
		paths = append(paths, m.passwordFile)
	}
	return paths
}

// logLoosePermissions logs a warning for each secret file that others can
// read.
func logLoosePermissions(log *slog.Logger, paths ...string) {
	for _, w := range pki.CheckPrivateFileModes(paths...) {
		log.Warn("secret file readable by others", "path", w.Path, "mode", fmt.Sprintf("%04o", w.Mode.Perm()), "fix", "chmod 600 "+w.Path)
	}
}

// printLoosePermissions prints a warning for each secret file that others
// can read, for the short-lived commands.
func printLoosePermissions(w io.Writer, paths ...string) {
	for _, pw := range pki.CheckPrivateFileModes(paths...) {
		fmt.Fprintf(w, "Warning: %v\n", pw)
	}
}

// observeReload returns a reload hook that records each reload in m, or
// nil when metrics are off.
func observeReload(m *metrics.Metrics) func(reload.Event) {
	if m == nil {
		return nil
	}
	return func(e reload.Event) {
		ev := metrics.ReloadEvent{Err: e.Err}
		if e.Err == nil && e.Current != nil {
			ev.Keystore, ev.Truststore = e.Current.Keystore, e.Current.Truststore
		}
		m.ObserveReload(ev)
	}
}
