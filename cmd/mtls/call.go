package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/grpc-mtls/grpc-mtls/client"
	"github.com/grpc-mtls/grpc-mtls/pki"
	mtlsv1 "github.com/grpc-mtls/grpc-mtls/proto/mtls/v1"
)

type callFlags struct {
	m          materialFlags
	addr       string
	serverName string
	timeout    time.Duration
	// expectServer lists the identities the server's certificate must
	// carry (--expect-server).
	expectServer listFlag
	// material is the keystore and truststore that dial loaded, for the
	// diagnosis of a failure.
	material pki.Material
}

func (c *callFlags) register(fs *flag.FlagSet) {
	c.m.register(fs, "client")
	fs.StringVar(&c.addr, "addr", "localhost:8443", "server address, host:port")
	fs.StringVar(&c.serverName, "server-name", "", "name the server's certificate must contain (default: the host in --addr)")
	fs.DurationVar(&c.timeout, "timeout", 10*time.Second, "time limit for the whole command")
	fs.Var(&c.expectServer, "expect-server", "accept only a server whose certificate has one of these URI SANs (SPIFFE IDs), or DNS SANs if it has no URI SAN; comma-separated or repeated")
}

// dial loads the client material and prepares the connection. A client
// without --cert/--key is allowed so that the rejection can be shown.
func (c *callFlags) dial(stderr io.Writer) (*client.Client, error) {
	if c.timeout <= 0 {
		return nil, fmt.Errorf("--timeout %s: use a positive duration such as 10s", c.timeout)
	}
	c.addr = withDefaultPort(c.addr)
	ks, ts, err := c.m.load(false)
	if err != nil {
		return nil, err
	}
	printLoosePermissions(stderr, c.m.privatePaths()...)
	if ks == nil {
		fmt.Fprintln(stderr, "Note: no client certificate given (--cert/--key or --keystore); an mTLS server will reject this client.")
	}
	cfg, err := pki.ClientTLSConfig(ks, ts, c.serverName, pki.TLSOptions{AllowTLS12: c.m.tls12})
	if err != nil {
		return nil, err
	}
	pki.RequirePeerID(cfg, c.expectServer.values...)
	c.material = pki.Material{Keystore: ks, Truststore: ts, ServerName: c.serverName}
	return client.Dial(c.addr, cfg)
}

func runCall(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("call", stderr, "call [flags]")
	var c callFlags
	c.register(fs)
	echoes := fs.Int("echo", 0, "number of Echo calls to make after WhoAmI")
	stream := fs.Bool("stream", false, "also send three messages over the EchoStream call")
	expectFailure := fs.String("expect-failure", "", "expect the call to fail with this reason code (or \"any\"): exit 0 if it does, 1 if it succeeds")
	repeat := repeatOptions{}
	fs.IntVar(&repeat.count, "repeat", 1, "make this many rounds of calls over one connection that follows certificate rotation, printing a line when a certificate changes; --timeout then applies to each round")
	fs.DurationVar(&repeat.interval, "interval", time.Second, "pause between rounds with --repeat")
	repeat.reload.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q: call takes only flags", fs.Arg(0))
	}
	if err := validateExpectedReason(*expectFailure); err != nil {
		return err
	}
	if *echoes < 0 {
		return fmt.Errorf("--echo %d: use zero or a positive number of calls", *echoes)
	}
	if repeat.count != 1 {
		if err := repeat.validate(*expectFailure); err != nil {
			return err
		}
		repeat.echoes, repeat.stream = *echoes, *stream
		return runRepeat(&c, repeat, stdout, stderr)
	}
	cl, err := c.dial(stderr)
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()

	err = callAll(ctx, cl, c.addr, *echoes, *stream, stdout)
	if *expectFailure != "" {
		return checkExpectedFailure(err, *expectFailure, c.material, stdout, stderr)
	}
	if err != nil {
		printFailure(stderr, c.addr, err, c.material)
		return exitError{code: 1}
	}
	return nil
}

func callAll(ctx context.Context, cl *client.Client, addr string, echoes int, stream bool, stdout io.Writer) error {
	res, err := cl.WhoAmI(ctx)
	if err != nil {
		return err
	}
	printWhoAmI(stdout, addr, res)
	for i := 1; i <= echoes; i++ {
		msg := fmt.Sprintf("hello %d", i)
		reply, err := cl.Echo(ctx, msg)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Echo %d: sent %q, server replied %q to caller %s\n", i, msg, reply.GetMessage(), reply.GetCaller())
	}
	if stream {
		replies, err := cl.Stream(ctx, []string{"one", "two", "three"})
		if err != nil {
			return err
		}
		for _, r := range replies {
			fmt.Fprintf(stdout, "Stream reply #%d: %q to caller %s\n", r.GetSequence(), r.GetMessage(), r.GetCaller())
		}
	}
	return nil
}

func printWhoAmI(w io.Writer, addr string, res *client.WhoAmIResult) {
	conn := res.Server.Connection
	fmt.Fprintf(w, "Connected to %s over %s (%s, ALPN %s, resumed: %t)\n\n", addr, conn.Version, conn.CipherSuite, conn.ALPN, conn.Resumed)
	fmt.Fprintln(w, "The server, as this client verified it:")
	printIdentity(w, res.Server.Identity)
	fmt.Fprintln(w, "\nThis client, as the server verified it:")
	if res.Response.GetAnonymous() {
		fmt.Fprintln(w, "  anonymous:   no client certificate; the server admitted the call in migration mode")
	} else {
		printCertificate(w, res.Response.GetClient())
	}
	fmt.Fprintf(w, "  seen from:   %s\n", res.Response.GetConnection().GetPeerAddress())
	if a := res.Response.GetAuthorization(); a != nil {
		fmt.Fprintf(w, "  allowed as:  %s\n", a.GetPrincipal())
		fmt.Fprintf(w, "  by rule:     %s\n", a.GetRule())
	}
	fmt.Fprintln(w)
}

func printIdentity(w io.Writer, id pki.Identity) {
	fmt.Fprintf(w, "  subject:     %s\n", id.Subject)
	fmt.Fprintf(w, "  SANs:        %s\n", strings.Join(id.SANs(), ", "))
	fmt.Fprintf(w, "  serial:      %s\n", id.Serial)
	fmt.Fprintf(w, "  issuer:      %s\n", id.Issuer)
	fmt.Fprintf(w, "  not after:   %s\n", id.NotAfter.Format(time.RFC3339))
}

func printCertificate(w io.Writer, c *mtlsv1.Certificate) {
	sans := append(append(append([]string(nil), c.GetDnsNames()...), c.GetIpAddresses()...), c.GetUris()...)
	fmt.Fprintf(w, "  subject:     %s\n", c.GetSubject())
	fmt.Fprintf(w, "  SANs:        %s\n", strings.Join(sans, ", "))
	fmt.Fprintf(w, "  serial:      %s\n", c.GetSerial())
	fmt.Fprintf(w, "  issuer:      %s\n", c.GetIssuer())
	fmt.Fprintf(w, "  not after:   %s\n", c.GetNotAfter().AsTime().Format(time.RFC3339))
}

// printFailure prints the raw error and, next to it, the plain-language
// diagnosis.
func printFailure(w io.Writer, addr string, err error, m pki.Material) {
	d := pki.DiagnoseWith(err, pki.RoleClient, m)
	fmt.Fprintf(w, "Call to %s failed.\n", addr)
	fmt.Fprintf(w, "  raw error:    %s\n", rawMessage(err))
	fmt.Fprintf(w, "  likely cause: %s\n", d.Summary)
	if d.Side != "" {
		fmt.Fprintf(w, "  failed on:    the %s\n", d.Side)
	}
	if d.Certificate != nil {
		fmt.Fprintf(w, "  certificate:  %s\n", d.Certificate)
	}
	if d.Fix != "" {
		fmt.Fprintf(w, "  what to do:   %s\n", d.Fix)
	}
	fmt.Fprintf(w, "  reason code:  %s\n", d.Reason)
}

func rawMessage(err error) string {
	if s, ok := status.FromError(err); ok {
		return fmt.Sprintf("rpc error: code = %s desc = %s", s.Code(), s.Message())
	}
	return err.Error()
}

func checkExpectedFailure(err error, expected string, m pki.Material, stdout, stderr io.Writer) error {
	if err == nil {
		fmt.Fprintf(stderr, "UNEXPECTED: the call succeeded, but it should have been rejected (expected reason %s).\n", expected)
		return exitError{code: 1}
	}
	d := pki.DiagnoseWith(err, pki.RoleClient, m)
	if expected != "any" && string(d.Reason) != expected {
		fmt.Fprintf(stderr, "UNEXPECTED: the call was rejected, but for reason %s instead of %s.\n", d.Reason, expected)
		printFailure(stderr, "the server", err, m)
		return exitError{code: 1}
	}
	fmt.Fprintf(stdout, "Rejected as expected (reason %s).\n", d.Reason)
	fmt.Fprintf(stdout, "  raw error:    %s\n", rawMessage(err))
	fmt.Fprintf(stdout, "  likely cause: %s\n", d.Summary)
	return nil
}

func runHealth(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("health", stderr, "health [flags]")
	var c callFlags
	c.register(fs)
	service := fs.String("service", "", "service name to check (default: the whole server)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cl, err := c.dial(stderr)
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	st, err := cl.Health(ctx, *service)
	if err != nil {
		printFailure(stderr, c.addr, err, c.material)
		return exitError{code: 1}
	}
	fmt.Fprintln(stdout, st.String())
	if st != healthpb.HealthCheckResponse_SERVING {
		return exitError{code: 1}
	}
	return nil
}

// withDefaultPort adds the server's default port 8443 to an address given
// without one, where gRPC would otherwise dial port 443.
func withDefaultPort(addr string) string {
	if _, _, err := net.SplitHostPort(addr); err == nil || strings.Contains(addr, "://") {
		return addr
	}
	if strings.Count(addr, ":") > 1 && !strings.HasPrefix(addr, "[") {
		// A bare IPv6 address such as ::1.
		return net.JoinHostPort(addr, "8443")
	}
	return net.JoinHostPort(strings.Trim(addr, "[]"), "8443")
}

// validateExpectedReason rejects a --expect-failure value that is not a
// reason code, before any call is made.
func validateExpectedReason(reason string) error {
	if reason == "" || reason == "any" {
		return nil
	}
	names := make([]string, 0, len(pki.Reasons))
	for _, r := range pki.Reasons {
		if string(r) == reason {
			return nil
		}
		names = append(names, string(r))
	}
	return fmt.Errorf("--expect-failure %q is not a reason code: use \"any\" or one of %s", reason, strings.Join(names, ", "))
}
