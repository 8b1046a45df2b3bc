package lab

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/grpc-mtls/grpc-mtls/pki"
	"github.com/grpc-mtls/grpc-mtls/pki/faults"
)

var errNoCA = errors.New("lab: no CA to issue with")

// Kind is one way mutual TLS breaks, or a variant that looks suspect but
// works, reproduced by the files its Build writes.
type Kind struct {
	// Name is the stable identifier used by 'mtls lab' and the guide.
	Name string
	// Category groups kinds in the guide: trust, names, key usage,
	// validity, chains, keys, weak or malformed, protocol, PKCS#12.
	Category string
	Title    string
	// Cause explains in plain words what is wrong and why it fails.
	Cause string
	build func(b *builder) *Scenario
}

// Build writes the kind's files into dir, creating it with mode 0700,
// and returns the scenario that uses them. Files already in dir are
// overwritten.
func (k *Kind) Build(dir string) (*Scenario, error) {
	if err := os.MkdirAll(dir, pki.ModeDir); err != nil {
		return nil, fmt.Errorf("lab %s: create directory %s: %w", k.Name, dir, err)
	}
	b := &builder{dir: dir, now: time.Now().UTC().Truncate(time.Second)}
	sc := k.build(b)
	if b.err != nil {
		return nil, fmt.Errorf("lab %s: write files into %s: %w", k.Name, dir, b.err)
	}
	sc.Kind = k
	return sc, nil
}

// Categories lists the categories in the order the guide uses.
var Categories = []string{"trust", "names", "key usage", "validity", "chains", "keys", "weak or malformed", "protocol", "PKCS#12"}

// Kinds returns every kind, grouped by category.
func Kinds() []*Kind { return catalogue }

// Lookup returns the kind named name.
func Lookup(name string) (*Kind, bool) {
	for _, k := range catalogue {
		if k.Name == name {
			return k, true
		}
	}
	return nil, false
}

var catalogue = []*Kind{
	// Trust.
	{Name: "client-does-not-trust-server-ca", Category: "trust", Title: "The client does not trust the server's CA",
		Cause: "The client's truststore holds a CA other than the one that signed the server's certificate, so the client cannot build a chain to a CA it trusts.",
		build: func(b *builder) *Scenario {
			sc := b.healthy()
			sc.Client.CA = b.writeCerts("other-ca.crt", caCert(b.newCA("other CA", pki.KeyECDSAP256)))
			return sc
		}},
	{Name: "server-does-not-trust-client-ca", Category: "trust", Title: "The server does not trust the client's CA",
		Cause: "The server's truststore holds a CA other than the one that signed the client's certificate. The client still sends its certificate (pki.ClientTLSConfig always does), the server fails to verify it and sends an unknown-CA alert. With TLS 1.3 the client learns of the rejection only at its first call. A plain crypto/tls client such as grpcurl sends no certificate at all here, because none matches the CAs the server lists, so the server reports a missing certificate instead.",
		build: func(b *builder) *Scenario {
			sc := b.healthy()
			sc.Server.CA = b.writeCerts("other-ca.crt", caCert(b.newCA("other CA", pki.KeyECDSAP256)))
			return sc
		}},
	{Name: "truststore-has-regenerated-ca", Category: "trust", Title: "The truststore holds a CA of the same name with another key",
		Cause: "The CA was created again (for example by a second 'pki init'), so the client's truststore holds a CA with the right name but a different key, and the server's certificate does not verify against it.",
		build: func(b *builder) *Scenario {
			sc := b.healthy()
			sc.Client.CA = b.writeCerts("regenerated-ca.crt", caCert(b.newCA("lab CA", pki.KeyECDSAP256)))
			return sc
		}},
	{Name: "truststore-holds-leaf", Category: "trust", Title: "The truststore holds the server's certificate instead of its CA",
		Cause: "The client's --ca names the server's own certificate. A truststore holds the CA certificates that sign peers' certificates, and a leaf certificate cannot sign anything.",
		build: func(b *builder) *Scenario {
			sc := b.healthy()
			sc.Client.CA = sc.Server.Cert
			return sc
		}},

	// Names.
	{Name: "server-name-not-in-sans", Category: "names", Title: "The server name is not in the server certificate's SANs",
		Cause: "The server's certificate was issued for api.internal, and the client connects to localhost. The client checks the name it dialed (or --server-name) against the certificate's DNS and IP SANs.",
		build: func(b *builder) *Scenario {
			sc := b.healthy()
			req := serverRequest()
			req.CommonName, req.DNSNames, req.IPs = "api.internal", []string{"api.internal"}, nil
			sc.Server.Cert, sc.Server.Key = b.writeLeaf("server-api-internal", b.issue(b.ca, req))
			return sc
		}},
	{Name: "service-name-not-in-sans", Category: "names", Title: "The container service name is not in the SANs",
		Cause: "The server's certificate names localhost and 127.0.0.1, as made for a laptop, and the client reaches the server in a container network by its service name grpc-server.",
		build: func(b *builder) *Scenario {
			sc := b.healthy()
			sc.ServerName = "grpc-server"
			return sc
		}},
	{Name: "common-name-only", Category: "names", Title: "The server name is only in the Common Name, with no SANs",
		Cause: "The server's certificate has CN=localhost and no subject alternative names. Go (since 1.15), browsers and most TLS stacks ignore the Common Name for name checks.",
		build: func(b *builder) *Scenario {
			sc := b.healthy()
			sc.Server.Cert, sc.Server.Key = b.writeLeaf("server-cn-only", b.issue(b.ca, serverRequest(), faults.WithoutSANs()))
			return sc
		}},
	{Name: "ip-without-ip-san", Category: "names", Title: "Dialing by IP address without an IP SAN",
		Cause: "The client dials 127.0.0.1, and the server's certificate lists only the DNS name localhost. An IP address must appear as an IP SAN; a DNS SAN with the same text does not count.",
		build: func(b *builder) *Scenario {
			sc := b.healthy()
			req := serverRequest()
			req.IPs = nil
			sc.Server.Cert, sc.Server.Key = b.writeLeaf("server-dns-only", b.issue(b.ca, req))
			sc.DialHost = "127.0.0.1"
			return sc
		}},
	{Name: "server-identity-not-expected", Category: "names", Title: "A valid server certificate for another service",
		Cause: "The server presents a certificate from the shared CA, valid for localhost, but for the service billing while the client expects orders. The chain and the host name check pass, so only the client's expected identity (--expect-server) catches it.",
		build: func(b *builder) *Scenario {
			sc := b.healthy()
			req := serverRequest()
			req.URIs = clientRequest("billing").URIs
			sc.Server.Cert, sc.Server.Key = b.writeLeaf("server-billing", b.issue(b.ca, req))
			sc.ExpectedServerIDs = []string{SPIFFE("orders")}
			return sc
		}},
	{Name: "client-identity-not-allowed", Category: "names", Title: "A valid client certificate for another identity",
		Cause: "The client presents a certificate from the trusted CA for the identity intruder, and the server accepts only the identity client (--allow-client). A chain check alone would let any holder of a certificate from the CA in.",
		build: func(b *builder) *Scenario {
			sc := b.healthy()
			sc.Client.Cert, sc.Client.Key = b.writeLeaf("client-intruder", b.issue(b.ca, clientRequest("intruder")))
			sc.AllowedClientIDs = []string{SPIFFE("client")}
			return sc
		}},

	// Key usage.
	{Name: "client-cert-without-clientauth", Category: "key usage", Title: "Client certificate without the clientAuth extended key usage",
		Cause: "The client presents a certificate whose extended key usage is serverAuth only, for example the server's certificate reused. The server accepts only certificates allowed for client authentication.",
		build: func(b *builder) *Scenario {
			sc := b.healthy()
			sc.Client.Cert, sc.Client.Key = b.writeLeaf("client-serverauth", b.issue(b.ca, clientRequest("client"), faults.WithExtKeyUsage(x509.ExtKeyUsageServerAuth)))
			return sc
		}},
	{Name: "server-cert-without-serverauth", Category: "key usage", Title: "Server certificate without the serverAuth extended key usage",
		Cause: "The server presents a certificate whose extended key usage is clientAuth only. The client accepts only certificates allowed for server authentication.",
		build: func(b *builder) *Scenario {
			sc := b.healthy()
			sc.Server.Cert, sc.Server.Key = b.writeLeaf("server-clientauth", b.issue(b.ca, serverRequest(), faults.WithExtKeyUsage(x509.ExtKeyUsageClientAuth)))
			return sc
		}},
	{Name: "intermediate-not-a-ca", Category: "key usage", Title: "An intermediate certificate without CA:TRUE",
		Cause: "The server's certificate is signed by an intermediate whose basic constraints say CA:FALSE, so it may not sign certificates, and no verifier accepts the chain.",
		build: func(b *builder) *Scenario {
			sc := b.healthy()
			root := b.newCA("lab root CA", pki.KeyECDSAP256, faults.WithMaxPathLen(1))
			inter := b.intermediate(root, "lab intermediate CA", faults.NotCA())
			sc.Server.Cert, sc.Server.Key = b.writeLeaf("server-via-non-ca", b.issue(inter, serverRequest()))
			sc.Client.CA = b.writeCerts("root-ca.crt", caCert(root))
			return sc
		}},
	{Name: "ca-without-certsign", Category: "key usage", Title: "A CA certificate without the keyCertSign key usage",
		Cause: "The CA's key usage lists digitalSignature but not keyCertSign, so the CA may not sign certificates. Go, like OpenSSL and Java, rejects every certificate it signed.",
		build: func(b *builder) *Scenario {
			sc := b.healthy()
			b.ca = b.newCA("lab CA without certSign", pki.KeyECDSAP256, faults.WithoutCertSign())
			caFile := b.writeCerts("ca-no-certsign.crt", caCert(b.ca))
			sc.Server.Cert, sc.Server.Key = b.writeLeaf("server-no-certsign-ca", b.issue(b.ca, serverRequest()))
			sc.Client.Cert, sc.Client.Key = b.writeLeaf("client-no-certsign-ca", b.issue(b.ca, clientRequest("client")))
			sc.Server.CA, sc.Client.CA = caFile, caFile
			return sc
		}},

	// Validity.
	{Name: "server-cert-expired", Category: "validity", Title: "The server's certificate has expired",
		Cause: "The server's certificate's notAfter is in the past.",
		build: func(b *builder) *Scenario {
			sc := b.healthy()
			sc.Server.Cert, sc.Server.Key = b.writeLeaf("server-expired", b.issue(b.ca, serverRequest(), faults.WithValidity(b.now.Add(-48*time.Hour), b.now.Add(-24*time.Hour))))
			return sc
		}},
	{Name: "client-cert-expired", Category: "validity", Title: "The client's certificate has expired",
		Cause: "The client's certificate's notAfter is in the past. The server rejects it, and with TLS 1.3 the client sees the rejection at its first call.",
		build: func(b *builder) *Scenario {
			sc := b.healthy()
			sc.Client.Cert, sc.Client.Key = b.writeLeaf("client-expired", b.issue(b.ca, clientRequest("client"), faults.WithValidity(b.now.Add(-48*time.Hour), b.now.Add(-24*time.Hour))))
			return sc
		}},
	{Name: "server-cert-not-yet-valid", Category: "validity", Title: "The server's certificate is not valid yet",
		Cause: "The server's certificate's notBefore is a day in the future, as when a certificate is issued with a wrong date or a machine's clock is far off.",
		build: func(b *builder) *Scenario {
			sc := b.healthy()
			sc.Server.Cert, sc.Server.Key = b.writeLeaf("server-future", b.issue(b.ca, serverRequest(), faults.WithValidity(b.now.Add(24*time.Hour), b.now.Add(48*time.Hour))))
			return sc
		}},
	{Name: "clock-skew-backdated", Category: "validity", Title: "Clock skew of a few minutes, certificate backdated (works)",
		Cause: "The machine that issued the server's certificate runs 3 minutes ahead of the client. pki backdates notBefore by 5 minutes (pki.DefaultBackdate), so the certificate is already valid on the client and the call succeeds.",
		build: func(b *builder) *Scenario {
			sc := b.healthy()
			sc.Server.Cert, sc.Server.Key = b.writeLeaf("server-skewed", b.issue(b.ca, b.skewed(serverRequest(), pki.DefaultBackdate)))
			return sc
		}},
	{Name: "clock-skew-not-backdated", Category: "validity", Title: "Clock skew of a few minutes, certificate not backdated",
		Cause: "The machine that issued the server's certificate runs 3 minutes ahead of the client, and notBefore was set to the issuing machine's current time, so for the next 3 minutes the client sees a certificate that is not valid yet.",
		build: func(b *builder) *Scenario {
			sc := b.healthy()
			sc.Server.Cert, sc.Server.Key = b.writeLeaf("server-skewed", b.issue(b.ca, b.skewed(serverRequest(), time.Second)))
			return sc
		}},

	// Chains.
	{Name: "server-omits-intermediate", Category: "chains", Title: "The server does not send its intermediate CA certificate",
		Cause: "The server's certificate is signed by an intermediate CA, the client trusts only the root, and the server's certificate file lacks the intermediate, so the client cannot link the certificate to the root.",
		build: func(b *builder) *Scenario {
			sc := b.healthy()
			root, inter := b.chain()
			sc.Server.Cert, sc.Server.Key = b.writeLeafOnly("server-leaf-only", b.issue(inter, serverRequest()))
			sc.Client.CA = b.writeCerts("root-ca.crt", caCert(root))
			return sc
		}},
	{Name: "client-omits-intermediate", Category: "chains", Title: "The client does not send its intermediate CA certificate",
		Cause: "The client's certificate is signed by an intermediate CA, the server trusts only the root, and the client's certificate file lacks the intermediate. The server cannot build a chain from the leaf to its root and rejects the certificate as issued by an unknown CA.",
		build: func(b *builder) *Scenario {
			sc := b.healthy()
			root, inter := b.chain()
			sc.Client.Cert, sc.Client.Key = b.writeLeafOnly("client-leaf-only", b.issue(inter, clientRequest("client")))
			sc.Server.CA = b.writeCerts("root-ca.crt", caCert(root))
			return sc
		}},

	// Keys.
	{Name: "key-does-not-match-cert", Category: "keys", Title: "The private key does not belong to the certificate",
		Cause: "The server's key file holds the key of another certificate, as after reissuing the certificate without copying its new key.",
		build: func(b *builder) *Scenario {
			sc := b.healthy()
			_, sc.Server.Key = b.writeLeaf("other-server", b.issue(b.ca, serverRequest()))
			return sc
		}},
	{Name: "cert-and-key-swapped", Category: "keys", Title: "Certificate and key files swapped",
		Cause: "The server's --cert names the key file and --key names the certificate file.",
		build: func(b *builder) *Scenario {
			sc := b.healthy()
			sc.Server.Cert, sc.Server.Key = sc.Server.Key, sc.Server.Cert
			return sc
		}},
	{Name: "encrypted-key-without-passphrase", Category: "keys", Title: "Encrypted key without its passphrase",
		Cause: "The server's key is encrypted (PKCS#8 with AES-256) and no passphrase file is given.",
		build: func(b *builder) *Scenario {
			sc := b.healthy()
			sc.Server.Key = b.encryptedServerKey(sc)
			return sc
		}},
	{Name: "encrypted-key-wrong-passphrase", Category: "keys", Title: "Encrypted key with the wrong passphrase",
		Cause: "The server's key is encrypted and the passphrase file holds another passphrase.",
		build: func(b *builder) *Scenario {
			sc := b.healthy()
			sc.Server.Key = b.encryptedServerKey(sc)
			sc.Server.KeyPassphraseFile = b.write("wrong.passphrase", []byte("not-the-passphrase\n"), pki.ModePrivate)
			return sc
		}},
	{Name: "key-pkcs1-loads", Category: "keys", Title: "PKCS#1 RSA key (loads)",
		Cause: "The server's RSA key is in PKCS#1 form (BEGIN RSA PRIVATE KEY), as older OpenSSL writes it. pki reads it like PKCS#8.",
		build: func(b *builder) *Scenario { return b.keyEncoding("pkcs1", pki.KeyRSA2048, faults.MarshalPKCS1PEM) }},
	{Name: "key-pkcs8-loads", Category: "keys", Title: "PKCS#8 key (loads)",
		Cause: "The server's key is in PKCS#8 form (BEGIN PRIVATE KEY), the format pki writes.",
		build: func(b *builder) *Scenario { return b.keyEncoding("pkcs8", pki.KeyECDSAP256, pki.MarshalPrivateKeyPEM) }},
	{Name: "key-sec1-loads", Category: "keys", Title: "SEC1 EC key (loads)",
		Cause: "The server's ECDSA key is in SEC1 form (BEGIN EC PRIVATE KEY), as 'openssl ecparam -genkey' writes it. pki reads it like PKCS#8.",
		build: func(b *builder) *Scenario { return b.keyEncoding("sec1", pki.KeyECDSAP256, faults.MarshalSEC1PEM) }},
	{Name: "key-unsupported-curve", Category: "keys", Title: "ECDSA key on the P-224 curve",
		Cause: "The server's key is on NIST P-224. Go loads it, but TLS 1.3 defines signature schemes only for P-256, P-384 and P-521, so the server cannot sign its handshake.",
		build: func(b *builder) *Scenario {
			sc := b.healthy()
			key, err := faults.GenerateP224Key()
			b.fail(err)
			req := serverRequest()
			req.Key = key
			sc.Server.Cert, sc.Server.Key = b.writeLeaf("server-p224", b.issue(b.ca, req))
			return sc
		}},
	{Name: "key-unsupported-type", Category: "keys", Title: "DSA private key",
		Cause: "The server's key file holds a DSA key. DSA is not allowed in TLS 1.3 and Go's x509 package cannot parse DSA private keys.",
		build: func(b *builder) *Scenario {
			sc := b.healthy()
			data, err := faults.DSAKeyPEM()
			b.fail(err)
			sc.Server.Key = b.write("server-dsa.key", data, pki.ModePrivate)
			return sc
		}},

	// Weak or malformed.
	{Name: "sha1-signature", Category: "weak or malformed", Title: "Certificate signed with SHA-1",
		Cause: "The server's certificate is signed with SHA-1 (sha1WithRSAEncryption), which is broken for collision resistance. Go has rejected SHA-1 certificate signatures since 1.18.",
		build: func(b *builder) *Scenario {
			sc := b.healthy()
			rsaCA := b.newCA("lab RSA CA", pki.KeyRSA2048)
			sc.Server.Cert, sc.Server.Key = b.writeLeaf("server-sha1", b.issue(rsaCA, serverRequest(), faults.WithSHA1Signature()))
			sc.Client.CA = b.writeCerts("rsa-ca.crt", caCert(rsaCA))
			return sc
		}},
	{Name: "rsa-1024", Category: "weak or malformed", Title: "RSA key of 1024 bits (works, but weak)",
		Cause: "The server's key is RSA with 1024 bits, below the 2048 bits NIST and the CA/Browser Forum require. Go still accepts it, so the call succeeds; 'mtls doctor' reports it.",
		build: func(b *builder) *Scenario {
			sc := b.healthy()
			key, err := faults.GenerateRSAKey(1024)
			b.fail(err)
			req := serverRequest()
			req.Key = key
			sc.Server.Cert, sc.Server.Key = b.writeLeaf("server-rsa1024", b.issue(b.ca, req))
			return sc
		}},
	{Name: "negative-serial-load", Category: "weak or malformed", Title: "Negative serial number, loaded by Go",
		Cause: "The server's certificate has a negative serial number, which RFC 5280 forbids. Go (since 1.23) refuses to parse it, so the server cannot even load its certificate.",
		build: func(b *builder) *Scenario {
			sc := b.healthy()
			sc.Server.Cert, sc.Server.Key = b.writeLeaf("server-negative-serial", b.issue(b.ca, serverRequest(), faults.WithNegativeSerial()))
			return sc
		}},
	{Name: "negative-serial-peer", Category: "weak or malformed", Title: "Negative serial number, sent by another TLS stack",
		Cause: "A server built on a lenient TLS stack sends a certificate with a negative serial number. The Go client cannot parse it and aborts the handshake.",
		build: func(b *builder) *Scenario {
			sc := b.healthy()
			sc.Server.Cert, sc.Server.Key = b.writeLeaf("server-negative-serial", b.issue(b.ca, serverRequest(), faults.WithNegativeSerial()))
			sc.Server.PresentUnparsed = true
			return sc
		}},

	// Protocol.
	{Name: "plaintext-client-on-tls-port", Category: "protocol", Title: "Plaintext client on the TLS port",
		Cause: "The client connects without TLS (grpcurl -plaintext, grpc.WithInsecure) to the mTLS port, so the server receives an HTTP/2 preface where it expects a TLS ClientHello.",
		build: func(b *builder) *Scenario {
			sc := b.healthy()
			sc.ClientMode = ClientPlaintext
			return sc
		}},
	{Name: "tls-client-on-plaintext-port", Category: "protocol", Title: "TLS client on a plaintext port",
		Cause: "The client speaks TLS to a gRPC server (or a port) without TLS, so the client receives an HTTP/2 frame where it expects a TLS ServerHello.",
		build: func(b *builder) *Scenario {
			sc := b.healthy()
			sc.ServerMode = ServerPlaintext
			return sc
		}},
	{Name: "server-without-alpn-h2", Category: "protocol", Title: "Server that does not negotiate ALPN h2",
		Cause: "The TLS server (for example a proxy set up for HTTP/1.1) completes the handshake without selecting ALPN \"h2\". gRPC runs over HTTP/2, and grpc-go (since 1.67) refuses a TLS connection without it.",
		build: func(b *builder) *Scenario {
			sc := b.healthy()
			sc.ServerMode = ServerTLSWithoutALPN
			return sc
		}},
	{Name: "client-without-alpn-h2", Category: "protocol", Title: "Client that offers only ALPN http/1.1",
		Cause: "A TLS client built by hand (or an HTTP/1.1 client) offers ALPN \"http/1.1\" and not \"h2\". The gRPC server selects only h2, so there is no protocol in common.",
		build: func(b *builder) *Scenario {
			sc := b.healthy()
			sc.ClientMode = ClientHTTP1
			return sc
		}},
	{Name: "tls12-client-vs-tls13-server", Category: "protocol", Title: "TLS 1.2-only client against the TLS 1.3 default",
		Cause: "The client cannot speak TLS 1.3 (an old runtime, or a maximum version set to 1.2), and the server accepts only TLS 1.3 unless started with --tls12.",
		build: func(b *builder) *Scenario {
			sc := b.healthy()
			sc.ClientMaxVersion = tls.VersionTLS12
			return sc
		}},
	{Name: "no-client-certificate", Category: "protocol", Title: "Client without a certificate",
		Cause: "The client has no certificate configured. With TLS 1.3 the client finishes its side of the handshake before the server checks, so the rejection arrives with the first call, not at connect.",
		build: func(b *builder) *Scenario {
			sc := b.healthy()
			sc.Client.Cert, sc.Client.Key = "", ""
			return sc
		}},

	// PKCS#12.
	{Name: "p12-wrong-password", Category: "PKCS#12", Title: "PKCS#12 keystore with the wrong password",
		Cause: "The server's PKCS#12 keystore is protected by a password other than the one in its password file.",
		build: func(b *builder) *Scenario {
			sc := b.p12Scenario(pki.P12Modern)
			sc.Server.PasswordFile = b.write("wrong.password", []byte("not-the-password\n"), pki.ModePrivate)
			return sc
		}},
	{Name: "p12-legacy-rc2-loads", Category: "PKCS#12", Title: "Legacy PKCS#12 with RC2 and 3DES (loads)",
		Cause: "The server's keystore uses RC2 for certificates and 3DES for the key with a SHA-1 MAC, as Java 8 and OpenSSL 1.1 write it. pki reads it; OpenSSL 3 needs -legacy.",
		build: func(b *builder) *Scenario { return b.p12Scenario(pki.P12Legacy) }},
	{Name: "p12-legacy-3des-loads", Category: "PKCS#12", Title: "Legacy PKCS#12 with 3DES only (loads)",
		Cause: "The server's keystore uses 3DES for key and certificates with a SHA-1 MAC. pki reads it.",
		build: func(b *builder) *Scenario { return b.p12Scenario(p12TripleDES) }},
	{Name: "p12-modern-aes-loads", Category: "PKCS#12", Title: "Modern PKCS#12 with AES-256 (loads)",
		Cause: "The server's keystore uses AES-256-CBC with PBKDF2 and a SHA-256 MAC, as OpenSSL 3 and Java 12 and later write it.",
		build: func(b *builder) *Scenario { return b.p12Scenario(pki.P12Modern) }},
	{Name: "p12-truststore-without-trusted-entries", Category: "PKCS#12", Title: "PKCS#12 truststore without trusted certificate entries",
		Cause: "The client's --truststore names a PKCS#12 keystore (a key and its certificates) instead of a truststore whose entries are marked trusted, as keytool -importcert and 'mtls pki init' write them.",
		build: func(b *builder) *Scenario {
			sc := b.p12Scenario(pki.P12Modern)
			sc.Client.Truststore = sc.Client.Keystore
			return sc
		}},
}

// Helpers used by several kinds.

func (b *builder) intermediate(root *pki.CA, name string, defects ...faults.Defect) *pki.CA {
	if b.err != nil {
		return nil
	}
	inter, err := faults.NewIntermediate(root, name, pki.KeyECDSAP256, defects...)
	b.fail(err)
	return inter
}

// chain returns a root that allows one intermediate, and the
// intermediate.
func (b *builder) chain() (root, inter *pki.CA) {
	root = b.newCA("lab root CA", pki.KeyECDSAP256, faults.WithMaxPathLen(1))
	return root, b.intermediate(root, "lab intermediate CA")
}

// skewed makes req as the issuing machine would if its clock ran 3
// minutes ahead, with the given backdating.
func (b *builder) skewed(req pki.LeafRequest, backdate time.Duration) pki.LeafRequest {
	ahead := b.now.Add(3 * time.Minute)
	req.Now = func() time.Time { return ahead }
	req.Backdate = backdate
	return req
}

func (b *builder) encryptedServerKey(sc *Scenario) string {
	if b.err != nil {
		return sc.Server.Key
	}
	keyPEM, err := os.ReadFile(sc.Server.Key)
	b.fail(err)
	key, err := pki.ParsePrivateKeyPEM(keyPEM, nil)
	b.fail(err)
	if b.err != nil {
		return sc.Server.Key
	}
	enc, err := faults.MarshalEncryptedKeyPEM(key, []byte(labPassphrase))
	b.fail(err)
	return b.write("server-encrypted.key", enc, pki.ModePrivate)
}

// keyEncoding writes a server with a kt key in the encoding marshal
// makes.
func (b *builder) keyEncoding(name string, kt pki.KeyType, marshal func(k crypto.Signer) ([]byte, error)) *Scenario {
	sc := b.healthy()
	req := serverRequest()
	req.KeyType = kt
	leaf := b.issue(b.ca, req)
	sc.Server.Cert, _ = b.writeLeaf("server-"+name, leaf)
	if b.err != nil {
		return sc
	}
	data, err := marshal(leaf.Key)
	b.fail(err)
	sc.Server.Key = b.write("server-"+name+".key", data, pki.ModePrivate)
	return sc
}

// p12TripleDES selects faults.EncodeKeystore3DES in p12Scenario.
const p12TripleDES pki.P12Encoding = -1

// p12Scenario gives both sides PKCS#12 keystores and truststores in the
// encoding enc, with one password file.
func (b *builder) p12Scenario(enc pki.P12Encoding) *Scenario {
	sc := b.healthy()
	password := []byte(labPassword)
	passwordFile := b.write("p12.password", append(append([]byte(nil), password...), '\n'), pki.ModePrivate)
	keystore := func(name string, src Endpoint) string {
		if b.err != nil {
			return b.path(name)
		}
		ks, err := pki.LoadKeystore(pki.KeystoreSource{CertFile: src.Cert, KeyFile: src.Key})
		b.fail(err)
		if b.err != nil {
			return b.path(name)
		}
		var data []byte
		if enc == p12TripleDES {
			data, err = faults.EncodeKeystore3DES(ks, []*x509.Certificate{b.ca.Cert}, password)
		} else {
			data, err = pki.EncodeKeystore(ks, []*x509.Certificate{b.ca.Cert}, password, enc)
		}
		b.fail(err)
		return b.write(name, data, pki.ModePrivate)
	}
	truststore := b.path("truststore.p12")
	if b.err == nil {
		data, err := pki.EncodeTruststore([]*x509.Certificate{b.ca.Cert}, password, pki.P12Modern)
		b.fail(err)
		truststore = b.write("truststore.p12", data, pki.ModePublic)
	}
	server := Endpoint{Keystore: keystore("server.p12", sc.Server), Truststore: truststore, PasswordFile: passwordFile}
	client := Endpoint{Keystore: keystore("client.p12", sc.Client), Truststore: truststore, PasswordFile: passwordFile}
	sc.Server, sc.Client = server, client
	return sc
}
