package pki_test

import (
	"bytes"
	"crypto"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/youmark/pkcs8"

	"github.com/grpc-mtls/grpc-mtls/pki"
	"github.com/grpc-mtls/grpc-mtls/pki/pkitest"
)

// material is a set of valid files plus the raw bytes the bad cases are
// made from.
type material struct {
	dir                 string
	caFile              string
	certFile, keyFile   string
	certPEM, keyPEM     []byte
	otherKeyPEM         []byte
	p12File, truststore string
	p12Data             []byte
	passwordFile        string
	password            []byte
}

func newMaterial(t *testing.T) material {
	t.Helper()
	dir := t.TempDir()
	ca := pkitest.NewCA(t)
	leaf := ca.Server(t, "localhost")
	other := ca.Client(t, "other")
	m := material{dir: dir, password: []byte("correct horse")}
	m.caFile = ca.WriteCA(t, dir)
	m.certFile, m.keyFile = pkitest.WriteLeaf(t, dir, "server", leaf)
	var err error
	m.certPEM, err = os.ReadFile(m.certFile)
	require.NoError(t, err)
	m.keyPEM, err = os.ReadFile(m.keyFile)
	require.NoError(t, err)
	m.otherKeyPEM, err = pki.MarshalPrivateKeyPEM(other.Key)
	require.NoError(t, err)

	m.p12Data, err = pki.EncodeKeystore(pkitest.Keystore(leaf), ca.Truststore().Certs, m.password, pki.P12Modern)
	require.NoError(t, err)
	trustData, err := pki.EncodeTruststore(ca.Truststore().Certs, m.password, pki.P12Modern)
	require.NoError(t, err)
	m.p12File = m.write(t, "server.p12", m.p12Data)
	m.truststore = m.write(t, "truststore.p12", trustData)
	m.passwordFile = m.write(t, "p12.password", append(append([]byte(nil), m.password...), '\n'))
	return m
}

func (m material) write(t *testing.T, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(m.dir, name)
	require.NoError(t, os.WriteFile(path, data, 0o600))
	return path
}

func TestLoadKeystoreBadInput(t *testing.T) {
	m := newMaterial(t)
	tooLarge := bytes.Repeat([]byte("A"), pki.MaxFileSize+1)

	tests := []struct {
		name string
		// setup returns the source to load. Files it writes go to m.dir.
		setup   func(t *testing.T) pki.KeystoreSource
		wantErr []string
	}{
		{"cert missing", func(t *testing.T) pki.KeystoreSource {
			return pki.KeystoreSource{CertFile: filepath.Join(m.dir, "nope.crt"), KeyFile: m.keyFile}
		}, []string{"nope.crt", "file not found", "check the path"}},
		{"cert is a directory", func(t *testing.T) pki.KeystoreSource {
			return pki.KeystoreSource{CertFile: m.dir, KeyFile: m.keyFile}
		}, []string{m.dir, "is a directory"}},
		{"cert empty", func(t *testing.T) pki.KeystoreSource {
			return pki.KeystoreSource{CertFile: m.write(t, "empty.crt", nil), KeyFile: m.keyFile}
		}, []string{"empty.crt", "the file is empty"}},
		{"cert truncated", func(t *testing.T) pki.KeystoreSource {
			return pki.KeystoreSource{CertFile: m.write(t, "half.crt", m.certPEM[:len(m.certPEM)/2]), KeyFile: m.keyFile}
		}, []string{"half.crt", "no PEM certificate found"}},
		{"cert body corrupted", func(t *testing.T) pki.KeystoreSource {
			block, _ := pem.Decode(m.certPEM)
			block.Bytes = block.Bytes[:len(block.Bytes)/2]
			return pki.KeystoreSource{CertFile: m.write(t, "cut.crt", pem.EncodeToMemory(block)), KeyFile: m.keyFile}
		}, []string{"cut.crt", "parse certificate 1"}},
		{"cert garbage", func(t *testing.T) pki.KeystoreSource {
			return pki.KeystoreSource{CertFile: m.write(t, "garbage.crt", []byte("\x00\xffnot a certificate\x1b[31m")), KeyFile: m.keyFile}
		}, []string{"garbage.crt", "no PEM certificate found"}},
		{"cert too large", func(t *testing.T) pki.KeystoreSource {
			return pki.KeystoreSource{CertFile: m.write(t, "huge.crt", tooLarge), KeyFile: m.keyFile}
		}, []string{"huge.crt", "byte limit"}},
		{"cert holds public key", func(t *testing.T) pki.KeystoreSource {
			data := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte{1, 2, 3}})
			return pki.KeystoreSource{CertFile: m.write(t, "pub.crt", data), KeyFile: m.keyFile}
		}, []string{"pub.crt", "no CERTIFICATE block found, only PUBLIC KEY"}},
		{"files swapped", func(t *testing.T) pki.KeystoreSource {
			return pki.KeystoreSource{CertFile: m.keyFile, KeyFile: m.certFile}
		}, []string{m.keyFile, "swapped"}},
		{"key missing", func(t *testing.T) pki.KeystoreSource {
			return pki.KeystoreSource{CertFile: m.certFile, KeyFile: filepath.Join(m.dir, "nope.key")}
		}, []string{"nope.key", "file not found"}},
		{"key empty", func(t *testing.T) pki.KeystoreSource {
			return pki.KeystoreSource{CertFile: m.certFile, KeyFile: m.write(t, "empty.key", nil)}
		}, []string{"empty.key", "the file is empty"}},
		{"key truncated", func(t *testing.T) pki.KeystoreSource {
			return pki.KeystoreSource{CertFile: m.certFile, KeyFile: m.write(t, "half.key", m.keyPEM[:len(m.keyPEM)/2])}
		}, []string{"half.key", "no PEM data found"}},
		{"key garbage", func(t *testing.T) pki.KeystoreSource {
			return pki.KeystoreSource{CertFile: m.certFile, KeyFile: m.write(t, "garbage.key", []byte("-----BEGIN PRIVATE KEY-----\nbm9wZQ==\n-----END PRIVATE KEY-----\n"))}
		}, []string{"garbage.key", "parse PKCS#8 private key"}},
		{"key too large", func(t *testing.T) pki.KeystoreSource {
			return pki.KeystoreSource{CertFile: m.certFile, KeyFile: m.write(t, "huge.key", tooLarge)}
		}, []string{"huge.key", "byte limit"}},
		{"two keys in key file", func(t *testing.T) pki.KeystoreSource {
			data := append(append([]byte(nil), m.keyPEM...), m.otherKeyPEM...)
			return pki.KeystoreSource{CertFile: m.certFile, KeyFile: m.write(t, "two.key", data)}
		}, []string{"two.key", "more than one private key", "found 2", "keep only the key"}},
		{"key of another certificate", func(t *testing.T) pki.KeystoreSource {
			return pki.KeystoreSource{CertFile: m.certFile, KeyFile: m.write(t, "other.key", m.otherKeyPEM)}
		}, []string{"other.key", "does not belong to certificate", m.certFile}},
		{"passphrase file missing", func(t *testing.T) pki.KeystoreSource {
			return pki.KeystoreSource{CertFile: m.certFile, KeyFile: m.keyFile, KeyPassphraseFile: filepath.Join(m.dir, "nope.pass")}
		}, []string{"nope.pass", "file not found"}},
		{"passphrase file only newline", func(t *testing.T) pki.KeystoreSource {
			return pki.KeystoreSource{CertFile: m.certFile, KeyFile: m.keyFile, KeyPassphraseFile: m.write(t, "nl.pass", []byte("\n"))}
		}, []string{"nl.pass", "only a line break"}},
		{"p12 missing", func(t *testing.T) pki.KeystoreSource {
			return pki.KeystoreSource{PKCS12File: filepath.Join(m.dir, "nope.p12"), PasswordFile: m.passwordFile}
		}, []string{"nope.p12", "file not found"}},
		{"p12 wrong password", func(t *testing.T) pki.KeystoreSource {
			return pki.KeystoreSource{PKCS12File: m.p12File, PasswordFile: m.write(t, "wrong.password", []byte("wrong\n"))}
		}, []string{m.p12File, "password is wrong", "check the password file"}},
		{"p12 without password file", func(t *testing.T) pki.KeystoreSource {
			return pki.KeystoreSource{PKCS12File: m.p12File}
		}, []string{m.p12File, "needs its password"}},
		{"p12 truncated", func(t *testing.T) pki.KeystoreSource {
			return pki.KeystoreSource{PKCS12File: m.write(t, "half.p12", m.p12Data[:len(m.p12Data)/2]), PasswordFile: m.passwordFile}
		}, []string{"half.p12", "not a readable PKCS#12 keystore"}},
		{"p12 garbage", func(t *testing.T) pki.KeystoreSource {
			return pki.KeystoreSource{PKCS12File: m.write(t, "garbage.p12", []byte{0x30, 0x03, 0x02, 0x01, 0x07}), PasswordFile: m.passwordFile}
		}, []string{"garbage.p12", "not a readable PKCS#12 keystore"}},
		{"p12 is a truststore", func(t *testing.T) pki.KeystoreSource {
			return pki.KeystoreSource{PKCS12File: m.truststore, PasswordFile: m.passwordFile}
		}, []string{m.truststore, "no private key, only trusted certificates", "is it a truststore?"}},
		{"p12 costly mac iterations", func(t *testing.T) pki.KeystoreSource {
			return pki.KeystoreSource{PKCS12File: m.write(t, "slow.p12", withMacIterations(t, m.p12Data, 1<<30)), PasswordFile: m.passwordFile}
		}, []string{"slow.p12", "1073741824 iterations", "more than the limit"}},
		{"pem and p12 both", func(t *testing.T) pki.KeystoreSource {
			return pki.KeystoreSource{CertFile: m.certFile, KeyFile: m.keyFile, PKCS12File: m.p12File}
		}, []string{"not both"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ks, err := pki.LoadKeystore(tt.setup(t))
			require.Error(t, err)
			t.Log(err)
			assert.Nil(t, ks)
			for _, want := range tt.wantErr {
				assert.Contains(t, err.Error(), want)
			}
		})
	}
}

func TestLoadKeystorePasswordNewlines(t *testing.T) {
	m := newMaterial(t)
	for name, content := range map[string]string{
		"LF":   string(m.password) + "\n",
		"CRLF": string(m.password) + "\r\n",
		"none": string(m.password),
	} {
		t.Run(name, func(t *testing.T) {
			pw := m.write(t, "pw-"+name, []byte(content))
			ks, err := pki.LoadKeystore(pki.KeystoreSource{PKCS12File: m.p12File, PasswordFile: pw})
			require.NoError(t, err)
			assert.Equal(t, "localhost", ks.Leaf.Subject.CommonName)
		})
	}
	t.Run("two newlines keep one", func(t *testing.T) {
		pw := m.write(t, "pw-two", []byte(string(m.password)+"\n\n"))
		_, err := pki.LoadKeystore(pki.KeystoreSource{PKCS12File: m.p12File, PasswordFile: pw})
		require.ErrorIs(t, err, pki.ErrWrongPassphrase)
	})
}

func TestLoadKeystoreEncryptedKey(t *testing.T) {
	m := newMaterial(t)
	key, err := pki.ParsePrivateKeyPEM(m.keyPEM, nil)
	require.NoError(t, err)
	// Few PBKDF2 rounds keep the test fast; MarshalEncryptedPrivateKeyPEM
	// uses 600,000.
	der, err := pkcs8.MarshalPrivateKey(key, []byte("s3cret"), &pkcs8.Opts{
		Cipher:  pkcs8.AES256CBC,
		KDFOpts: pkcs8.PBKDF2Opts{SaltSize: 16, IterationCount: 1000, HMACHash: crypto.SHA256},
	})
	require.NoError(t, err)
	keyFile := m.write(t, "enc.key", pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: der}))

	_, err = pki.LoadKeystore(pki.KeystoreSource{CertFile: m.certFile, KeyFile: keyFile})
	require.ErrorIs(t, err, pki.ErrPassphraseRequired)
	assert.Contains(t, err.Error(), "enc.key")
	assert.Contains(t, err.Error(), "give its passphrase file")

	_, err = pki.LoadKeystore(pki.KeystoreSource{CertFile: m.certFile, KeyFile: keyFile, KeyPassphraseFile: m.write(t, "bad.pass", []byte("wrong\n"))})
	require.ErrorIs(t, err, pki.ErrWrongPassphrase)
	assert.Contains(t, err.Error(), "enc.key")

	ks, err := pki.LoadKeystore(pki.KeystoreSource{CertFile: m.certFile, KeyFile: keyFile, KeyPassphraseFile: m.write(t, "good.pass", []byte("s3cret\n"))})
	require.NoError(t, err)
	assert.NotNil(t, ks.Key)
}

func TestLoadTruststoreBadInput(t *testing.T) {
	m := newMaterial(t)
	tests := []struct {
		name    string
		setup   func(t *testing.T) pki.TruststoreSource
		wantErr []string
	}{
		{"no file", func(t *testing.T) pki.TruststoreSource { return pki.TruststoreSource{} }, []string{"no file given"}},
		{"missing", func(t *testing.T) pki.TruststoreSource {
			return pki.TruststoreSource{File: filepath.Join(m.dir, "nope.crt")}
		}, []string{"nope.crt", "file not found"}},
		{"directory", func(t *testing.T) pki.TruststoreSource { return pki.TruststoreSource{File: m.dir} }, []string{"is a directory"}},
		{"empty", func(t *testing.T) pki.TruststoreSource {
			return pki.TruststoreSource{File: m.write(t, "empty-ca.crt", nil)}
		}, []string{"empty-ca.crt", "the file is empty"}},
		{"leaf instead of CA", func(t *testing.T) pki.TruststoreSource {
			return pki.TruststoreSource{File: m.certFile}
		}, []string{m.certFile, "is not a CA"}},
		{"key instead of CA", func(t *testing.T) pki.TruststoreSource {
			return pki.TruststoreSource{File: m.keyFile}
		}, []string{m.keyFile, "no CERTIFICATE block found, only PRIVATE KEY"}},
		{"p12 wrong password", func(t *testing.T) pki.TruststoreSource {
			return pki.TruststoreSource{File: m.truststore, PasswordFile: m.write(t, "wrong.pw", []byte("nope"))}
		}, []string{m.truststore, "password is wrong"}},
		{"p12 keystore as truststore", func(t *testing.T) pki.TruststoreSource {
			return pki.TruststoreSource{File: m.p12File, PasswordFile: m.passwordFile}
		}, []string{m.p12File, "private key entry, not trusted certificate entries", "is it a keystore?"}},
		{"garbage without password", func(t *testing.T) pki.TruststoreSource {
			return pki.TruststoreSource{File: m.write(t, "garbage.bin", []byte{0, 1, 2, 3})}
		}, []string{"garbage.bin", "needs its password"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts, err := pki.LoadTruststore(tt.setup(t))
			require.Error(t, err)
			t.Log(err)
			assert.Nil(t, ts)
			for _, want := range tt.wantErr {
				assert.Contains(t, err.Error(), want)
			}
		})
	}
}

func TestLoadCABadInput(t *testing.T) {
	m := newMaterial(t)
	_, err := pki.LoadCA(m.certFile, m.keyFile, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "is not a CA")

	two := m.write(t, "two-ca.key", append(append([]byte(nil), m.keyPEM...), m.otherKeyPEM...))
	_, err = pki.LoadCA(m.caFile, two, nil)
	require.ErrorIs(t, err, pki.ErrMultipleKeys)
	assert.Contains(t, err.Error(), "two-ca.key")
}

func TestInspectBadInput(t *testing.T) {
	m := newMaterial(t)
	_, err := pki.Inspect(m.p12File, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "--password-file")

	_, err = pki.Inspect(m.p12File, []byte("wrong"))
	require.ErrorIs(t, err, pki.ErrWrongPassphrase)

	slow := m.write(t, "slow.p12", withMacIterations(t, m.p12Data, 1<<30))
	_, err = pki.Inspect(slow, m.password)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "more than the limit")

	_, err = pki.Inspect(m.write(t, "text.pem", []byte("-----BEGIN NOTHING-----\n-----END NOTHING-----\n")), nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no certificate or private key found")
}

func TestParsePrivateKeyKDFLimits(t *testing.T) {
	tests := []struct {
		name    string
		params  asn1.RawValue
		wantErr string
	}{
		{"pbkdf2 iterations", pbes2Params(t, pbkdf2Params{Salt: []byte("saltsalt"), Iterations: 1 << 31}), "2147483648 iterations"},
		{"scrypt memory", scryptParams(t, 1<<30, 8, 1), "scrypt parameters N=1073741824"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			der, err := asn1.Marshal(encryptedPrivateKeyInfo{
				Algorithm: pkix.AlgorithmIdentifier{Algorithm: oidPBES2, Parameters: tt.params},
				Data:      make([]byte, 64),
			})
			require.NoError(t, err)
			data := pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: der})
			_, err = pki.ParsePrivateKeyPEM(data, []byte("pass"))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
		})
	}
}

func TestCheckPrivateFileModes(t *testing.T) {
	dir := t.TempDir()
	private := filepath.Join(dir, "private.key")
	loose := filepath.Join(dir, "loose.key")
	require.NoError(t, os.WriteFile(private, []byte("x"), 0o600))
	require.NoError(t, os.WriteFile(loose, []byte("x"), 0o600))
	require.NoError(t, os.Chmod(loose, 0o644))

	warnings := pki.CheckPrivateFileModes(private, loose, filepath.Join(dir, "missing"), "")
	require.Len(t, warnings, 1)
	assert.Equal(t, loose, warnings[0].Path)
	assert.Contains(t, warnings[0].Error(), "mode 0644")
	assert.Contains(t, warnings[0].Error(), "chmod 600 "+loose)

	src := pki.KeystoreSource{CertFile: "c", KeyFile: "k", KeyPassphraseFile: "p"}
	assert.Equal(t, []string{"k", "p"}, src.PrivatePaths())
}

func TestWriteFilesKeepsOldFilesOnFailure(t *testing.T) {
	dir := t.TempDir()
	first := filepath.Join(dir, "first.key")
	require.NoError(t, os.WriteFile(first, []byte("old"), 0o600))

	err := pki.WriteFiles([]pki.File{
		{Path: first, Data: []byte("new"), Mode: pki.ModePrivate},
		{Path: filepath.Join(dir, "missing-dir", "second.key"), Data: []byte("new"), Mode: pki.ModePrivate},
	}, true)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "second.key")

	data, err := os.ReadFile(first)
	require.NoError(t, err)
	assert.Equal(t, "old", string(data))
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 1, "temporary files must be removed")
}

func TestWriteFilesRefusesExisting(t *testing.T) {
	dir := t.TempDir()
	existing := filepath.Join(dir, "ca.key")
	fresh := filepath.Join(dir, "server.key")
	require.NoError(t, os.WriteFile(existing, []byte("old"), 0o600))

	err := pki.WriteFiles([]pki.File{
		{Path: fresh, Data: []byte("new"), Mode: pki.ModePrivate},
		{Path: existing, Data: []byte("new"), Mode: pki.ModePrivate},
	}, false)
	require.ErrorIs(t, err, pki.ErrFileExists)
	assert.Contains(t, err.Error(), existing)
	assert.NoFileExists(t, fresh)
}

func TestWriteFilesModes(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "a.key")
	crt := filepath.Join(dir, "a.crt")
	require.NoError(t, pki.WriteFiles([]pki.File{
		{Path: key, Data: []byte("k"), Mode: pki.ModePrivate},
		{Path: crt, Data: []byte("c"), Mode: pki.ModePublic},
	}, false))
	for path, want := range map[string]os.FileMode{key: 0o600, crt: 0o644} {
		info, err := os.Stat(path)
		require.NoError(t, err)
		assert.Equal(t, want, info.Mode().Perm(), path)
	}
}

func TestReadFileRejectsSpecialInput(t *testing.T) {
	_, err := pki.ReadFile("")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no file name given")

	if _, statErr := os.Stat("/dev/zero"); statErr == nil {
		_, err = pki.ReadFile("/dev/zero")
		require.Error(t, err)
		assert.Contains(t, err.Error(), "/dev/zero")
		assert.True(t, strings.Contains(err.Error(), "limit"), err.Error())
	}
}

// ASN.1 structures of RFC 5958 and RFC 8018, to build encrypted keys with
// chosen key derivation parameters.

var (
	oidPBES2  = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 13}
	oidPBKDF2 = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 12}
	oidScrypt = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 11591, 4, 11}
	oidAES256 = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 42}
)

type encryptedPrivateKeyInfo struct {
	Algorithm pkix.AlgorithmIdentifier
	Data      []byte
}

type pbkdf2Params struct {
	Salt       []byte
	Iterations int64
}

type scryptParamsSeq struct {
	Salt        []byte
	Cost        int64
	BlockSize   int64
	Parallelism int64
}

type pbes2 struct {
	KDF pkix.AlgorithmIdentifier
	Enc pkix.AlgorithmIdentifier
}

func pbes2With(t *testing.T, kdf pkix.AlgorithmIdentifier) asn1.RawValue {
	t.Helper()
	iv, err := asn1.Marshal(make([]byte, 16))
	require.NoError(t, err)
	der, err := asn1.Marshal(pbes2{KDF: kdf, Enc: pkix.AlgorithmIdentifier{Algorithm: oidAES256, Parameters: asn1.RawValue{FullBytes: iv}}})
	require.NoError(t, err)
	return asn1.RawValue{FullBytes: der}
}

func pbes2Params(t *testing.T, p pbkdf2Params) asn1.RawValue {
	t.Helper()
	der, err := asn1.Marshal(p)
	require.NoError(t, err)
	return pbes2With(t, pkix.AlgorithmIdentifier{Algorithm: oidPBKDF2, Parameters: asn1.RawValue{FullBytes: der}})
}

func scryptParams(t *testing.T, n, r, p int64) asn1.RawValue {
	t.Helper()
	der, err := asn1.Marshal(scryptParamsSeq{Salt: []byte("saltsalt"), Cost: n, BlockSize: r, Parallelism: p})
	require.NoError(t, err)
	return pbes2With(t, pkix.AlgorithmIdentifier{Algorithm: oidScrypt, Parameters: asn1.RawValue{FullBytes: der}})
}

// withMacIterations returns the PKCS#12 data with its MAC iteration count
// replaced.
func withMacIterations(t *testing.T, p12 []byte, iterations int64) []byte {
	t.Helper()
	var pfx struct {
		Version  int
		AuthSafe asn1.RawValue
		MacData  struct {
			Mac        asn1.RawValue
			MacSalt    []byte
			Iterations int64
		}
	}
	_, err := asn1.Unmarshal(p12, &pfx)
	require.NoError(t, err)
	pfx.MacData.Iterations = iterations
	out, err := asn1.Marshal(pfx)
	require.NoError(t, err)
	return out
}
