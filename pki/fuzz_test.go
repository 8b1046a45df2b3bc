package pki_test

import (
	"crypto"
	"encoding/pem"
	"errors"
	"regexp"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/grpc-mtls/grpc-mtls/pki"
)

// The fuzz targets below check that every parser of untrusted bytes
// returns an error instead of panicking or hanging, and that what they
// accept is consistent. Their seed corpus lives in testdata/fuzz, and
// `make fuzz-seeds` regenerates it.

// fuzzMaxIterations is the key derivation cost above which fuzz inputs are
// skipped, so that each run takes milliseconds. Inputs above
// pki.MaxKDFIterations are still run: they must fail at once.
const fuzzMaxIterations = 20_000

// skipCostly skips inputs whose key derivation is allowed but slow.
func skipCostly(t *testing.T, der []byte) {
	if pki.KDFCostAbove(der, fuzzMaxIterations) && !pki.KDFCostAbove(der, pki.MaxKDFIterations) {
		t.Skip("key derivation too slow for fuzzing")
	}
}

func FuzzParseCertificatesPEM(f *testing.F) {
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		certs, err := pki.ParseCertificatesPEM(data)
		if err != nil {
			if certs != nil {
				t.Fatalf("certificates returned with error %v", err)
			}
			return
		}
		if len(certs) == 0 {
			t.Fatal("no error and no certificate")
		}
		again, err := pki.ParseCertificatesPEM(pki.EncodeCertificatesPEM(certs...))
		if err != nil {
			t.Fatalf("re-encoded certificates do not parse: %v", err)
		}
		if len(again) != len(certs) {
			t.Fatalf("re-encoded %d certificates, parsed %d", len(certs), len(again))
		}
		for i := range certs {
			if !again[i].Equal(certs[i]) {
				t.Fatalf("certificate %d changed after re-encoding", i)
			}
			_ = pki.IdentityOf(certs[i]).SANs()
		}
	})
}

func FuzzParsePrivateKeyPEM(f *testing.F) {
	f.Add([]byte("-----BEGIN PRIVATE KEY-----\nMAA=\n-----END PRIVATE KEY-----\n"), []byte(""))
	f.Fuzz(func(t *testing.T, data, passphrase []byte) {
		for rest := data; ; {
			block, next := pem.Decode(rest)
			if block == nil {
				break
			}
			skipCostly(t, block.Bytes)
			rest = next
		}
		key, err := pki.ParsePrivateKeyPEM(data, passphrase)
		if err != nil {
			if key != nil {
				t.Fatalf("key returned with error %v", err)
			}
			return
		}
		encoded, err := pki.MarshalPrivateKeyPEM(key)
		if err != nil {
			// Only keys that x509 can marshal again take part in the
			// round trip below.
			return
		}
		again, err := pki.ParsePrivateKeyPEM(encoded, nil)
		if err != nil {
			t.Fatalf("re-encoded key does not parse: %v", err)
		}
		pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
		if !ok || !pub.Equal(again.Public()) {
			t.Fatal("public key changed after re-encoding")
		}
		_ = pki.DescribeKey(key)
	})
}

func FuzzDecodePKCS12Keystore(f *testing.F) {
	f.Add([]byte{0x30, 0x03, 0x02, 0x01, 0x03}, []byte("password"))
	f.Fuzz(func(t *testing.T, data, password []byte) {
		skipCostly(t, data)
		ks, err := pki.DecodePKCS12Keystore(data, password)
		if err != nil {
			if ks != nil {
				t.Fatalf("keystore returned with error %v", err)
			}
			return
		}
		if ks.Leaf == nil || ks.Key == nil {
			t.Fatal("keystore without certificate or key")
		}
		if err := pki.VerifyKeyPair(ks.Leaf, ks.Key); err != nil {
			t.Fatalf("accepted keystore whose key does not match: %v", err)
		}
		_ = ks.TLSCertificate()
	})
}

func FuzzDecodePKCS12Truststore(f *testing.F) {
	f.Add([]byte{0x30, 0x03, 0x02, 0x01, 0x03}, []byte("password"))
	f.Fuzz(func(t *testing.T, data, password []byte) {
		skipCostly(t, data)
		certs, err := pki.DecodePKCS12Truststore(data, password)
		if err != nil {
			if certs != nil {
				t.Fatalf("certificates returned with error %v", err)
			}
			return
		}
		_ = (&pki.Truststore{Certs: certs}).Pool()
	})
}

// FuzzInspect runs the file inspector, which detects PEM or PKCS#12 by
// itself, on arbitrary file content.
func FuzzInspect(f *testing.F) {
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n"), []byte(""))
	f.Fuzz(func(t *testing.T, data, password []byte) {
		skipCostly(t, data)
		for rest := data; ; {
			block, next := pem.Decode(rest)
			if block == nil {
				break
			}
			skipCostly(t, block.Bytes)
			rest = next
		}
		items, err := pki.InspectData("input", data, password)
		if err != nil {
			if items != nil {
				t.Fatalf("items returned with error %v", err)
			}
			return
		}
		if len(items) == 0 {
			t.Fatal("no error and no item")
		}
	})
}

var reasonPattern = regexp.MustCompile(`^[a-z0-9_]+$`)

// FuzzDiagnose feeds arbitrary error text to the explainer, both bare and
// carried in a gRPC status as a client sees it.
func FuzzDiagnose(f *testing.F) {
	f.Add("x509: certificate signed by unknown authority", false)
	f.Fuzz(func(t *testing.T, msg string, serverSide bool) {
		role := pki.RoleClient
		if serverSide {
			role = pki.RoleServer
		}
		err := errors.New(msg)
		d := pki.Diagnose(err, role)
		if d.Err != err {
			t.Fatal("diagnosis lost the original error")
		}
		if !reasonPattern.MatchString(string(d.Reason)) {
			t.Fatalf("reason %q is not a short code", d.Reason)
		}
		if d.Summary == "" {
			t.Fatal("empty summary")
		}
		if d.Side != "" && d.Side != string(pki.RoleClient) && d.Side != string(pki.RoleServer) {
			t.Fatalf("side %q is neither client nor server", d.Side)
		}
		wrapped := pki.Diagnose(status.Error(codes.Unavailable, msg), role)
		if wrapped.Reason != d.Reason {
			t.Fatalf("reason %q for the bare error but %q inside a gRPC status", d.Reason, wrapped.Reason)
		}
	})
}
