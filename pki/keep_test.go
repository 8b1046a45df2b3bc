package pki_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/grpc-mtls/grpc-mtls/pki"
	"github.com/grpc-mtls/grpc-mtls/pki/pkitest"
)

// readDir returns the content of every file in dir by name.
func readDir(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	files := map[string][]byte{}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		require.NoError(t, err)
		files[e.Name()] = data
	}
	return files
}

func baseNames(paths []string) []string {
	names := make([]string, len(paths))
	for i, p := range paths {
		names[i] = filepath.Base(p)
	}
	slices.Sort(names)
	return names
}

func TestInitKeepExistingKeepsCompleteSet(t *testing.T) {
	dir := t.TempDir()
	first, err := pki.Init(pki.InitOptions{Dir: dir})
	require.NoError(t, err)
	before := readDir(t, dir)

	kept, err := pki.Init(pki.InitOptions{Dir: dir, KeepExisting: true})
	require.NoError(t, err)

	assert.True(t, kept.Kept)
	assert.Equal(t, first.CA.Serial, kept.CA.Serial)
	assert.Equal(t, first.CA.Fingerprint, kept.CA.Fingerprint)
	assert.Equal(t, first.Server.Fingerprint, kept.Server.Fingerprint)
	assert.Equal(t, first.Client.Fingerprint, kept.Client.Fingerprint)
	assert.Equal(t, baseNames(first.Files), baseNames(kept.Files))
	assert.False(t, kept.PasswordGenerated)
	assert.Equal(t, before, readDir(t, dir), "a kept PKI must not be rewritten")
}

func TestInitKeepExistingCreatesInEmptyDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")

	res, err := pki.Init(pki.InitOptions{Dir: dir, KeepExisting: true})
	require.NoError(t, err)

	assert.False(t, res.Kept)
	assert.True(t, res.PasswordGenerated)
	assert.FileExists(t, filepath.Join(dir, pki.FileCACert))
	assert.FileExists(t, filepath.Join(dir, pki.FileP12Password))
}

func TestInitKeepExistingIgnoresUnrelatedFiles(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "README"), []byte("notes\n"), 0o644))

	res, err := pki.Init(pki.InitOptions{Dir: dir, KeepExisting: true})
	require.NoError(t, err)

	assert.False(t, res.Kept)
	assert.FileExists(t, filepath.Join(dir, pki.FileCAKey))
}

func TestInitKeepExistingRejectsPartialSet(t *testing.T) {
	dir := t.TempDir()
	_, err := pki.Init(pki.InitOptions{Dir: dir})
	require.NoError(t, err)
	require.NoError(t, os.Remove(filepath.Join(dir, pki.FileServerKey)))
	require.NoError(t, os.Remove(filepath.Join(dir, pki.FileClientP12)))
	before := readDir(t, dir)

	_, err = pki.Init(pki.InitOptions{Dir: dir, KeepExisting: true})

	require.Error(t, err)
	assert.ErrorIs(t, err, pki.ErrIncompletePKI)
	assert.Contains(t, err.Error(), "missing "+filepath.Join(dir, pki.FileServerKey)+", "+filepath.Join(dir, pki.FileClientP12)+":")
	assert.Equal(t, before, readDir(t, dir), "a partial PKI must be left as it was")
}

func TestInitKeepExistingRejectsMissingCA(t *testing.T) {
	dir := t.TempDir()
	_, err := pki.Init(pki.InitOptions{Dir: dir})
	require.NoError(t, err)
	require.NoError(t, os.Remove(filepath.Join(dir, pki.FileCACert)))

	_, err = pki.Init(pki.InitOptions{Dir: dir, KeepExisting: true})

	assert.ErrorIs(t, err, pki.ErrIncompletePKI)
	assert.ErrorContains(t, err, "missing "+filepath.Join(dir, pki.FileCACert)+":")
}

func TestInitKeepExistingRejectsLeafOfOtherCA(t *testing.T) {
	dir := t.TempDir()
	_, err := pki.Init(pki.InitOptions{Dir: dir})
	require.NoError(t, err)
	other := pkitest.NewCA(t).Server(t, "server")
	serverCert := filepath.Join(dir, pki.FileServerCert)
	require.NoError(t, os.WriteFile(serverCert, pki.EncodeCertificatesPEM(other.Cert), 0o644))

	_, err = pki.Init(pki.InitOptions{Dir: dir, KeepExisting: true})

	assert.ErrorContains(t, err, "server.crt is not signed by \"CN=grpc-mtls CA ")
}

func TestInitKeepExistingWithGivenPassword(t *testing.T) {
	dir := t.TempDir()
	password := []byte("correct horse battery staple")
	_, err := pki.Init(pki.InitOptions{Dir: dir, P12Password: password})
	require.NoError(t, err)

	res, err := pki.Init(pki.InitOptions{Dir: dir, P12Password: password, KeepExisting: true})

	require.NoError(t, err)
	assert.True(t, res.Kept)
	assert.NoFileExists(t, filepath.Join(dir, pki.FileP12Password))
}

func TestInitKeepExistingWithForceRejected(t *testing.T) {
	_, err := pki.Init(pki.InitOptions{Dir: t.TempDir(), KeepExisting: true, Force: true})

	assert.ErrorContains(t, err, "Force and KeepExisting both set")
}

func TestInitCAKeyDirSeparatesKey(t *testing.T) {
	dir := t.TempDir()
	keyDir := filepath.Join(t.TempDir(), "ca")

	res, err := pki.Init(pki.InitOptions{Dir: dir, CAKeyDir: keyDir})
	require.NoError(t, err)

	assert.Contains(t, res.Files, filepath.Join(keyDir, pki.FileCAKey))
	assert.FileExists(t, filepath.Join(keyDir, pki.FileCAKey))
	assert.NoFileExists(t, filepath.Join(dir, pki.FileCAKey))
	ca, err := pki.LoadCA(filepath.Join(dir, pki.FileCACert), filepath.Join(keyDir, pki.FileCAKey), nil)
	require.NoError(t, err)
	assert.Equal(t, res.CA.Serial, pki.IdentityOf(ca.Cert).Serial)
	info, err := os.Stat(keyDir)
	require.NoError(t, err)
	assert.Equal(t, pki.ModeDir, info.Mode().Perm())
}

func TestInitKeepExistingWithCAKeyDir(t *testing.T) {
	dir := t.TempDir()
	keyDir := t.TempDir()
	first, err := pki.Init(pki.InitOptions{Dir: dir, CAKeyDir: keyDir})
	require.NoError(t, err)

	kept, err := pki.Init(pki.InitOptions{Dir: dir, CAKeyDir: keyDir, KeepExisting: true})
	require.NoError(t, err)
	assert.True(t, kept.Kept)
	assert.Equal(t, first.CA.Serial, kept.CA.Serial)

	require.NoError(t, os.Remove(filepath.Join(keyDir, pki.FileCAKey)))
	_, err = pki.Init(pki.InitOptions{Dir: dir, CAKeyDir: keyDir, KeepExisting: true})
	assert.ErrorIs(t, err, pki.ErrIncompletePKI)
	assert.ErrorContains(t, err, "missing "+filepath.Join(keyDir, pki.FileCAKey)+":")
}

// A PKI made before Init issued the guest identity is kept as it is.
func TestInitKeepExistingWithoutGuest(t *testing.T) {
	dir := t.TempDir()
	_, err := pki.Init(pki.InitOptions{Dir: dir})
	require.NoError(t, err)
	for _, name := range []string{pki.FileGuestCert, pki.FileGuestKey, pki.FileGuestP12} {
		require.NoError(t, os.Remove(filepath.Join(dir, name)))
	}

	kept, err := pki.Init(pki.InitOptions{Dir: dir, KeepExisting: true})

	require.NoError(t, err)
	assert.True(t, kept.Kept)
	assert.Nil(t, kept.Guest.Certificate)
	assert.Equal(t, "client", kept.Client.CommonName)
}

func TestInitKeepExistingRejectsPartialGuest(t *testing.T) {
	dir := t.TempDir()
	_, err := pki.Init(pki.InitOptions{Dir: dir})
	require.NoError(t, err)
	require.NoError(t, os.Remove(filepath.Join(dir, pki.FileGuestKey)))

	_, err = pki.Init(pki.InitOptions{Dir: dir, KeepExisting: true})

	assert.ErrorIs(t, err, pki.ErrIncompletePKI)
	assert.ErrorContains(t, err, "missing "+filepath.Join(dir, pki.FileGuestKey))
}

func TestInitKeepExistingIntermediate(t *testing.T) {
	dir := t.TempDir()
	first, err := pki.Init(pki.InitOptions{Dir: dir, Intermediate: true})
	require.NoError(t, err)

	kept, err := pki.Init(pki.InitOptions{Dir: dir, KeepExisting: true})

	require.NoError(t, err)
	require.NotNil(t, kept.Intermediate)
	assert.Equal(t, first.Intermediate.Serial, kept.Intermediate.Serial)
	assert.Equal(t, first.Guest.Serial, kept.Guest.Serial)
	assert.Equal(t, first.Server.Serial, kept.Server.Serial)
}
