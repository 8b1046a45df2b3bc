package main

import (
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/grpc-mtls/grpc-mtls/pki"
)

// printKeptResult describes a PKI that --keep-existing kept, and warns
// about what the kept set no longer matches: an expired certificate, or
// server names that differ from --server-dns and --server-ip.
func printKeptResult(w io.Writer, dir string, res *pki.InitResult, opts pki.InitOptions) {
	fmt.Fprintf(w, "Kept the existing PKI in %s (nothing written):\n", dir)
	fmt.Fprintf(w, "  CA      %s  serial %s  SHA-256 %s  valid until %s\n", res.CA.Subject, res.CA.Serial, res.CA.Fingerprint, res.CA.NotAfter.Format(time.DateOnly))
	fmt.Fprintf(w, "  server  %s  SANs %s  valid until %s\n", res.Server.Subject, strings.Join(res.Server.SANs(), ", "), res.Server.NotAfter.Format(time.DateOnly))
	fmt.Fprintf(w, "  client  %s  SANs %s  valid until %s\n", res.Client.Subject, strings.Join(res.Client.SANs(), ", "), res.Client.NotAfter.Format(time.DateOnly))
	if res.Guest.Certificate != nil {
		fmt.Fprintf(w, "  guest   %s  SANs %s  valid until %s\n", res.Guest.Subject, strings.Join(res.Guest.SANs(), ", "), res.Guest.NotAfter.Format(time.DateOnly))
	}

	now := time.Now()
	for _, c := range []struct {
		file string
		id   pki.Identity
	}{{pki.FileCACert, res.CA}, {pki.FileServerCert, res.Server}, {pki.FileClientCert, res.Client}} {
		if now.After(c.id.NotAfter) {
			fmt.Fprintf(w, "Warning: %s expired on %s: replace the PKI with --force instead of --keep-existing.\n", c.file, c.id.NotAfter.Format(time.RFC3339))
		}
	}
	if requested := serverNames(opts.ServerDNS, opts.ServerIPs); !slices.Equal(requested, serverNames(res.Server.DNSNames, res.Server.IPAddresses)) {
		fmt.Fprintf(w, "Warning: the kept %s has SANs %s, not the requested %s: replace the PKI with --force to reissue it.\n",
			pki.FileServerCert, strings.Join(res.Server.SANs(), ", "), strings.Join(requested, ", "))
	}
}

// serverNames returns DNS names and IP addresses as one sorted list, so
// that two sets of SANs compare equal whatever their order.
func serverNames(dns []string, ips []net.IP) []string {
	names := append([]string(nil), dns...)
	for _, ip := range ips {
		names = append(names, ip.String())
	}
	slices.Sort(names)
	return names
}
