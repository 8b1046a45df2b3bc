package lab

import (
	"bytes"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/grpc-mtls/grpc-mtls/pki"
)

var (
	portRe   = regexp.MustCompile(`\b(127\.0\.0\.1|localhost|\[::1\]):\d+\b`)
	serialRe = regexp.MustCompile(`serial [0-9a-f]{6,}`)
	timeRe   = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)`)
)

// Normalize replaces the parts of a message that change from run to run
// with placeholders: dir (the scenario's directory) with $DIR, ports with
// PORT, serial numbers with SERIAL and RFC 3339 times with TIME.
func Normalize(s, dir string) string {
	if dir != "" {
		s = strings.ReplaceAll(s, dir, "$DIR")
	}
	s = portRe.ReplaceAllString(s, "$1:PORT")
	s = serialRe.ReplaceAllString(s, "serial SERIAL")
	return timeRe.ReplaceAllString(s, "TIME")
}

// WriteEntry writes obs as one entry of the troubleshooting guide, in
// Markdown: the cause, what each side showed with its diagnosis, and how
// to reproduce it. Messages are normalised (see Normalize) unless raw is
// set, which only replaces the scenario's directory with $DIR.
func WriteEntry(w io.Writer, obs *Observation, raw bool) {
	sc := obs.Scenario
	norm := func(s string) string {
		if raw {
			return strings.ReplaceAll(s, sc.Dir, "$DIR")
		}
		return Normalize(s, sc.Dir)
	}
	k := sc.Kind
	fmt.Fprintf(w, "<a id=\"%s\"></a>\n### %s\n\n", k.Name, k.Title)
	fmt.Fprintf(w, "Kind `%s`. %s\n\n", k.Name, k.Cause)
	switch {
	case obs.Load != nil:
		writeFailure(w, norm, fmt.Sprintf("The %s cannot load its files", obs.Load.Side), obs.Load)
	case obs.Succeeded():
		fmt.Fprintf(w, "**Result:** the call succeeds; the server verified the client as `%s`.\n\n", obs.Caller)
	default:
		writeFailure(w, norm, "The client's first call fails", obs.Client)
		if obs.Server != nil {
			writeFailure(w, norm, "The server reports", obs.Server)
		} else {
			fmt.Fprint(w, "**The server reports** nothing.\n\n")
		}
	}
	fmt.Fprintf(w, "**Reproduce:** `mtls lab run %s`", k.Name)
	if cmds := sc.Commands("$DIR"); cmds != nil {
		fmt.Fprintf(w, ", or with the CLI:\n\n```sh\nmtls lab write %s --dir \"$DIR\"\n%s\n```\n\n", k.Name, strings.Join(cmds, "\n"))
	} else {
		fmt.Fprint(w, " (this kind needs a client or server that the mtls CLI does not provide).\n\n")
	}
}

func writeFailure(w io.Writer, norm func(string) string, heading string, f *Failure) {
	d := f.Diagnosis
	fmt.Fprintf(w, "**%s:**\n\n```text\n%s\n```\n\n", heading, norm(f.Message()))
	fmt.Fprintf(w, "Diagnosis `%s`%s: %s", d.Reason, blame(d), norm(d.Summary))
	if d.Certificate != nil {
		fmt.Fprintf(w, " Certificate: %s.", norm(d.Certificate.String()))
	}
	fmt.Fprintf(w, "\nFix: %s\n\n", norm(d.Fix))
}

func blame(d pki.Diagnosis) string {
	if d.Side == "" {
		return ""
	}
	return " (on the " + d.Side + ")"
}

// Guide returns the troubleshooting guide for observations, keyed by
// kind name, in the catalogue's order.
func Guide(observations map[string]*Observation) []byte {
	var b bytes.Buffer
	b.WriteString(guideIntro)
	for _, cat := range Categories {
		fmt.Fprintf(&b, "- %s:", cat)
		sep := " "
		for _, k := range catalogue {
			if k.Category == cat {
				fmt.Fprintf(&b, "%s[%s](#%s)", sep, k.Name, k.Name)
				sep = ", "
			}
		}
		b.WriteString("\n")
	}
	for _, cat := range Categories {
		fmt.Fprintf(&b, "\n## %s\n\n", strings.ToUpper(cat[:1])+cat[1:])
		for _, k := range catalogue {
			if obs, ok := observations[k.Name]; ok && k.Category == cat {
				WriteEntry(&b, obs, false)
			}
		}
	}
	return bytes.TrimRight(b.Bytes(), "\n")
}

const guideIntro = `# Troubleshooting mutual TLS

Each entry below is one way mutual TLS breaks, reproduced by the lab
(package lab, command 'mtls lab') with a real gRPC server and client on
127.0.0.1. It shows the exact message each side printed, the
plain-language diagnosis that pki.Diagnose gives for it, and the commands
that reproduce it. The lab's tests generate this file and fail when it no
longer matches what the two sides show; regenerate it with
'go test ./lab -run TestTroubleshootingGuide -update'. Directories, ports,
serial numbers and times are replaced by $DIR, PORT, SERIAL and TIME.

How to read an entry: "the client's first call" is the error of the
first RPC, where grpc-go reports connection failures, since it connects
lazily. "The server reports" is the error the server's handshake-failure
hook received ('mtls serve' logs it as "rejected handshake"). With TLS
1.3 the client finishes its part of the handshake before the server has
checked the client's certificate, so a server's rejection reaches the
client only at its first call, as "server closed the connection after
the TLS handshake: remote error: tls: ...".

To check your own files, run 'mtls doctor' (see the README). To see one
kind live, run 'mtls lab run KIND'; 'mtls lab write KIND --dir DIR'
writes its files and prints the serve and call commands.

`
