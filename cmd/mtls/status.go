package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/grpc-mtls/grpc-mtls/metrics"
)

// runStatus prints the status view of a running server, read from its
// metrics listener.
func runStatus(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("status", stderr, "status --metrics-addr HOST:PORT [flags]")
	addr := fs.String("metrics-addr", "127.0.0.1:9090", "address of the server's --metrics-listen")
	timeout := fs.Duration("timeout", 5*time.Second, "time limit for the request")
	asJSON := fs.Bool("json", false, "print the status as JSON, as the server sends it")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q: status takes only flags", fs.Arg(0))
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	body, err := fetchStatus(ctx, *addr)
	if err != nil {
		return err
	}

	if *asJSON {
		_, err := stdout.Write(body)
		return err
	}
	var st metrics.Status
	if err := json.Unmarshal(body, &st); err != nil {
		return fmt.Errorf("--metrics-addr %s: the reply is not a status document: %w", *addr, err)
	}
	printStatus(stdout, st)
	return nil
}

// fetchStatus returns the body of GET /status on the metrics listener at
// addr.
func fetchStatus(ctx context.Context, addr string) ([]byte, error) {
	url := "http://" + addr + "/status"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("--metrics-addr %s: %w", addr, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("get %s: %w: check that the server runs with --metrics-listen %s", url, err, addr)
	}
	defer resp.Body.Close()

	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("get %s: HTTP status %s: is --metrics-addr the metrics listener of an mtls server?", url, resp.Status)
	}
	return body, nil
}

func printStatus(w io.Writer, st metrics.Status) {
	if c := st.Certificate; c != nil {
		fmt.Fprintln(w, "Active certificate:")
		fmt.Fprintf(w, "  subject:     %s\n", c.Subject)
		fmt.Fprintf(w, "  SANs:        %s\n", strings.Join(c.SANs, ", "))
		fmt.Fprintf(w, "  serial:      %s\n", c.Serial)
		fmt.Fprintf(w, "  not after:   %s\n", c.NotAfter.Format(time.RFC3339))
		fmt.Fprintf(w, "  SHA-256:     %s\n", c.SHA256)
	}
	fmt.Fprintf(w, "Trusted CAs (%d):\n", len(st.TrustedCAs))
	for _, ca := range st.TrustedCAs {
		fmt.Fprintf(w, "  %s  SHA-256 %s  not after %s\n", ca.Subject, ca.SHA256, ca.NotAfter.Format(time.RFC3339))
	}
	fmt.Fprintf(w, "Loaded at: %s\n", st.LoadedAt.Format(time.RFC3339))
	switch r := st.LastReload; {
	case r == nil:
		fmt.Fprintln(w, "Last reload: none")
	case r.Error != "":
		fmt.Fprintf(w, "Last reload: %s at %s: %s\n", r.Result, r.Time.Format(time.RFC3339), r.Error)
	default:
		fmt.Fprintf(w, "Last reload: %s at %s\n", r.Result, r.Time.Format(time.RFC3339))
	}
}
