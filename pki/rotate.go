package pki

import (
	"bytes"
	"crypto/x509"
	"fmt"
	"path/filepath"
)

// CAFiles returns the files that store ca in dir: FileCACert with the
// certificate and its chain, and FileCAKey with the key, encrypted as
// PKCS#8 with AES-256 when passphrase is set. Write them with WriteFiles,
// which keeps an existing CA unless force is set.
func CAFiles(dir string, ca *CA, passphrase []byte) ([]File, error) {
	key, err := encodeKey(ca.Key, passphrase)
	if err != nil {
		return nil, fmt.Errorf("encode CA key: %w", err)
	}
	chain := append([]*x509.Certificate{ca.Cert}, ca.Chain...)
	return []File{
		{Path: filepath.Join(dir, FileCACert), Data: EncodeCertificatesPEM(chain...), Mode: ModePublic},
		{Path: filepath.Join(dir, FileCAKey), Data: key, Mode: ModePrivate},
	}, nil
}

// MergeTruststores returns one truststore with the CA certificates of all
// stores, in order, each certificate once. During a CA rotation both
// sides trust the old and the new CA at once through such a store.
func MergeTruststores(stores ...*Truststore) *Truststore {
	merged := &Truststore{}
	for _, ts := range stores {
		for _, c := range ts.Certs {
			if !containsCert(merged.Certs, c) {
				merged.Certs = append(merged.Certs, c)
			}
		}
	}
	return merged
}

func containsCert(certs []*x509.Certificate, c *x509.Certificate) bool {
	for _, have := range certs {
		if bytes.Equal(have.Raw, c.Raw) {
			return true
		}
	}
	return false
}
