package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/grpc-mtls/grpc-mtls/doctor"
	"github.com/grpc-mtls/grpc-mtls/pki"
)

func runDoctor(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("doctor", stderr, "doctor --role server|client [flags]")
	var m materialFlags
	m.register(fs, "checked side")
	role := fs.String("role", "", "side the keystore belongs to: server or client (required)")
	names := &listFlag{}
	fs.Var(names, "name", "name the side is reached at (DNS name or IP address), or for a client the identity (URI) the server expects; comma-separated or repeated")
	within := &durationFlag{30 * 24 * 60 * 60 * 1e9}
	fs.Var(within, "within", "warn about certificates that expire within this period, in days (30d) or a Go duration")
	peerCA := fs.String("peer-ca", "", "PEM file with the CAs the peer trusts, if they differ from --ca (default: --ca or --truststore)")
	addr := fs.String("addr", "", "also connect to this server (host:port), as the client")
	serverName := fs.String("server-name", "", "name the server's certificate must contain with --addr (default: the host in --addr)")
	timeout := fs.Duration("timeout", 10e9, "time limit for the connection checks")
	noLint := fs.Bool("no-lint", false, "skip the zlint checks")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}

	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q: doctor takes only flags", fs.Arg(0))
	}
	if *role != string(pki.RoleServer) && *role != string(pki.RoleClient) {
		return fmt.Errorf("--role %q: use server or client", *role)
	}
	if *addr != "" && *role != string(pki.RoleClient) {
		return fmt.Errorf("--addr connects as the client: use it with --role client and the client's files")
	}
	if (m.keystore != "" || m.truststore != "") && m.passwordFile == "" {
		return fmt.Errorf("--keystore and --truststore need --password-file")
	}

	ks, _ := m.keystoreSource()
	opts := doctor.Options{
		Role: pki.Role(*role), Keystore: ks, Truststore: m.truststoreSource(), Names: names.values,
		Within: within.d, NoLint: *noLint, Addr: *addr, ServerName: *serverName, Timeout: *timeout,
	}
	if *peerCA != "" {
		opts.PeerTruststore = pki.TruststoreSource{File: *peerCA}
	}

	report := doctor.Check(context.Background(), opts)
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(report); err != nil {
			return fmt.Errorf("encode report: %w", err)
		}
	} else {
		report.WriteText(stdout)
	}
	if report.HasErrors() {
		return exitError{code: 1}
	}
	return nil
}
