package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/grpc-mtls/grpc-mtls/pki"
	"github.com/grpc-mtls/grpc-mtls/pki/reload"
	"github.com/grpc-mtls/grpc-mtls/server"
)

func runServe(args []string, _, stderr io.Writer) error {
	fs := newFlagSet("serve", stderr, "serve [flags]")
	var m materialFlags
	m.register(fs, "server")
	var h hardeningFlags
	h.register(fs)
	listen := fs.String("listen", ":8443", "TCP address to listen on")
	handshakeTimeout := fs.Duration("handshake-timeout", server.DefaultHandshakeTimeout, "close connections whose TLS handshake takes longer than this")
	shutdownTimeout := fs.Duration("shutdown-timeout", 10*time.Second, "on SIGINT or SIGTERM, wait this long for running calls before closing them")
	logFormat := fs.String("log-format", "text", "log format: text or json")
	var rf reloadFlags
	rf.register(fs)
	var allowClient listFlag
	fs.Var(&allowClient, "allow-client", "accept only clients whose certificate has one of these URI SANs (SPIFFE IDs), or DNS SANs if it has no URI SAN; comma-separated or repeated (default: any client the truststore accepts)")
	var access accessFlags
	access.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := rf.validate(); err != nil {
		return err
	}
	if err := access.validate(); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q: serve takes only flags", fs.Arg(0))
	}
	logOut := newLineBatcher(stderr)
	defer logOut.Flush() //nolint:errcheck // nowhere left to report a failed log write
	log, err := newLogger(logOut, *logFormat)
	if err != nil {
		return err
	}
	if err := h.validate(*handshakeTimeout, *shutdownTimeout); err != nil {
		return err
	}

	ks, ts, err := m.load(true)
	if err != nil {
		return err
	}
	logLoosePermissions(log, m.privatePaths()...)
	cfg, err := pki.ServerTLSConfig(ks, ts, access.tlsOptions(pki.TLSOptions{AllowTLS12: m.tls12}))
	if err != nil {
		return err
	}
	pki.RequirePeerID(cfg, allowClient.values...)
	serverCert := func() *x509.Certificate { return ks.Leaf }
	opts := server.Options{
		HandshakeTimeout:  *handshakeTimeout,
		ServerCertificate: func() *x509.Certificate { return serverCert() },
		// NOTE: the diagnosis compares against the files loaded at start,
		// so after a hot reload it may name the previous certificate.
		OnHandshakeFailure: logHandshakeFailure(log, pki.Material{Keystore: ks, Truststore: ts}),
		OnCall:             logCall(log),
	}
	// The access flags add the revocation check to cfg.VerifyConnection,
	// which the reload watcher then copies into every config it builds.
	stopWatching, err := access.apply(cfg, ts, &opts, log)
	if err != nil {
		return err
	}
	defer stopWatching()
	mtr, stopHardening, err := h.apply(&opts, log, ks, ts)
	if err != nil {
		return err
	}
	defer stopHardening()

	// A reloading config hands out per-connection configs, so its own
	// ClientAuth is not the one in force; log the one built from the flags.
	clientAuth := cfg.ClientAuth.String()
	watcher, stopReload := rf.start(&m, reload.Options{Role: pki.RoleServer, TLS: access.tlsOptions(pki.TLSOptions{AllowTLS12: m.tls12}), VerifyConnection: cfg.VerifyConnection}, log, observeReload(mtr))
	defer stopReload()
	if watcher != nil {
		cfg = watcher.ServerTLSConfig()
		serverCert = func() *x509.Certificate { return watcher.Current().Keystore.Leaf }
	}
	opts.Limits.MaxConnectionAge, opts.Limits.MaxConnectionAgeGrace = rf.maxAge, rf.maxAgeGrace
	srv := server.New(cfg, opts)

	// Catch SIGINT and SIGTERM before listening, so that a supervisor that
	// signals as soon as the server logs its address still gets a graceful
	// stop rather than the default action, which kills the process.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	lis, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listen on --listen %s: %w", *listen, err)
	}
	id := pki.IdentityOf(ks.Leaf)
	log.Info("server listening", "addr", lis.Addr().String(), "subject", id.Subject, "serial", id.Serial,
		"not_after", id.NotAfter.Format(time.RFC3339), "sans", strings.Join(id.SANs(), ","),
		"trusted_cas", len(ts.Certs), "min_tls", minTLS(m.tls12), "client_auth", clientAuth)

	return serveUntilSignal(ctx, srv, lis, *shutdownTimeout, log)
}

func minTLS(tls12 bool) string {
	if tls12 {
		return "1.2"
	}
	return "1.3"
}

// serveUntilSignal serves until ctx ends (on SIGINT or SIGTERM), then
// stops gracefully: new calls are refused at once and running ones get the
// timeout to end.
func serveUntilSignal(ctx context.Context, srv *grpc.Server, lis net.Listener, timeout time.Duration, log *slog.Logger) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(lis) }()

	select {
	case err := <-errc:
		return fmt.Errorf("serve on %s: %w", lis.Addr(), err)
	case <-ctx.Done():
	}
	log.Info("shutting down", "timeout", timeout.String())
	shutdownCtx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := server.Shutdown(shutdownCtx, srv); err != nil {
		log.Warn("shutdown timeout reached, closed the remaining calls", "timeout", timeout.String())
	} else {
		log.Info("server stopped")
	}
	if err := <-errc; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return err
	}
	return nil
}

// logHandshakeFailure logs each failed handshake with its diagnosis,
// made again with the server's own material so that it can name the
// server's certificate when the client rejected it.
func logHandshakeFailure(log *slog.Logger, m pki.Material) func(server.HandshakeFailure) {
	return func(f server.HandshakeFailure) {
		d := pki.DiagnoseWith(f.Err, pki.RoleServer, m)
		attrs := []any{"peer", addrOf(f.Addr), "reason", string(d.Reason), "failed_on", d.Side}
		if d.Certificate != nil {
			attrs = append(attrs, "certificate_of", string(d.Certificate.Owner), "subject", d.Certificate.Subject, "serial", d.Certificate.Serial)
		}
		log.Warn("rejected handshake", append(attrs, "explanation", d.String(), "error", f.Err.Error())...)
	}
}

// logCall logs every RPC. It runs on the hot path, so it builds typed
// attributes only when the level is enabled and boxes nothing.
func logCall(log *slog.Logger) func(server.CallInfo) {
	return func(c server.CallInfo) {
		level, msg := slog.LevelInfo, "call"
		switch {
		case c.Err != nil:
			level, msg = slog.LevelWarn, "call failed"
		case c.Method == healthpb.Health_Check_FullMethodName:
			// A container health check calls Check every few seconds, so
			// successful checks stay below the default Info level.
			level = slog.LevelDebug
		}
		ctx := context.Background()
		if !log.Enabled(ctx, level) {
			return
		}
		attrs := [8]slog.Attr{
			slog.String("method", c.Method), slog.String("peer", addrOf(c.Peer.Addr)),
			slog.String("caller", c.Peer.Name()), slog.String("serial", c.Peer.Identity.Serial),
			slog.String("code", c.Code.String()), slog.String("duration", c.Duration.String()),
			slog.Bool("resumed", c.Peer.Connection.Resumed),
		}
		n := 7
		if c.Err != nil {
			attrs[n] = slog.String("error", c.Err.Error())
			n++
		}
		log.LogAttrs(ctx, level, msg, attrs[:n]...)
	}
}

func addrOf(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}
