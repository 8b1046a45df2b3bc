// Command mtls bootstraps a small PKI and runs a gRPC server and client
// that authenticate each other with mutual TLS.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
)

const usage = `mtls: mutual TLS between a gRPC server and client, end to end.

Usage:
  mtls pki init --dir DIR [flags]   create a CA, server and client certificates
  mtls pki issue --role R --name N --out PREFIX
                                    issue another certificate from an existing CA
  mtls pki inspect FILE...          describe certificates, keys and PKCS#12 files
  mtls pki new-ca --dir DIR         start a new CA beside the old one, for a CA rotation
  mtls pki truststore --out FILE CA.crt...
                                    combine CA certificates into one truststore
  mtls pki revoke --ca-dir DIR (--serial HEX | --cert FILE)
                                    revoke a certificate and publish the CA's CRL
  mtls pki crl --ca-dir DIR         publish a fresh CRL before the old one goes stale
  mtls serve [flags]                run the mTLS gRPC server
  mtls call [flags]                 call the server and show both identities
  mtls call --repeat N [flags]      keep calling while certificates rotate
  mtls health [flags]               exit 0 only if the server reports SERVING
  mtls doctor --role R [flags]      check a keystore and truststore, and optionally a server
  mtls lab list|run|write           reproduce the common ways mutual TLS breaks
  mtls status [flags]               show a server's certificate and reload status

Run 'mtls COMMAND -h' for a command's flags. Every flag also reads an
environment variable: --listen from MTLS_LISTEN, --cert from MTLS_CERT,
and so on. Flags given on the command line win.
`

// exitError carries a process exit code through the command functions.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, usage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	var err error
	switch args[0] {
	case "pki":
		err = runPKI(args[1:], stdout, stderr)
	case "serve":
		err = runServe(args[1:], stdout, stderr)
	case "call":
		err = runCall(args[1:], stdout, stderr)
	case "health":
		err = runHealth(args[1:], stdout, stderr)
	case "doctor":
		err = runDoctor(args[1:], stdout, stderr)
	case "lab":
		err = runLab(args[1:], stdout, stderr)
	case "status":
		err = runStatus(args[1:], stdout, stderr)
	default:
		fmt.Fprintf(stderr, "mtls: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	var exit exitError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &exit):
		return exit.code
	}
	// Errors from 'pki init' and friends already start with "pki init:".
	msg := err.Error()
	if !strings.HasPrefix(msg, args[0]+" ") {
		msg = args[0] + ": " + msg
	}
	fmt.Fprintf(stderr, "mtls %s\n", msg)
	return 1
}

// newLogger returns the structured logger for long-running commands.
func newLogger(w io.Writer, format string) (*slog.Logger, error) {
	switch strings.ToLower(format) {
	case "", "text":
		return slog.New(slog.NewTextHandler(w, nil)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, nil)), nil
	}
	return nil, fmt.Errorf("--log-format %q: use text or json", format)
}
