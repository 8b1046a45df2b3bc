package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"

	"github.com/grpc-mtls/grpc-mtls/client"
	"github.com/grpc-mtls/grpc-mtls/pki/reload"
	"github.com/grpc-mtls/grpc-mtls/server"
)

// reloadFlags configure hot reload of the certificate files and the
// maximum connection age, for serve and for call --repeat.
type reloadFlags struct {
	interval    time.Duration
	maxAge      time.Duration
	maxAgeGrace time.Duration
}

func (r *reloadFlags) register(fs *flag.FlagSet) {
	fs.DurationVar(&r.interval, "reload-interval", reload.DefaultInterval, "re-read the certificate, key and truststore files this often, besides reloading them as soon as they change; 0 turns hot reload off")
	fs.DurationVar(&r.maxAge, "max-connection-age", 0, "replace a connection this long after it was opened (a Go duration such as 10m), so that long-lived connections make a new handshake with rotated certificates; 0 means never")
	fs.DurationVar(&r.maxAgeGrace, "max-connection-age-grace", client.DefaultConnectionGrace, "how long a connection past --max-connection-age keeps serving the calls already running on it")
}

func (r *reloadFlags) validate() error {
	for name, d := range map[string]time.Duration{"reload-interval": r.interval, "max-connection-age": r.maxAge, "max-connection-age-grace": r.maxAgeGrace} {
		if d < 0 {
			return fmt.Errorf("--%s %s: use a positive duration, or 0", name, d)
		}
	}
	return nil
}

// serverOptions returns the gRPC server options for the maximum
// connection age, if one is set.
func (r *reloadFlags) serverOptions() []grpc.ServerOption {
	if r.maxAge == 0 {
		return nil
	}
	return []grpc.ServerOption{server.WithMaxConnectionAge(r.maxAge, r.maxAgeGrace)}
}

func (r *reloadFlags) rotation() client.RotationOptions {
	return client.RotationOptions{MaxConnectionAge: r.maxAge, Grace: r.maxAgeGrace}
}

// start loads the files of m through a reload.Watcher and follows changes,
// and on SIGHUP, until stop is called. It returns a nil Watcher when hot
// reload is off, when m names no keystore, or when the files fail the
// reload checks (an expired certificate, say). The caller then serves the
// files as loaded, so that misconfigurations can still be demonstrated.
func (r *reloadFlags) start(m *materialFlags, opts reload.Options, log *slog.Logger) (w *reload.Watcher, stop func()) {
	stop = func() {}
	if r.interval == 0 {
		return nil, stop
	}
	ksrc, ok := m.keystoreSource()
	if !ok {
		log.Info("hot reload off: no certificate to reload")
		return nil, stop
	}
	opts.Interval = r.interval
	opts.OnReload = logReload(log)
	files := reload.Files{Keystore: ksrc, Truststore: m.truststoreSource()}
	w, err := reload.New(files, opts)
	if err != nil {
		log.Warn("hot reload off: the certificate files fail the checks a reload applies; using them as loaded until a restart with good files",
			"reason", string(reload.ReasonOf(err)), "error", err.Error())
		return nil, stop
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = w.Run(ctx)
	}()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				log.Info("SIGHUP received: checking the certificate files")
				_ = w.Reload()
			}
		}
	}()

	id := w.Current().Identity()
	log.Info("hot reload on", "path", strings.Join(files.Paths(), ","), "subject", id.Subject, "serial", id.Serial,
		"not_after", id.NotAfter.Format(time.RFC3339), "interval", r.interval.String())
	return w, func() {
		signal.Stop(hup)
		cancel()
		<-done
	}
}

// logReload logs each reload with the certificate's subject, serial and
// expiry, and each rejected set with its reason.
func logReload(log *slog.Logger) func(reload.Event) {
	return func(e reload.Event) {
		cur := e.Current.Identity()
		attrs := []any{"trigger", string(e.Trigger), "path", strings.Join(e.Paths, ",")}
		if e.Err != nil {
			log.Warn("rejected the changed certificate files, still using the previous ones",
				append(attrs, "reason", string(e.Reason), "error", e.Err.Error(),
					"subject", cur.Subject, "serial", cur.Serial, "not_after", cur.NotAfter.Format(time.RFC3339))...)
			return
		}
		log.Info("reloaded certificate files",
			append(attrs, "subject", cur.Subject, "serial", cur.Serial, "not_after", cur.NotAfter.Format(time.RFC3339),
				"issuer", cur.Issuer, "trusted_cas", len(e.Current.Truststore.Certs),
				"previous_serial", e.Previous.Identity().Serial)...)
	}
}
