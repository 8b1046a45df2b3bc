package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"os/signal"
	"syscall"
	"time"

	"github.com/grpc-mtls/grpc-mtls/client"
	"github.com/grpc-mtls/grpc-mtls/pki"
	"github.com/grpc-mtls/grpc-mtls/pki/reload"
)

// repeatOptions configure call --repeat: a client that keeps calling, as a
// long-running service would, while certificates are rotated under it.
type repeatOptions struct {
	count    int
	interval time.Duration
	echoes   int
	stream   bool
	reload   reloadFlags
}

func (o repeatOptions) validate(expectFailure string) error {
	switch {
	case o.count < 1:
		return fmt.Errorf("--repeat %d: use a positive number of rounds", o.count)
	case o.interval < 0:
		return fmt.Errorf("--interval %s: use a positive duration, or 0", o.interval)
	case expectFailure != "":
		return fmt.Errorf("--expect-failure and --repeat both given: use one of them")
	}
	return o.reload.validate()
}

// roundSerials are the two certificates one round of calls was made with.
type roundSerials struct {
	server, serverIssuer string
	client, clientIssuer string
}

// runRepeat makes count rounds of calls, one every interval, over one
// client that reloads its certificate files and replaces its connection
// as the reload flags set. It prints a line for the first round, for every round
// whose server or client certificate differs from the round before, and
// for every failure, then a summary. SIGINT or SIGTERM ends it early with
// the summary. It fails if any round failed.
func runRepeat(c *callFlags, opts repeatOptions, stdout, stderr io.Writer) error {
	log, err := newLogger(stderr, "text")
	if err != nil {
		return err
	}
	ks, ts, err := c.m.load(false)
	if err != nil {
		return err
	}
	tlsOpts := pki.TLSOptions{AllowTLS12: c.m.tls12}
	static, err := pki.ClientTLSConfig(ks, ts, c.serverName, tlsOpts)
	if err != nil {
		return err
	}
	config := func() *tls.Config { return static }
	watcher, stopReload := opts.reload.start(&c.m, reload.Options{Role: pki.RoleClient, ServerName: c.serverName, TLS: tlsOpts}, log)
	defer stopReload()
	if watcher != nil {
		config = watcher.ClientTLSConfig
	}
	cl, err := client.DialReloading(c.addr, config, opts.reload.rotation())
	if err != nil {
		return err
	}
	defer cl.Close()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	fmt.Fprintf(stdout, "Calling %s %d times, every %s.\n", c.addr, opts.count, opts.interval)

	rounds, failed := 0, 0
	var last roundSerials
	for rounds < opts.count && ctx.Err() == nil {
		if rounds > 0 {
			select {
			case <-ctx.Done():
				continue
			case <-time.After(opts.interval):
			}
		}
		seen, err := callRound(ctx, cl, c.timeout, opts.echoes, opts.stream)
		if err != nil && ctx.Err() != nil {
			// Interrupted by a signal: the round did not fail.
			break
		}
		rounds++
		switch {
		case err != nil:
			failed++
			d := pki.Diagnose(err, pki.RoleClient)
			fmt.Fprintf(stdout, "call %d FAILED: %s (reason %s: %s)\n", rounds, rawMessage(err), d.Reason, d.Summary)
		case rounds == 1 || seen != last:
			fmt.Fprintf(stdout, "call %d ok: server serial %s (issuer %s), client serial %s (issuer %s)\n",
				rounds, seen.server, seen.serverIssuer, seen.client, seen.clientIssuer)
			last = seen
		}
	}
	fmt.Fprintf(stdout, "Done: %d calls, %d failed.\n", rounds, failed)
	if failed > 0 {
		return exitError{code: 1}
	}
	return nil
}

// callRound makes one WhoAmI call, then the Echo and stream calls asked
// for, within timeout, and returns the certificates WhoAmI showed.
func callRound(ctx context.Context, cl *client.Client, timeout time.Duration, echoes int, stream bool) (roundSerials, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	res, err := cl.WhoAmI(ctx)
	if err != nil {
		return roundSerials{}, err
	}
	for i := 1; i <= echoes; i++ {
		if _, err := cl.Echo(ctx, fmt.Sprintf("hello %d", i)); err != nil {
			return roundSerials{}, err
		}
	}
	if stream {
		if _, err := cl.Stream(ctx, []string{"one", "two", "three"}); err != nil {
			return roundSerials{}, err
		}
	}
	return roundSerials{
		server: res.Server.Identity.Serial, serverIssuer: res.Server.Identity.Issuer,
		client: res.Response.GetClient().GetSerial(), clientIssuer: res.Response.GetClient().GetIssuer(),
	}, nil
}
