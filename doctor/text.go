package doctor

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// WriteText writes the report for people: the certificates checked, each
// finding with its fix, the connection and a one-line summary.
func (r *Report) WriteText(w io.Writer) {
	fmt.Fprintf(w, "Checked the %s's certificates:\n", r.Role)
	for _, c := range r.Certificates {
		fmt.Fprintf(w, "  %-10s %s  serial %s  %s  valid %s to %s\n", c.Source, c.Subject, c.Serial, c.Key,
			c.NotBefore.Format(time.DateOnly), c.NotAfter.Format(time.DateOnly))
	}
	if c := r.Connection; c != nil {
		r.writeConnection(w, c)
	}
	if len(r.Findings) == 0 {
		fmt.Fprintln(w, "\nNo findings.")
	} else {
		fmt.Fprintln(w, "\nFindings:")
	}
	for _, f := range r.Findings {
		fmt.Fprintf(w, "  %-7s %s", strings.ToUpper(string(f.Severity)), f.Check)
		if f.Certificate != "" {
			fmt.Fprintf(w, "  [%s]", f.Certificate)
		}
		fmt.Fprintf(w, "\n          %s\n", f.Problem)
		if f.Fix != "" {
			fmt.Fprintf(w, "          fix: %s\n", f.Fix)
		}
	}
	fmt.Fprintf(w, "\n%s, %s, %s.\n", plural(r.count(SeverityError), "error"), plural(r.count(SeverityWarning), "warning"), plural(r.count(SeverityInfo), "note"))
}

func (r *Report) writeConnection(w io.Writer, c *Connection) {
	fmt.Fprintf(w, "\nConnection to %s:\n", c.Addr)
	if c.TLSVersion != "" {
		fmt.Fprintf(w, "  negotiated:      %s, ALPN %q\n", c.TLSVersion, c.ALPN)
	}
	for i, p := range c.Presented {
		label := "server presented:"
		if i > 0 {
			label = "  then:"
		}
		fmt.Fprintf(w, "  %-16s %s  serial %s  issued by %s  SANs %s\n", label, p.Subject, p.Serial, p.Issuer, listOrNone(p.SANs))
	}
	if c.CertificateRequested {
		fmt.Fprintf(w, "  client CAs:      %s\n", listOrNone(c.AcceptableCAs))
	} else if c.TLSVersion != "" {
		fmt.Fprintln(w, "  client CAs:      the server did not request a client certificate")
	}
	if c.Accepted != nil {
		verdict := "rejected"
		if *c.Accepted {
			verdict = "accepted (health " + c.Health + ")"
		}
		fmt.Fprintf(w, "  our certificate: %s\n", verdict)
	}
	if c.TLS12 != nil {
		fmt.Fprintf(w, "  TLS 1.2 clients: %s\n", map[bool]string{true: "accepted", false: "rejected"}[*c.TLS12])
	}
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
