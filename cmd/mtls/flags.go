package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/grpc-mtls/grpc-mtls/pki"
)

// newFlagSet returns a flag set that reports errors instead of exiting.
func newFlagSet(name string, stderr io.Writer, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: mtls %s\n\nFlags (each also read from the environment variable shown):\n", synopsis)
		fs.VisitAll(func(f *flag.Flag) {
			fmt.Fprintf(stderr, "  --%s  (%s)\n    \t%s", f.Name, envName(f.Name), f.Usage)
			if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0s" {
				fmt.Fprintf(stderr, " (default %s)", f.DefValue)
			}
			fmt.Fprintln(stderr)
		})
	}
	return fs
}

// envName returns the environment variable twin of a flag: --server-name
// becomes MTLS_SERVER_NAME.
func envName(flagName string) string {
	return "MTLS_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// parseFlags parses args, then fills every flag not given on the command
// line from its environment variable.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if err != nil || given[f.Name] {
			return
		}
		if v, ok := os.LookupEnv(envName(f.Name)); ok && v != "" {
			if serr := fs.Set(f.Name, v); serr != nil {
				err = fmt.Errorf("environment variable %s=%q for --%s: %w", envName(f.Name), v, f.Name, serr)
			}
		}
	})
	return err
}

// listFlag collects a comma-separated or repeated flag.
type listFlag struct {
	values []string
	set    bool
}

func (l *listFlag) String() string { return strings.Join(l.values, ",") }

func (l *listFlag) Set(s string) error {
	if !l.set {
		l.values, l.set = nil, true
	}
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			l.values = append(l.values, v)
		}
	}
	return nil
}

// durationFlag is a time.Duration that also accepts whole days ("90d").
type durationFlag struct{ d time.Duration }

func (f *durationFlag) String() string {
	if f.d != 0 && f.d%(24*time.Hour) == 0 {
		return strconv.Itoa(int(f.d/(24*time.Hour))) + "d"
	}
	return f.d.String()
}

func (f *durationFlag) Set(s string) error {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n <= 0 {
			return fmt.Errorf("invalid duration %q: use a positive number of days such as 90d, or a Go duration such as 2160h", s)
		}
		f.d = time.Duration(n) * 24 * time.Hour
		return nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return fmt.Errorf("invalid duration %q: use a positive number of days such as 90d, or a Go duration such as 2160h", s)
	}
	f.d = d
	return nil
}

func parseIPs(flagName string, values []string) ([]net.IP, error) {
	ips := make([]net.IP, 0, len(values))
	for _, v := range values {
		ip := net.ParseIP(v)
		if ip == nil {
			return nil, fmt.Errorf("--%s %q: not an IP address", flagName, v)
		}
		ips = append(ips, ip)
	}
	return ips, nil
}

// materialFlags are the keystore and truststore flags shared by serve,
// call and health.
type materialFlags struct {
	cert, key, keyPassphraseFile string
	ca                           string
	keystore, truststore         string
	passwordFile                 string
	tls12                        bool
}

func (m *materialFlags) register(fs *flag.FlagSet, role string) {
	fs.StringVar(&m.cert, "cert", "", "PEM file with this "+role+"'s certificate (and intermediates)")
	fs.StringVar(&m.key, "key", "", "PEM file with this "+role+"'s private key")
	fs.StringVar(&m.keyPassphraseFile, "key-passphrase-file", "", "file holding the passphrase of an encrypted --key")
	fs.StringVar(&m.ca, "ca", "", "PEM file with the CA certificates to trust (the truststore)")
	fs.StringVar(&m.keystore, "keystore", "", "PKCS#12 keystore with this "+role+"'s certificate, chain and key (instead of --cert/--key)")
	fs.StringVar(&m.truststore, "truststore", "", "PKCS#12 truststore with the CA certificates to trust (instead of --ca)")
	fs.StringVar(&m.passwordFile, "password-file", "", "file holding the password of --keystore and --truststore")
	fs.BoolVar(&m.tls12, "tls12", false, "also accept TLS 1.2 (the default minimum is TLS 1.3)")
}

func (m *materialFlags) validate(requireKeystore bool) error {
	if (m.cert != "" || m.key != "") && m.keystore != "" {
		return fmt.Errorf("--cert/--key and --keystore both given: use one of them")
	}
	if m.ca != "" && m.truststore != "" {
		return fmt.Errorf("--ca and --truststore both given: use one of them")
	}
	if (m.cert == "") != (m.key == "") {
		return fmt.Errorf("--cert and --key go together: give both, or --keystore")
	}
	if requireKeystore && m.cert == "" && m.keystore == "" {
		return fmt.Errorf("no certificate given: use --cert and --key, or --keystore with --password-file")
	}
	if m.ca == "" && m.truststore == "" {
		return fmt.Errorf("no truststore given: use --ca (PEM) or --truststore with --password-file")
	}
	if (m.keystore != "" || m.truststore != "") && m.passwordFile == "" {
		return fmt.Errorf("--keystore and --truststore need --password-file")
	}
	return nil
}

func (m *materialFlags) keystoreSource() (pki.KeystoreSource, bool) {
	if m.cert == "" && m.keystore == "" {
		return pki.KeystoreSource{}, false
	}
	if m.keystore != "" {
		return pki.KeystoreSource{PKCS12File: m.keystore, PasswordFile: m.passwordFile}, true
	}
	return pki.KeystoreSource{CertFile: m.cert, KeyFile: m.key, KeyPassphraseFile: m.keyPassphraseFile}, true
}

func (m *materialFlags) truststoreSource() pki.TruststoreSource {
	if m.truststore != "" {
		return pki.TruststoreSource{File: m.truststore, PasswordFile: m.passwordFile}
	}
	return pki.TruststoreSource{File: m.ca}
}

func (m *materialFlags) load(requireKeystore bool) (*pki.Keystore, *pki.Truststore, error) {
	if err := m.validate(requireKeystore); err != nil {
		return nil, nil, err
	}
	var ks *pki.Keystore
	if src, ok := m.keystoreSource(); ok {
		var err error
		if ks, err = pki.LoadKeystore(src); err != nil {
			return nil, nil, err
		}
	}
	ts, err := pki.LoadTruststore(m.truststoreSource())
	if err != nil {
		return nil, nil, err
	}
	return ks, ts, nil
}
