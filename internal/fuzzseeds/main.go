// Command fuzzseeds writes the seed corpus of the fuzz targets in package
// pki: real certificates, keys and PKCS#12 files of every supported kind,
// the ways they are commonly broken, and the error texts that pki.Diagnose
// explains. The fuzzer mutates these, so seeds that parse reach deeper code
// than random bytes would.
//
//	go run ./internal/fuzzseeds -dir pki/testdata/fuzz
package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"flag"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/youmark/pkcs8"

	"github.com/grpc-mtls/grpc-mtls/pki"
)

func main() {
	dir := flag.String("dir", "pki/testdata/fuzz", "directory that receives one folder per fuzz target")
	flag.Parse()
	if err := run(*dir); err != nil {
		fmt.Fprintln(os.Stderr, "fuzzseeds:", err)
		os.Exit(1)
	}
}

// corpus collects the seeds of one fuzz target.
type corpus struct {
	target string
	seeds  map[string][]any
}

func (c *corpus) add(name string, values ...any) { c.seeds[name] = values }

func (c *corpus) write(dir string) error {
	targetDir := filepath.Join(dir, c.target)
	if err := os.MkdirAll(targetDir, 0o755); err != nil {
		return err
	}
	for name, values := range c.seeds {
		var b strings.Builder
		b.WriteString("go test fuzz v1\n")
		for _, v := range values {
			switch v := v.(type) {
			case []byte:
				fmt.Fprintf(&b, "[]byte(%q)\n", v)
			case string:
				fmt.Fprintf(&b, "string(%q)\n", v)
			case bool:
				fmt.Fprintf(&b, "bool(%t)\n", v)
			default:
				return fmt.Errorf("seed %s/%s: unsupported type %T", c.target, name, v)
			}
		}
		if err := os.WriteFile(filepath.Join(targetDir, name), []byte(b.String()), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func newCorpus(target string) *corpus { return &corpus{target: target, seeds: map[string][]any{}} }

func run(dir string) error {
	ca, err := pki.NewCA(pki.CAOptions{CommonName: "fuzz CA"})
	if err != nil {
		return err
	}
	server, err := ca.Issue(pki.LeafRequest{Role: pki.RoleServer, CommonName: "localhost", DNSNames: []string{"localhost"}})
	if err != nil {
		return err
	}
	spiffe, _ := url.Parse("spiffe://fuzz.local/client")
	rsaClient, err := ca.Issue(pki.LeafRequest{Role: pki.RoleClient, CommonName: "client", URIs: []*url.URL{spiffe}, KeyType: pki.KeyRSA2048})
	if err != nil {
		return err
	}
	edClient, err := ca.Issue(pki.LeafRequest{Role: pki.RoleClient, CommonName: "ed", URIs: []*url.URL{spiffe}, KeyType: pki.KeyEd25519})
	if err != nil {
		return err
	}

	caPEM := pki.EncodeCertificatesPEM(ca.Cert)
	serverPEM := pki.EncodeCertificatesPEM(server.Cert)
	chainPEM := pki.EncodeCertificatesPEM(server.Cert, ca.Cert)
	serverKey, err := pki.MarshalPrivateKeyPEM(server.Key)
	if err != nil {
		return err
	}
	keys, err := keySeeds(server.Key, rsaClient.Key, edClient.Key)
	if err != nil {
		return err
	}

	certs := newCorpus("FuzzParseCertificatesPEM")
	certs.add("ca", caPEM)
	certs.add("chain", chainPEM)
	certs.add("rsa-leaf", pki.EncodeCertificatesPEM(rsaClient.Cert))
	certs.add("ed25519-leaf", pki.EncodeCertificatesPEM(edClient.Cert))
	certs.add("truncated", chainPEM[:len(chainPEM)/2])
	certs.add("key-instead", serverKey)
	certs.add("cert-and-key", append(append([]byte(nil), serverPEM...), serverKey...))
	certs.add("crlf", []byte(strings.ReplaceAll(string(caPEM), "\n", "\r\n")))
	certs.add("empty", []byte{})

	keyCorpus := newCorpus("FuzzParsePrivateKeyPEM")
	for name, data := range keys.plain {
		keyCorpus.add(name, data, []byte{})
	}
	keyCorpus.add("encrypted", keys.encrypted, []byte("fuzz-pass"))
	keyCorpus.add("encrypted-no-pass", keys.encrypted, []byte{})
	keyCorpus.add("encrypted-wrong-pass", keys.encrypted, []byte("wrong"))
	keyCorpus.add("legacy-encrypted", keys.legacy, []byte("fuzz-pass"))
	keyCorpus.add("two-keys", append(append([]byte(nil), keys.plain["pkcs8-ec"]...), keys.plain["pkcs1-rsa"]...), []byte{})
	keyCorpus.add("cert-then-key", append(append([]byte(nil), serverPEM...), serverKey...), []byte{})
	keyCorpus.add("cert-only", serverPEM, []byte{})

	password := []byte("fuzz-pass")
	ks := &pki.Keystore{Leaf: server.Cert, Key: server.Key}
	modern, err := pki.EncodeKeystore(ks, []*x509.Certificate{ca.Cert}, password, pki.P12Modern)
	if err != nil {
		return err
	}
	legacy, err := pki.EncodeKeystore(&pki.Keystore{Leaf: rsaClient.Cert, Key: rsaClient.Key}, []*x509.Certificate{ca.Cert}, password, pki.P12Legacy)
	if err != nil {
		return err
	}
	trustModern, err := pki.EncodeTruststore([]*x509.Certificate{ca.Cert}, password, pki.P12Modern)
	if err != nil {
		return err
	}
	trustLegacy, err := pki.EncodeTruststore([]*x509.Certificate{ca.Cert, server.Cert}, password, pki.P12Legacy)
	if err != nil {
		return err
	}

	keystores := newCorpus("FuzzDecodePKCS12Keystore")
	keystores.add("modern", modern, password)
	keystores.add("legacy-rsa", legacy, password)
	keystores.add("wrong-password", modern, []byte("wrong"))
	keystores.add("truststore", trustModern, password)
	keystores.add("truncated", modern[:len(modern)/2], password)

	truststores := newCorpus("FuzzDecodePKCS12Truststore")
	truststores.add("modern", trustModern, password)
	truststores.add("legacy-two", trustLegacy, password)
	truststores.add("wrong-password", trustModern, []byte("wrong"))
	truststores.add("keystore", modern, password)

	inspect := newCorpus("FuzzInspect")
	inspect.add("chain", chainPEM, []byte{})
	inspect.add("cert-and-key", append(append([]byte(nil), serverPEM...), serverKey...), []byte{})
	inspect.add("encrypted-key", keys.encrypted, []byte("fuzz-pass"))
	inspect.add("p12", modern, password)
	inspect.add("p12-truststore", trustModern, password)
	inspect.add("p12-no-password", modern, []byte{})

	diagnose := newCorpus("FuzzDiagnose")
	for i, msg := range errorTexts {
		diagnose.add(fmt.Sprintf("msg-%02d", i), msg, i%2 == 0)
	}

	for _, c := range []*corpus{certs, keyCorpus, keystores, truststores, inspect, diagnose} {
		if err := c.write(dir); err != nil {
			return err
		}
	}
	return nil
}

type keySet struct {
	plain     map[string][]byte
	encrypted []byte
	legacy    []byte
}

// keySeeds encodes keys in every PEM form ParsePrivateKeyPEM reads. The
// encrypted key uses 1,000 PBKDF2 rounds so that each fuzz run stays fast.
func keySeeds(ec, rsaKey, ed crypto.Signer) (keySet, error) {
	set := keySet{plain: map[string][]byte{}}
	for name, key := range map[string]crypto.Signer{"pkcs8-ec": ec, "pkcs8-rsa": rsaKey, "pkcs8-ed25519": ed} {
		data, err := pki.MarshalPrivateKeyPEM(key)
		if err != nil {
			return set, err
		}
		set.plain[name] = data
	}
	rsaPriv, ok := rsaKey.(*rsa.PrivateKey)
	if !ok {
		return set, fmt.Errorf("unexpected RSA key type %T", rsaKey)
	}
	set.plain["pkcs1-rsa"] = pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaPriv)})
	ecPriv, ok := ec.(*ecdsa.PrivateKey)
	if !ok {
		return set, fmt.Errorf("unexpected EC key type %T", ec)
	}
	sec1, err := x509.MarshalECPrivateKey(ecPriv)
	if err != nil {
		return set, err
	}
	set.plain["sec1-ec"] = pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1})
	der, err := pkcs8.MarshalPrivateKey(ec, []byte("fuzz-pass"), &pkcs8.Opts{
		Cipher:  pkcs8.AES256CBC,
		KDFOpts: pkcs8.PBKDF2Opts{SaltSize: 8, IterationCount: 1000, HMACHash: crypto.SHA256},
	})
	if err != nil {
		return set, err
	}
	set.encrypted = pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: der})
	set.legacy = []byte("-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00000000000000000000000000000000\n\nMAA=\n-----END RSA PRIVATE KEY-----\n")
	return set, nil
}

// errorTexts are messages that crypto/tls, crypto/x509, grpc-go and the
// network stack produce for failed connections.
var errorTexts = []string{
	"x509: certificate signed by unknown authority",
	"tls: failed to verify certificate: x509: certificate signed by unknown authority (possibly because of \"crypto/rsa: verification error\" while trying to verify candidate authority certificate \"grpc-mtls CA\")",
	"tls: failed to verify certificate: x509: certificate is valid for server, localhost, not example.com",
	"x509: cannot validate certificate for 10.0.0.1 because it doesn't contain any IP SANs",
	"x509: certificate has expired or is not yet valid: current time 2030-01-01T00:00:00Z is after 2026-01-01T00:00:00Z",
	"x509: certificate specifies an incompatible key usage",
	"x509: certificate is not authorized to sign other certificates",
	"tls: client didn't provide a certificate",
	"remote error: tls: certificate required",
	"remote error: tls: unknown certificate authority",
	"remote error: tls: expired certificate",
	"remote error: tls: bad certificate",
	"tls: client offered only unsupported versions: [303 302 301]",
	"remote error: tls: protocol version not supported",
	"tls: first record does not look like a TLS handshake",
	"tls: server gave HTTP response to client",
	"tls: client requested unsupported application protocols ([http/1.1])",
	"rpc error: code = Unavailable desc = connection error: desc = \"transport: Error while dialing: dial tcp 127.0.0.1:1: connect: connection refused\"",
	"read tcp 127.0.0.1:8443->127.0.0.1:51234: i/o timeout",
	"context deadline exceeded",
	"x509: malformed certificate",
	"EOF",
	"read: connection reset by peer",
	"connection closed before server preface received",
	"write: broken pipe",
	"",
	"\x00\xff not utf-8 \xc3",
}
